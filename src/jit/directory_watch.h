// Directories watched with inotify, so that a header file found unchanged
// is not stat'ed again on every hit until something in its directory
// changes: with hundreds of toolkit headers behind a kernel (CUB), one stat
// per file made a hit cost about 1 ms.
//
// inotify reports a change before the system call that made it returns, so
// an edit that happens before a lookup is seen by it. Every ancestor of a
// watched directory is watched too, so that a path that now leads elsewhere
// (a directory renamed, a symbolic link repointed above it) is an event as
// well. Any event forgets everything seen and moves the epoch on. Not
// watched, so stat'ed on every lookup: relative paths (the working directory
// may change), and network and FUSE file systems (another machine may
// write). Not seen: a file system mounted over a watched directory while the
// process runs.
//
// Thread safety: one process-wide instance; a Pass holds its lock, so
// lookups through it are serialised (each takes microseconds).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace rtcache::headers {

// What a file was seen as: its stat stamp and, when read, its contents' hash.
struct SeenFile {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  timespec mtime{}, ctime{};
  std::string hash;
};

class DirectoryWatch {
 public:
  // One lookup's view: pending events are applied when it starts.
  class Pass {
   public:
    // Whether `name` in `dir` (paths as recorded) was seen, unchanged since,
    // as *seen (nullptr when not known: the caller stats it).
    const SeenFile* known(const std::string& dir, const std::string& name);
    // Records what a stat (and perhaps a read) found, for the next lookups;
    // nothing is kept for a directory that cannot be watched.
    void remember(const std::string& dir, const std::string& name, SeenFile seen);
    // Whether `dir` is watched (known() set it up).
    bool watching(const std::string& dir);
    // Moves on with every event: equal epochs mean nothing watched changed.
    uint64_t epoch() const { return watch_->epoch_; }

   private:
    friend class DirectoryWatch;
    explicit Pass(DirectoryWatch* watch);
    DirectoryWatch* watch_;
    std::unique_lock<std::mutex> lock_;
  };

  static DirectoryWatch& instance();
  Pass begin() { return Pass(this); }

 private:
  struct Directory {
    int wd = -1;  // -1: not watchable (relative, a network file system, no inotify)
    std::unordered_map<std::string, SeenFile> files;
  };
  DirectoryWatch() = default;
  void drain();
  void forget_all();
  Directory& watched(const std::string& dir);
  int add_watch(const std::string& dir);

  std::mutex mu_;
  int fd_ = -2;  // the inotify descriptor; -2 before the first use, -1 when unavailable
  std::unordered_map<std::string, Directory> dirs_;
  std::unordered_map<int, std::string> by_watch_;
  std::unordered_map<std::string, int> ancestors_;  // watched (>= 0) or not watchable (-1)
  uint64_t epoch_ = 1;
};

}  // namespace rtcache::headers
