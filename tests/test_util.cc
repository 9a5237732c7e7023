#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace rtcache::testing {

::testing::AssertionResult StatusIsOk(const char* expression, const Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expression << " is " << status.to_string();
}

uint32_t load_u32(const std::string& bytes, size_t at) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + at, 4);
  return v;
}
uint64_t load_u64(const std::string& bytes, size_t at) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}
void store_u32(std::string* bytes, size_t at, uint32_t value) {
  std::memcpy(bytes->data() + at, &value, 4);
}
void store_u64(std::string* bytes, size_t at, uint64_t value) {
  std::memcpy(bytes->data() + at, &value, 8);
}

// --- directories and files ---------------------------------------------------------------

namespace {

std::string tmp_base() {
  const char* base = std::getenv("TMPDIR");
  return base && *base ? base : "/tmp";
}

}  // namespace

TempDir::TempDir(Medium medium) {
  std::vector<std::string> bases;
  if (medium == Medium::kMemory) bases.push_back("/dev/shm");
  bases.push_back(tmp_base());
  for (const std::string& base : bases) {
    std::string tmpl = base + "/rtcache-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
      return;
    }
  }
  throw std::runtime_error("mkdtemp failed under " + tmp_base());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> TempDir::names(const std::string& prefix) const {
  std::vector<std::string> out;
  DIR* d = ::opendir(path_.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

ChildResult UnderReadOnlyMount(const std::string& dir, std::vector<std::string> argv,
                               const std::vector<std::string>& env) {
  std::vector<std::string> full = {
      "/usr/bin/unshare",
      "-m",
      "/bin/sh",
      "-c",
      "mount --bind \"$0\" \"$0\" && mount -o remount,ro,bind \"$0\" && exec \"$@\"",
      dir};
  full.insert(full.end(), argv.begin(), argv.end());
  return run_child(full, {.env = env, .unset = {"RTCACHE_LOG", "RTCACHE_READONLY"}});
}

std::string CopyForOtherUsers(const std::string& program, const std::string& dir) {
  const std::string copy = dir + "/" + program.substr(program.rfind('/') + 1);
  write_file(copy, read_file(program));
  EXPECT_EQ(::chmod(copy.c_str(), 0755), 0) << copy << ": " << std::strerror(errno);
  return copy;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

uint32_t permission_bits(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

std::shared_ptr<RuntimeCache> OpenCache(const std::string& path, Options options) {
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  EXPECT_TRUE(s.ok()) << "opening " << path << ": " << s.to_string();
  return s.ok() && cache ? cache : RuntimeCache::create();
}

// --- child processes -----------------------------------------------------------------------

namespace {

// An unnamed temporary file (close-on-exec), optionally holding `content`,
// positioned at its start.
int anonymous_file(const std::string& content) {
  FILE* f = std::tmpfile();
  if (f == nullptr) throw std::runtime_error("tmpfile failed");
  const bool written =
      std::fwrite(content.data(), 1, content.size(), f) == content.size() && std::fflush(f) == 0;
  const int fd = ::fcntl(fileno(f), F_DUPFD_CLOEXEC, 0);
  std::fclose(f);
  if (fd < 0 || !written) throw std::runtime_error("tmpfile write failed");
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

std::string env_name(std::string_view entry) {
  return std::string(entry.substr(0, entry.find('=')));
}

// Writes a message and ends the forked child (only async-signal-safe calls).
[[noreturn]] void child_fail(const char* what) {
  const char* reason = std::strerror(errno);
  (void)!::write(2, what, std::strlen(what));
  (void)!::write(2, ": ", 2);
  (void)!::write(2, reason, std::strlen(reason));
  (void)!::write(2, "\n", 1);
  ::_exit(127);
}

}  // namespace

Child::Child(const std::vector<std::string>& argv, const ChildOptions& options) {
  if (argv.empty()) throw std::invalid_argument("Child: empty argv");
  // Everything the forked child needs is prepared before fork().
  std::vector<std::string> dropped = options.unset;
  for (const std::string& e : options.env) dropped.push_back(env_name(e));
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string name = env_name(*e);
    if (std::find(dropped.begin(), dropped.end(), name) == dropped.end()) {
      env_strings.emplace_back(*e);
    }
  }
  for (const std::string& e : options.env) env_strings.push_back(e);
  std::vector<char*> envp, args;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (std::string& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);

  int in_pipe[2] = {-1, -1}, out_pipe[2];
  int input_fd = -1;
  if (options.input) {
    input_fd = anonymous_file(*options.input);
  } else if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  stderr_fd_ = anonymous_file("");
  const int child_stdin = input_fd >= 0 ? input_fd : in_pipe[0];

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    if (::dup2(child_stdin, 0) < 0 || ::dup2(out_pipe[1], 1) < 0 || ::dup2(stderr_fd_, 2) < 0) {
      child_fail("dup2");
    }
    if (options.gid || options.uid) {
      if (::setgroups(0, nullptr) != 0) child_fail("setgroups");
    }
    if (options.gid && ::setgid(*options.gid) != 0) child_fail("setgid");
    if (options.uid && ::setuid(*options.uid) != 0) child_fail("setuid");
    ::execve(args[0], args.data(), envp.data());
    child_fail(args[0]);
  }
  if (input_fd >= 0) ::close(input_fd);
  if (in_pipe[0] >= 0) ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  stdin_fd_ = in_pipe[1];
  stdout_fd_ = out_pipe[0];
}

Child::~Child() {
  if (!waited_) {
    ::kill(pid_, SIGKILL);
    ::kill(pid_, SIGCONT);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  if (stderr_fd_ >= 0) ::close(stderr_fd_);
}

bool Child::pump(int timeout_ms) {
  if (stdout_fd_ < 0) return false;
  while (true) {
    pollfd pfd{stdout_fd_, POLLIN, 0};
    int r = ::poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return true;  // timed out
    char buf[65536];
    ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(stdout_fd_);
      stdout_fd_ = -1;
      return false;
    }
    out_.append(buf, static_cast<size_t>(n));
    return true;
  }
}

bool Child::read_line(std::string* line, int timeout_ms, bool* timed_out) {
  if (timed_out) *timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t nl;
  while ((nl = out_.find('\n', consumed_)) == std::string::npos) {
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        if (timed_out) *timed_out = true;
        return false;
      }
      wait_ms = static_cast<int>(left.count());
    }
    if (!pump(wait_ms) && out_.find('\n', consumed_) == std::string::npos) return false;
  }
  *line = out_.substr(consumed_, nl - consumed_);
  consumed_ = nl + 1;
  return true;
}

std::vector<std::string> Child::take_lines() {
  std::vector<std::string> lines;
  size_t nl;
  while ((nl = out_.find('\n', consumed_)) != std::string::npos) {
    lines.push_back(out_.substr(consumed_, nl - consumed_));
    consumed_ = nl + 1;
  }
  return lines;
}

std::string Child::partial() const {
  const size_t last = out_.rfind('\n');
  const size_t from = last == std::string::npos ? 0 : last + 1;
  return out_.substr(std::max(from, consumed_));
}

std::string Child::err() const {
  std::string out;
  char buf[65536];
  off_t offset = 0;
  while (true) {
    ssize_t n = ::pread(stderr_fd_, buf, sizeof buf, offset);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}

void Child::write_stdin(std::string_view data) {
  size_t done = 0;
  while (stdin_fd_ >= 0 && done < data.size()) {
    ssize_t n = ::write(stdin_fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

void Child::close_stdin() {
  if (stdin_fd_ >= 0) ::close(stdin_fd_);
  stdin_fd_ = -1;
}

void Child::signal(int signo) {
  if (!waited_) ::kill(pid_, signo);
}

int Child::wait() {
  if (waited_) return status_;
  while (pump(-1)) {
  }
  while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
  }
  waited_ = true;
  return status_;
}

bool Child::wait_for(int timeout_ms) {
  if (waited_) return true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid_, SIGKILL);
      ::kill(pid_, SIGCONT);
      wait();
      return false;
    }
    if (!pump(static_cast<int>(left.count()))) break;  // stdout ended
  }
  wait();
  return true;
}

ChildResult run_child(const std::vector<std::string>& argv, const ChildOptions& options) {
  ChildOptions with_input = options;
  if (!with_input.input) with_input.input = "";  // no stdin: end of file at once
  Child child(argv, with_input);
  ChildResult result;
  result.status = child.wait();
  if (WIFEXITED(result.status)) result.exit_code = WEXITSTATUS(result.status);
  if (WIFSIGNALED(result.status)) result.signal = WTERMSIG(result.status);
  result.out = child.out();
  result.err = child.err();
  return result;
}

std::string DescribeStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    return "signal " + std::to_string(WTERMSIG(wait_status)) + " (" +
           strsignal(WTERMSIG(wait_status)) + ")";
  }
  return "status " + std::to_string(wait_status);
}

::testing::AssertionResult Exited(int wait_status, int code) {
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == code) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected exit " << code << ", ended with " << DescribeStatus(wait_status);
}

::testing::AssertionResult Killed(int wait_status, int signo) {
  if (WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == signo) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected death by signal " << signo << " (" << strsignal(signo) << "), ended with "
         << DescribeStatus(wait_status);
}

// --- logging ---------------------------------------------------------------------------------

LogCapture::LogCapture(LogLevel level) : previous_level_(log_level()) {
  previous_sink_ = set_log_sink([this](LogLevel l, std::string_view message) {
    std::lock_guard<std::mutex> lock(mutex_);
    messages_.emplace_back(l, std::string(message));
  });
  set_log_level(level);
}

LogCapture::~LogCapture() {
  set_log_sink(std::move(previous_sink_));
  set_log_level(previous_level_);
}

std::vector<std::string> LogCapture::warnings() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [level, message] : messages_) {
    if (level >= LogLevel::kWarning) out.push_back(message);
  }
  return out;
}

bool LogCapture::contains(std::string_view text) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [level, message] : messages_) {
    if (message.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string LogCapture::text() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& [level, message] : messages_) out += message + "\n";
  return out;
}

}  // namespace rtcache::testing
