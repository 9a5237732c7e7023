#include "crafted_files.h"

#include <zstd.h>

#include <string_view>
#include <vector>

#include "rtcache/options.h"
#include "storage/format.h"
#include "storage/store.h"

namespace rtcache::crafted {

std::string overlapping_indexes(uint64_t size) {
  std::string file = format::encode_file_header({format::kFormatVersion, 1, 1, 0});
  file.resize(size, '\0');
  const std::string zeros(size, '\0');
  for (uint64_t at = format::kIndexAlignment; at + 4096 <= size; at += format::kIndexAlignment) {
    const uint64_t value_len = size - at - format::kRecordHeaderSize;
    std::string head;
    format::append_record_head(&head, format::RecordType::kIndex, 0, {}, {},
                               std::string_view(zeros).substr(0, value_len), value_len, 0);
    file.replace(at, head.size(), head);
  }
  return file;
}

std::string decompression_bombs(int count, uint64_t decoded_bytes) {
  const std::string zeros(decoded_bytes, '\0');
  std::string bomb(ZSTD_compressBound(zeros.size()), '\0');
  bomb.resize(ZSTD_compress(bomb.data(), bomb.size(), zeros.data(), zeros.size(), 19));
  std::vector<store::EncodedRecord> records;
  for (int i = 0; i < count; ++i) {
    store::EncodedRecord r;
    const std::string key = "bomb" + std::to_string(i);
    r.key_hash = format::hash_key(key);
    r.stored = bomb;
    format::append_record_head(&r.head, format::RecordType::kPut,
                               static_cast<uint8_t>(Compression::kZstd), key, {}, bomb,
                               decoded_bytes, 1);
    records.push_back(std::move(r));
  }
  return store::build_image(records);
}

}  // namespace rtcache::crafted
