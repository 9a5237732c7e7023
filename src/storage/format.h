// The cache file's byte layout (docs/format.md is the prose version):
// encoding and decoding of the file header, records, index payloads and the
// trailer, with their checksums. Pure functions over bytes; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rtcache/status.h"

namespace rtcache::format {

inline constexpr char kFileMagic[8] = {'R', 'T', 'C', 'A', 'C', 'H', 'E', '\0'};
// Bump when a reader of the previous version would misread the file; see the
// version-bump rule in docs/format.md.
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kFileHeaderSize = 64;
inline constexpr size_t kRecordHeaderSize = 56;
inline constexpr uint32_t kRecordMagic = 0x31524352;              // "RCR1" little-endian
inline constexpr uint64_t kTrailerMagic = 0x4c49415254435452ull;  // "RTCTRAIL"
inline constexpr size_t kTrailerSize = 32;
inline constexpr size_t kIndexFixedSize = 64;
inline constexpr size_t kSlotSize = 32;
// Index records start at multiples of this, so that a reader facing a torn
// tail can find the latest one by probing backwards.
inline constexpr uint64_t kIndexAlignment = 4096;
// Sanity bounds on lengths read from a file, checked before any allocation.
// They are the format's: writers refuse larger entries, so every reader with
// default limits reads every entry any writer saved.
inline constexpr uint32_t kMaxKeyBytes = 1u << 20;
inline constexpr uint32_t kMaxMetaBytes = 1u << 20;
inline constexpr uint64_t kMaxValueBytes = 1ull << 30;

enum class RecordType : uint8_t { kPut = 1, kErase = 2, kIndex = 3, kPad = 4 };
enum class IndexKind : uint32_t { kFull = 1, kDelta = 2 };

struct FileHeader {
  uint32_t version = kFormatVersion;
  uint64_t file_id = 0;       // random; a compaction writes a new file with a new id
  int64_t created_ns = 0;     // when this file (generation) was written
  uint64_t image_length = 0;  // serialize() images: their total length; 0 in files
};

struct RecordHeader {
  RecordType type = RecordType::kPut;
  uint8_t encoding = 0;  // Compression of the value bytes
  uint32_t key_len = 0;
  uint32_t meta_len = 0;
  uint64_t value_len = 0;    // stored bytes
  uint64_t raw_len = 0;      // bytes after decoding
  int64_t timestamp_ns = 0;  // creation (put) or erase time
  uint64_t value_hash = 0;
  uint64_t head_hash = 0;
  uint64_t record_length() const { return kRecordHeaderSize + key_len + meta_len + value_len; }
};

// One entry of an index: where the record of a key lives. In a delta index an
// offset of 0 marks the key erased.
struct Slot {
  uint64_t key_hash = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  int64_t last_used_ns = 0;
};

struct IndexInfo {
  IndexKind kind = IndexKind::kFull;
  uint32_t depth = 0;              // deltas since the last full index
  uint64_t prev_index_offset = 0;  // the index this delta applies to (0 for full)
  uint64_t cum_delta_slots = 0;    // slots in the deltas since the last full index
  uint64_t generation = 0;         // counts saves to this file
  int64_t saved_ns = 0;
};

struct Trailer {
  uint64_t index_offset = 0;
  uint64_t index_length = 0;  // the whole index record, trailer included
};

uint64_t hash_key(std::string_view key);
uint64_t hash_bytes(std::string_view bytes);

std::string encode_file_header(const FileHeader& header);
// NotACacheFile for anything that is not an rtcache header (empty, bad
// magic), Corruption for a damaged one, NotSupported for a newer version.
Status decode_file_header(std::string_view bytes, FileHeader* header);

// Appends a record's header, key and metadata (the checksums cover
// stored_value, which the caller writes right after).
void append_record_head(std::string* out, RecordType type, uint8_t encoding, std::string_view key,
                        std::string_view meta, std::string_view stored_value, uint64_t raw_len,
                        int64_t timestamp_ns);
// Appends one whole record (header, key, metadata, value) to *out.
void append_record(std::string* out, RecordType type, uint8_t encoding, std::string_view key,
                   std::string_view meta, std::string_view stored_value, uint64_t raw_len,
                   int64_t timestamp_ns);
// Appends a padding record of exactly `length` bytes (length >= header size).
void append_pad(std::string* out, uint64_t length);
// Bytes of padding needed before an index record written at `offset`.
uint64_t pad_before_index(uint64_t offset);

// Parses and checks the fixed header (magic, type, encoding, lengths).
Status decode_record_header(std::string_view bytes, RecordHeader* header);
// Checks the header checksum over the header and the key and metadata bytes.
bool head_hash_matches(std::string_view header_bytes, std::string_view key_and_meta);

// The value of an index record: fixed fields, slots, then the trailer that
// points back at the record itself (so it is also the file's last 32 bytes).
std::string encode_index_value(const IndexInfo& info, const std::vector<Slot>& slots,
                               uint64_t record_offset);
Status decode_index_value(std::string_view value, uint64_t record_offset, IndexInfo* info,
                          std::vector<Slot>* slots);
uint64_t index_record_length(size_t slot_count);

bool decode_trailer(std::string_view bytes, Trailer* trailer);

}  // namespace rtcache::format
