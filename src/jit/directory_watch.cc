#include "jit/directory_watch.h"

#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace rtcache::headers {
namespace {

// Local file systems, where every change goes through this kernel and so
// through inotify. Anything else (NFS, CIFS, FUSE, Ceph...) is not watched.
bool local_file_system(const std::string& dir) {
  struct statfs fs;
  if (::statfs(dir.c_str(), &fs) != 0) return false;
  switch (static_cast<uint32_t>(fs.f_type)) {
    case 0xEF53:      // ext2, ext3, ext4
    case 0x58465342:  // xfs
    case 0x9123683E:  // btrfs
    case 0x01021994:  // tmpfs
    case 0x794C7630:  // overlayfs (container images)
    case 0x2FC12FC1:  // zfs
    case 0xF2F52010:  // f2fs
    case 0x73717368:  // squashfs
      return true;
    default:
      return false;
  }
}

constexpr uint32_t kEvents = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |
                             IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;

}  // namespace

DirectoryWatch& DirectoryWatch::instance() {
  static auto* watch = new DirectoryWatch();  // never destroyed: lookups may run at exit
  return *watch;
}

DirectoryWatch::Pass::Pass(DirectoryWatch* watch) : watch_(watch), lock_(watch->mu_) {
  watch_->drain();
}

void DirectoryWatch::forget_all() {
  for (auto& [path, d] : dirs_) d.files.clear();
  ++epoch_;
}

// Applies pending events: any event forgets everything seen (events are rare
// where headers live, and precision here would cost more than a re-stat).
void DirectoryWatch::drain() {
  if (fd_ < 0) return;
  alignas(inotify_event) char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, sizeof buffer);
    if (n <= 0) return;  // EAGAIN: nothing pending
    forget_all();
    for (ssize_t at = 0; at < n;) {
      inotify_event event;
      std::memcpy(&event, buffer + at, sizeof event);
      at += static_cast<ssize_t>(sizeof event + event.len);
      if (!(event.mask & IN_IGNORED)) continue;
      // A watched directory is gone: its paths are watched anew on next use.
      auto it = by_watch_.find(event.wd);
      if (it == by_watch_.end()) continue;
      dirs_.erase(it->second);
      ancestors_.erase(it->second);
      by_watch_.erase(it);
    }
  }
}

// A watch on `dir` (shared by a directory and an ancestor of others); -1
// when it cannot be watched.
int DirectoryWatch::add_watch(const std::string& dir) {
  auto [it, first] = ancestors_.try_emplace(dir, -1);
  if (!first) return it->second;
  if (fd_ == -2) fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0 || !local_file_system(dir)) return -1;
  it->second = ::inotify_add_watch(fd_, dir.c_str(), kEvents);
  if (it->second >= 0) by_watch_[it->second] = dir;
  return it->second;
}

// `dir` and every ancestor watched, or the directory marked not watchable.
DirectoryWatch::Directory& DirectoryWatch::watched(const std::string& dir) {
  auto [it, first] = dirs_.try_emplace(dir);
  Directory& d = it->second;
  if (!first) return d;
  if (dir.empty() || dir[0] != '/') return d;  // relative: the working directory may change
  // Ancestors first, so that a path changed while this is set up is an event.
  for (size_t slash = dir.find('/', 1); slash != std::string::npos;
       slash = dir.find('/', slash + 1)) {
    if (add_watch(dir.substr(0, slash)) < 0) return d;
  }
  if (add_watch("/") < 0) return d;
  d.wd = add_watch(dir);
  return d;
}

const SeenFile* DirectoryWatch::Pass::known(const std::string& dir, const std::string& name) {
  Directory& d = watch_->watched(dir);
  if (d.wd < 0) return nullptr;
  auto file = d.files.find(name);
  return file == d.files.end() ? nullptr : &file->second;
}

bool DirectoryWatch::Pass::watching(const std::string& dir) {
  return watch_->watched(dir).wd >= 0;
}

void DirectoryWatch::Pass::remember(const std::string& dir, const std::string& name,
                                    SeenFile seen) {
  Directory& d = watch_->watched(dir);
  if (d.wd >= 0) d.files[name] = std::move(seen);
}

}  // namespace rtcache::headers
