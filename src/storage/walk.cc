#include "storage/walk.h"

#include <algorithm>

namespace rtcache::store {

using format::kFileHeaderSize;
using format::kRecordHeaderSize;

Status open_for_walk(Env* env, const std::string& path, std::shared_ptr<File>* file,
                     uint64_t* size) {
  FileInfo info;
  Status s = env->stat(path, true, &info);
  if (!s.ok()) return s;
  if (!info.is_regular) return Status::NotACacheFile(path + ": not a regular file");
  std::unique_ptr<File> f;
  s = env->open_read(path, &f);
  if (!s.ok()) return s;
  format::FileHeader header;
  s = read_file_header(*f, info.size, &header);
  if (!s.ok()) return s;
  *file = std::move(f);
  *size = info.size;
  return Status::OK();
}

Status walk_records(File& file, uint64_t size, const Limits& limits, std::vector<Damage>* damaged,
                    const std::function<void(uint64_t, const Record&)>& on_record) {
  uint64_t pos = kFileHeaderSize;
  auto torn_tail = [&](const std::string& why) {
    damaged->push_back({pos, record_at(file.path(), pos) + ": torn tail: " + why});
  };
  while (pos < size) {
    if (size - pos < kRecordHeaderSize) {
      torn_tail(std::to_string(size - pos) + " bytes");
      break;
    }
    Record record;
    Status s = read_record(file, pos, 0, limits, ReadMode::kHeaderOnly, &record);
    if (s.is_io_error()) return s;
    if (!s.ok()) {
      uint64_t next = find_next_record(file, pos, size, limits);
      if (next == 0) next = size;
      damaged->push_back(
          {pos, s.message() + " (" + std::to_string(next - pos) + " bytes skipped)"});
      pos = next;
      continue;
    }
    const uint64_t length = record.header.record_length();
    if (length > size - pos) {
      torn_tail("record extends " + std::to_string(length - (size - pos)) + " bytes past the end");
      break;
    }
    Record full;
    s = read_record(file, pos, length, limits, ReadMode::kValue, &full);
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

}  // namespace rtcache::store
