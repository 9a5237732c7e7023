// rtcache::Env -- the one narrow interface through which rtcache touches the
// file system and the clock.
//
// Everything rtcache reads, writes, renames, syncs or locks goes through an
// Env, never through the operating system directly. Env::default_env() is the
// POSIX implementation; tests wrap it to inject faults (ENOSPC on the third
// write, a crash that drops unsynced data, ...) without any test-only branch
// in the library. Applications normally never touch this header.
//
// Contract for implementations:
//  - Every failing call returns a Status whose message names the path and the
//    reason (strerror or equivalent).
//  - File::write_at writes all bytes or fails; short writes and EINTR are
//    retried inside.
//  - File::sync makes the file's data durable (fdatasync). After it failed,
//    rtcache never retries it on the same file (the kernel may have dropped
//    the dirty pages); it reports the failure.
//  - create_temp creates a new file with a unique name in `dir` using
//    O_CREAT|O_EXCL|O_NOFOLLOW semantics, so it can never be redirected by a
//    planted symbolic link.
//  - lock takes an exclusive inter-process lock tied to the open file
//    description (flock or OFD lock): it is released when the FileLock is
//    destroyed or the process dies, and closing another descriptor of the same
//    file in the same process does not release it.
//
// Thread safety: Env::default_env() and every File it returns may be used from
// many threads at once (read_at is pread). A custom Env must be as safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rtcache/export.h"
#include "rtcache/status.h"

namespace rtcache {

// Identifies a file independently of its name, to notice that another process
// replaced it (compaction renames a new file over the old one).
struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

struct FileInfo {
  FileIdentity identity;
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits and file type, as st_mode
  uint32_t owner_uid = 0;
  bool is_regular = false;
  bool is_symlink = false;  // only from Env::Stat with follow_symlinks=false
};

// An open file. Offsets are absolute; there is no file position.
class RTCACHE_EXPORT File {
 public:
  virtual ~File() = default;
  // Reads up to n bytes at offset into dst; *got < n only at end of file.
  virtual Status read_at(uint64_t offset, size_t n, char* dst, size_t* got) = 0;
  // Writes all of data at offset, extending the file as needed.
  virtual Status write_at(uint64_t offset, std::string_view data) = 0;
  // Writes the pieces back to back from offset (pwritev); by default one
  // write_at per piece, so a wrapper that overrides write_at sees every byte.
  virtual Status write_gather(uint64_t offset, const std::vector<std::string_view>& pieces) {
    for (std::string_view piece : pieces) {
      Status s = write_at(offset, piece);
      if (!s.ok()) return s;
      offset += piece.size();
    }
    return Status::OK();
  }
  virtual Status sync() = 0;
  virtual Status truncate(uint64_t size) = 0;
  virtual Status stat(FileInfo* info) = 0;
  // Sets permission bits explicitly (fchmod), independent of the umask.
  virtual Status set_mode(uint32_t mode) = 0;
  // Explicit close so that an error from close(2) can be reported; the
  // destructor closes silently if this was not called.
  virtual Status close() = 0;
  virtual const std::string& path() const = 0;
  // Takes an exclusive inter-process lock (flock) on this open file, waiting
  // at most `timeout` (LockTimeout after that); held until the file is
  // closed. Writers lock the cache file itself as well as its lock file, so
  // that deleting the lock file cannot let a second writer in. The default
  // does nothing (a file with no descriptor behind it, such as an image in
  // memory).
  virtual Status lock(std::chrono::milliseconds timeout) {
    (void)timeout;
    return Status::OK();
  }
};

// An exclusive inter-process lock; released when destroyed.
class RTCACHE_EXPORT FileLock {
 public:
  virtual ~FileLock() = default;
  // What the lock is held on (its owner and mode are trust-checked like the
  // cache file's). NotSupported where there is no such file.
  virtual Status stat(FileInfo* info) {
    (void)info;
    return Status::NotSupported("lock: no file to stat");
  }
};

class RTCACHE_EXPORT Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX implementation. Never destroyed, so it remains
  // usable from exit hooks and static destructors.
  static Env* default_env();

  // Opens an existing file. Read-only opens never create; writable opens
  // never create and never follow a symbolic link in the last component.
  virtual Status open_read(const std::string& path, std::unique_ptr<File>* file) = 0;
  virtual Status open_write(const std::string& path, std::unique_ptr<File>* file) = 0;
  // Creates "<dir>/<prefix><unique>" exclusively with permission bits `mode`.
  virtual Status create_temp(const std::string& dir, const std::string& prefix, uint32_t mode,
                             std::unique_ptr<File>* file) = 0;
  // Atomically replaces `to` with `from` (rename(2)).
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  // Makes a rename or creation inside `dir` durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  // Creates `dir` and missing parents with permission bits `mode`.
  virtual Status create_dirs(const std::string& dir, uint32_t mode) = 0;
  // NotFound when the path does not exist.
  virtual Status stat(const std::string& path, bool follow_symlinks, FileInfo* info) = 0;
  virtual Status list_dir(const std::string& dir, std::vector<std::string>* names) = 0;
  // Takes the exclusive lock on `path` (created with `mode` if absent, never
  // through a symbolic link), waiting at most `timeout`. LockTimeout when it
  // stays held by someone else.
  virtual Status lock(const std::string& path, uint32_t mode, std::chrono::milliseconds timeout,
                      std::unique_ptr<FileLock>* lock) = 0;
  // Takes an exclusive lock on the directory `dir` itself (never created),
  // waiting at most `timeout`: creating a cache file happens under it, so two
  // writers can never both create one. The default takes none (*lock stays
  // empty), for Envs without directories.
  virtual Status lock_dir(const std::string& dir, std::chrono::milliseconds timeout,
                          std::unique_ptr<FileLock>* lock) {
    (void)dir;
    (void)timeout;
    lock->reset();
    return Status::OK();
  }
  // Whether this process may change the existing file `path`: write it and
  // create files beside it (a lock file, a temp file). False on a read-only
  // mount, or when the file or its directory is not writable by this user;
  // *why then says which. The default says yes (Envs without permissions).
  virtual bool writable(const std::string& path, std::string* why) {
    (void)path;
    (void)why;
    return true;
  }
  // Wall-clock time in nanoseconds since the Unix epoch.
  virtual int64_t now_nanos() = 0;
};

// An Env that forwards every call to another; subclass it to override a few.
class RTCACHE_EXPORT EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }
  Status open_read(const std::string& p, std::unique_ptr<File>* f) override {
    return target_->open_read(p, f);
  }
  Status open_write(const std::string& p, std::unique_ptr<File>* f) override {
    return target_->open_write(p, f);
  }
  Status create_temp(const std::string& d, const std::string& prefix, uint32_t mode,
                     std::unique_ptr<File>* f) override {
    return target_->create_temp(d, prefix, mode, f);
  }
  Status rename(const std::string& from, const std::string& to) override {
    return target_->rename(from, to);
  }
  Status remove(const std::string& p) override { return target_->remove(p); }
  Status sync_dir(const std::string& d) override { return target_->sync_dir(d); }
  Status create_dirs(const std::string& d, uint32_t mode) override {
    return target_->create_dirs(d, mode);
  }
  Status stat(const std::string& p, bool follow, FileInfo* info) override {
    return target_->stat(p, follow, info);
  }
  Status list_dir(const std::string& d, std::vector<std::string>* names) override {
    return target_->list_dir(d, names);
  }
  Status lock(const std::string& p, uint32_t mode, std::chrono::milliseconds timeout,
              std::unique_ptr<FileLock>* lock) override {
    return target_->lock(p, mode, timeout, lock);
  }
  Status lock_dir(const std::string& d, std::chrono::milliseconds timeout,
                  std::unique_ptr<FileLock>* lock) override {
    return target_->lock_dir(d, timeout, lock);
  }
  bool writable(const std::string& p, std::string* why) override {
    return target_->writable(p, why);
  }
  int64_t now_nanos() override { return target_->now_nanos(); }

 private:
  Env* target_;
};

}  // namespace rtcache
