#include "storage/image.h"

namespace rtcache::store {

using format::IndexInfo;
using format::RecordType;
using format::Slot;

std::string build_image(const std::vector<EncodedRecord>& records) {
  std::string image = format::encode_file_header({format::kFormatVersion, 0, 0, 0});
  std::vector<Slot> slots;
  for (const EncodedRecord& r : records) {
    if (r.erase) continue;
    slots.push_back({r.key_hash, image.size(), r.size(), r.last_used_ns});
    image += r.head;
    image += r.value();
  }
  slots = apply_slots({}, std::move(slots));
  IndexInfo info;
  info.generation = 1;
  uint64_t pad = format::pad_before_index(image.size());
  if (pad) format::append_pad(&image, pad);
  std::string value = format::encode_index_value(info, slots, image.size());
  format::append_record(&image, RecordType::kIndex, 0, {}, {}, value, value.size(), info.saved_ns);
  // The image says how long it is, so that a reader of a stream can stop at
  // its end (and ignore what a longer earlier image left behind it).
  format::FileHeader header;
  Status ignored = format::decode_file_header(image, &header);
  (void)ignored;
  header.image_length = image.size();
  image.replace(0, format::kFileHeaderSize, format::encode_file_header(header));
  return image;
}

}  // namespace rtcache::store
