#include "storage/format.h"

#include <xxhash.h>

#include <bit>
#include <cstddef>
#include <cstring>

namespace rtcache::format {
namespace {

static_assert(std::endian::native == std::endian::little,
              "rtcache's file format is little-endian; big-endian hosts need byte swaps here");

void put_u16(char* p, uint16_t v) {
  std::memcpy(p, &v, 2);
}
void put_u32(char* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
void put_u64(char* p, uint64_t v) {
  std::memcpy(p, &v, 8);
}
uint16_t get_u16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t get_u32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

uint64_t head_hash_of(std::string_view header48, std::string_view key_and_meta) {
  uint64_t seed = XXH3_64bits(header48.data(), header48.size());
  return XXH3_64bits_withSeed(key_and_meta.data(), key_and_meta.size(), seed);
}

constexpr size_t kHeaderHashedBytes = 48;

}  // namespace

uint64_t hash_key(std::string_view key) {
  return XXH3_64bits(key.data(), key.size());
}
uint64_t hash_bytes(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

// File header: magic[8] version:u32 header_size:u32 file_id:u64 created_ns:i64
// image_length:u64 (serialized images only, else 0) reserved[16] (zero) checksum:u64 (xxh3 of the
// first 56 bytes).
std::string encode_file_header(const FileHeader& header) {
  std::string out(kFileHeaderSize, '\0');
  std::memcpy(out.data(), kFileMagic, 8);
  put_u32(out.data() + 8, header.version);
  put_u32(out.data() + 12, static_cast<uint32_t>(kFileHeaderSize));
  put_u64(out.data() + 16, header.file_id);
  put_u64(out.data() + 24, static_cast<uint64_t>(header.created_ns));
  put_u64(out.data() + 32, header.image_length);
  put_u64(out.data() + 56, XXH3_64bits(out.data(), 56));
  return out;
}

Status decode_file_header(std::string_view bytes, FileHeader* header) {
  if (bytes.empty()) return Status::NotACacheFile("empty file, not an rtcache file");
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kFileMagic, 8) != 0) {
    return Status::NotACacheFile("not an rtcache file (bad magic)");
  }
  if (bytes.size() < kFileHeaderSize) return Status::Corruption("file header is truncated");
  if (get_u64(bytes.data() + 56) != XXH3_64bits(bytes.data(), 56)) {
    return Status::Corruption("file header checksum mismatch");
  }
  header->version = get_u32(bytes.data() + 8);
  if (header->version > kFormatVersion) {
    return Status::NotSupported("format version " + std::to_string(header->version) +
                                " is newer than this rtcache supports (" +
                                std::to_string(kFormatVersion) + ")");
  }
  if (header->version == 0 || get_u32(bytes.data() + 12) != kFileHeaderSize) {
    return Status::Corruption("file header has an invalid version or size");
  }
  header->file_id = get_u64(bytes.data() + 16);
  header->created_ns = static_cast<int64_t>(get_u64(bytes.data() + 24));
  header->image_length = get_u64(bytes.data() + 32);
  return Status::OK();
}

// Record header: magic:u32 type:u8 encoding:u8 reserved:u16 key_len:u32
// meta_len:u32 value_len:u64 raw_len:u64 timestamp:i64 value_hash:u64
// head_hash:u64, followed by key, metadata and value bytes.
void append_record(std::string* out, RecordType type, uint8_t encoding, std::string_view key,
                   std::string_view meta, std::string_view stored_value, uint64_t raw_len,
                   int64_t timestamp_ns) {
  append_record_head(out, type, encoding, key, meta, stored_value, raw_len, timestamp_ns);
  out->append(stored_value);
}

void append_record_head(std::string* out, RecordType type, uint8_t encoding, std::string_view key,
                        std::string_view meta, std::string_view stored_value, uint64_t raw_len,
                        int64_t timestamp_ns) {
  size_t start = out->size();
  out->resize(start + kRecordHeaderSize);
  char* h = out->data() + start;
  put_u32(h, kRecordMagic);
  h[4] = static_cast<char>(type);
  h[5] = static_cast<char>(encoding);
  put_u16(h + 6, 0);
  put_u32(h + 8, static_cast<uint32_t>(key.size()));
  put_u32(h + 12, static_cast<uint32_t>(meta.size()));
  put_u64(h + 16, stored_value.size());
  put_u64(h + 24, raw_len);
  put_u64(h + 32, static_cast<uint64_t>(timestamp_ns));
  put_u64(h + 40, hash_bytes(stored_value));
  out->append(key);
  out->append(meta);
  h = out->data() + start;  // append may have moved the buffer
  std::string_view key_and_meta(h + kRecordHeaderSize, key.size() + meta.size());
  put_u64(h + 48, head_hash_of({h, kHeaderHashedBytes}, key_and_meta));
}

void append_pad(std::string* out, uint64_t length) {
  std::string zeros(length - kRecordHeaderSize, '\0');
  append_record(out, RecordType::kPad, 0, {}, {}, zeros, zeros.size(), 0);
}

uint64_t pad_before_index(uint64_t offset) {
  uint64_t gap = (kIndexAlignment - offset % kIndexAlignment) % kIndexAlignment;
  if (gap != 0 && gap < kRecordHeaderSize) gap += kIndexAlignment;
  return gap;
}

Status decode_record_header(std::string_view bytes, RecordHeader* header) {
  if (bytes.size() < kRecordHeaderSize) return Status::Corruption("record header is truncated");
  const char* h = bytes.data();
  if (get_u32(h) != kRecordMagic) return Status::Corruption("bad record magic");
  uint8_t type = static_cast<uint8_t>(h[4]);
  if (type < 1 || type > 4) return Status::Corruption("unknown record type");
  header->type = static_cast<RecordType>(type);
  header->encoding = static_cast<uint8_t>(h[5]);
  if (header->encoding > 1) return Status::Corruption("unknown value encoding");
  if (get_u16(h + 6) != 0) return Status::Corruption("reserved record bits set");
  header->key_len = get_u32(h + 8);
  header->meta_len = get_u32(h + 12);
  header->value_len = get_u64(h + 16);
  header->raw_len = get_u64(h + 24);
  header->timestamp_ns = static_cast<int64_t>(get_u64(h + 32));
  header->value_hash = get_u64(h + 40);
  header->head_hash = get_u64(h + 48);
  if (header->key_len > kMaxKeyBytes || header->meta_len > kMaxMetaBytes) {
    return Status::Corruption("record key or metadata length is out of range");
  }
  if (header->value_len > (1ull << 48) || header->raw_len > (1ull << 48)) {
    return Status::Corruption("record value length is out of range");
  }
  if (header->encoding == 0 && header->raw_len != header->value_len) {
    return Status::Corruption("raw record length does not match its stored length");
  }
  return Status::OK();
}

bool head_hash_matches(std::string_view header_bytes, std::string_view key_and_meta) {
  return get_u64(header_bytes.data() + 48) ==
         head_hash_of(header_bytes.substr(0, kHeaderHashedBytes), key_and_meta);
}

// Index value: kind:u32 depth:u32 prev_index_offset:u64 slot_count:u64
// cum_delta_slots:u64 generation:u64 saved_ns:i64 reserved[16], then
// slot_count slots of key_hash:u64 offset:u64 length:u64 last_used_ns:i64,
// then the trailer.
std::string encode_index_value(const IndexInfo& info, const std::vector<Slot>& slots,
                               uint64_t record_offset) {
  std::string out(kIndexFixedSize + slots.size() * kSlotSize + kTrailerSize, '\0');
  char* p = out.data();
  put_u32(p, static_cast<uint32_t>(info.kind));
  put_u32(p + 4, info.depth);
  put_u64(p + 8, info.prev_index_offset);
  put_u64(p + 16, slots.size());
  put_u64(p + 24, info.cum_delta_slots);
  put_u64(p + 32, info.generation);
  put_u64(p + 40, static_cast<uint64_t>(info.saved_ns));
  p += kIndexFixedSize;
  for (const Slot& s : slots) {
    put_u64(p, s.key_hash);
    put_u64(p + 8, s.offset);
    put_u64(p + 16, s.length);
    put_u64(p + 24, static_cast<uint64_t>(s.last_used_ns));
    p += kSlotSize;
  }
  put_u64(p, kTrailerMagic);
  put_u64(p + 8, record_offset);
  put_u64(p + 16, index_record_length(slots.size()));
  put_u64(p + 24, XXH3_64bits(p, 24));
  return out;
}

uint64_t index_record_length(size_t slot_count) {
  return kRecordHeaderSize + kIndexFixedSize + slot_count * kSlotSize + kTrailerSize;
}

Status decode_index_value(std::string_view value, uint64_t record_offset, IndexInfo* info,
                          std::vector<Slot>* slots) {
  if (value.size() < kIndexFixedSize + kTrailerSize) return Status::Corruption("index too short");
  const char* p = value.data();
  uint32_t kind = get_u32(p);
  if (kind != 1 && kind != 2) return Status::Corruption("unknown index kind");
  info->kind = static_cast<IndexKind>(kind);
  info->depth = get_u32(p + 4);
  info->prev_index_offset = get_u64(p + 8);
  uint64_t count = get_u64(p + 16);
  info->cum_delta_slots = get_u64(p + 24);
  info->generation = get_u64(p + 32);
  info->saved_ns = static_cast<int64_t>(get_u64(p + 40));
  if (count != (value.size() - kIndexFixedSize - kTrailerSize) / kSlotSize ||
      kIndexFixedSize + count * kSlotSize + kTrailerSize != value.size()) {
    return Status::Corruption("index slot count does not match its length");
  }
  if (info->kind == IndexKind::kDelta && info->prev_index_offset >= record_offset) {
    return Status::Corruption("delta index points forward");
  }
  Trailer trailer;
  if (!decode_trailer(value.substr(value.size() - kTrailerSize), &trailer) ||
      trailer.index_offset != record_offset ||
      trailer.index_length != kRecordHeaderSize + value.size()) {
    return Status::Corruption("index trailer does not match its record");
  }
  // The slot array on disk is the in-memory layout (little-endian, four
  // 8-byte fields, no padding): one copy, no per-field decoding.
  static_assert(sizeof(Slot) == kSlotSize && offsetof(Slot, last_used_ns) == 24);
  slots->resize(count);
  if (count) std::memcpy(slots->data(), p + kIndexFixedSize, count * kSlotSize);
  return Status::OK();
}

bool decode_trailer(std::string_view bytes, Trailer* trailer) {
  if (bytes.size() != kTrailerSize) return false;
  const char* p = bytes.data();
  if (get_u64(p) != kTrailerMagic || get_u64(p + 24) != XXH3_64bits(p, 24)) return false;
  trailer->index_offset = get_u64(p + 8);
  trailer->index_length = get_u64(p + 16);
  return true;
}

}  // namespace rtcache::format
