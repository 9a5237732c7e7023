// commit(): one save, as named steps. Each step either succeeds or leaves the
// committed file as it was (nothing appended is referenced by a trailer at
// the end of the file until the last step).
#include "storage/writer.h"

#include <algorithm>

#include "common/paths.h"
#include "storage/appender.h"
#include "storage/eviction.h"
#include "storage/reader.h"
#include "storage/record_io.h"
#include "storage/rewrite.h"
#include "storage/trust.h"

namespace rtcache::store {
namespace {

using format::IndexInfo;
using format::IndexKind;
using format::RecordType;
using format::Slot;

// Deltas chained before a full index is written again.
constexpr uint32_t kMaxIndexDepth = 15;

// The key of an encoded record (its header, then the key bytes).
std::string_view key_of(const EncodedRecord& r) {
  format::RecordHeader h;
  if (!format::decode_record_header(r.head, &h).ok()) return {};
  return std::string_view(r.head).substr(format::kRecordHeaderSize, h.key_len);
}

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

// What the path names: a symbolic link, something that is not a regular
// file, or an empty file (unless the caller asked to create the cache) is
// refused. *exists is false when there is nothing to append to.
Status check_named(Env* env, const std::string& path, const CommitOptions& options, FileInfo* info,
                   bool* exists) {
  Status s = env->stat(path, false, info);
  *exists = s.ok();
  if (s.is_not_found()) return Status::OK();
  if (!s.ok()) return s;
  if (info->is_symlink) {
    return Status::PermissionDenied(path + ": is a symbolic link; refusing to write through it");
  }
  if (!info->is_regular) return Status::NotACacheFile(path + ": not a regular file");
  if (info->size == 0) {
    if (options.create_empty) {
      *exists = false;  // the caller names it as the cache to create
      return Status::OK();
    }
    return Status::NotACacheFile(path + ": empty file, not an rtcache file");
  }
  return Status::OK();
}

// Checked before anything is created beside the path: what it names, then an
// existing file's trust and header, so that no lock file is ever made next to
// an untrusted or foreign file. (Once locked, trust is checked again on the
// opened descriptor.)
Status check_target(Env* env, const std::string& path, const CommitOptions& options, FileInfo* info,
                    bool* exists) {
  Status s = check_named(env, path, options, info, exists);
  if (!s.ok() || !*exists) return s;
  s = check_trust(path, *info, options.limits);
  if (s.ok()) s = check_dir_trust(env, path, options.limits);
  if (!s.ok()) return s;
  std::unique_ptr<File> file;
  s = env->open_read(path, &file);
  if (!s.ok()) return s;
  format::FileHeader header;
  return read_file_header(*file, info->size, &header);
}

// The lock file must be this user's (unless others are trusted), so that a
// lock file another user made cannot stand in for ours. Its mode is not
// checked: its bytes are never read, and the cache file itself is locked too,
// so whoever can write the lock file still cannot let a second writer in (a
// group-shared file_mode makes it group-writable).
Status check_lock_trust(const std::string& lock_path, FileLock& lock, const Limits& limits) {
  FileInfo info;
  Status s = lock.stat(&info);
  if (s.code() == Status::Code::kNotSupported) return Status::OK();  // no file behind it
  if (!s.ok()) return s;
  info.mode &= ~static_cast<uint32_t>(0022);
  return check_trust(lock_path, info, limits);
}

// Opens the cache file for writing, and locks it through a second descriptor
// of its own (`guard`): the written descriptor lives on in the views a save
// publishes, and a lock on it would outlast the save. Trust is checked on
// what was opened. Then checks that the path still names the file
// (compaction may have renamed a new file over it while we waited): the
// lock-file dance, on the data file. `read_header` checks the locked file's
// header (a commit reads it anyway).
Status open_locked(Env* env, const std::string& path, const CommitOptions& options,
                   Clock::time_point deadline, bool read_header, std::shared_ptr<File>* out,
                   std::unique_ptr<File>* guard, FileInfo* info, bool* exists) {
  while (true) {
    Status s = check_named(env, path, options, info, exists);
    if (!s.ok() || !*exists) return s;
    std::unique_ptr<File> file;
    std::unique_ptr<File> locked;
    s = env->open_write(path, &file);
    if (s.ok()) s = env->open_read(path, &locked);
    if (s.is_not_found()) continue;  // deleted meanwhile
    if (!s.ok()) return s;
    s = check_opened_trust(env, *file, options.limits);
    if (!s.ok()) return s;
    s = locked->lock(remaining(deadline));
    if (!s.ok()) return s;
    FileInfo held, guarded, named;
    s = file->stat(&held);
    if (s.ok()) s = locked->stat(&guarded);
    if (!s.ok()) return s;
    if (held.identity == guarded.identity && env->stat(path, false, &named).ok() &&
        named.identity == held.identity) {
      if (read_header) {
        format::FileHeader header;
        s = read_file_header(*locked, held.size, &header);
        if (!s.ok()) return s;
      }
      *out = std::move(file);
      *guard = std::move(locked);
      *info = held;
      return Status::OK();
    }
    if (remaining(deadline).count() == 0) {
      return Status::LockTimeout(path + ": replaced again and again while waiting for it");
    }
  }
}

// A new file: the changes (less what the budget leaves out) written whole to a
// temp file and renamed into place.
Status create_with(Env* env, const std::string& path, const CommitOptions& options,
                   const Changes& changes, CommitResult* result) {
  if (changes.records.empty() && !options.create_empty) return Status::OK();
  std::vector<EvictionCandidate> candidates;
  std::vector<size_t> candidate_record;
  uint64_t live = 0;
  for (size_t i = 0; i < changes.records.size(); ++i) {
    const EncodedRecord& r = changes.records[i];
    if (r.erase) continue;
    candidates.push_back({r.key_hash, r.size(), r.last_used_ns});
    candidate_record.push_back(i);
    live += r.size();
  }
  std::vector<bool> skip(changes.records.size(), false);
  for (size_t victim : choose_victims(candidates, live, options.max_bytes, options.in_use)) {
    skip[candidate_record[victim]] = true;
    result->evicted.push_back(candidates[victim].key_hash);
  }
  auto write_records = [&](Appender* appender, std::vector<Slot>* slots) {
    for (size_t i = 0; i < changes.records.size(); ++i) {
      const EncodedRecord& r = changes.records[i];
      uint64_t pos = appender->position();
      result->offsets.push_back(pos);
      if (skip[i]) continue;
      if (!r.erase) slots->push_back({r.key_hash, pos, r.size(), r.last_used_ns});
      Status s = appender->append(r.head);
      if (s.ok()) s = appender->append(r.value());
      if (!s.ok()) return s;
    }
    return Status::OK();
  };
  Status s = write_new_file(env, path, options, 1, write_records, &result->view);
  if (!s.ok()) return s;
  result->bytes_written = result->view->file_size;
  result->created = true;
  return Status::OK();
}

// The slot changes a save makes besides its records: entries salvaged after
// the last index (now indexed) and newer last-use times.
std::vector<Slot> initial_delta(const View& current, const Changes& changes) {
  std::vector<Slot> delta = current.unindexed;
  for (const Touch& t : changes.touches) {
    if (const Slot* slot = current.find(t.key_hash); slot && slot->last_used_ns < t.last_used_ns) {
      delta.push_back({t.key_hash, slot->offset, slot->length, t.last_used_ns});
    }
  }
  return delta;
}

Status append_records(Appender* appender, const Changes& changes, std::vector<Slot>* delta,
                      CommitResult* result) {
  for (const EncodedRecord& r : changes.records) {
    uint64_t pos = appender->position();
    result->offsets.push_back(pos);
    delta->push_back({r.key_hash, r.erase ? 0 : pos, r.erase ? 0 : r.size(), r.last_used_ns});
    Status s = appender->append(r.head);
    if (s.ok()) s = appender->append(r.value());
    if (!s.ok()) return s;
  }
  return Status::OK();
}

// Appends ERASE records for the entries the budget evicts. Records of this
// very save (at or after `start`) take their key from the changes; older ones
// from the file.
Status evict_over_budget(Env* env, const CommitOptions& options, const View& current,
                         const Changes& changes, uint64_t start, Appender* appender,
                         std::vector<Slot>* delta, CommitResult* result) {
  if (options.max_bytes == 0) return Status::OK();
  const std::vector<Slot> after = apply_slots(current.slots, *delta);
  std::vector<EvictionCandidate> candidates;
  candidates.reserve(after.size());
  for (const Slot& s : after) candidates.push_back({s.key_hash, s.length, s.last_used_ns});
  const int64_t now = env->now_nanos();
  for (size_t i :
       choose_victims(candidates, sum_lengths(after), options.max_bytes, options.in_use)) {
    const Slot& victim = after[i];
    std::string key;
    if (victim.offset >= start) {
      for (size_t r = 0; r < result->offsets.size(); ++r) {
        if (result->offsets[r] == victim.offset) key = key_of(changes.records[r]);
      }
    } else {
      Record record;
      if (!read_record(*current.file, victim.offset, victim.length, options.limits,
                       ReadMode::kHeaderOnly, &record)
               .ok()) {
        continue;  // damaged: it cannot be named, and a reader skips it anyway
      }
      key = std::move(record.key);
    }
    std::string erase;
    format::append_record(&erase, RecordType::kErase, 0, key, {}, {}, 0, now);
    Status s = appender->append_owned(std::move(erase));
    if (!s.ok()) return s;
    delta->push_back({victim.key_hash, 0, 0, now});
    result->evicted.push_back(victim.key_hash);
  }
  return Status::OK();
}

// A delta index over the previous one, or a full index when the chain is deep
// or the deltas add up to a quarter of the entries.
IndexInfo next_index_info(Env* env, const View& current, size_t delta_slots, size_t all_slots) {
  const IndexInfo& prev = current.index_info;
  const bool full = !current.has_index || prev.depth >= kMaxIndexDepth ||
                    (prev.cum_delta_slots + delta_slots) * 4 > all_slots + 1024;
  IndexInfo info;
  info.kind = full ? IndexKind::kFull : IndexKind::kDelta;
  info.depth = full ? 0 : prev.depth + 1;
  info.prev_index_offset = full ? 0 : current.index_offset;
  info.cum_delta_slots = full ? 0 : prev.cum_delta_slots + delta_slots;
  info.generation = prev.generation + 1;
  info.saved_ns = env->now_nanos();
  return info;
}

// The file as this save left it.
std::shared_ptr<const View> published_view(const View& current, std::vector<Slot> slots,
                                           const IndexInfo& info, uint64_t index_offset,
                                           size_t index_slots) {
  auto view = std::make_shared<View>();
  view->file = current.file;
  view->path = current.path;
  view->identity = current.identity;
  view->header = current.header;
  view->index_length = format::index_record_length(index_slots);
  view->file_size = view->end = index_offset + view->index_length;
  view->slots = std::move(slots);
  view->live_bytes = sum_lengths(view->slots);
  view->has_index = true;
  view->index_offset = index_offset;
  view->index_info = info;
  return view;
}

// Past the dead-bytes thresholds (or when forced) the file is rewritten. The
// save itself is durable already: a failed compaction is retried by a later
// save and reported for logging.
void compact_if_due(Env* env, const std::string& path, const CommitOptions& options,
                    CommitResult* result) {
  const View& view = *result->view;
  const uint64_t dead = view.dead_bytes();
  const bool due = dead >= options.compaction_min_dead_bytes &&
                   static_cast<double>(dead) >= options.compaction_dead_ratio * view.file_size;
  if (!options.force_compaction && !due) return;
  std::shared_ptr<const View> compacted;
  result->compaction_status = rewrite_file(env, path, options, view, &compacted);
  if (result->compaction_status.ok()) {
    result->view = std::move(compacted);
    result->compacted = true;
  }
}

// An existing file, open and locked: read what is on disk now, cut a torn
// tail, append the records, evictions and an index, sync, publish, compact if
// due.
Status append_to(Env* env, const std::string& path, const CommitOptions& options,
                 const Changes& changes, const std::shared_ptr<const View>& known,
                 const std::shared_ptr<File>& file, const FileInfo& info, CommitResult* result) {
  // A writer that died mid-compaction leaves its temp file; we hold the lock.
  remove_stale_temps(env, path);
  std::shared_ptr<const View> current;
  Status s = read_view(file, options.limits,
                       known && known->identity == info.identity ? known : nullptr, &current);
  if (!s.ok()) return s;

  std::vector<Slot> delta = initial_delta(*current, changes);
  const uint64_t start = current->end;
  if (changes.records.empty() && delta.empty() && start == current->file_size &&
      !options.force_compaction) {
    result->view = current;  // nothing to write
    return Status::OK();
  }
  // A torn tail left by a writer that died is cut; only bytes that never
  // verified are removed.
  if (current->file_size > start) {
    s = file->truncate(start);
    if (!s.ok()) return s;
  }
  Appender appender(*file, start);
  s = append_records(&appender, changes, &delta, result);
  if (s.ok())
    s = evict_over_budget(env, options, *current, changes, start, &appender, &delta, result);
  // The new records must be durable before an index that points at them can
  // be: a crash that kept the index but not a record would otherwise lose the
  // key's older value too. Erasures and last-use times need no such order.
  const bool appended_values = std::any_of(changes.records.begin(), changes.records.end(),
                                           [](const EncodedRecord& r) { return !r.erase; });
  if (s.ok() && options.sync && appended_values) {
    s = appender.flush();
    if (s.ok()) s = file->sync();
  }
  std::vector<Slot> slots = apply_slots(current->slots, delta);
  const IndexInfo index_info = next_index_info(env, *current, delta.size(), slots.size());
  const bool full = index_info.kind == IndexKind::kFull;
  const size_t index_slots = full ? slots.size() : delta.size();
  uint64_t index_offset = 0;
  if (s.ok()) s = append_index(&appender, index_info, full ? slots : delta, &index_offset);
  if (s.ok()) s = appender.flush();
  if (s.ok() && options.sync) s = file->sync();
  if (!s.ok()) {
    // Nothing appended is referenced by a trailer at the end of the file, so
    // readers ignore it; cut it now (best effort) so it cannot be salvaged.
    (void)file->truncate(start);
    return s;
  }
  result->view = published_view(*current, std::move(slots), index_info, index_offset, index_slots);
  result->bytes_written = result->view->file_size - start;
  compact_if_due(env, path, options, result);
  return Status::OK();
}

// The first half of every write: check what the path names (NotFound when
// there is no file and one is required), then take the lock file.
Status take_lock_file(Env* env, const std::string& path, const CommitOptions& options,
                      Clock::time_point deadline, bool require_file,
                      std::unique_ptr<FileLock>* lock) {
  FileInfo info;
  bool exists = false;
  Status s = check_target(env, path, options, &info, &exists);
  if (!s.ok()) return s;
  if (require_file && !exists) return Status::NotFound(path + ": no such file");
  s = env->create_dirs(parent_dir(path), options.dir_mode);
  if (!s.ok()) return s.with_context(path);
  const std::string lock_path = path + ".lock";
  s = env->lock(lock_path, options.file_mode, remaining(deadline), lock);
  if (!s.ok()) return s;
  return check_lock_trust(lock_path, **lock, options.limits);
}

}  // namespace

Status lock_existing(Env* env, const std::string& path, const CommitOptions& options,
                     WriteLock* out) {
  const Clock::time_point deadline = Clock::now() + options.lock_timeout;
  Status s = take_lock_file(env, path, options, deadline, /*require_file=*/true, &out->lock);
  bool exists = false;
  if (s.ok()) {
    s = open_locked(env, path, options, deadline, /*read_header=*/true, &out->file, &out->guard,
                    &out->info, &exists);
  }
  if (s.ok() && !exists) s = Status::NotFound(path + ": no such file");
  return s;
}

Status commit(Env* env, const std::string& path, const CommitOptions& options,
              const Changes& changes, const std::shared_ptr<const View>& known,
              CommitResult* result) {
  *result = CommitResult{};
  const Clock::time_point deadline = Clock::now() + options.lock_timeout;
  std::unique_ptr<FileLock> lock;
  Status s = take_lock_file(env, path, options, deadline, /*require_file=*/false, &lock);
  if (!s.ok()) return s;
  FileInfo info;
  bool exists = false;
  while (true) {
    std::shared_ptr<File> file;
    std::unique_ptr<File> guard;  // holds the data file's lock until the save ends
    s = open_locked(env, path, options, deadline, /*read_header=*/false, &file, &guard, &info,
                    &exists);
    if (!s.ok()) return s;
    if (exists) return append_to(env, path, options, changes, known, file, info, result);
    // Creating: under the directory's lock too, so that two writers (one of
    // them behind a lock file someone deleted) cannot both create the file.
    std::unique_ptr<FileLock> dir_lock;
    s = env->lock_dir(parent_dir(path), remaining(deadline), &dir_lock);
    if (!s.ok()) return s;
    s = check_target(env, path, options, &info, &exists);
    if (s.ok() && !exists) s = check_dir_trust(env, path, options.limits);
    if (!s.ok()) return s;
    if (!exists) return create_with(env, path, options, changes, result);
  }
}

}  // namespace rtcache::store
