#include "cache/record_encoding.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "storage/codec.h"

namespace rtcache {

// Encodes the value of a put as a record, compressing outside any lock.
store::EncodedRecord encode_put(const Options& options, std::string_view key, const Entry& e) {
  store::EncodedRecord r;
  r.key_hash = format::hash_key(key);
  r.last_used_ns = e.last_used_ns.load(std::memory_order_relaxed);
  Compression used =
      codec::encode(options.compression, options.compression_level, e.value.view(), &r.stored);
  if (used == Compression::kNone) r.shared = e.value;
  format::append_record_head(&r.head, format::RecordType::kPut, static_cast<uint8_t>(used), key,
                             e.meta, r.value(), e.value.size(), e.created_ns);
  return r;
}

void parallel_for(size_t n, uint64_t work_bytes, const std::function<void(size_t)>& fn) {
  constexpr uint64_t kBytesPerThread = 256u << 10;
  const size_t threads = std::min<size_t>({std::thread::hardware_concurrency(), 8, n,
                                           static_cast<size_t>(work_bytes / kBytesPerThread)});
  if (threads < 2) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

store::EncodedRecord stored_as_is(const format::Slot& slot, const std::string& key,
                                  std::string raw_record) {
  store::EncodedRecord r;
  r.key_hash = format::hash_key(key);  // the record's own key, whatever the index said
  r.last_used_ns = slot.last_used_ns;
  r.head = std::move(raw_record);
  return r;
}

store::EncodedRecord encode_erase(std::string_view key, int64_t now) {
  store::EncodedRecord r;
  r.key_hash = format::hash_key(key);
  r.erase = true;
  format::append_record(&r.head, format::RecordType::kErase, 0, key, {}, {}, 0, now);
  return r;
}

}  // namespace rtcache
