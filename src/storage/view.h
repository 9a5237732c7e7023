// What one cache file held when it was read: an immutable View (the live
// entries as index slots, sorted by key hash) and the limits a reader applies.
//
// Thread safety: a View is never changed after it is published; share it
// freely through shared_ptr<const View>. Values are read later through
// `file`, which the View keeps open.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rtcache/env.h"
#include "storage/format.h"

namespace rtcache::store {

// What a reader accepts. The defaults are what a reader with default Options
// applies; Options map onto this in one place (cache/storage_options.h).
struct Limits {
  uint64_t max_value_bytes = 1ull << 30;
  bool trust_others = false;  // accept files owned by others or writable by group/others
};

struct View {
  std::shared_ptr<File> file;  // kept open: values are read from it later
  std::string path;
  FileIdentity identity;
  format::FileHeader header;
  uint64_t file_size = 0;           // size when read
  uint64_t end = 0;                 // end of the valid prefix (file_size unless a torn tail)
  std::vector<format::Slot> slots;  // live entries, sorted by key_hash
  uint64_t live_bytes = 0;          // sum of the live records' lengths
  bool has_index = false;
  uint64_t index_offset = 0;
  uint64_t index_length = 0;
  format::IndexInfo index_info;
  std::vector<format::Slot> unindexed;  // salvaged after the last index, in file order
  uint64_t damaged_records = 0;         // found while salvaging

  const format::Slot* find(uint64_t key_hash) const;
  uint64_t dead_bytes() const;
};

// Sorted by key_hash with `delta` applied in order (offset 0 erases; the last
// change to a key wins).
std::vector<format::Slot> apply_slots(const std::vector<format::Slot>& base,
                                      std::vector<format::Slot> delta);

uint64_t sum_lengths(const std::vector<format::Slot>& slots);

}  // namespace rtcache::store
