// RuntimeCache: reading and changing entries, and what the handle holds.
#include <algorithm>

#include "cache/handle_state.h"
#include "cache/record_encoding.h"
#include "cache/storage_options.h"

namespace rtcache {

// --- entries --------------------------------------------------------------------

Status RuntimeCache::get(std::string_view key, Bytes* value, std::string* metadata) {
  State& st = *state_;
  std::shared_ptr<const store::View> view;
  format::Slot slot;
  {
    std::shared_lock lock(st.mu);
    if (auto it = st.overlay.find(key); it != st.overlay.end()) {
      const Entry& e = it->second;
      if (e.erased) {
        st.misses.fetch_add(1, std::memory_order_relaxed);
        return Status::NotFound();
      }
      it->second.last_used_ns.store(st.env->now_nanos(), std::memory_order_relaxed);
      *value = e.value;
      if (metadata) *metadata = e.meta;
      st.hits.fetch_add(1, std::memory_order_relaxed);
      return Status::OK();
    }
    const format::Slot* found = st.view ? st.view->find(format::hash_key(key)) : nullptr;
    if (found == nullptr) {
      st.misses.fetch_add(1, std::memory_order_relaxed);
      return Status::NotFound();
    }
    view = st.view;
    slot = *found;
  }
  // Read and verify the record without holding the lock.
  store::Record record;
  Status s = store::read_record(*view->file, slot.offset, slot.length, st.limits,
                                store::ReadMode::kValue, &record);
  if (s.ok() && record.key != key) {
    st.misses.fetch_add(1, std::memory_order_relaxed);  // another key with the same hash
    return Status::NotFound();
  }
  std::unique_lock lock(st.mu);
  auto [it, inserted] = st.overlay.try_emplace(std::string(key));
  Entry& e = it->second;
  if (!inserted) {
    // Another thread put, erased or read it meanwhile; its state wins.
    lock.unlock();
    return get(key, value, metadata);
  }
  if (!s.ok()) {
    e.erased = e.hidden = true;
    st.damaged.fetch_add(1, std::memory_order_relaxed);
    st.misses.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    log(LogLevel::kWarning, s.message() + "; entry skipped");
    return s;
  }
  e.value = record.value;
  e.meta = std::move(record.meta);
  e.created_ns = record.header.timestamp_ns;
  e.persisted_last_used_ns = slot.last_used_ns;
  e.last_used_ns.store(st.env->now_nanos(), std::memory_order_relaxed);
  *value = e.value;
  if (metadata) *metadata = e.meta;
  st.hits.fetch_add(1, std::memory_order_relaxed);
  st.bytes_loaded.fetch_add(slot.length, std::memory_order_relaxed);
  return Status::OK();
}

bool RuntimeCache::contains(std::string_view key) {
  std::shared_lock lock(state_->mu);
  if (auto it = state_->overlay.find(key); it != state_->overlay.end()) return !it->second.erased;
  return state_->in_view(key);
}

namespace {

// A key as a log line shows it: as is when short printable text, else hex.
std::string describe_key(std::string_view key) {
  constexpr size_t kShown = 64;
  const bool printable = std::all_of(key.begin(), key.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (printable && key.size() <= kShown) return "\"" + std::string(key) + "\"";
  static const char kHex[] = "0123456789abcdef";
  std::string out = "hex:";
  for (unsigned char c : key.substr(0, kShown / 2)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return key.size() > kShown / 2 ? out + "... (" + std::to_string(key.size()) + " bytes)" : out;
}

}  // namespace

Status RuntimeCache::check_put(std::string_view key, uint64_t value_size,
                               uint64_t metadata_size) const {
  auto refuse = [&](const char* what, uint64_t size, uint64_t limit) {
    return Status::InvalidArgument("key " + describe_key(key) + ": " + what + " of " +
                                   std::to_string(size) + " bytes is over the limit of " +
                                   std::to_string(limit) + " bytes; not stored");
  };
  if (key.size() > format::kMaxKeyBytes) return refuse("key", key.size(), format::kMaxKeyBytes);
  if (metadata_size > format::kMaxMetaBytes) {
    return refuse("metadata", metadata_size, format::kMaxMetaBytes);
  }
  if (value_size > state_->limits.max_value_bytes) {
    return refuse("value", value_size, state_->limits.max_value_bytes);
  }
  return Status::OK();
}

void RuntimeCache::put(std::string_view key, Bytes value, std::string_view metadata) {
  State& st = *state_;
  if (Status s = check_put(key, value.size(), metadata.size()); !s.ok()) {
    st.rejected_puts.fetch_add(1, std::memory_order_relaxed);
    log(LogLevel::kWarning, (options_.path.empty() ? "" : options_.path + ": ") + s.message());
    return;
  }
  const int64_t now = st.env->now_nanos();
  std::unique_lock lock(st.mu);
  Entry& e = st.overlay[std::string(key)];
  e.value = std::move(value);
  e.meta.assign(metadata);
  e.created_ns = now;
  e.last_used_ns.store(now, std::memory_order_relaxed);
  e.erased = e.hidden = false;
  e.dirty = true;
  e.version = st.next_version++;
  st.puts.fetch_add(1, std::memory_order_relaxed);
}

bool RuntimeCache::erase(std::string_view key) {
  State& st = *state_;
  std::unique_lock lock(st.mu);
  auto it = st.overlay.find(key);
  bool existed = it != st.overlay.end() ? !it->second.erased : st.in_view(key);
  if (it == st.overlay.end()) it = st.overlay.try_emplace(std::string(key)).first;
  Entry& e = it->second;
  e.value = Bytes();
  e.meta.clear();
  e.erased = true;
  e.hidden = false;
  e.dirty = true;
  e.version = st.next_version++;
  if (existed) st.erases.fetch_add(1, std::memory_order_relaxed);
  return existed;
}

void RuntimeCache::reset() {
  State& st = *state_;
  std::shared_ptr<const store::View> view;
  {
    std::shared_lock lock(st.mu);
    view = st.view;
  }
  // The keys in the file are only known by hash in memory; read them.
  std::vector<std::string> keys;
  if (view) {
    for_each_record(
        st, *view, store::ReadMode::kHeaderOnly, kEverySlot,
        [&](const format::Slot&, store::Record& r) { keys.push_back(std::move(r.key)); });
  }
  std::unique_lock lock(st.mu);
  for (auto& [key, e] : st.overlay) {
    if (!e.erased) keys.push_back(key);
  }
  lock.unlock();
  for (const std::string& key : keys) erase(key);
}

bool RuntimeCache::has_unsaved_changes() const {
  std::shared_lock lock(state_->mu);
  for (const auto& [key, e] : state_->overlay) {
    if (e.dirty) return true;
  }
  return false;
}

size_t RuntimeCache::size() const {
  std::shared_lock lock(state_->mu);
  size_t count = state_->view ? state_->view->slots.size() : 0;
  for (const auto& [key, e] : state_->overlay) {
    bool in_view = state_->in_view(key);
    if (e.erased && in_view) --count;
    if (!e.erased && !in_view) ++count;
  }
  return count;
}

CacheStats RuntimeCache::stats() const {
  const State& st = *state_;
  CacheStats s;
  s.hits = st.hits.load();
  s.misses = st.misses.load();
  s.puts = st.puts.load();
  s.erases = st.erases.load();
  s.bytes_loaded = st.bytes_loaded.load();
  s.bytes_saved = st.bytes_saved.load();
  s.saves = st.saves.load();
  s.save_failures = st.save_failures.load();
  s.compactions = st.compactions.load();
  s.damaged_records = st.damaged.load();
  s.evictions = st.evictions.load();
  s.rejected_puts = st.rejected_puts.load();
  std::shared_lock lock(st.mu);
  s.entries = st.view ? st.view->slots.size() : 0;
  s.live_bytes = st.view ? st.view->live_bytes : 0;
  for (const auto& [key, e] : st.overlay) {
    const format::Slot* slot = st.view ? st.view->find(format::hash_key(key)) : nullptr;
    if (slot && (e.erased || e.dirty)) {
      --s.entries;
      s.live_bytes -= slot->length;
    }
    if (!e.erased && (e.dirty || !slot)) {
      ++s.entries;
      s.live_bytes += e.value.size();
    }
  }
  return s;
}

Status RuntimeCache::entries(std::vector<EntryInfo>* out) {
  State& st = *state_;
  out->clear();
  std::shared_ptr<const store::View> view;
  {
    std::shared_lock lock(st.mu);
    view = st.view;
    for (const auto& [key, e] : st.overlay) {
      if (e.erased) continue;
      const format::Slot* slot = view ? view->find(format::hash_key(key)) : nullptr;
      EntryInfo info;
      info.key = key;
      info.value_size = e.value.size();
      info.stored_size = (!e.dirty && slot) ? slot->length : 0;
      info.created_ns = e.created_ns;
      info.last_used_ns = e.last_used_ns.load(std::memory_order_relaxed);
      info.metadata = e.meta;
      info.encoding = Compression::kNone;
      out->push_back(std::move(info));
    }
  }
  if (view) {
    for_each_record(st, *view, store::ReadMode::kHeaderOnly, kEverySlot,
                    [&](const format::Slot& slot, store::Record& record) {
                      {
                        std::shared_lock lock(st.mu);
                        if (auto it = st.overlay.find(record.key); it != st.overlay.end()) {
                          if (!it->second.erased && !it->second.dirty) {
                            // Listed from memory above; take the file's facts about its encoding.
                            for (EntryInfo& info : *out) {
                              if (info.key == record.key)
                                info.encoding = static_cast<Compression>(record.header.encoding);
                            }
                          }
                          return;
                        }
                      }
                      EntryInfo info;
                      info.key = std::move(record.key);
                      info.value_size = record.header.raw_len;
                      info.stored_size = slot.length;
                      info.created_ns = record.header.timestamp_ns;
                      info.last_used_ns = slot.last_used_ns;
                      info.metadata = std::move(record.meta);
                      info.encoding = static_cast<Compression>(record.header.encoding);
                      out->push_back(std::move(info));
                    });
  }
  std::sort(out->begin(), out->end(),
            [](const EntryInfo& a, const EntryInfo& b) { return a.key < b.key; });
  return Status::OK();
}

}  // namespace rtcache
