// inspect / verify / repair / prune of a cache file (include/rtcache/maintenance.h).
#include "rtcache/maintenance.h"

#include <algorithm>
#include <unordered_map>

#include "format.h"
#include "rtcache/env.h"
#include "rtcache/runtime_cache.h"
#include "store.h"

namespace rtcache {
namespace {

using format::kFileHeaderSize;
using format::kRecordHeaderSize;
using format::RecordType;

Env* env_of(const Options& options) {
  return options.env ? options.env : Env::default_env();
}

store::Limits limits_of(const Options& options) {
  store::Limits limits;
  limits.max_value_bytes = options.max_value_bytes;
  return limits;
}

Status open_checked(Env* env, const std::string& path, std::shared_ptr<File>* file,
                    uint64_t* size) {
  FileInfo info;
  Status s = env->stat(path, true, &info);
  if (!s.ok()) return s;
  if (!info.is_regular) return Status::Corruption(path + ": not a regular file");
  std::unique_ptr<File> f;
  s = env->open_read(path, &f);
  if (!s.ok()) return s;
  std::string header(std::min<uint64_t>(info.size, kFileHeaderSize), '\0');
  size_t got = 0;
  s = f->read_at(0, header.size(), header.data(), &got);
  if (!s.ok()) return s;
  header.resize(got);
  format::FileHeader decoded;
  s = format::decode_file_header(header, &decoded);
  if (!s.ok()) return s.with_context(path);
  *file = std::move(f);
  *size = info.size;
  return Status::OK();
}

// Walks every record from the start, verifying all checksums, resynchronising
// past damage. Calls on_record(offset, record) for each intact record.
template <typename OnRecord>
Status walk_records(File& file, uint64_t size, const store::Limits& limits,
                    std::vector<DamagedRecord>* damaged, OnRecord&& on_record) {
  uint64_t pos = kFileHeaderSize;
  auto resync = [&](uint64_t from) {
    uint64_t next = store::find_next_record(file, from, size, limits);
    return next == 0 ? size : next;
  };
  while (pos < size) {
    if (size - pos < kRecordHeaderSize) {
      damaged->push_back({pos, "torn tail: " + std::to_string(size - pos) + " bytes"});
      break;
    }
    store::Record record;
    Status s = store::read_record(file, pos, 0, limits, store::ReadMode::kHeaderOnly, &record);
    if (s.is_io_error()) return s;
    if (!s.ok()) {
      uint64_t next = resync(pos);
      damaged->push_back(
          {pos, s.message() + " (" + std::to_string(next - pos) + " bytes skipped)"});
      pos = next;
      continue;
    }
    const uint64_t length = record.header.record_length();
    if (length > size - pos) {
      damaged->push_back({pos, "torn tail: record extends " +
                                   std::to_string(length - (size - pos)) + " bytes past the end"});
      break;
    }
    store::Record full;
    s = store::read_record(file, pos, length, limits, store::ReadMode::kValue, &full);
    if (s.is_io_error()) return s;
    if (!s.ok()) {
      damaged->push_back({pos, s.message()});
    } else {
      on_record(pos, full);
    }
    pos += length;
  }
  return Status::OK();
}

}  // namespace

Status create_file(const std::string& path, const Options& options) {
  store::CommitOptions commit;
  commit.limits = limits_of(options);
  commit.file_mode = options.file_mode;
  commit.dir_mode = options.dir_mode;
  commit.lock_timeout = options.lock_timeout;
  commit.sync = options.sync;
  commit.create_empty = true;
  store::CommitResult result;
  return store::commit(env_of(options), path, commit, {}, nullptr, &result);
}

Status inspect_file(const std::string& path, FileReport* report, const Options& options) {
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

Status verify_file(const std::string& path, VerifyReport* report, const Options& options) {
  *report = VerifyReport{};
  std::shared_ptr<File> file;
  uint64_t size = 0;
  Status s = open_checked(env_of(options), path, &file, &size);
  if (!s.ok()) return s;
  s = walk_records(*file, size, limits_of(options), &report->damaged,
                   [&](uint64_t, const store::Record&) { ++report->records; });
  if (!s.ok()) return s;
  // The records may all be sound while the index that opening relies on is
  // not: check that the file still opens from its trailer.
  std::shared_ptr<const store::View> view;
  s = store::read_view(file, limits_of(options), nullptr, &view);
  if (s.ok() && report->damaged.empty() && (view->end != size || !view->unindexed.empty())) {
    report->damaged.push_back({view->end, "no index covers the end of the file"});
  }
  return Status::OK();
}

Status repair_file(const std::string& path, RepairReport* report, const Options& options) {
  *report = RepairReport{};
  Env* env = env_of(options);
  std::unique_ptr<FileLock> lock;
  Status s = env->lock(path + ".lock", options.file_mode, options.lock_timeout, &lock);
  if (!s.ok()) return s;
  std::shared_ptr<File> file;
  uint64_t size = 0;
  s = open_checked(env, path, &file, &size);
  if (!s.ok()) return s;
  // Last-use times come from the index where it can still be read.
  std::shared_ptr<const store::View> indexed;
  std::unordered_map<uint64_t, int64_t> last_used;
  if (store::read_view(file, limits_of(options), nullptr, &indexed).ok()) {
    for (const format::Slot& slot : indexed->slots) last_used[slot.key_hash] = slot.last_used_ns;
  }
  std::vector<format::Slot> changes;
  s = walk_records(
      *file, size, limits_of(options), &report->dropped,
      [&](uint64_t offset, const store::Record& record) {
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
  store::View source;
  source.file = file;
  source.path = path;
  source.slots = store::apply_slots({}, std::move(changes));
  if (indexed) source.index_info = indexed->index_info;
  store::CommitOptions commit;
  commit.limits = limits_of(options);
  commit.file_mode = options.file_mode;
  commit.dir_mode = options.dir_mode;
  commit.sync = options.sync;
  std::shared_ptr<const store::View> repaired;
  s = store::rewrite_file(env, path, commit, source, &repaired);
  if (!s.ok()) return s;
  report->kept = repaired->slots.size();
  return Status::OK();
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
