// One blob rewritten whole on every save, under a lock file: the original
// system's design. Opening reads the whole file into memory and indexes it
// (the original loads its cache into a dictionary). A save takes the lock,
// reads the whole file again (other processes may have saved), merges this
// process's entries over it, writes everything to a temp file, fdatasyncs,
// renames it over the blob and fsyncs the directory.
//
// Layout: "RTBLOB01", then per entry u32 key length, u32 value length, key,
// value. No checksums (the original had none either); the values are indexed
// in place in the read buffer and written with writev from wherever they
// live, so the blob is measured without extra copies.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kv_store.h"

namespace bench {

namespace {

constexpr char kMagic[8] = {'R', 'T', 'B', 'L', 'O', 'B', '0', '1'};

// The file's bytes, read whole; the index points into them.
struct Image {
  std::unique_ptr<char[]> bytes;
  size_t size = 0;
};

using Index = std::unordered_map<std::string_view, std::string_view>;

// Reads `path` whole into *image and indexes it. A missing file is an empty
// blob.
bool read_blob(const std::string& path, std::shared_ptr<Image>* image, Index* index,
               std::string* error) {
  auto out = std::make_shared<Image>();
  index->clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) {
      *error = errno_text("open " + path);
      return false;
    }
    *image = std::move(out);
    return true;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    *error = errno_text("fstat " + path);
    ::close(fd);
    return false;
  }
  out->size = static_cast<size_t>(st.st_size);
  out->bytes = std::make_unique_for_overwrite<char[]>(out->size);
  size_t done = 0;
  while (done < out->size) {
    const ssize_t got = ::read(fd, out->bytes.get() + done, out->size - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      *error = got < 0 ? errno_text("read " + path) : path + ": short read";
      ::close(fd);
      return false;
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  const char* p = out->bytes.get();
  const char* end = p + out->size;
  if (out->size < sizeof(kMagic) || std::memcmp(p, kMagic, sizeof(kMagic)) != 0) {
    *error = path + ": not a blob";
    return false;
  }
  p += sizeof(kMagic);
  index->reserve(out->size / 32'000);
  while (p < end) {
    uint32_t lengths[2];
    if (end - p < 8) break;
    std::memcpy(lengths, p, 8);
    p += 8;
    if (static_cast<size_t>(end - p) < uint64_t{lengths[0]} + lengths[1]) {
      *error = path + ": truncated entry";
      return false;
    }
    const std::string_view key(p, lengths[0]);
    const std::string_view value(p + lengths[0], lengths[1]);
    (*index)[key] = value;
    p += uint64_t{lengths[0]} + lengths[1];
  }
  *image = std::move(out);
  return true;
}

class WholeBlobStore final : public KvStore {
 public:
  explicit WholeBlobStore(std::string path) : path_(std::move(path)) {}
  ~WholeBlobStore() override {
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  bool open(std::string* error) {
    lock_fd_ = ::open((path_ + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) {
      *error = errno_text("open " + path_ + ".lock");
      return false;
    }
    return read_blob(path_, &image_, &index_, error);
  }

  bool put_batch(const std::vector<Entry>& entries, std::string* error) override {
    for (const Entry& entry : entries) mine_.push_back(entry);
    while (::flock(lock_fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        *error = errno_text("flock");
        return false;
      }
    }
    const bool ok = save_locked(error);
    ::flock(lock_fd_, LOCK_UN);
    return ok;
  }

  bool get_batch(const std::vector<std::string>& keys, ValueConsumer& consumer,
                 std::string* /*error*/) override {
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto it = index_.find(keys[i]);
      if (it != index_.end()) consumer.consume(i, it->second);
    }
    return true;
  }

  bool get_one(std::string_view key, uint64_t* sink) override {
    const auto it = index_.find(key);
    if (it == index_.end()) return false;
    *sink += it->second.size();
    return true;
  }

 private:
  // Under the lock: read all, merge, write the temp file, fsync, rename.
  bool save_locked(std::string* error) {
    std::shared_ptr<Image> image;
    Index merged;
    if (!read_blob(path_, &image, &merged, error)) return false;
    for (const Entry& entry : mine_) merged[entry.key] = entry.value.view();

    const std::string temp = path_ + ".tmp-" + std::to_string(::getpid());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      *error = errno_text("create " + temp);
      return false;
    }
    bool ok = write_entries(fd, merged, error);
    if (ok && ::fdatasync(fd) != 0) {
      *error = errno_text("fdatasync " + temp);
      ok = false;
    }
    ::close(fd);
    if (ok && ::rename(temp.c_str(), path_.c_str()) != 0) {
      *error = errno_text("rename " + temp);
      ok = false;
    }
    const size_t slash = path_.rfind('/');
    if (ok) ok = fsync_directory(slash == std::string::npos ? "." : path_.substr(0, slash), error);
    if (!ok) {
      ::unlink(temp.c_str());
      return false;
    }
    // What is on disk now is this process's view.
    image_ = std::move(image);
    index_ = std::move(merged);
    return true;
  }

  static bool write_entries(int fd, const Index& index, std::string* error) {
    std::vector<uint32_t> lengths;  // two per entry; sized once so pointers stay valid
    lengths.reserve(index.size() * 2);
    std::vector<iovec> pending;
    pending.push_back({const_cast<char*>(kMagic), sizeof(kMagic)});
    const auto flush = [&] {
      size_t first = 0;
      while (first < pending.size()) {
        const int count = static_cast<int>(std::min<size_t>(pending.size() - first, IOV_MAX));
        ssize_t written = ::writev(fd, pending.data() + first, count);
        if (written < 0) {
          if (errno == EINTR) continue;
          *error = errno_text("writev");
          return false;
        }
        // Skip what was written, finishing a partly written iovec.
        while (written > 0) {
          iovec& head = pending[first];
          const size_t step = std::min<size_t>(head.iov_len, static_cast<size_t>(written));
          head.iov_base = static_cast<char*>(head.iov_base) + step;
          head.iov_len -= step;
          written -= static_cast<ssize_t>(step);
          if (head.iov_len == 0) ++first;
        }
        while (first < pending.size() && pending[first].iov_len == 0) ++first;
      }
      pending.clear();
      return true;
    };
    for (const auto& [key, value] : index) {
      lengths.push_back(static_cast<uint32_t>(key.size()));
      lengths.push_back(static_cast<uint32_t>(value.size()));
      pending.push_back({&lengths[lengths.size() - 2], 8});
      pending.push_back({const_cast<char*>(key.data()), key.size()});
      pending.push_back({const_cast<char*>(value.data()), value.size()});
      if (pending.size() >= 3 * 1024 && !flush()) return false;
    }
    return flush();
  }

  std::string path_;
  int lock_fd_ = -1;
  std::shared_ptr<Image> image_;
  Index index_;
  // This process's puts (they win over the file's); a deque, because the
  // index points into its keys and values, which must not move.
  std::deque<Entry> mine_;
};

}  // namespace

std::unique_ptr<KvStore> open_whole_blob_store(const std::string& path, std::string* error) {
  auto store = std::make_unique<WholeBlobStore>(path);
  if (!store->open(error)) return nullptr;
  return store;
}

}  // namespace bench
