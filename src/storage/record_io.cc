#include "storage/record_io.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "storage/codec.h"

namespace rtcache::store {

using format::kRecordHeaderSize;
using format::RecordHeader;

std::string record_at(const std::string& path, uint64_t offset) {
  return path + ": record at offset " + std::to_string(offset);
}

Status read_file_header(File& file, uint64_t size, format::FileHeader* header) {
  std::string bytes(std::min<uint64_t>(size, format::kFileHeaderSize), '\0');
  size_t got = 0;
  Status s = file.read_at(0, bytes.size(), bytes.data(), &got);
  if (!s.ok()) return s;
  bytes.resize(got);
  s = format::decode_file_header(bytes, header);
  return s.ok() ? s : s.with_context(file.path());
}

Status read_exact(File& file, uint64_t offset, size_t n, std::string* out) {
  out->resize(n);
  size_t got = 0;
  Status s = file.read_at(offset, n, out->data(), &got);
  if (!s.ok()) return s;
  if (got != n) return Status::Corruption(record_at(file.path(), offset) + ": truncated");
  return Status::OK();
}

Status read_record(File& file, uint64_t offset, uint64_t length, const Limits& limits,
                   ReadMode mode, Record* record) {
  const std::string& path = file.path();
  auto damaged = [&](const std::string& why) {
    return Status::Corruption(record_at(path, offset) + ": " + why);
  };
  // With the length known (from an index) the whole record is read with one
  // pread into an uninitialised buffer (no zero fill); a raw value is then
  // handed out in place, inside it.
  std::shared_ptr<char[]> whole;
  char head_copy[kRecordHeaderSize];
  const char* head = head_copy;
  size_t got = 0;
  Status s;
  if (length >= kRecordHeaderSize && length <= limits.max_value_bytes + (2u << 20) &&
      mode != ReadMode::kHeaderOnly) {
    whole = std::make_shared_for_overwrite<char[]>(length);
    s = file.read_at(offset, length, whole.get(), &got);
    if (!s.ok()) return s;
    if (got != length) return damaged("truncated");
    head = whole.get();
  } else {
    s = file.read_at(offset, kRecordHeaderSize, head_copy, &got);
    if (!s.ok()) return s;
    if (got != kRecordHeaderSize) return damaged("truncated");
  }
  s = format::decode_record_header({head, kRecordHeaderSize}, &record->header);
  if (!s.ok()) return s.with_context(record_at(path, offset));
  const RecordHeader& h = record->header;
  if (length != 0 && h.record_length() != length) return damaged("length does not match the index");
  if (h.value_len > limits.max_value_bytes || h.raw_len > limits.max_value_bytes) {
    return damaged("value larger than the configured maximum");
  }
  const std::string_view head_view(head, kRecordHeaderSize);
  if (mode == ReadMode::kHeaderOnly) {
    std::string key_meta;
    s = read_exact(file, offset + kRecordHeaderSize, h.key_len + h.meta_len, &key_meta);
    if (!s.ok()) return s;
    if (!format::head_hash_matches(head_view, key_meta)) return damaged("header checksum mismatch");
    record->key = key_meta.substr(0, h.key_len);
    record->meta = key_meta.substr(h.key_len);
    return Status::OK();
  }
  const size_t rest_len = h.record_length() - kRecordHeaderSize;
  std::shared_ptr<char[]> owner = whole;
  const char* rest = whole ? whole.get() + kRecordHeaderSize : nullptr;
  if (!whole) {
    owner = std::make_shared_for_overwrite<char[]>(rest_len);
    s = file.read_at(offset + kRecordHeaderSize, rest_len, owner.get(), &got);
    if (!s.ok()) return s;
    if (got != rest_len) return damaged("truncated");
    rest = owner.get();
  }
  std::string_view key_meta(rest, h.key_len + h.meta_len);
  if (!format::head_hash_matches(head_view, key_meta)) return damaged("header checksum mismatch");
  std::string_view stored(rest + key_meta.size(), h.value_len);
  if (format::hash_bytes(stored) != h.value_hash) return damaged("value checksum mismatch");
  record->key.assign(key_meta.substr(0, h.key_len));
  record->meta.assign(key_meta.substr(h.key_len));
  if (mode == ReadMode::kValueAndRaw) {
    record->raw.reserve(h.record_length());
    record->raw.assign(head, kRecordHeaderSize);
    record->raw.append(rest, rest_len);
  }
  if (h.encoding == static_cast<uint8_t>(Compression::kNone)) {
    record->value =
        Bytes(std::shared_ptr<const void>(owner, owner.get()), stored.data(), stored.size());
    return Status::OK();
  }
  std::shared_ptr<char[]> raw = std::make_shared_for_overwrite<char[]>(h.raw_len);
  s = codec::decode(static_cast<Compression>(h.encoding), stored, h.raw_len, raw.get());
  if (!s.ok()) return s.with_context(record_at(path, offset));
  record->value = Bytes(std::shared_ptr<const void>(raw, raw.get()), raw.get(), h.raw_len);
  return Status::OK();
}

uint64_t find_next_record(File& file, uint64_t from, uint64_t size, const Limits& limits) {
  constexpr size_t kChunk = 1u << 20;
  const char magic[4] = {'R', 'C', 'R', '1'};
  std::string chunk;
  for (uint64_t base = from + 1; base + kRecordHeaderSize <= size; base += kChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk + 3, size - base));
    chunk.resize(n);
    size_t got = 0;
    if (!file.read_at(base, n, chunk.data(), &got).ok()) return 0;
    chunk.resize(got);
    for (size_t i = 0; i + 4 <= chunk.size() && i < kChunk; ++i) {
      if (std::memcmp(chunk.data() + i, magic, 4) != 0) continue;
      Record record;
      if (read_record(file, base + i, 0, limits, ReadMode::kHeaderOnly, &record).ok()) {
        return base + i;
      }
    }
  }
  return 0;
}

}  // namespace rtcache::store
