// A directory with one file per entry (CuPy's, Triton's, Inductor's and
// ccache's choice). Each put writes a uniquely named temp file, fdatasyncs
// it and renames it into place (atomic, so readers never see a torn file);
// a batch ends with one fsync of the directory, which makes the renames
// durable. One flat directory (ext4 indexes large directories); file names
// are the key in hex.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "kv_store.h"

namespace bench {

namespace {

std::string hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// Reads the file at `path` whole into *buffer (reused across calls). Returns
// 0 on success, else the errno (ENOENT: a miss).
int read_file(const std::string& path, std::string* buffer) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  // The buffer is reused across reads, so it is rarely zeroed or reallocated.
  buffer->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < buffer->size()) {
    const ssize_t got = ::read(fd, buffer->data() + done, buffer->size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int err = got < 0 ? errno : EIO;
      ::close(fd);
      return err;
    }
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  return 0;
}

class FilePerEntryStore final : public KvStore {
 public:
  explicit FilePerEntryStore(std::string dir) : dir_(std::move(dir)) {}

  bool put_batch(const std::vector<Entry>& entries, std::string* error) override {
    const std::string temp_prefix = dir_ + "/.tmp-" + std::to_string(::getpid()) + "-";
    for (const Entry& entry : entries) {
      const std::string temp = temp_prefix + std::to_string(next_temp_++);
      const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) {
        *error = errno_text("create " + temp);
        return false;
      }
      bool ok = write_all(fd, entry.value.data(), entry.value.size(), error);
      if (ok && ::fdatasync(fd) != 0) {
        *error = errno_text("fdatasync " + temp);
        ok = false;
      }
      ::close(fd);
      if (ok && ::rename(temp.c_str(), path_of(entry.key).c_str()) != 0) {
        *error = errno_text("rename " + temp);
        ok = false;
      }
      if (!ok) {
        ::unlink(temp.c_str());
        return false;
      }
    }
    return fsync_directory(dir_, error);
  }

  bool get_batch(const std::vector<std::string>& keys, ValueConsumer& consumer,
                 std::string* error) override {
    std::string buffer;
    for (size_t i = 0; i < keys.size(); ++i) {
      const int err = read_file(path_of(keys[i]), &buffer);
      if (err == 0) {
        consumer.consume(i, buffer);
      } else if (err != ENOENT) {
        errno = err;
        *error = errno_text("read " + path_of(keys[i]));
        return false;
      }
    }
    return true;
  }

  bool get_one(std::string_view key, uint64_t* sink) override {
    thread_local std::string buffer;
    if (read_file(path_of(key), &buffer) != 0) return false;
    *sink += buffer.size();
    return true;
  }

 private:
  std::string path_of(std::string_view key) const { return dir_ + "/" + hex(key); }

  std::string dir_;
  uint64_t next_temp_ = 0;
};

}  // namespace

std::unique_ptr<KvStore> open_file_per_entry_store(const std::string& path, std::string* error) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = errno_text("mkdir " + path);
    return nullptr;
  }
  return std::make_unique<FilePerEntryStore>(path);
}

}  // namespace bench
