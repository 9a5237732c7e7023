// The test kit: what every test program shares.
//
//   EXPECT_OK / ASSERT_OK   assert that a Status is OK, printing its to_string()
//   TempDir                 a private directory (on disk, or RAM-backed), removed afterwards
//   Child / run_child       a real process: args, environment, stdin, stdout,
//                           stderr, exit status or signal, optionally another uid
//   Exited / Killed         assertions on a wait status, describing it on failure
//   LogCapture              the log sink and level replaced for a scope
//   OpenCache               a new handle on a cache file, loaded (a failure fails the test)
//   read_file, write_file, file_exists, file_size, permission_bits
//   MakeValue / CheckValue  self-describing values (test_values.h)
//   kSanitizerBuild         whether exhaustive loops should sample
//   Stopwatch               how long something took, for printed figures
//   load_u32/u64, store_u32/u64  little-endian fields of file bytes
//
// Tests never change their own environment: a variable a test needs is given
// to a child process through ChildOptions::env / unset.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtcache/log.h"
#include "rtcache/runtime_cache.h"
#include "rtcache/status.h"
#include "test_values.h"

// EXPECT_OK(s) / ASSERT_OK(s): `s` is a Status (or an expression making one);
// on failure the message shows the expression and the Status's to_string().
#define EXPECT_OK(expr) EXPECT_PRED_FORMAT1(::rtcache::testing::StatusIsOk, expr)
#define ASSERT_OK(expr) ASSERT_PRED_FORMAT1(::rtcache::testing::StatusIsOk, expr)

namespace rtcache::testing {

::testing::AssertionResult StatusIsOk(const char* expression, const Status& status);

// --- build flavour ---------------------------------------------------------------------

// Whether this is a sanitizer build (ASan or TSan): exhaustive loops then
// sample, to stay within the per-test time limit.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif
#else
inline constexpr bool kSanitizerBuild = false;
#endif

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizerBuild = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizerBuild = true;
#else
inline constexpr bool kThreadSanitizerBuild = false;
#endif
#else
inline constexpr bool kThreadSanitizerBuild = false;
#endif

// Time since construction, for printed figures (never for waiting).
class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }
  double milliseconds() const { return 1000 * seconds(); }

 private:
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// Little-endian fixed-width fields of a byte string (the file format's).
uint32_t load_u32(const std::string& bytes, size_t at);
uint64_t load_u64(const std::string& bytes, size_t at);
void store_u32(std::string* bytes, size_t at, uint32_t value);
void store_u64(std::string* bytes, size_t at, uint64_t value);

// --- directories and files ---------------------------------------------------------------

// A fresh private directory (mkdtemp, mode 0700), removed with everything in
// it when destroyed. kDisk: under $TMPDIR or /tmp. kMemory: on a RAM-backed
// file system (/dev/shm) when there is a writable one, else as kDisk; for
// tests that write thousands of small files and model durability themselves.
class TempDir {
 public:
  enum class Medium { kDisk, kMemory };
  explicit TempDir(Medium medium = Medium::kDisk);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Names of the entries directly in the directory that start with `prefix`, sorted.
  std::vector<std::string> names(const std::string& prefix = "") const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);
bool file_exists(const std::string& path);  // also a dangling symbolic link: false
uint64_t file_size(const std::string& path);
uint32_t permission_bits(const std::string& path);  // st_mode & 07777; 0 when absent

// A copy of the program at `program` in `dir`, mode 0755, for running as
// another user: the build tree may sit in a directory only its owner can
// enter (a clone under mktemp -d). `dir` must be open to that user.
std::string CopyForOtherUsers(const std::string& program, const std::string& dir);

// Opens the cache file at `path` in a new handle (with `options`, path set).
// A failure is a test failure (naming the Status) and gives an empty
// in-memory handle, so that the test goes on to report what it finds.
std::shared_ptr<RuntimeCache> OpenCache(const std::string& path, Options options = {});

// --- child processes -----------------------------------------------------------------------

struct ChildOptions {
  // "NAME=value" set in the child only, replacing an inherited NAME.
  std::vector<std::string> env = {};
  // Names removed from the child's environment.
  std::vector<std::string> unset = {};
  // The child's stdin: these bytes (then end of file). Without it, stdin is a
  // pipe the test writes with write_stdin() and ends with close_stdin().
  std::optional<std::string> input = std::nullopt;
  // Run as this user and group (needs root); supplementary groups are dropped.
  std::optional<uid_t> uid = std::nullopt;
  std::optional<gid_t> gid = std::nullopt;
};

// A child process: execve of argv[0] (no shell, no PATH search). stdout is a
// pipe read as the test asks (line by line while the child runs, or all of it
// at the end); stderr goes to an unnamed temporary file, so a chatty child
// never blocks on it. Killed (SIGKILL) and reaped if still running when
// destroyed. Throws std::runtime_error when the process cannot be started.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv, const ChildOptions& options = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Reads one line of stdout (without '\n'), waiting at most timeout_ms (-1:
  // no limit); false at end of output or on timeout (*timed_out says which).
  bool read_line(std::string* line, int timeout_ms = -1, bool* timed_out = nullptr);
  // Waits at most timeout_ms (-1: no limit) for stdout to offer something and
  // reads it once; false once stdout has ended.
  bool pump(int timeout_ms);
  // Complete lines read so far and not yet returned by read_line.
  std::vector<std::string> take_lines();
  // What stdout held after the last complete line (a line cut by a kill).
  std::string partial() const;
  // Everything the child wrote to stdout so far, byte for byte.
  const std::string& out() const { return out_; }
  std::string err() const;  // everything it wrote to stderr so far

  void write_stdin(std::string_view data);
  void close_stdin();
  void signal(int signo);

  // Waits for the child (reading the rest of stdout); returns its wait status.
  int wait();
  // As wait(), but a child still running after timeout_ms is killed
  // (SIGKILL) and reaped; false then.
  bool wait_for(int timeout_ms);
  bool exited() const { return waited_; }
  int status() const { return status_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  bool waited_ = false;
  int status_ = 0;
  std::string out_;
  size_t consumed_ = 0;  // bytes of out_ already handed out as lines
};

struct ChildResult {
  int status = 0;      // the wait status
  int exit_code = -1;  // the exit status, or -1 when a signal ended it
  int signal = 0;      // the signal that ended it, or 0
  std::string out;
  std::string err;
};

// Runs the child to its end and captures everything.
ChildResult run_child(const std::vector<std::string>& argv, const ChildOptions& options = {});

// Runs argv (absolute paths) with `dir` bind-mounted read-only over itself, in
// a private mount namespace (unshare -m: needs root); `env` as ChildOptions.
// RTCACHE_LOG and RTCACHE_READONLY are removed, so that what the child finds
// and says is its own.
ChildResult UnderReadOnlyMount(const std::string& dir, std::vector<std::string> argv,
                               const std::vector<std::string>& env = {});

// The argv prefix that runs a program as the unprivileged user 65534 (needs
// root), with no supplementary groups.
inline const std::vector<std::string> kAsOtherUser = {"/usr/bin/setpriv", "--reuid=65534",
                                                      "--regid=65534", "--clear-groups"};

// "exit 0", "signal 15 (Terminated)", ... for messages.
std::string DescribeStatus(int wait_status);

// EXPECT_TRUE(Exited(status, 0)), EXPECT_TRUE(Killed(status, SIGKILL)): the
// failure message says how the process did end.
::testing::AssertionResult Exited(int wait_status, int code);
::testing::AssertionResult Killed(int wait_status, int signo);

// The one child program of the suite (tests/test_child.cc); its comment lists
// the commands.
inline constexpr const char* kTestChild = RTCACHE_test_child_PATH;

// --- logging ---------------------------------------------------------------------------------

// Replaces the log sink and sets the level for its lifetime, recording every
// message that passes the level; restores the previous sink and level after.
// LogCapture quiet(LogLevel::kOff) silences the library for a scope (for
// loops that make it log tens of thousands of damaged records).
class LogCapture {
 public:
  explicit LogCapture(LogLevel level = LogLevel::kWarning);
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Messages at warning level or above, in order.
  std::vector<std::string> warnings();
  // Whether any recorded message contains `text`.
  bool contains(std::string_view text);
  // Every recorded message, newline-separated (for failure messages).
  std::string text();

 private:
  LogLevel previous_level_;
  LogSink previous_sink_;
  std::mutex mutex_;
  std::vector<std::pair<LogLevel, std::string>> messages_;
};

}  // namespace rtcache::testing
