// reliability_child -- the one child program of the reliability suite: each
// command is something that must happen in a real process (killed, stopped,
// signalled, forked, ending in a particular way).
//
// Usage: reliability_child COMMAND ARGS...   (values are MakeValue(key, version))
//
//   saver PATH RUN          kill-loop saver: prints "ready", then forever:
//                           prints its changes ("W key version" / "E key"),
//                           saves, prints "C" (flushed) once save() returned OK;
//                           compacts now and then. "F reason" and exit 1 when
//                           a save fails.
//   exit CASE PATH [PLUGIN] an autosaving handle with keys exit-0..9 on PATH,
//                           then the process ends as CASE says: return,
//                           exit_thread, uncaught, quick_exit, _Exit, abort,
//                           sigterm, sigterm_handler, sigint_handler (these
//                           three print "ready" and wait for the signal), fork,
//                           fork_sigterm, dlclose_global, dlclose_leaked,
//                           dlclose_checkpoint (PLUGIN: the module to load).
//   hold-lock PATH          takes PATH's inter-process lock, prints "locked",
//                           holds it until stdin ends.
//   try-lock PATH MS        prints "locked", "timeout" or "error ...".
//   putter PATH WRITER KEYS ROUNDS COMPACT [LOCK_TIMEOUT_MS]
//                           prints "ready", waits for a byte on stdin, then puts
//                           keys w<WRITER>-<i> in ROUNDS saves (compacting
//                           every third round when COMPACT is 1); prints
//                           "wait <microseconds>" per lock taken, then "done".
//   reader PATH             until stdin ends: loads PATH (fresh handle and
//                           reload), reads and checks every value; prints
//                           "reads N loads M", or "BAD ..." and exit 3.
//   checkpoint PATH MS N    N keys put into a handle with checkpoint_interval
//                           MS; prints "put" and waits for stdin to end.
//   signal-save PATH DEADLINE_MS LOCK_TIMEOUT_MS
//                           autosaving handle, save_on_signals({SIGTERM},
//                           deadline); prints "ready" and waits for the signal.
//   sigterm-bench PATH MB   an autosaving handle holding MB megabytes of
//                           kernel-like values, save_on_signals; prints "ready
//                           <entries>" and waits for SIGTERM.
//   budget PATH N           puts N keys (1000-byte raw values), saves; prints
//                           "evictions E" (RTCACHE_MAX_SIZE comes from the
//                           environment the test gives this process).
//   fsize-save PATH         saves a big change under RLIMIT_FSIZE (the kernel
//                           cuts the write short, then EFBIG); prints
//                           "status <Status>".
//   modes PATH UMASK FILE_MODE DIR_MODE
//                           umask(UMASK) (octal), then saves one key to PATH
//                           with the given modes (octal, 0 = defaults).
//
// Exit status 0 on success, 2 on a usage error.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "fault_env.h"
#include "rtcache/rtcache.h"
#include "rtcache/signals.h"

namespace {

using rtcache::Bytes;
using rtcache::Options;
using rtcache::RuntimeCache;
using rtcache::Status;
using rtcache::testing::CheckValue;
using rtcache::testing::MakeValue;

int Usage() {
  std::fprintf(stderr, "reliability_child: bad usage (see the comment at the top)\n");
  return 2;
}

void Line(const std::string& text) {
  std::fputs((text + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// Waits until stdin ends (the parent closes it, or dies). Wakes up every
// 100 ms: under ThreadSanitizer a signal that arrives during a blocking read
// restarted by SA_RESTART is only delivered once the thread calls into the
// runtime again, which a read that never returns would not do.
void WaitForStdinEnd() {
  char buf[256];
  while (true) {
    pollfd pfd{0, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

bool StdinEnded() {
  pollfd pfd{0, POLLIN, 0};
  if (::poll(&pfd, 1, 0) <= 0) return false;
  char buf[256];
  return ::read(0, buf, sizeof buf) <= 0;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Never destroyed and always reachable: a handle that only the exit hook can save.
std::shared_ptr<RuntimeCache>* g_alive = nullptr;
void* g_plugin_keep = nullptr;

std::shared_ptr<RuntimeCache> AutosavingHandle(const std::string& path, int keys) {
  Options options;
  options.path = path;
  options.autosave_on_del = true;
  auto cache = RuntimeCache::create(options);
  for (int i = 0; i < keys; ++i) {
    std::string key = "exit-" + std::to_string(i);
    cache->put(key, MakeValue(key, 1));
  }
  return cache;
}

// --- saver ------------------------------------------------------------------------------

int Saver(const std::string& path, const std::string& run) {
  Options options;
  options.path = path;
  options.compaction_min_dead_bytes = 32 << 10;
  options.compaction_dead_ratio = 0.25;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  if (!s.ok()) {
    Line("F open: " + s.to_string());
    return 1;
  }
  std::vector<rtcache::EntryInfo> entries;
  s = cache->entries(&entries);
  if (!s.ok()) {
    Line("F entries: " + s.to_string());
    return 1;
  }
  std::vector<std::string> live;
  for (const auto& e : entries) live.push_back(e.key);
  std::mt19937_64 rng(std::hash<std::string>()(run) ^ static_cast<uint64_t>(::getpid()));
  const uint64_t run_number = std::stoull(run);
  Line("ready");
  for (uint64_t iteration = 1;; ++iteration) {
    std::string group;
    auto put = [&](const std::string& key, uint64_t version) {
      cache->put(key, MakeValue(key, version), "saver");
      group += "W " + key + " " + std::to_string(version) + "\n";
    };
    auto erase_at = [&](size_t i) {
      cache->erase(live[i]);
      group += "E " + live[i] + "\n";
      live[i] = live.back();
      live.pop_back();
    };
    const std::string key = "r" + run + "-" + std::to_string(iteration);
    const uint64_t version = run_number * 1'000'000 + iteration;
    put(key, version);
    if (!live.empty() && rng() % 10 < 3) put(live[rng() % live.size()], version);
    if (!live.empty() && rng() % 10 < 2) erase_at(rng() % live.size());
    while (live.size() > 250) erase_at(rng() % live.size());
    live.push_back(key);
    std::fputs(group.c_str(), stdout);
    std::fflush(stdout);
    s = cache->save();
    if (!s.ok()) {
      Line("F save: " + s.to_string());
      return 1;
    }
    Line("C");
    if (iteration % 9 == 0) {
      s = cache->compact();
      if (!s.ok()) {
        Line("F compact: " + s.to_string());
        return 1;
      }
    }
  }
}

// --- exit paths ----------------------------------------------------------------------------

int Exit(const std::string& how, const std::string& path, const std::string& plugin) {
  if (how == "dlclose_global" || how == "dlclose_leaked" || how == "dlclose_checkpoint") {
    void* module = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (module == nullptr) {
      std::fprintf(stderr, "dlopen: %s\n", ::dlerror());
      return 1;
    }
    using Start = int (*)(const char*, int, int, void**);
    auto start = reinterpret_cast<Start>(::dlsym(module, "rtcache_plugin_start"));
    if (start == nullptr) return 1;
    const int mode = how == "dlclose_global" ? 0 : how == "dlclose_leaked" ? 1 : 2;
    int registered = start(path.c_str(), mode, 10, &g_plugin_keep);
    Line("registered " + std::to_string(registered));
    int rc = ::dlclose(module);
    // Whether the module is really gone (it may be marked not unloadable).
    void* again = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_NOLOAD);
    Line(std::string("dlclose ") + std::to_string(rc) + " unloaded " + (again ? "no" : "yes"));
    if (again) ::dlclose(again);
    Line(std::string("after_dlclose ") + (FileExists(path) ? "present" : "absent"));
    return 0;  // a normal exit follows
  }

  g_alive = new std::shared_ptr<RuntimeCache>(AutosavingHandle(path, 10));
  if (how == "return") return 0;
  if (how == "exit_thread") {
    std::thread([] { std::exit(0); }).join();
    return 1;  // not reached
  }
  if (how == "uncaught") throw std::runtime_error("uncaught on purpose");
  if (how == "quick_exit") std::quick_exit(0);
  if (how == "_Exit") std::_Exit(0);
  if (how == "abort") std::abort();
  if (how == "sigterm" || how == "sigterm_handler" || how == "sigint_handler") {
    if (how != "sigterm") {
      Status s = rtcache::save_on_signals({SIGTERM, SIGINT});
      if (!s.ok()) return 1;
    }
    Line("ready");
    WaitForStdinEnd();
    return 4;  // the signal should have ended the process
  }
  if (how == "fork" || how == "fork_sigterm") {
    if (how == "fork_sigterm" && !rtcache::save_on_signals({SIGTERM}).ok()) return 1;
    std::fflush(stdout);
    pid_t pid = ::fork();
    if (pid == 0) {
      (*g_alive)->put("forked", MakeValue("forked", 1));
      if (how == "fork_sigterm") ::raise(SIGTERM);
      std::exit(0);  // a normal exit: exit hooks run in the child
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::string child = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                          : "signal " + std::to_string(WTERMSIG(status));
    Line("child " + child + " file_after_child " + (FileExists(path) ? "present" : "absent"));
    if (how == "fork_sigterm") std::_Exit(0);  // the parent does not save either
    return 0;                                  // the parent saves its own handle (without "forked")
  }
  return Usage();
}

// --- locks ---------------------------------------------------------------------------------

int HoldLock(const std::string& path) {
  std::unique_ptr<rtcache::FileLock> lock;
  Status s =
      rtcache::Env::default_env()->lock(path + ".lock", 0600, std::chrono::seconds(10), &lock);
  if (!s.ok()) {
    Line("error " + s.to_string());
    return 1;
  }
  Line("locked");
  WaitForStdinEnd();
  return 0;
}

int TryLock(const std::string& path, int ms) {
  std::unique_ptr<rtcache::FileLock> lock;
  Status s =
      rtcache::Env::default_env()->lock(path + ".lock", 0600, std::chrono::milliseconds(ms), &lock);
  if (s.ok()) {
    Line("locked");
  } else if (s.is_lock_timeout()) {
    Line("timeout");
  } else {
    Line("error " + s.to_string());
  }
  return 0;
}

// --- concurrency ---------------------------------------------------------------------------

// Measures how long each lock() waits.
class TimingEnv : public rtcache::EnvWrapper {
 public:
  TimingEnv() : EnvWrapper(rtcache::Env::default_env()) {}
  Status lock(const std::string& p, uint32_t mode, std::chrono::milliseconds timeout,
              std::unique_ptr<rtcache::FileLock>* lock) override {
    auto start = std::chrono::steady_clock::now();
    Status s = target()->lock(p, mode, timeout, lock);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    std::lock_guard<std::mutex> guard(mu_);
    waits_.push_back(us);
    return s;
  }
  std::vector<int64_t> waits() {
    std::lock_guard<std::mutex> guard(mu_);
    return waits_;
  }

 private:
  std::mutex mu_;
  std::vector<int64_t> waits_;
};

int Putter(const std::string& path, const std::string& writer, int keys, int rounds, bool compact,
           int lock_timeout_ms) {
  TimingEnv env;
  Options options;
  options.path = path;
  options.env = &env;
  options.lock_timeout = std::chrono::milliseconds(lock_timeout_ms);
  auto cache = RuntimeCache::create(options);
  Line("ready");
  char go = 0;
  while (::read(0, &go, 1) < 0 && errno == EINTR) {
  }  // all writers start together when the parent says so
  int next = 0;
  for (int round = 0; round < rounds; ++round) {
    int until = keys * (round + 1) / rounds;
    for (; next < until; ++next) {
      std::string key = "w" + writer + "-" + std::to_string(next);
      cache->put(key, MakeValue(key, 1), "putter");
    }
    Status s = cache->save();
    if (!s.ok()) {
      Line("F save: " + s.to_string());
      return 1;
    }
    if (compact && round % 3 == 2) {
      s = cache->compact();
      if (!s.ok()) {
        Line("F compact: " + s.to_string());
        return 1;
      }
    }
  }
  std::string out;
  for (int64_t us : env.waits()) out += "wait " + std::to_string(us) + "\n";
  std::fputs(out.c_str(), stdout);
  Line("done");
  return 0;
}

// Reads every entry; false (after printing BAD) when a value is not exact.
bool ReadAll(RuntimeCache& cache, uint64_t* reads) {
  std::vector<rtcache::EntryInfo> entries;
  Status s = cache.entries(&entries);
  if (!s.ok()) {
    Line("BAD entries: " + s.to_string());
    return false;
  }
  for (const auto& e : entries) {
    Bytes value;
    s = cache.get(e.key, &value);
    if (s.is_not_found()) continue;  // erased meanwhile by nobody; tolerate only misses
    std::string key;
    uint64_t version = 0;
    if (!s.ok() || !CheckValue(value.view(), &key, &version) || key != e.key) {
      Line("BAD " + e.key + ": " + (s.ok() ? "value is not exact" : s.to_string()));
      return false;
    }
    ++*reads;
  }
  return true;
}

int Reader(const std::string& path) {
  Options options;
  options.path = path;
  uint64_t reads = 0, loads = 0;
  auto reloaded = RuntimeCache::create(options);
  while (!StdinEnded()) {
    std::shared_ptr<RuntimeCache> fresh;
    Status s = RuntimeCache::open(options, &fresh);
    if (!s.ok()) {
      Line("BAD open: " + s.to_string());
      return 3;
    }
    ++loads;
    if (!ReadAll(*fresh, &reads)) return 3;
    s = reloaded->load();
    if (!s.ok()) {
      Line("BAD load: " + s.to_string());
      return 3;
    }
    ++loads;
    if (!ReadAll(*reloaded, &reads)) return 3;
  }
  Line("reads " + std::to_string(reads) + " loads " + std::to_string(loads));
  return 0;
}

// --- checkpoints and signals -------------------------------------------------------------

int Checkpoint(const std::string& path, int ms, int n) {
  Options options;
  options.path = path;
  options.checkpoint_interval = std::chrono::milliseconds(ms);
  auto cache = RuntimeCache::create(options);
  for (int i = 0; i < n; ++i) {
    std::string key = "cp-" + std::to_string(i);
    cache->put(key, MakeValue(key, 1));
  }
  Line("put");
  WaitForStdinEnd();
  return 0;
}

int SignalSave(const std::string& path, int deadline_ms, int lock_timeout_ms) {
  Options options;
  options.path = path;
  options.autosave_on_del = true;
  options.lock_timeout = std::chrono::milliseconds(lock_timeout_ms);
  g_alive = new std::shared_ptr<RuntimeCache>(RuntimeCache::create(options));
  for (int i = 0; i < 10; ++i) {
    std::string key = "sig-" + std::to_string(i);
    (*g_alive)->put(key, MakeValue(key, 1));
  }
  Status s = rtcache::save_on_signals({SIGTERM}, std::chrono::milliseconds(deadline_ms));
  if (!s.ok()) return 1;
  Line("ready");
  WaitForStdinEnd();
  return 4;
}

// A kernel-like value: runs of instruction-like words, some random bytes;
// zstd shrinks it about 3x, as it does real cubins.
std::string KernelLike(uint64_t seed, size_t size) {
  std::mt19937_64 rng(seed);
  std::string out;
  out.reserve(size);
  while (out.size() < size) {
    uint64_t word = rng();
    if (word % 3 == 0) {
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(word >> (8 * i)));
    } else {
      uint32_t opcode = static_cast<uint32_t>(word % 64) * 0x01010101u;
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(opcode >> (8 * i)));
      out.append(4, '\0');
    }
  }
  out.resize(size);
  return out;
}

int SigtermBench(const std::string& path, int megabytes) {
  Options options;
  options.path = path;
  options.autosave_on_del = true;
  g_alive = new std::shared_ptr<RuntimeCache>(RuntimeCache::create(options));
  const size_t kValue = 256 << 10;
  const size_t count = static_cast<size_t>(megabytes) * (1 << 20) / kValue;
  for (size_t i = 0; i < count; ++i) {
    (*g_alive)->put("kernel-" + std::to_string(i), KernelLike(i, kValue), "sm_90 bench");
  }
  if (!rtcache::save_on_signals({SIGTERM}, std::chrono::seconds(30)).ok()) return 1;
  Line("ready " + std::to_string(count));
  WaitForStdinEnd();
  return 4;
}

// --- budget, short writes, modes -------------------------------------------------------------

int Budget(const std::string& path, int n) {
  Options options;
  options.path = path;
  options.compression = rtcache::Compression::kNone;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  if (!s.ok()) {
    Line("F open: " + s.to_string());
    return 1;
  }
  for (int i = 0; i < n; ++i) {
    std::string key = "budget-" + std::to_string(i);
    cache->put(key, std::string(1000, static_cast<char>('a' + i % 26)));
  }
  s = cache->save();
  if (!s.ok()) {
    Line("F save: " + s.to_string());
    return 1;
  }
  Line("evictions " + std::to_string(cache->stats().evictions));
  return 0;
}

int FsizeSave(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 1;
  ::signal(SIGXFSZ, SIG_IGN);
  rlimit limit;
  if (::getrlimit(RLIMIT_FSIZE, &limit) != 0) return 1;
  const rlim_t hard = limit.rlim_max;
  limit.rlim_cur = static_cast<rlim_t>(st.st_size) + 3000;  // the soft limit only
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 1;
  Options options;
  options.path = path;
  options.compression = rtcache::Compression::kNone;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  if (!s.ok()) {
    Line("status " + s.to_string());
    return 1;
  }
  for (int i = 0; i < 8; ++i) {
    std::string key = "big-" + std::to_string(i);
    cache->put(key, MakeValue(key, 1));
  }
  s = cache->save();
  Line("status " + s.to_string());
  // The changes are still in memory: without the limit they save.
  rlimit unlimited{hard, hard};
  ::setrlimit(RLIMIT_FSIZE, &unlimited);
  s = cache->save();
  Line("retry " + s.to_string());
  return 0;
}

int Modes(const std::string& path, const std::string& mask, const std::string& file_mode,
          const std::string& dir_mode) {
  ::umask(static_cast<mode_t>(std::stoul(mask, nullptr, 8)));
  Options options;
  options.path = path;
  if (auto m = std::stoul(file_mode, nullptr, 8)) options.file_mode = static_cast<uint32_t>(m);
  if (auto m = std::stoul(dir_mode, nullptr, 8)) options.dir_mode = static_cast<uint32_t>(m);
  if (options.file_mode & 0022) options.trust_others = true;
  auto cache = RuntimeCache::create(options);
  cache->put("mode-key", MakeValue("mode-key", 1));
  Status s = cache->save();
  Line("status " + s.to_string());
  return s.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Usage();
  const std::string& cmd = args[0];
  auto need = [&](size_t n) { return args.size() >= n + 1; };
  if (cmd == "saver" && need(2)) return Saver(args[1], args[2]);
  if (cmd == "exit" && need(2)) return Exit(args[1], args[2], need(3) ? args[3] : "");
  if (cmd == "hold-lock" && need(1)) return HoldLock(args[1]);
  if (cmd == "try-lock" && need(2)) return TryLock(args[1], std::stoi(args[2]));
  if (cmd == "putter" && need(5)) {
    return Putter(args[1], args[2], std::stoi(args[3]), std::stoi(args[4]), args[5] == "1",
                  need(6) ? std::stoi(args[6]) : 60'000);
  }
  if (cmd == "reader" && need(1)) return Reader(args[1]);
  if (cmd == "checkpoint" && need(3)) {
    return Checkpoint(args[1], std::stoi(args[2]), std::stoi(args[3]));
  }
  if (cmd == "signal-save" && need(3)) {
    return SignalSave(args[1], std::stoi(args[2]), std::stoi(args[3]));
  }
  if (cmd == "sigterm-bench" && need(2)) return SigtermBench(args[1], std::stoi(args[2]));
  if (cmd == "budget" && need(2)) return Budget(args[1], std::stoi(args[2]));
  if (cmd == "fsize-save" && need(1)) return FsizeSave(args[1]);
  if (cmd == "modes" && need(4)) return Modes(args[1], args[2], args[3], args[4]);
  return Usage();
}
