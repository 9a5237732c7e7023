// Helpers shared by the benchmark programs: timing, samples and their
// medians, formatting and the tables of targets, the corpus and the
// workload's keys and values, writing files durably, and running a child
// process while measuring its whole wall time and peak RSS (fork + exec +
// wait4).
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/kernel_files.h"

namespace bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// steady_clock is CLOCK_MONOTONIC, one clock for every process on the
// machine, so a parent's timestamp passed to a child measures "since fork".
inline int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Samples of one measurement; a failure is remembered (shown as "error").
class Samples {
 public:
  void add(double value) { values_.push_back(value); }
  void fail(const std::string& message) {
    if (error_.empty()) {
      error_ = message;
      std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, message.c_str());
    }
  }
  bool ok() const { return error_.empty() && !values_.empty(); }
  bool failed() const { return !error_.empty(); }
  size_t count() const { return values_.size(); }
  const std::vector<double>& values() const { return values_; }
  const std::string& error() const { return error_; }
  double median() const {
    if (!ok()) return NAN;
    std::vector<double> sorted = values_;
    std::sort(sorted.begin(), sorted.end());
    const size_t mid = sorted.size() / 2;
    return sorted.size() % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }
  double max() const { return ok() ? *std::max_element(values_.begin(), values_.end()) : NAN; }

 private:
  std::vector<double> values_;
  std::string error_;
};

// Median of the per-round ratios a[i] / b[i] of two measurements taken in the
// same rounds (interleaved), so drift between rounds cancels out.
inline double paired_ratio(const Samples& a, const Samples& b) {
  if (!a.ok() || !b.ok() || a.count() != b.count()) return a.median() / b.median();
  Samples ratios;
  for (size_t i = 0; i < a.count(); ++i) ratios.add(a.values()[i] / b.values()[i]);
  return ratios.median();
}

inline std::string format_seconds(double seconds) {
  if (std::isnan(seconds)) return "error";
  char text[64];
  if (seconds < 1e-3) {
    std::snprintf(text, sizeof(text), "%.1f µs", seconds * 1e6);
  } else if (seconds < 1.0) {
    std::snprintf(text, sizeof(text), "%.2f ms", seconds * 1e3);
  } else {
    std::snprintf(text, sizeof(text), "%.2f s", seconds);
  }
  return text;
}

// A measurement's median; "—" when nothing was measured, "error" on failure.
inline std::string format_median(const Samples& samples) {
  if (samples.failed()) return "error";
  if (!samples.ok()) return "—";
  return format_seconds(samples.median());
}

inline std::string format_ratio(double ratio) {
  if (std::isnan(ratio) || std::isinf(ratio)) return "—";
  char text[32];
  if (ratio < 0.01) {
    std::snprintf(text, sizeof(text), "%.4fx", ratio);
  } else {
    std::snprintf(text, sizeof(text), "%.2fx", ratio);
  }
  return text;
}

inline std::string format_bytes(double bytes) {
  if (std::isnan(bytes)) return "error";
  char text[64];
  if (bytes >= 10e6) {
    std::snprintf(text, sizeof(text), "%.1f MB", bytes / 1e6);
  } else if (bytes >= 10e3) {
    std::snprintf(text, sizeof(text), "%.1f KB", bytes / 1e3);
  } else {
    std::snprintf(text, sizeof(text), "%.0f B", bytes);
  }
  return text;
}

// Nanoseconds (a hit's latency), one decimal below 100.
inline std::string format_ns(double ns) {
  if (std::isnan(ns)) return "error";
  char text[32];
  std::snprintf(text, sizeof(text), ns < 100 ? "%.1f" : "%.0f", ns);
  return text;
}

inline std::string with_commas(uint64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

// A target of an issue, as measured.
struct Target {
  std::string name;
  std::string measured;
  bool met;
};

// The table of targets: "| <first_column> | Measured | Result |".
inline void print_targets(const char* first_column, const std::vector<Target>& targets) {
  std::printf("| %s | Measured | Result |\n|---|---|---|\n", first_column);
  for (const Target& t : targets)
    std::printf("| %s | %s | %s |\n", t.name.c_str(), t.measured.c_str(),
                t.met ? "met" : "**missed**");
  std::printf("\n");
}

// --- the workload -------------------------------------------------------------

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A 32-byte key: stands in for the hash of everything that determines a
// kernel.
inline std::string make_key(uint64_t id) {
  std::string key(32, '\0');
  for (int word = 0; word < 4; ++word) {
    const uint64_t bits = splitmix64(id * 4 + word);
    std::memcpy(key.data() + 8 * word, &bits, 8);
  }
  return key;
}

// The corpus's cubins (bench/make_corpus.cc), sorted by name: a stable order
// makes runs comparable.
inline std::vector<std::filesystem::path> corpus_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".cubin") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

inline std::vector<std::string> load_corpus(const std::filesystem::path& dir) {
  std::vector<std::string> cubins;
  for (const std::filesystem::path& file : corpus_files(dir))
    cubins.push_back(bundled::read_file(file.string()));
  return cubins;
}

inline constexpr size_t kNonceBytes = 16;

// Value `id`: cubin (id mod M) with a unique 16-byte nonce appended, so every
// value differs but compresses like a real cubin (appending keeps the ELF
// valid).
inline void append_value(const std::vector<std::string>& cubins, uint64_t id, std::string* out) {
  out->append(cubins[id % cubins.size()]);
  const uint64_t nonce[2] = {id, splitmix64(~id)};
  out->append(reinterpret_cast<const char*>(nonce), kNonceBytes);
}

inline std::string make_value(const std::vector<std::string>& cubins, uint64_t id) {
  std::string value;
  append_value(cubins, id, &value);
  return value;
}

// `count` distinct ids below n, drawn from `rng` (fewer when n < count).
template <typename Rng>
std::vector<uint64_t> random_ids(Rng& rng, uint64_t n, size_t count) {
  std::vector<uint64_t> picked;
  while (picked.size() < std::min<uint64_t>(count, n)) {
    const uint64_t id = rng() % n;
    if (std::find(picked.begin(), picked.end(), id) == picked.end()) picked.push_back(id);
  }
  return picked;
}

// What a consumer of a value costs at least: every byte is read once (as
// loading a cubin into the driver, or verifying a checksum, must).
inline uint64_t sum_words(const char* data, size_t size) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    sum += word;
  }
  for (; i < size; ++i) sum += static_cast<unsigned char>(data[i]);
  return sum;
}

// --- files ---------------------------------------------------------------------

inline std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Writes all of `data` (retrying short writes); false with *error set.
inline bool write_all(int fd, const char* data, size_t size, std::string* error) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      *error = errno_text("write");
      return false;
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

// Makes a new file's name durable; false with *error set.
inline bool fsync_directory(const std::string& dir, std::string* error) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = errno_text("open directory " + dir);
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  if (!ok) *error = errno_text("fsync directory " + dir);
  ::close(fd);
  return ok;
}

// Peak RSS of this process image so far, in kB (VmHWM of /proc/self/status).
// A child reports this itself: wait4's ru_maxrss also counts the parent's
// pages the child shared between fork and exec.
inline long peak_rss_kb() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) {
      kb = std::strtol(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kb;
}

// --- child processes ---------------------------------------------------------

struct ChildResult {
  bool ok = false;      // exited with status 0
  double wall_s = 0;    // fork to reaped, as the parent sees it
  long max_rss_kb = 0;  // the child's peak RSS (wait4)
  std::string output;   // its stdout
  std::string error;    // why it failed
};

struct RunningChild {
  pid_t pid = -1;
  int out_fd = -1;
  Clock::time_point start;
};

// Starts `argv` (argv[0] is the program path) with stdout on a pipe; stderr
// is inherited. Returns pid -1 on failure.
inline RunningChild start_child(const std::vector<std::string>& argv) {
  RunningChild child;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return child;
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  child.start = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return child;
  }
  child.pid = pid;
  child.out_fd = fds[0];
  return child;
}

// Reads the child's stdout to EOF and reaps it. The wall time stops at
// reaping, so it covers exit (unmapping, closing) as a user would see it.
inline ChildResult finish_child(RunningChild& child) {
  ChildResult result;
  if (child.pid < 0) {
    result.error = "fork/pipe failed: " + std::string(std::strerror(errno));
    return result;
  }
  char buffer[4096];
  for (;;) {
    const ssize_t got = ::read(child.out_fd, buffer, sizeof(buffer));
    if (got > 0) {
      result.output.append(buffer, static_cast<size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(child.out_fd);
  int status = 0;
  struct rusage usage {};
  while (::wait4(child.pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  result.wall_s = seconds_since(child.start);
  result.max_rss_kb = usage.ru_maxrss;
  result.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!result.ok) {
    result.error = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                     : "killed by signal " + std::to_string(WTERMSIG(status));
    // The child's last output line says why, when it could.
    const size_t end = result.output.find_last_not_of('\n');
    if (end != std::string::npos) {
      const size_t begin = result.output.rfind('\n', end);
      result.error +=
          ": " + result.output.substr(begin == std::string::npos ? 0 : begin + 1, end + 1);
    }
  }
  child.pid = -1;
  return result;
}

inline ChildResult run_child(const std::vector<std::string>& argv) {
  RunningChild child = start_child(argv);
  return finish_child(child);
}

// "key=value" fields of a child's output line, e.g. field(out, "in_s").
inline double output_field(const std::string& output, const std::string& name) {
  const std::string needle = name + "=";
  size_t at = 0;
  while ((at = output.find(needle, at)) != std::string::npos) {
    if (at == 0 || output[at - 1] == ' ' || output[at - 1] == '\n') {
      return std::strtod(output.c_str() + at + needle.size(), nullptr);
    }
    at += needle.size();
  }
  return NAN;
}

// The child's own peak RSS in MB: the VmHWM it reports as hwm_kb (see
// peak_rss_kb), else wait4's figure.
inline double child_rss_mb(const ChildResult& result) {
  const double hwm_kb = output_field(result.output, "hwm_kb");
  return (std::isnan(hwm_kb) || hwm_kb < 0 ? result.max_rss_kb : hwm_kb) / 1024.0;
}

// A child's failure: one line its parent shows (see finish_child).
inline int child_fail(const std::string& message) {
  std::printf("error %s\n", message.c_str());
  return 1;
}

inline std::string self_exe() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return "";
  path[n] = '\0';
  return path;
}

inline std::string load_average() {
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "unknown";
  double one = 0, five = 0, fifteen = 0;
  const int got = std::fscanf(f, "%lf %lf %lf", &one, &five, &fifteen);
  std::fclose(f);
  if (got != 3) return "unknown";
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f %.2f %.2f", one, five, fifteen);
  return text;
}

// Runs the steps of one round starting at a different step each round, so no
// measurement always follows the same neighbour (drift and after-effects of
// large writes hit every store and floor alike).
inline void run_rotated(int round, const std::vector<std::function<void()>>& steps) {
  for (size_t k = 0; k < steps.size(); ++k) steps[(round + k) % steps.size()]();
}

}  // namespace bench
