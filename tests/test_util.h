// Helpers shared by the test programs: private temp directories, running
// child processes, reading and writing whole files.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtcache/log.h"

namespace rtcache::testing {

// A fresh private directory (mkdtemp under $TMPDIR or /tmp), removed with
// everything in it when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct ChildResult {
  int exit_code = -1;  // exit status, or -1 when killed by a signal
  int signal = 0;      // terminating signal, 0 when it exited
  std::string out;
  std::string err;
};

// Runs argv[0] with the arguments (no shell), optional extra environment
// entries ("NAME=value") added to the child's environment only, waits for it
// and captures stdout and stderr.
ChildResult run_child(const std::vector<std::string>& argv,
                      const std::vector<std::string>& extra_env = {});

// The value cache_child stores under `key`; tests check files it wrote.
std::string child_value_for(std::string_view key);

// Replaces the log sink (and sets the level to warning) for its lifetime,
// recording every message; restores the previous sink and level afterwards.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  // Messages at warning level or above.
  std::vector<std::string> warnings();

 private:
  LogLevel previous_level_;
  LogSink previous_sink_;
  std::mutex mutex_;
  std::vector<std::pair<LogLevel, std::string>> messages_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);
bool file_exists(const std::string& path);
uint64_t file_size(const std::string& path);

}  // namespace rtcache::testing
