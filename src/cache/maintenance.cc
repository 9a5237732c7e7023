// inspect / verify / repair / prune of a cache file (include/rtcache/maintenance.h).
#include "rtcache/maintenance.h"

#include <algorithm>
#include <unordered_map>

#include "cache/storage_options.h"
#include "common/paths.h"
#include "rtcache/env.h"
#include "rtcache/runtime_cache.h"
#include "storage/format.h"
#include "storage/store.h"

namespace rtcache {
namespace {

using format::RecordType;

// Storage-layer damage as the public report lists it.
std::vector<DamagedRecord> to_report(const std::vector<store::Damage>& damage) {
  std::vector<DamagedRecord> out;
  out.reserve(damage.size());
  for (const store::Damage& d : damage) out.push_back({d.offset, d.reason});
  return out;
}

}  // namespace

Status create_file(const std::string& path, const Options& given) {
  const Options options = with_environment(given);
  store::CommitOptions commit = commit_options_of(options);
  commit.max_bytes = 0;  // an empty file has nothing to evict
  commit.create_empty = true;
  store::CommitResult result;
  return store::commit(env_of(options), path, commit, {}, nullptr, &result);
}

Status inspect_file(const std::string& path, FileReport* report, const Options& given) {
  const Options options = with_environment(given);
  *report = FileReport{};
  std::shared_ptr<const store::View> view;
  Status s = store::open_view(env_of(options), path, limits_of(options), nullptr, &view);
  if (!s.ok()) return s;
  report->format_version = view->header.version;
  report->entries = view->slots.size();
  report->live_bytes = view->live_bytes;
  report->file_bytes = view->file_size;
  report->dead_bytes = view->dead_bytes();
  report->last_compaction_ns = view->header.created_ns;
  report->saves = view->index_info.generation;
  for (const format::Slot& slot : view->slots) {
    store::Record record;
    if (!store::read_record(*view->file, slot.offset, slot.length, limits_of(options),
                            store::ReadMode::kHeaderOnly, &record)
             .ok()) {
      continue;
    }
    report->value_bytes += record.header.raw_len;
    int64_t created = record.header.timestamp_ns;
    if (report->oldest_created_ns == 0 || created < report->oldest_created_ns) {
      report->oldest_created_ns = created;
    }
    report->newest_created_ns = std::max(report->newest_created_ns, created);
  }
  return Status::OK();
}

Status verify_file(const std::string& path, VerifyReport* report, const Options& given) {
  const Options options = with_environment(given);
  *report = VerifyReport{};
  std::shared_ptr<File> file;
  uint64_t size = 0;
  Status s = store::open_for_walk(env_of(options), path, &file, &size);
  if (!s.ok()) return s;
  std::vector<store::Damage> damage;
  s = store::walk_records(*file, size, limits_of(options), &damage,
                          [&](uint64_t, const store::Record&) { ++report->records; });
  if (!s.ok()) return s;
  report->damaged = to_report(damage);
  // The records may all be sound while the index that opening relies on is
  // not: check that the file still opens from its trailer.
  std::shared_ptr<const store::View> view;
  s = store::read_view(file, limits_of(options), nullptr, &view);
  if (s.ok() && report->damaged.empty() && (view->end != size || !view->unindexed.empty())) {
    report->damaged.push_back(
        {view->end, store::record_at(path, view->end) + ": no index covers the end of the file"});
  }
  return Status::OK();
}

Status repair_file(const std::string& path, RepairReport* report, const Options& given) {
  const Options options = with_environment(given);
  *report = RepairReport{};
  Env* env = env_of(options);
  // A writer's locks and checks: repair never follows a symbolic link, never
  // launders a file it would not trust, and makes no lock file beside a file
  // that is not an rtcache file.
  store::WriteLock locked;
  Status s = store::lock_existing(env, path, commit_options_of(options), &locked);
  if (!s.ok()) return s;
  const std::shared_ptr<File>& file = locked.file;
  const uint64_t size = locked.info.size;
  // Last-use times come from the index where it can still be read.
  std::shared_ptr<const store::View> indexed;
  std::unordered_map<uint64_t, int64_t> last_used;
  if (store::read_view(file, limits_of(options), nullptr, &indexed).ok()) {
    for (const format::Slot& slot : indexed->slots) last_used[slot.key_hash] = slot.last_used_ns;
  }
  std::vector<format::Slot> changes;
  std::vector<store::Damage> dropped;
  s = store::walk_records(
      *file, size, limits_of(options), &dropped, [&](uint64_t offset, const store::Record& record) {
        RecordType type = record.header.type;
        if (type != RecordType::kPut && type != RecordType::kErase) return;
        uint64_t hash = format::hash_key(record.key);
        bool put = type == RecordType::kPut;
        auto it = last_used.find(hash);
        int64_t used = it != last_used.end() ? std::max(it->second, record.header.timestamp_ns)
                                             : record.header.timestamp_ns;
        changes.push_back({hash, put ? offset : 0, put ? record.header.record_length() : 0, used});
      });
  if (!s.ok()) return s;
  report->dropped = to_report(dropped);
  store::View source;
  source.file = file;
  source.path = path;
  source.slots = store::apply_slots({}, std::move(changes));
  if (indexed) source.index_info = indexed->index_info;
  std::shared_ptr<const store::View> repaired;
  s = store::rewrite_file(env, path, commit_options_of(options), source, &repaired);
  if (!s.ok()) return s;
  report->kept = repaired->slots.size();
  return Status::OK();
}

Status clear_file(const std::string& path, const Options& given) {
  const Options options = with_environment(given);
  Env* env = env_of(options);
  store::WriteLock locked;
  Status s = store::lock_existing(env, path, commit_options_of(options), &locked);
  if (!s.ok()) return s;
  s = env->remove(path);
  if (s.ok() && options.sync) s = env->sync_dir(parent_dir(path));
  return s;
}

Status prune_file(const std::string& path, uint64_t max_bytes, std::chrono::seconds older_than,
                  PruneReport* report, const Options& options) {
  *report = PruneReport{};
  Options handle_options = options;
  handle_options.path = path;
  handle_options.autosave_on_del = false;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(handle_options, &cache);
  if (!s.ok()) return s;
  std::vector<EntryInfo> entries;
  s = cache->entries(&entries);
  if (!s.ok()) return s;
  std::sort(entries.begin(), entries.end(), [](const EntryInfo& a, const EntryInfo& b) {
    return a.last_used_ns != b.last_used_ns ? a.last_used_ns < b.last_used_ns : a.key < b.key;
  });
  uint64_t live = 0;
  for (const EntryInfo& e : entries) live += e.stored_size;
  const int64_t now = env_of(options)->now_nanos();
  const int64_t cutoff =
      older_than.count() > 0
          ? now - std::chrono::duration_cast<std::chrono::nanoseconds>(older_than).count()
          : INT64_MIN;
  for (const EntryInfo& e : entries) {
    bool too_old = e.last_used_ns < cutoff;
    bool over_budget = max_bytes > 0 && live > max_bytes;
    if (!too_old && !over_budget) continue;
    cache->erase(e.key);
    report->removed_keys.push_back(e.key);
    report->removed_bytes += e.stored_size;
    live -= e.stored_size;
  }
  report->live_bytes_after = live;
  if (report->removed_keys.empty()) return Status::OK();
  s = cache->save();
  if (!s.ok()) return s;
  return cache->compact();
}

}  // namespace rtcache
