// Env::default_env(): the POSIX file system and clock.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

#include "common/paths.h"
#include "rtcache/env.h"

namespace rtcache {
namespace {

Status posix_error(const std::string& path, int err) {
  std::string msg = path + ": " + std::strerror(err);
  return Status::IOError(std::move(msg));
}

void fill_info(const struct stat& st, FileInfo* info) {
  info->identity = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  info->size = static_cast<uint64_t>(st.st_size);
  info->mode = static_cast<uint32_t>(st.st_mode);
  info->owner_uid = static_cast<uint32_t>(st.st_uid);
  info->is_regular = S_ISREG(st.st_mode);
  info->is_symlink = S_ISLNK(st.st_mode);
}

// Opens (creating it with exactly `mode` when missing) the lock file,
// never through a symbolic link.
Status open_lock_file(const std::string& path, uint32_t mode, int* out) {
  int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    // Created exclusively so that the requested mode is set exactly (the
    // umask would narrow a group-shared mode).
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                static_cast<mode_t>(mode));
    if (fd >= 0) {
      (void)::fchmod(fd, static_cast<mode_t>(mode));
    } else if (errno == EEXIST) {
      fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);  // lost a race: fine
    }
  }
  if (fd < 0) {
    if (errno == ELOOP) return Status::PermissionDenied(path + ": is a symbolic link");
    return posix_error(path, errno);
  }
  *out = fd;
  return Status::OK();
}

// Takes flock on fd, backing off up to 10 ms between tries, until `deadline`.
Status wait_for_flock(const std::string& path, int fd,
                      std::chrono::steady_clock::time_point deadline,
                      std::chrono::milliseconds timeout, std::chrono::microseconds* pause) {
  while (true) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return Status::OK();
    int err = errno;
    if (err != EWOULDBLOCK && err != EINTR) return posix_error(path, err);
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return Status::LockTimeout(path + ": held by another process for more than " +
                                 std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(*pause, deadline - now));
    *pause = std::min(*pause * 2, std::chrono::microseconds(10'000));
  }
}

// True when `path` (not followed) still names the open file `fd`, and that
// file has not been unlinked.
bool still_named_by(const std::string& path, int fd) {
  struct stat held, named;
  if (::fstat(fd, &held) != 0 || held.st_nlink == 0) return false;
  if (::lstat(path.c_str(), &named) != 0) return false;
  return held.st_dev == named.st_dev && held.st_ino == named.st_ino;
}

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status read_at(uint64_t offset, size_t n, char* dst, size_t* got) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        *got = done;
        return posix_error(path_, errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    *got = done;
    return Status::OK();
  }

  Status write_at(uint64_t offset, std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t w =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return posix_error(path_, errno);
      }
      done += static_cast<size_t>(w);
    }
    return Status::OK();
  }

  Status write_gather(uint64_t offset, const std::vector<std::string_view>& pieces) override {
    std::vector<iovec> iov;
    iov.reserve(pieces.size());
    for (std::string_view p : pieces) {
      if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
    }
    size_t first = 0;
    while (first < iov.size()) {
      int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
      ssize_t w = ::pwritev(fd_, iov.data() + first, count, static_cast<off_t>(offset));
      if (w < 0) {
        if (errno == EINTR) continue;
        return posix_error(path_, errno);
      }
      offset += static_cast<uint64_t>(w);
      // Skip what was written; a short write resumes inside a piece.
      size_t done = static_cast<size_t>(w);
      while (first < iov.size() && done >= iov[first].iov_len) done -= iov[first++].iov_len;
      if (first < iov.size()) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + done;
        iov[first].iov_len -= done;
      }
    }
    return Status::OK();
  }

  Status sync() override {
    if (::fdatasync(fd_) != 0) return posix_error(path_, errno);
    return Status::OK();
  }

  Status truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return posix_error(path_, errno);
    return Status::OK();
  }

  Status stat(FileInfo* info) override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return posix_error(path_, errno);
    fill_info(st, info);
    return Status::OK();
  }

  Status set_mode(uint32_t mode) override {
    if (::fchmod(fd_, static_cast<mode_t>(mode)) != 0) return posix_error(path_, errno);
    return Status::OK();
  }

  Status close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return posix_error(path_, errno);
    return Status::OK();
  }

  const std::string& path() const override { return path_; }

  Status lock(std::chrono::milliseconds timeout) override {
    auto pause = std::chrono::microseconds(50);
    return wait_for_flock(path_, fd_, std::chrono::steady_clock::now() + timeout, timeout, &pause);
  }

 private:
  std::string path_;
  int fd_;
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override { ::close(fd_); }  // closing the description drops the flock
  Status stat(FileInfo* info) override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return posix_error("lock file", errno);
    fill_info(st, info);
    return Status::OK();
  }

 private:
  int fd_;
};

std::string random_suffix() {
  unsigned char raw[8];
  if (getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) {
    uint64_t fallback = static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^
                        static_cast<uint64_t>(clock()) ^ reinterpret_cast<uintptr_t>(raw);
    std::memcpy(raw, &fallback, sizeof raw);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

class PosixEnv final : public Env {
 public:
  Status open_read(const std::string& path, std::unique_ptr<File>* file) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound(path + ": no such file");
      return posix_error(path, errno);
    }
    *file = std::make_unique<PosixFile>(path, fd);
    return Status::OK();
  }

  Status open_write(const std::string& path, std::unique_ptr<File>* file) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound(path + ": no such file");
      if (errno == ELOOP) return Status::PermissionDenied(path + ": is a symbolic link");
      return posix_error(path, errno);
    }
    *file = std::make_unique<PosixFile>(path, fd);
    return Status::OK();
  }

  Status create_temp(const std::string& dir, const std::string& prefix, uint32_t mode,
                     std::unique_ptr<File>* file) override {
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string path = dir + "/" + prefix + random_suffix();
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      static_cast<mode_t>(mode));
      if (fd < 0) {
        if (errno == EEXIST) continue;
        return posix_error(path, errno);
      }
      // The umask may have narrowed or the creation mode widened nothing;
      // set the requested bits exactly.
      if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return posix_error(path, err);
      }
      *file = std::make_unique<PosixFile>(path, fd);
      return Status::OK();
    }
    return Status::IOError(dir + ": could not create a unique temporary file");
  }

  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Status::IOError("rename " + from + " -> " + to + ": " + std::strerror(errno));
    }
    return Status::OK();
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return Status::NotFound(path + ": no such file");
      return posix_error(path, errno);
    }
    return Status::OK();
  }

  Status sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return posix_error(dir, errno);
    Status s;
    if (::fsync(fd) != 0) s = posix_error(dir, errno);
    ::close(fd);
    return s;
  }

  bool writable(const std::string& path, std::string* why) override {
    const std::pair<std::string, int> checks[] = {{path, W_OK}, {parent_dir(path), W_OK | X_OK}};
    for (const auto& [p, mode] : checks) {
      if (::access(p.c_str(), mode) == 0) continue;
      const int err = errno;
      if (why != nullptr) {
        *why = err == EROFS ? p + ": read-only file system" : p + ": " + std::strerror(err);
      }
      return false;
    }
    return true;
  }

  Status create_dirs(const std::string& dir, uint32_t mode) override {
    if (dir.empty()) return Status::OK();
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status::OK();
      return Status::IOError(dir + ": exists and is not a directory");
    }
    size_t slash = dir.find_last_of('/');
    if (slash != std::string::npos && slash > 0) {
      Status s = create_dirs(dir.substr(0, slash), mode);
      if (!s.ok()) return s;
    }
    if (::mkdir(dir.c_str(), static_cast<mode_t>(mode)) != 0) {
      if (errno == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return Status::OK();  // another process made it meanwhile
      }
      return posix_error(dir, errno);
    }
    // mkdir applies the umask; apply the requested bits exactly.
    if (::chmod(dir.c_str(), static_cast<mode_t>(mode)) != 0) return posix_error(dir, errno);
    return Status::OK();
  }

  Status stat(const std::string& path, bool follow_symlinks, FileInfo* info) override {
    struct stat st;
    int rc = follow_symlinks ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
    if (rc != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(path + ": no such file");
      return posix_error(path, errno);
    }
    fill_info(st, info);
    return Status::OK();
  }

  Status list_dir(const std::string& dir, std::vector<std::string>* names) override {
    names->clear();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return posix_error(dir, errno);
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names->push_back(std::move(name));
    }
    ::closedir(d);
    return Status::OK();
  }

  Status lock(const std::string& path, uint32_t mode, std::chrono::milliseconds timeout,
              std::unique_ptr<FileLock>* lock) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::microseconds(50);
    while (true) {
      int fd = -1;
      Status s = open_lock_file(path, mode, &fd);
      if (!s.ok()) return s;
      s = wait_for_flock(path, fd, deadline, timeout, &pause);
      if (!s.ok()) {
        ::close(fd);
        return s;
      }
      // The standard lock-file dance: the lock is only worth something if the
      // path still names the file we locked. Someone may have deleted or
      // replaced it between our open and our flock (a /tmp cleaner, an admin,
      // another user); then a second writer would lock a different file.
      if (still_named_by(path, fd)) {
        *lock = std::make_unique<PosixLock>(fd);
        return Status::OK();
      }
      ::close(fd);
    }
  }

  Status lock_dir(const std::string& dir, std::chrono::milliseconds timeout,
                  std::unique_ptr<FileLock>* lock) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return posix_error(dir, errno);
    auto pause = std::chrono::microseconds(50);
    Status s = wait_for_flock(dir, fd, std::chrono::steady_clock::now() + timeout, timeout, &pause);
    if (!s.ok()) {
      ::close(fd);
      return s;
    }
    *lock = std::make_unique<PosixLock>(fd);
    return Status::OK();
  }

  int64_t now_nanos() override {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }
};

}  // namespace

Env* Env::default_env() {
  static Env* env = new PosixEnv();  // never destroyed: usable from exit hooks
  return env;
}

}  // namespace rtcache
