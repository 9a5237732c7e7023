// rtcache behind the KvStore interface: a handle with the library's default
// options (durable saves, autosave off: the benchmark saves explicitly).
#include <memory>
#include <string>

#include "kv_store.h"
#include "rtcache/runtime_cache.h"

namespace bench {

namespace {

class RtcacheStore final : public KvStore {
 public:
  explicit RtcacheStore(std::shared_ptr<rtcache::RuntimeCache> cache) : cache_(std::move(cache)) {}

  bool put_batch(const std::vector<Entry>& entries, std::string* error) override {
    for (const Entry& entry : entries) cache_->put(entry.key, entry.value, "sm_90 nvrtc 13.0");
    const rtcache::Status status = cache_->save();
    if (!status.ok()) *error = "save: " + status.to_string();
    return status.ok();
  }

  bool get_batch(const std::vector<std::string>& keys, ValueConsumer& consumer,
                 std::string* error) override {
    rtcache::Bytes value;
    for (size_t i = 0; i < keys.size(); ++i) {
      const rtcache::Status status = cache_->get(keys[i], &value);
      if (status.ok()) {
        consumer.consume(i, value.view());
      } else if (!status.is_not_found()) {
        *error = "get: " + status.to_string();
        return false;
      }
    }
    return true;
  }

  bool get_one(std::string_view key, uint64_t* sink) override {
    rtcache::Bytes value;
    if (!cache_->get(key, &value).ok()) return false;
    *sink += value.size();
    return true;
  }

 private:
  std::shared_ptr<rtcache::RuntimeCache> cache_;
};

}  // namespace

std::unique_ptr<KvStore> open_rtcache_store(const std::string& path, bool compress,
                                            std::string* error) {
  rtcache::Options options;
  options.path = path;
  options.compression = compress ? rtcache::Compression::kZstd : rtcache::Compression::kNone;
  std::shared_ptr<rtcache::RuntimeCache> cache;
  const rtcache::Status status = rtcache::RuntimeCache::open(options, &cache);
  if (!status.ok()) {
    *error = "open: " + status.to_string();
    return nullptr;
  }
  return std::make_unique<RtcacheStore>(std::move(cache));
}

}  // namespace bench
