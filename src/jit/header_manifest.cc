#include "jit/header_manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "jit/directory_watch.h"
#include "jit/hex.h"

namespace rtcache::headers {
namespace {

// What stat says about a file; equal stamps mean unchanged contents, because
// any write moves the change time and nothing can set it back.
struct Stamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{}, ctime{};
};

Stamp stamp_of(const struct stat& st) {
  return {st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
}

int64_t ns(const timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// Whether `stamp` is the one `file` was recorded with.
bool recorded(const HeaderFile& file, const Stamp& stamp) {
  return file.device == static_cast<uint64_t>(stamp.dev) &&
         file.inode == static_cast<uint64_t>(stamp.ino) &&
         file.size == static_cast<uint64_t>(stamp.size) && file.mtime_ns == ns(stamp.mtime) &&
         file.ctime_ns == ns(stamp.ctime);
}

bool same_time(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

bool before(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

bool same(const Stamp& a, const Stamp& b) {
  return a.dev == b.dev && a.ino == b.ino && a.size == b.size && same_time(a.mtime, b.mtime) &&
         same_time(a.ctime, b.ctime);
}

struct Remembered {
  Stamp stamp;
  std::string hash;
};

// Hashes remembered per path for this process. Never destroyed: lookups may
// run from exit hooks.
std::mutex& memo_mutex() {
  static auto* mu = new std::mutex();
  return *mu;
}
std::unordered_map<std::string, Remembered>& memo() {
  static auto* map = new std::unordered_map<std::string, Remembered>();
  return *map;
}

// The hash of `path`'s contents and the stamp they were read under. Read once
// per change: a stamp seen before answers from memory. A file changed in the
// current clock tick is not remembered, since a second change in that tick
// could keep its stamp.
Status content_hash(const std::string& path, std::string* hash, Stamp* stamp) {
  const timespec now = file_clock_now();
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound(path + ": gone");
  *stamp = stamp_of(st);
  {
    std::lock_guard<std::mutex> lock(memo_mutex());
    auto it = memo().find(path);
    if (it != memo().end() && same(it->second.stamp, *stamp)) {
      *hash = it->second.hash;
      return Status::OK();
    }
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(path + ": cannot be read");
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  char buffer[1 << 16];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
    XXH3_128bits_update(state, buffer, static_cast<size_t>(n));
  }
  struct stat after;
  const bool read_whole = n == 0 && ::fstat(fd, &after) == 0;
  ::close(fd);
  *hash = hex128(XXH3_128bits_digest(state));
  XXH3_freeState(state);
  if (!read_whole) return Status::IOError(path + ": cannot be read");
  if (!same(stamp_of(after), *stamp)) return Status::IOError(path + ": changed while read");
  if (before(stamp->ctime, now)) {
    std::lock_guard<std::mutex> lock(memo_mutex());
    memo()[path] = {*stamp, *hash};
  }
  return Status::OK();
}

}  // namespace

timespec file_clock_now() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return now;
}

Status snapshot(const std::vector<std::string>& read,
                const std::vector<std::pair<std::string, std::string>>& in_memory,
                timespec compile_start, std::vector<HeaderFile>* files) {
  for (const std::string& name : read) {
    const bool given = std::any_of(in_memory.begin(), in_memory.end(),
                                   [&](const auto& header) { return header.first == name; });
    struct stat st;
    if (given || ::stat(name.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (name.find('\n') != std::string::npos) {
      return Status::NotSupported("a header path holds a line break: " + name);
    }
    HeaderFile file{name, ""};
    Stamp stamp;
    Status s = content_hash(name, &file.hash, &stamp);
    if (!s.ok()) return s;
    if (!before(stamp.ctime, compile_start)) {
      return Status::IOError(name + " changed while the kernel compiled");
    }
    file.device = static_cast<uint64_t>(stamp.dev);
    file.inode = static_cast<uint64_t>(stamp.ino);
    file.size = static_cast<uint64_t>(stamp.size);
    file.mtime_ns = ns(stamp.mtime);
    file.ctime_ns = ns(stamp.ctime);
    files->push_back(std::move(file));
  }
  // By directory, so that a directory's files are looked up together.
  auto dir_and_name = [](const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? std::pair<std::string_view, std::string_view>("", path)
                                      : std::pair<std::string_view, std::string_view>(
                                            std::string_view(path).substr(0, slash),
                                            std::string_view(path).substr(slash + 1));
  };
  std::sort(files->begin(), files->end(), [&](const HeaderFile& a, const HeaderFile& b) {
    return dir_and_name(a.path) < dir_and_name(b.path);
  });
  return Status::OK();
}

namespace {

// stat(2) for files listed by path, most of them in a few directories: each
// directory is walked to once, then its files are looked up in it (fstatat),
// which costs a fraction of walking the whole path again (measured: the
// path walk is most of a lookup's cost with hundreds of toolkit headers).
class DirectoryStat {
 public:
  ~DirectoryStat() { close_dir(); }
  bool stat(const std::string& path, struct stat* st) {
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ::stat(path.c_str(), st) == 0;
    const std::string_view dir(path.data(), slash == 0 ? 1 : slash);
    if (fd_ < 0 || dir != dir_) {
      close_dir();
      dir_ = std::string(dir);
      fd_ = ::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd_ < 0) return ::stat(path.c_str(), st) == 0;
    return ::fstatat(fd_, path.c_str() + slash + 1, st, 0) == 0;
  }

 private:
  void close_dir() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string dir_;
  int fd_ = -1;
};

}  // namespace

namespace {

// A recorded path as (directory, name): "" has no directory, so ".".
std::pair<std::string, std::string> split(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

SeenFile seen_as(const Stamp& stamp, std::string hash) {
  return {stamp.dev, stamp.ino, stamp.size, stamp.mtime, stamp.ctime, std::move(hash)};
}

// Whether what was seen of a file shows it as `file` recorded it.
bool matches(const HeaderFile& file, const SeenFile& seen) {
  const Stamp stamp{seen.device, seen.inode, seen.size, seen.mtime, seen.ctime};
  return recorded(file, stamp) || (!seen.hash.empty() && seen.hash == file.hash);
}

}  // namespace

uint64_t watch_epoch() {
  return DirectoryWatch::instance().begin().epoch();
}

namespace {

// Whether `file` is as recorded, by a stat (and, when its stamp differs, by
// reading it); *seen is what was found.
bool unchanged(const HeaderFile& file, DirectoryStat* lookup, SeenFile* seen) {
  struct stat st;
  if (!lookup->stat(file.path, &st)) return false;
  if (recorded(file, stamp_of(st))) {  // the recorded stamp: unchanged without reading it
    *seen = seen_as(stamp_of(st), file.hash);
    return true;
  }
  std::string hash;
  Stamp stamp;
  if (!content_hash(file.path, &hash, &stamp).ok() || hash != file.hash) return false;
  *seen = seen_as(stamp, std::move(hash));
  return true;
}

}  // namespace

std::string first_changed(const std::vector<HeaderFile>& files, uint64_t* epoch) {
  DirectoryStat lookup;
  SeenFile seen;
  if (epoch == nullptr) {
    for (const HeaderFile& file : files) {
      if (!unchanged(file, &lookup, &seen)) return file.path;
    }
    return {};
  }
  DirectoryWatch::Pass pass = DirectoryWatch::instance().begin();
  bool all_watched = true;
  for (const HeaderFile& file : files) {
    const auto [dir, name] = split(file.path);
    all_watched = all_watched && pass.watching(dir);
    // Seen unchanged, and nothing watched changed since: no stat.
    if (const SeenFile* known = pass.known(dir, name); known != nullptr && matches(file, *known)) {
      continue;
    }
    if (!unchanged(file, &lookup, &seen)) return file.path;
    pass.remember(dir, name, std::move(seen));
  }
  *epoch = all_watched ? pass.epoch() : 0;
  return {};
}

// "rtcache-headers 1", then per variant a line "variant KEY COUNT" and COUNT
// lines "HASH DEVICE INODE SIZE MTIME_NS CTIME_NS PATH".
std::string encode(const std::vector<Variant>& variants) {
  std::ostringstream out;
  out << "rtcache-headers 1\n";
  for (const Variant& v : variants) {
    out << "variant " << v.kernel_key << ' ' << v.files.size() << '\n';
    for (const HeaderFile& f : v.files) {
      out << f.hash << ' ' << f.device << ' ' << f.inode << ' ' << f.size << ' ' << f.mtime_ns
          << ' ' << f.ctime_ns << ' ' << f.path << '\n';
    }
  }
  return out.str();
}

namespace {

// Reads the next space- or line-ended field of `line` into *out.
template <typename T>
bool number(std::string_view* line, T* out) {
  const char* end = line->data() + line->size();
  auto [at, ec] = std::from_chars(line->data(), end, *out);
  if (ec != std::errc() || at == end || *at != ' ') return false;
  line->remove_prefix(static_cast<size_t>(at - line->data()) + 1);
  return true;
}

bool word(std::string_view* line, std::string_view* out) {
  const size_t space = line->find(' ');
  if (space == std::string_view::npos || space == 0) return false;
  *out = line->substr(0, space);
  line->remove_prefix(space + 1);
  return true;
}

bool next_line(std::string_view* text, std::string_view* line) {
  if (text->empty()) return false;
  const size_t end = text->find('\n');
  if (end == std::string_view::npos) return false;  // every line ends with one
  *line = text->substr(0, end);
  text->remove_prefix(end + 1);
  return true;
}

}  // namespace

bool decode(std::string_view text, std::vector<Variant>* variants) {
  std::string_view line;
  if (!next_line(&text, &line) || line != "rtcache-headers 1") return false;
  while (next_line(&text, &line)) {
    std::string_view tag, key;
    size_t count = 0;
    std::string head(line);
    head += ' ';  // so that the count, too, ends in a space
    std::string_view rest(head);
    if (!word(&rest, &tag) || tag != "variant" || !word(&rest, &key) || !number(&rest, &count) ||
        !rest.empty() || count > text.size()) {
      return false;
    }
    Variant v;
    v.kernel_key = std::string(key);
    v.files.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      if (!next_line(&text, &line)) return false;
      HeaderFile f;
      std::string_view hash;
      if (!word(&line, &hash) || hash.size() != 32 || !number(&line, &f.device) ||
          !number(&line, &f.inode) || !number(&line, &f.size) || !number(&line, &f.mtime_ns) ||
          !number(&line, &f.ctime_ns) || line.empty()) {
        return false;
      }
      f.hash = std::string(hash);
      f.path = std::string(line);
      v.files.push_back(std::move(f));
    }
    variants->push_back(std::move(v));
  }
  return text.empty();
}

}  // namespace rtcache::headers
