// Helpers shared by the test programs: private temp directories, running
// child processes, reading and writing whole files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);
bool file_exists(const std::string& path);
uint64_t file_size(const std::string& path);

}  // namespace rtcache::testing
