// RuntimeCache: loading from and saving to files (the handle's own file,
// merged under its lock, or another file).
#include <algorithm>

#include "cache/decode_budget.h"
#include "cache/handle_state.h"
#include "cache/record_encoding.h"
#include "cache/storage_options.h"

namespace rtcache {

// --- files --------------------------------------------------------------------------

Status RuntimeCache::load(const std::string& path) {
  State& st = *state_;
  const std::string& target = path.empty() ? options_.path : path;
  if (target.empty()) return Status::OK();
  if (target == options_.path) {
    std::shared_ptr<const store::View> previous, view;
    {
      std::shared_lock lock(st.mu);
      previous = st.view;
    }
    Status s = store::open_view(st.env, target, st.limits, previous, &view);
    if (s.is_not_found()) return Status::OK();  // first run
    if (!s.ok()) return s;
    std::string why;
    if (!st.read_only.load() && !st.env->writable(target, &why)) {
      st.read_only.store(true);
      log(LogLevel::kInfo,
          target + ": read-only (" + why + "); kernels added by this process stay in its memory");
    }
    if (view != previous) {
      st.bytes_loaded.fetch_add(view->index_length, std::memory_order_relaxed);
      if (view->damaged_records) {
        st.damaged.fetch_add(view->damaged_records, std::memory_order_relaxed);
        log(LogLevel::kWarning,
            target + ": " + std::to_string(view->damaged_records) + " damaged record(s) skipped");
      }
    }
    std::unique_lock lock(st.mu);
    st.view = std::move(view);
    return Status::OK();
  }
  // Another file: its entries are merged in as unsaved puts.
  std::shared_ptr<const store::View> view;
  Status s = store::open_view(st.env, target, st.limits, nullptr, &view);
  if (s.is_not_found()) return Status::OK();
  if (!s.ok()) return s;
  // Every value is held at once: decoded within a budget, sized by the file.
  DecodeBudget budget(view->file_size);
  s = Status::OK();
  for_each_record(st, *view, store::ReadMode::kHeaderOnly, kEverySlot,
                  [&](const format::Slot&, store::Record& record) {
                    if (s.ok()) s = budget.charge(target, record.header.raw_len);
                  });
  if (!s.ok()) return s;
  std::vector<std::pair<store::Record, int64_t>> records;  // with its last use
  for_each_record(st, *view, store::ReadMode::kValue, kEverySlot,
                  [&](const format::Slot& slot, store::Record& record) {
                    st.bytes_loaded.fetch_add(slot.length, std::memory_order_relaxed);
                    records.emplace_back(std::move(record), slot.last_used_ns);
                  });
  std::unique_lock lock(st.mu);
  for (auto& [r, last_used] : records) {
    Entry& e = st.overlay[r.key];
    if (e.dirty && !e.erased) continue;  // this handle's own change wins
    e.value = r.value;
    e.meta = std::move(r.meta);
    e.created_ns = r.header.timestamp_ns;
    e.last_used_ns.store(last_used, std::memory_order_relaxed);
    e.erased = e.hidden = false;
    e.dirty = true;
    e.version = st.next_version++;
  }
  return Status::OK();
}

namespace {

// What one save takes from the overlay: dirty entries to write (with their
// versions, so that a change made during the save stays dirty) and entries
// whose last use moved by at least the resolution.
struct Snapshot {
  struct Change {
    std::string key;
    uint64_t version;
    bool erase;
  };
  std::vector<Change> changes;
  std::vector<std::pair<std::string, Entry>> puts;  // copies, in the order of changes
  std::vector<std::pair<std::string, int64_t>> touched;
  std::shared_ptr<const store::View> known;
  store::Changes records;  // what the storage layer writes
  bool empty() const { return changes.empty() && touched.empty(); }
};

Snapshot take_snapshot(RuntimeCache::State& st, std::chrono::seconds resolution) {
  const int64_t resolution_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(resolution).count();
  Snapshot snap;
  std::shared_lock lock(st.mu);
  snap.known = st.view;
  for (const auto& [key, e] : st.overlay) {
    if (e.dirty) {
      snap.changes.push_back({key, e.version, e.erased});
      if (!e.erased) snap.puts.emplace_back(key, e);
    } else if (!e.erased) {
      int64_t used = e.last_used_ns.load(std::memory_order_relaxed);
      if (used - e.persisted_last_used_ns >= resolution_ns && used > e.persisted_last_used_ns) {
        snap.touched.emplace_back(key, used);
        snap.records.touches.push_back({format::hash_key(key), used});
      }
    }
  }
  return snap;
}

// Encodes the snapshot's changes as records, compressing on several threads
// when there is enough to compress, without holding the handle's lock.
void encode_snapshot(const Options& options, int64_t now, Snapshot* snap) {
  std::vector<store::EncodedRecord>& records = snap->records.records;
  records.resize(snap->changes.size());
  std::vector<std::pair<size_t, size_t>> put_jobs;  // (record, puts index)
  for (size_t i = 0, p = 0; i < snap->changes.size(); ++i) {
    if (snap->changes[i].erase) {
      records[i] = encode_erase(snap->changes[i].key, now);
    } else {
      put_jobs.emplace_back(i, p++);
    }
  }
  uint64_t compress_bytes = 0;
  if (options.compression != Compression::kNone) {
    for (const auto& [key, e] : snap->puts) compress_bytes += e.value.size();
  }
  parallel_for(put_jobs.size(), compress_bytes, [&](size_t j) {
    auto [record, p] = put_jobs[j];
    records[record] = encode_put(options, snap->puts[p].first, snap->puts[p].second);
  });
}

// Sorted hashes of the entries this process has used or added: evicted last.
std::vector<uint64_t> in_use_hashes(RuntimeCache::State& st) {
  std::vector<uint64_t> in_use;
  std::shared_lock lock(st.mu);
  for (const auto& [key, e] : st.overlay) {
    if (!e.erased) in_use.push_back(format::hash_key(key));
  }
  std::sort(in_use.begin(), in_use.end());
  return in_use;
}

// After a durable save: the new view, and the saved changes marked clean
// unless they changed again meanwhile.
void apply_saved(RuntimeCache::State& st, const Snapshot& snap, const store::CommitResult& result) {
  std::unique_lock lock(st.mu);
  if (result.view) st.view = result.view;
  for (size_t i = 0; i < snap.changes.size(); ++i) {
    auto it = st.overlay.find(snap.changes[i].key);
    if (it == st.overlay.end() || it->second.version != snap.changes[i].version) continue;
    if (snap.changes[i].erase) {
      st.overlay.erase(it);
    } else {
      it->second.dirty = false;
      it->second.persisted_last_used_ns = snap.records.records[i].last_used_ns;
    }
  }
  for (const auto& [key, used] : snap.touched) {
    if (auto it = st.overlay.find(key); it != st.overlay.end()) {
      it->second.persisted_last_used_ns = std::max(it->second.persisted_last_used_ns, used);
    }
  }
}

}  // namespace

Status RuntimeCache::save(const std::string& path) {
  State& st = *state_;
  const std::string& target = path.empty() ? options_.path : path;
  if (target.empty()) return Status::OK();
  std::lock_guard<std::mutex> save_lock(st.save_mu);
  if (target != options_.path) return save_other(target);
  if (st.read_only.load()) {
    return Status::PermissionDenied(target + ": read-only cache; nothing written");
  }

  Snapshot snap = take_snapshot(st, options_.last_use_resolution);
  if (snap.empty()) return Status::OK();
  encode_snapshot(options_, st.env->now_nanos(), &snap);
  store::CommitOptions commit = commit_options_of(options_);
  if (commit.max_bytes > 0) commit.in_use = in_use_hashes(st);
  store::CommitResult result;
  Status s = store::commit(st.env, target, commit, snap.records, snap.known, &result);
  if (!s.ok()) {
    st.save_failures.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  st.evictions.fetch_add(result.evicted.size(), std::memory_order_relaxed);
  if (!result.compaction_status.ok()) {
    log(LogLevel::kWarning,
        "compaction failed (will retry): " + result.compaction_status.message());
  }
  apply_saved(st, snap, result);
  st.saves.fetch_add(1, std::memory_order_relaxed);
  st.bytes_saved.fetch_add(result.bytes_written, std::memory_order_relaxed);
  if (result.compacted) st.compactions.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

Status RuntimeCache::save_other(const std::string& target) {
  State& st = *state_;
  std::shared_ptr<const store::View> theirs;
  Status s = store::open_view(st.env, target, st.limits, nullptr, &theirs);
  if (!s.ok() && !s.is_not_found()) return s;
  auto they_have = [&](uint64_t hash) { return theirs && theirs->find(hash) != nullptr; };

  store::Changes changes;
  std::vector<std::pair<std::string, Entry>> in_memory;
  std::shared_ptr<const store::View> mine;
  {
    std::shared_lock lock(st.mu);
    mine = st.view;
    for (const auto& [key, e] : st.overlay) in_memory.emplace_back(key, e);
  }
  std::unordered_map<std::string, bool, StringHash, std::equal_to<>> overridden;
  for (const auto& [key, e] : in_memory) {
    overridden.emplace(key, true);
    if (e.erased) continue;
    if (e.dirty || !they_have(format::hash_key(key))) {
      changes.records.push_back(encode_put(options_, key, e));
    }
  }
  if (mine) {
    for_each_record(
        st, *mine, store::ReadMode::kValueAndRaw,
        [&](const format::Slot& slot) { return !they_have(slot.key_hash); },
        [&](const format::Slot& slot, store::Record& record) {
          if (!overridden.count(record.key)) {
            changes.records.push_back(stored_as_is(slot, record.key, std::move(record.raw)));
          }
        });
  }
  if (changes.empty()) return Status::OK();
  store::CommitResult result;
  s = store::commit(st.env, target, commit_options_of(options_), changes, theirs, &result);
  if (!s.ok()) {
    st.save_failures.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  st.saves.fetch_add(1, std::memory_order_relaxed);
  st.bytes_saved.fetch_add(result.bytes_written, std::memory_order_relaxed);
  return Status::OK();
}

bool RuntimeCache::read_only() const {
  return state_->read_only.load();
}

Status RuntimeCache::compact() {
  State& st = *state_;
  if (options_.path.empty()) return Status::OK();
  if (st.read_only.load()) {
    return Status::PermissionDenied(options_.path + ": read-only cache; nothing written");
  }
  std::lock_guard<std::mutex> save_lock(st.save_mu);
  std::shared_ptr<const store::View> known;
  {
    std::shared_lock lock(st.mu);
    known = st.view;
  }
  FileInfo info;
  if (st.env->stat(options_.path, true, &info).is_not_found()) return Status::OK();
  store::CommitOptions options = commit_options_of(options_);
  options.force_compaction = true;
  store::CommitResult result;
  Status s = store::commit(st.env, options_.path, options, {}, known, &result);
  if (!s.ok()) return s;
  if (!result.compaction_status.ok()) return result.compaction_status;
  std::unique_lock lock(st.mu);
  if (result.view) st.view = result.view;
  st.compactions.fetch_add(1, std::memory_order_relaxed);
  return Status::OK();
}

}  // namespace rtcache
