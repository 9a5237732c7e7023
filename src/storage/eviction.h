// The size budget (Options::max_bytes): which entries a save leaves out or
// erases so that the file's live bytes fit. One policy for every path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rtcache::store {

struct EvictionCandidate {
  uint64_t key_hash = 0;
  uint64_t length = 0;  // bytes the entry's record takes in the file
  int64_t last_used_ns = 0;
};

// Returns indexes into `candidates`, in eviction order, whose removal brings
// `live` bytes down to at most `max_bytes`: entries whose hash is not in
// `in_use` (sorted; what this process uses) go first, then the least
// recently used. Empty when max_bytes is 0 (no budget) or already met.
std::vector<size_t> choose_victims(const std::vector<EvictionCandidate>& candidates, uint64_t live,
                                   uint64_t max_bytes, const std::vector<uint64_t>& in_use);

}  // namespace rtcache::store
