#include "storage/eviction.h"

#include <algorithm>
#include <numeric>

namespace rtcache::store {

std::vector<size_t> choose_victims(const std::vector<EvictionCandidate>& candidates, uint64_t live,
                                   uint64_t max_bytes, const std::vector<uint64_t>& in_use) {
  std::vector<size_t> victims;
  if (max_bytes == 0 || live <= max_bytes) return victims;
  auto used = [&](size_t i) {
    return std::binary_search(in_use.begin(), in_use.end(), candidates[i].key_hash);
  };
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (used(a) != used(b)) return !used(a);
    return candidates[a].last_used_ns < candidates[b].last_used_ns;
  });
  for (size_t i : order) {
    if (live <= max_bytes) break;
    victims.push_back(i);
    live -= candidates[i].length;
  }
  return victims;
}

}  // namespace rtcache::store
