#include "fault_env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace rtcache::testing {

const char* fault_op_name(FaultOp op) {
  switch (op) {
    case FaultOp::kOpenWrite:
      return "open_write";
    case FaultOp::kCreateTemp:
      return "create_temp";
    case FaultOp::kWrite:
      return "write";
    case FaultOp::kSync:
      return "sync";
    case FaultOp::kTruncate:
      return "truncate";
    case FaultOp::kClose:
      return "close";
    case FaultOp::kRename:
      return "rename";
    case FaultOp::kSyncDir:
      return "sync_dir";
  }
  return "?";
}

const char* crash_data_name(CrashData mode) {
  switch (mode) {
    case CrashData::kDropUnsynced:
      return "drop-unsynced";
    case CrashData::kTornPrefix:
      return "torn-prefix";
    case CrashData::kReorderSectors:
      return "reorder-sectors";
  }
  return "?";
}

const char* crash_names_name(CrashNames mode) {
  return mode == CrashNames::kUndoUnsynced ? "undo-unsynced-names" : "keep-names";
}

namespace {

std::pair<uint64_t, uint64_t> key_of(const FileIdentity& id) {
  return {id.device, id.inode};
}

Status io_error(const std::string& path, int error) {
  return Status::IOError(path + ": " + std::strerror(error));
}

std::string dir_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool same_inode(const std::string& path, const std::pair<uint64_t, uint64_t>& id) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_dev) == id.first &&
         static_cast<uint64_t>(st.st_ino) == id.second;
}

bool read_all(File& file, std::string* out) {
  out->clear();
  char buf[1 << 16];
  uint64_t offset = 0;
  while (true) {
    size_t got = 0;
    if (!file.read_at(offset, sizeof buf, buf, &got).ok()) return false;
    out->append(buf, got);
    offset += got;
    if (got < sizeof buf) return true;
  }
}

void apply_pending_write(std::string* content, uint64_t offset, std::string_view data) {
  if (content->size() < offset + data.size()) content->resize(offset + data.size(), '\0');
  content->replace(offset, data.size(), data);
}

bool overwrite_file(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return ::close(fd) == 0;
}

// A File whose mutating calls pass through the Env's fault plan and whose
// writes are tracked for crash simulation.
class FaultFile final : public File {
 public:
  FaultFile(FaultInjectionEnv* env, std::unique_ptr<File> target, FileIdentity id)
      : env_(env), target_(std::move(target)), id_(id) {}

  Status read_at(uint64_t offset, size_t n, char* dst, size_t* got) override {
    return target_->read_at(offset, n, dst, got);
  }

  Status write_at(uint64_t offset, std::string_view data) override {
    Status s = env_->before(FaultOp::kWrite, path());
    if (!s.ok()) {
      // A disk that fills up mid-write leaves part of the bytes behind (not
      // after a crash: a dead process writes nothing).
      if (s.message().find("simulated crash") == std::string::npos && data.size() > 1) {
        std::string_view half = data.substr(0, data.size() / 2);
        if (target_->write_at(offset, half).ok()) env_->record_write(id_, offset, half);
      }
      return s;
    }
    s = target_->write_at(offset, data);
    if (s.ok()) env_->record_write(id_, offset, data);
    return s;
  }

  // One operation, as the library issues it (pwritev underneath).
  Status write_gather(uint64_t offset, const std::vector<std::string_view>& pieces) override {
    Status s = env_->before(FaultOp::kWrite, path());
    if (!s.ok()) {
      if (s.message().find("simulated crash") == std::string::npos) {
        // Torn: the first half of the bytes.
        size_t total = 0;
        for (std::string_view piece : pieces) total += piece.size();
        size_t left = total / 2;
        uint64_t at = offset;
        for (std::string_view piece : pieces) {
          if (left == 0) break;
          std::string_view part = piece.substr(0, std::min(left, piece.size()));
          if (!target_->write_at(at, part).ok()) break;
          env_->record_write(id_, at, part);
          at += part.size();
          left -= part.size();
        }
      }
      return s;
    }
    s = target_->write_gather(offset, pieces);
    if (s.ok()) {
      uint64_t at = offset;
      for (std::string_view piece : pieces) {
        env_->record_write(id_, at, piece);
        at += piece.size();
      }
    }
    return s;
  }

  Status sync() override {
    if (sync_failed_) env_->note_sync_after_failure();
    Status s = env_->before(FaultOp::kSync, path());
    if (s.ok() && env_->real_syncs()) s = target_->sync();
    if (!s.ok()) {
      sync_failed_ = true;
      return s;
    }
    env_->record_sync(id_, *target_);
    return s;
  }

  Status truncate(uint64_t size) override {
    Status s = env_->before(FaultOp::kTruncate, path());
    if (!s.ok()) return s;
    s = target_->truncate(size);
    if (s.ok()) env_->record_truncate(id_, size);
    return s;
  }

  Status stat(FileInfo* info) override { return target_->stat(info); }
  Status set_mode(uint32_t mode) override { return target_->set_mode(mode); }

  Status close() override {
    Status s = env_->before(FaultOp::kClose, path());
    Status c = target_->close();  // the descriptor is gone either way, as with close(2)
    return s.ok() ? c : s;
  }

  const std::string& path() const override { return target_->path(); }

 private:
  FaultInjectionEnv* env_;
  std::unique_ptr<File> target_;
  FileIdentity id_;
  bool sync_failed_ = false;
};

}  // namespace

FaultInjectionEnv::FaultInjectionEnv(Env* target) : EnvWrapper(target) {}

FaultInjectionEnv::~FaultInjectionEnv() {
  // Backups of replaced files that were never needed.
  for (const DirOp& op : dir_ops_) {
    if (!op.backup.empty()) ::unlink(op.backup.c_str());
  }
}

void FaultInjectionEnv::fail_at(int position, int error, bool sticky) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_position_ = ops_ + position;
  fail_error_ = error;
  fail_sticky_ = sticky;
  fired_ = false;
}

void FaultInjectionEnv::fail_every(FaultOp op, int error) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_every_ = true;
  fail_every_op_ = op;
  fail_error_ = error;
  fired_ = false;
}

void FaultInjectionEnv::crash_at(int position) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_position_ = ops_ + position;
  crashed_ = false;
  fired_ = false;
}

void FaultInjectionEnv::clear_faults() {
  std::lock_guard<std::mutex> lock(mu_);
  fail_position_ = 0;
  fail_every_ = false;
  crash_position_ = 0;
  crashed_ = false;
}

void FaultInjectionEnv::reset_counts() {
  std::lock_guard<std::mutex> lock(mu_);
  ops_ = 0;
  trace_.clear();
  fired_ = false;
}

int FaultInjectionEnv::ops() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_;
}

std::vector<FaultOp> FaultInjectionEnv::trace() const {
  std::lock_guard<std::mutex> lock(mu_);
  return trace_;
}

int FaultInjectionEnv::count(FaultOp op) const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(std::count(trace_.begin(), trace_.end(), op));
}

bool FaultInjectionEnv::fault_fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_;
}

FaultOp FaultInjectionEnv::fired_op() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_op_;
}

int FaultInjectionEnv::syncs_after_failed_sync() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syncs_after_failure_;
}

void FaultInjectionEnv::set_real_syncs(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  real_syncs_ = on;
}

bool FaultInjectionEnv::real_syncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return real_syncs_;
}

void FaultInjectionEnv::set_hook(std::function<void(FaultOp, int)> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hook_ = std::move(hook);
}

void FaultInjectionEnv::note_sync_after_failure() {
  std::lock_guard<std::mutex> lock(mu_);
  ++syncs_after_failure_;
}

void FaultInjectionEnv::set_fake_clock(int64_t start_ns, int64_t step_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  fake_clock_ = true;
  clock_ns_ = start_ns;
  clock_step_ns_ = step_ns;
}

int64_t FaultInjectionEnv::now_nanos() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fake_clock_) {
      int64_t now = clock_ns_;
      clock_ns_ += clock_step_ns_;
      return now;
    }
  }
  return target()->now_nanos();
}

Status FaultInjectionEnv::before(FaultOp op, const std::string& path) {
  std::function<void(FaultOp, int)> hook;
  int position = 0;
  Status result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    position = ++ops_;
    trace_.push_back(op);
    hook = hook_;
    if (crashed_ || (crash_position_ != 0 && position >= crash_position_)) {
      if (!crashed_ && !fired_) {
        fired_ = true;
        fired_op_ = op;
      }
      crashed_ = true;
      result = Status::IOError(path + ": simulated crash (the process is dead)");
    } else if ((fail_every_ && op == fail_every_op_) ||
               (fail_position_ != 0 &&
                (position == fail_position_ || (fail_sticky_ && position > fail_position_)))) {
      if (!fired_) {
        fired_ = true;
        fired_op_ = op;
      }
      result = io_error(path, fail_error_);
    }
  }
  if (hook) hook(op, position);
  return result;
}

Status FaultInjectionEnv::track_locked(File& file, bool created, FileIdentity* id) {
  FileInfo info;
  Status s = file.stat(&info);
  if (!s.ok()) return s;
  *id = info.identity;
  auto [it, inserted] = files_.try_emplace(key_of(info.identity));
  it->second.path = file.path();
  if (inserted && !created) {
    // A file that existed before this Env saw it counts as durable as it is.
    if (!read_all(file, &it->second.durable)) return Status::IOError(file.path() + ": unreadable");
  }
  return Status::OK();
}

Status FaultInjectionEnv::open_write(const std::string& path, std::unique_ptr<File>* file) {
  Status s = before(FaultOp::kOpenWrite, path);
  if (!s.ok()) return s;
  std::unique_ptr<File> inner;
  s = target()->open_write(path, &inner);
  if (!s.ok()) return s;
  FileIdentity id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = track_locked(*inner, false, &id);
  }
  if (!s.ok()) return s;
  *file = std::make_unique<FaultFile>(this, std::move(inner), id);
  return Status::OK();
}

Status FaultInjectionEnv::create_temp(const std::string& dir, const std::string& prefix,
                                      uint32_t mode, std::unique_ptr<File>* file) {
  Status s = before(FaultOp::kCreateTemp, dir + "/" + prefix + "*");
  if (!s.ok()) return s;
  std::unique_ptr<File> inner;
  s = target()->create_temp(dir, prefix, mode, &inner);
  if (!s.ok()) return s;
  FileIdentity id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = track_locked(*inner, true, &id);
    DirOp op;
    op.dir = dir;
    op.created = inner->path();
    dir_ops_.push_back(std::move(op));
  }
  if (!s.ok()) return s;
  *file = std::make_unique<FaultFile>(this, std::move(inner), id);
  return Status::OK();
}

std::string FaultInjectionEnv::backup_name_locked(const std::string& dir) {
  return dir + "/.fault-env-backup-" + std::to_string(::getpid()) + "-" +
         std::to_string(next_backup_++);
}

Status FaultInjectionEnv::rename(const std::string& from, const std::string& to) {
  Status s = before(FaultOp::kRename, from);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  DirOp op;
  op.dir = dir_of(to);
  op.from = from;
  op.to = to;
  struct stat st;
  if (::lstat(to.c_str(), &st) == 0) {
    // Keep the replaced inode reachable, so that undoing the rename can bring
    // it back.
    op.backup = backup_name_locked(op.dir);
    if (::link(to.c_str(), op.backup.c_str()) != 0) {
      return io_error(op.backup, errno);
    }
  }
  s = target()->rename(from, to);
  if (!s.ok()) {
    if (!op.backup.empty()) ::unlink(op.backup.c_str());
    return s;
  }
  for (auto& [id, state] : files_) {
    if (state.path == to && !op.backup.empty()) {
      state.path = op.backup;
    } else if (state.path == from) {
      state.path = to;
    }
  }
  dir_ops_.push_back(std::move(op));
  return Status::OK();
}

Status FaultInjectionEnv::remove(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (crashed_) return Status::IOError(path + ": simulated crash (the process is dead)");
  }
  return target()->remove(path);
}

Status FaultInjectionEnv::create_dirs(const std::string& dir, uint32_t mode) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (crashed_) return Status::IOError(dir + ": simulated crash (the process is dead)");
  }
  return target()->create_dirs(dir, mode);
}

Status FaultInjectionEnv::sync_dir(const std::string& dir) {
  Status s = before(FaultOp::kSyncDir, dir);
  if (!s.ok()) return s;
  bool real;
  {
    std::lock_guard<std::mutex> lock(mu_);
    real = real_syncs_;
  }
  if (real) {
    s = target()->sync_dir(dir);
    if (!s.ok()) return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(dir_ops_, [&](const DirOp& op) {
    if (op.dir != dir) return false;
    if (!op.backup.empty()) ::unlink(op.backup.c_str());
    return true;
  });
  for (auto& [id, state] : files_) {
    if (state.path.rfind(dir + "/.fault-env-backup-", 0) == 0) state.path.clear();
  }
  return Status::OK();
}

void FaultInjectionEnv::record_write(const FileIdentity& id, uint64_t offset,
                                     std::string_view data) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(key_of(id));
  if (it == files_.end()) return;
  it->second.pending.push_back({false, offset, std::string(data)});
}

void FaultInjectionEnv::record_truncate(const FileIdentity& id, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(key_of(id));
  if (it == files_.end()) return;
  it->second.pending.push_back({true, size, {}});
}

void FaultInjectionEnv::record_sync(const FileIdentity& id, File& file) {
  std::string content;
  bool ok = read_all(file, &content);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(key_of(id));
  if (it == files_.end() || !ok) return;
  it->second.durable = std::move(content);
  it->second.pending.clear();
}

void FaultInjectionEnv::simulate_crash(CrashData data, CrashNames names, uint64_t seed) {
  std::lock_guard<std::mutex> lock(mu_);
  std::mt19937_64 rng(seed);
  // 1. File contents: what was durable, plus what the mode lets survive.
  for (auto& [id, state] : files_) {
    if (state.path.empty() || !same_inode(state.path, id)) continue;
    std::string content = state.durable;
    if (data == CrashData::kTornPrefix) {
      uint64_t total = 0;
      for (const Pending& p : state.pending) total += p.truncate ? 1 : p.data.size();
      uint64_t budget = total == 0 ? 0 : rng() % (total + 1);
      for (const Pending& p : state.pending) {
        if (budget == 0) break;
        if (p.truncate) {
          content.resize(p.offset, '\0');
          --budget;
          continue;
        }
        size_t n = static_cast<size_t>(std::min<uint64_t>(budget, p.data.size()));
        apply_pending_write(&content, p.offset, std::string_view(p.data).substr(0, n));
        budget -= n;
      }
    } else if (data == CrashData::kReorderSectors) {
      for (const Pending& p : state.pending) {
        if (p.truncate) {
          if (rng() % 2) content.resize(p.offset, '\0');
          continue;
        }
        // Sectors of 512 bytes at absolute offsets, each kept or lost.
        uint64_t pos = p.offset;
        const uint64_t end = p.offset + p.data.size();
        while (pos < end) {
          uint64_t next = std::min<uint64_t>(end, (pos / 512 + 1) * 512);
          if (rng() % 2) {
            apply_pending_write(&content, pos,
                                std::string_view(p.data).substr(pos - p.offset, next - pos));
          }
          pos = next;
        }
      }
    }
    overwrite_file(state.path, content);
  }
  // 2. Names: undo what no directory sync made durable, newest first.
  for (auto it = dir_ops_.rbegin(); it != dir_ops_.rend(); ++it) {
    if (names == CrashNames::kUndoUnsynced) {
      if (!it->created.empty()) {
        ::unlink(it->created.c_str());
      } else {
        ::rename(it->to.c_str(), it->from.c_str());
        if (!it->backup.empty()) ::rename(it->backup.c_str(), it->to.c_str());
      }
    } else if (!it->backup.empty()) {
      ::unlink(it->backup.c_str());
    }
  }
  dir_ops_.clear();
  files_.clear();
  fail_every_ = false;
  fail_position_ = 0;
  crash_position_ = 0;
  crashed_ = false;
}

}  // namespace rtcache::testing
