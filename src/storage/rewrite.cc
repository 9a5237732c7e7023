#include "storage/rewrite.h"

#include <algorithm>
#include <random>

#include "common/paths.h"
#include "storage/record_io.h"

namespace rtcache::store {
namespace {

using format::IndexInfo;
using format::IndexKind;
using format::Slot;

uint64_t random_id() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

std::string temp_prefix(const std::string& path) {
  return base_name(path) + ".tmp-";
}

}  // namespace

void remove_stale_temps(Env* env, const std::string& path) {
  std::vector<std::string> names;
  std::string dir = parent_dir(path), prefix = temp_prefix(path);
  if (!env->list_dir(dir, &names).ok()) return;
  for (const std::string& name : names) {
    if (name.starts_with(prefix)) (void)env->remove(dir + "/" + name);
  }
}

Status write_new_file(Env* env, const std::string& path, const CommitOptions& options,
                      uint64_t generation, const WriteRecords& write_records,
                      std::shared_ptr<const View>* out) {
  remove_stale_temps(env, path);
  std::unique_ptr<File> temp;
  Status s = env->create_temp(parent_dir(path), temp_prefix(path), options.file_mode, &temp);
  if (!s.ok()) return s;
  const std::string temp_path = temp->path();
  auto fail = [&](Status error) {
    (void)temp->close();
    (void)env->remove(temp_path);
    return error;
  };
  auto view = std::make_shared<View>();
  view->path = path;
  view->header.file_id = random_id();
  view->header.created_ns = env->now_nanos();
  Appender appender(*temp, 0);
  s = appender.append_owned(format::encode_file_header(view->header));
  if (!s.ok()) return fail(s);
  std::vector<Slot> slots;
  s = write_records(&appender, &slots);
  if (!s.ok()) return fail(s);
  view->slots = apply_slots({}, std::move(slots));
  view->index_info.kind = IndexKind::kFull;
  view->index_info.generation = generation;
  view->index_info.saved_ns = env->now_nanos();
  s = append_index(&appender, view->index_info, view->slots, &view->index_offset);
  if (s.ok()) s = appender.flush();
  if (s.ok() && options.sync) s = temp->sync();
  if (!s.ok()) return fail(s);
  view->index_length = format::index_record_length(view->slots.size());
  view->file_size = view->end = view->index_offset + view->index_length;
  s = env->rename(temp_path, path);
  if (!s.ok()) return fail(s);
  if (options.sync) {
    s = env->sync_dir(parent_dir(path));
    if (!s.ok()) return s;  // renamed, but not known durable: report it
  }
  FileInfo info;
  if (temp->stat(&info).ok()) view->identity = info.identity;
  view->file = std::move(temp);
  view->live_bytes = sum_lengths(view->slots);
  view->has_index = true;
  *out = std::move(view);
  return Status::OK();
}

Status rewrite_file(Env* env, const std::string& path, const CommitOptions& given,
                    const View& source, std::shared_ptr<const View>* out) {
  // Every record any writer could save is carried over, whatever limit the
  // handle that triggered the rewrite reads with.
  CommitOptions options = given;
  options.limits.max_value_bytes = format::kMaxValueBytes;
  // In file order: the new file keeps the old one's order of records.
  std::vector<Slot> by_offset = source.slots;
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Slot& a, const Slot& b) { return a.offset < b.offset; });
  auto copy_records = [&](Appender* appender, std::vector<Slot>* slots) {
    for (const Slot& slot : by_offset) {
      Record record;
      Status s = read_record(*source.file, slot.offset, slot.length, options.limits,
                             ReadMode::kValueAndRaw, &record);
      if (s.is_io_error()) return s;
      if (!s.ok()) continue;  // damaged: not carried over
      slots->push_back({slot.key_hash, appender->position(), slot.length, slot.last_used_ns});
      s = appender->append_owned(std::move(record.raw));
      if (!s.ok()) return s;
    }
    return Status::OK();
  };
  return write_new_file(env, path, options, source.index_info.generation + 1, copy_records, out);
}

}  // namespace rtcache::store
