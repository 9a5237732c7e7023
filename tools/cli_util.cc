#include "cli_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>

namespace rtcache::cli {
namespace {

constexpr std::string_view kHexPrefix = "hex:";
constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsPrintableAscii(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

Status ErrnoStatus(const std::string& what, int error) {
  return Status::IOError(what + ": " + std::strerror(error));
}

}  // namespace

bool ParseKey(std::string_view text, std::string* key, std::string* error) {
  if (!text.starts_with(kHexPrefix)) {
    key->assign(text);
    return true;
  }
  std::string_view hex = text.substr(kHexPrefix.size());
  if (hex.size() % 2 != 0) {
    *error = "hex key has an odd number of digits: " + std::string(text);
    return false;
  }
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = HexValue(hex[i]);
    const int low = HexValue(hex[i + 1]);
    if (high < 0 || low < 0) {
      *error = "hex key has a character that is not a hex digit: " + std::string(text);
      return false;
    }
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  *key = std::move(bytes);
  return true;
}

std::string DisplayKey(std::string_view key) {
  if (!key.empty() && !key.starts_with(kHexPrefix) && IsPrintableAscii(key)) {
    return std::string(key);
  }
  std::string out(kHexPrefix);
  out.reserve(kHexPrefix.size() + key.size() * 2);
  for (unsigned char c : key) {
    out.push_back(kHexDigits[c >> 4]);
    out.push_back(kHexDigits[c & 0xf]);
  }
  return out;
}

std::string FormatTimestamp(int64_t epoch_ns) {
  if (epoch_ns == 0) return "-";
  // Floor division, so that times before 1970 still print the right second.
  int64_t seconds = epoch_ns / 1'000'000'000;
  if (epoch_ns % 1'000'000'000 < 0) --seconds;
  const std::time_t as_time_t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  if (gmtime_r(&as_time_t, &utc) == nullptr) return std::to_string(epoch_ns) + "ns";
  char buffer[32];
  const size_t length = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buffer, length);
}

std::string FormatBytes(uint64_t bytes) {
  std::string exact = std::to_string(bytes);
  if (bytes < 1024) return exact;
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double scaled = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (scaled >= 1024 && unit + 1 < std::size(kUnits)) {
    scaled /= 1024;
    ++unit;
  }
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, " (%.1f %s)", scaled, kUnits[unit]);
  return exact + buffer;
}

std::string OneLine(std::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

Status ReadInput(const std::string& path, uint64_t max_bytes, std::string* data) {
  data->clear();
  const bool from_stdin = path == "-";
  const std::string name = from_stdin ? "standard input" : path;
  const int fd = from_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(name, errno);
  char buffer[1 << 16];
  Status status;
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got > 0) {
      data->append(buffer, static_cast<size_t>(got));
      if (data->size() > max_bytes) {
        status = Status::InvalidArgument(name + ": more than " + std::to_string(max_bytes) +
                                         " bytes, the limit for a value; not read further");
        break;
      }
    } else if (got == 0) {
      break;
    } else if (errno != EINTR) {
      status = ErrnoStatus(name, errno);
      break;
    }
  }
  if (!from_stdin) ::close(fd);
  return status;
}

Status OpenInput(const std::string& path, std::unique_ptr<std::istream>* stream) {
  if (path == "-") {
    *stream = std::make_unique<std::istream>(std::cin.rdbuf());
    return Status::OK();
  }
  auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*file) return ErrnoStatus(path, errno);
  *stream = std::move(file);
  return Status::OK();
}

Status WriteOutput(const std::string& path, std::string_view data) {
  const bool to_stdout = path == "-";
  const std::string name = to_stdout ? "standard output" : path;
  const int fd = to_stdout ? STDOUT_FILENO
                           : ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return ErrnoStatus(name, errno);
  Status status;
  while (!data.empty()) {
    const ssize_t written = ::write(fd, data.data(), data.size());
    if (written >= 0) {
      data.remove_prefix(static_cast<size_t>(written));
    } else if (errno != EINTR) {
      status = ErrnoStatus(name, errno);
      break;
    }
  }
  // close() is where NFS and full disks report deferred write errors.
  if (!to_stdout && ::close(fd) != 0 && status.ok()) status = ErrnoStatus(name, errno);
  return status;
}

}  // namespace rtcache::cli
