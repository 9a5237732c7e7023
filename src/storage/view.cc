#include "storage/view.h"

#include <algorithm>

namespace rtcache::store {

using format::Slot;

const Slot* View::find(uint64_t key_hash) const {
  auto it = std::lower_bound(slots.begin(), slots.end(), key_hash,
                             [](const Slot& s, uint64_t h) { return s.key_hash < h; });
  return it != slots.end() && it->key_hash == key_hash ? &*it : nullptr;
}

uint64_t View::dead_bytes() const {
  uint64_t used = format::kFileHeaderSize + live_bytes + index_length;
  return file_size > used ? file_size - used : 0;
}

std::vector<Slot> apply_slots(const std::vector<Slot>& base, std::vector<Slot> delta) {
  std::stable_sort(delta.begin(), delta.end(),
                   [](const Slot& a, const Slot& b) { return a.key_hash < b.key_hash; });
  std::vector<Slot> out;
  out.reserve(base.size() + delta.size());
  size_t i = 0, j = 0;
  while (i < base.size() || j < delta.size()) {
    if (j == delta.size() || (i < base.size() && base[i].key_hash < delta[j].key_hash)) {
      out.push_back(base[i++]);
      continue;
    }
    // The last change to a key wins.
    size_t last = j;
    while (last + 1 < delta.size() && delta[last + 1].key_hash == delta[j].key_hash) ++last;
    if (i < base.size() && base[i].key_hash == delta[j].key_hash) ++i;
    if (delta[last].offset != 0) out.push_back(delta[last]);
    j = last + 1;
  }
  return out;
}

uint64_t sum_lengths(const std::vector<Slot>& slots) {
  uint64_t total = 0;
  for (const Slot& s : slots) total += s.length;
  return total;
}

}  // namespace rtcache::store
