// The state behind a RuntimeCache handle, shared by the files that implement
// it (runtime_cache.cc: lifecycle; entries.cc; streams.cc; persistence.cc):
// an overlay of the entries this process put, read or erased over an
// immutable View of the handle's file.
//
// Locking: `mu` guards overlay, view and next_version (shared for reads);
// `save_mu` serialises saves of one handle; counters are atomics.
#pragma once

#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "lifecycle/saveable.h"
#include "rtcache/env.h"
#include "rtcache/log.h"
#include "rtcache/runtime_cache.h"
#include "storage/store.h"

namespace rtcache {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return format::hash_key(s); }
};

// One key as this handle knows it beyond (or instead of) the file's view.
struct Entry {
  Bytes value;
  std::string meta;
  int64_t created_ns = 0;
  std::atomic<int64_t> last_used_ns{0};
  int64_t persisted_last_used_ns = 0;  // what the file records
  uint64_t version = 0;                // bumped on every put/erase
  bool erased = false;                 // a tombstone
  bool dirty = false;                  // a put or erase not saved yet
  bool hidden = false;                 // damaged on disk: hidden locally, nothing to save

  Entry() = default;
  Entry(const Entry& o)
      : value(o.value),
        meta(o.meta),
        created_ns(o.created_ns),
        last_used_ns(o.last_used_ns.load()),
        persisted_last_used_ns(o.persisted_last_used_ns),
        version(o.version),
        erased(o.erased),
        dirty(o.dirty),
        hidden(o.hidden) {}
};

struct RuntimeCache::State {
  // The handle as the process-level hooks see it (lifecycle/saveable.h).
  class Hooks final : public lifecycle::Saveable {
   public:
    explicit Hooks(RuntimeCache* cache) : cache_(cache) {}
    bool autosave_now() noexcept override { return cache_->autosave_now(); }
    bool autosave_enabled() const override { return cache_->autosave_on_del(); }
    // A read-only handle has nothing a checkpoint or signal could save.
    bool has_unsaved_changes() const override {
      return !cache_->read_only() && cache_->has_unsaved_changes();
    }
    Status save() override { return cache_->read_only() ? Status::OK() : cache_->save(); }

   private:
    RuntimeCache* cache_;
  };

  explicit State(RuntimeCache* cache) : hooks(cache) {}

  Hooks hooks;
  Env* env = nullptr;
  store::Limits limits;

  mutable std::shared_mutex mu;  // guards overlay, view, next_version
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> overlay;
  std::shared_ptr<const store::View> view;  // the handle's own file, as last read
  uint64_t next_version = 1;

  std::mutex save_mu;  // one save of this handle at a time
  uint64_t exit_token = 0;
  std::mutex token_mu;

  // Set from Options::read_only, or by load() on finding the file
  // unchangeable; never cleared (the handle keeps its entries in memory).
  std::atomic<bool> read_only{false};

  std::atomic<uint64_t> hits{0}, misses{0}, puts{0}, erases{0}, bytes_loaded{0}, bytes_saved{0},
      saves{0}, save_failures{0}, compactions{0}, damaged{0}, evictions{0}, rejected_puts{0};

  // Whether `key` is live in the view (a hash match; the key is checked on read).
  bool in_view(std::string_view key) const {
    return view && view->find(format::hash_key(key)) != nullptr;
  }
};

// Reads the record of every slot of `view` (that `want` accepts) in `mode`;
// a damaged one is counted, logged and skipped. Calls fn(slot, record).
template <typename Want, typename Fn>
void for_each_record(RuntimeCache::State& st, const store::View& view, store::ReadMode mode,
                     Want&& want, Fn&& fn) {
  for (const format::Slot& slot : view.slots) {
    if (!want(slot)) continue;
    store::Record record;
    Status s = store::read_record(*view.file, slot.offset, slot.length, st.limits, mode, &record);
    if (!s.ok()) {
      st.damaged.fetch_add(1, std::memory_order_relaxed);
      log(LogLevel::kWarning, s.message() + "; entry skipped");
      continue;
    }
    fn(slot, record);
  }
}

inline constexpr auto kEverySlot = [](const format::Slot&) { return true; };

}  // namespace rtcache
