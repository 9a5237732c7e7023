// test_child -- the one child program of the suite: each command is something
// that must happen in a real process (ending in a particular way, killed,
// stopped, signalled, forked, holding a lock, with its own environment).
// Tests run it through testing::Child / run_child (test_util.h), which also
// give it its environment; values are MakeValue(key, 1) unless said otherwise.
//
// Usage: test_child COMMAND ARGS...
//
// Ending a process (keys exit-0..9 in an autosaving handle on PATH):
//   exit CASE PATH [PLUGIN]
//     local          the handle is a local of main; return from main (destructor)
//     return         the handle is reachable only from a global pointer, never
//                    destroyed; return from main (exit hook). An atexit handler
//                    registered before the handle prints "report saves=S
//                    autosave=A" after the hook ran
//     exit_main      std::exit(0) from main while a local holds the handle
//     exit_thread    std::exit(0) from a worker thread
//     static         a global object constructed before main holds the handle;
//                    its destructor prints "holder saves=S autosave=A"
//     static_local   a function-local static constructed after the exit hook
//                    was installed holds it (its destructor runs first)
//     drop           the handle is dropped mid-program; prints "registry=R"
//     quick_exit, _exit, _Exit, abort, uncaught (an exception leaves main)
//     sigterm        prints "ready", waits for SIGTERM (no handler)
//     sigterm_handler, sigint_handler
//                    save_on_signals({SIGTERM, SIGINT}), then as sigterm
//     fork, fork_drop, fork_sigterm
//                    forks; the child puts "forked" into the inherited handle
//                    (fork_drop: then drops it; fork_sigterm: then raises
//                    SIGTERM with save_on_signals installed) and exits; the
//                    parent prints "child exit S|signal N file_after_child
//                    present|absent" and returns (fork_sigterm: _Exit)
//     dlclose_global, dlclose_leaked, dlclose_checkpoint
//                    dlopens PLUGIN, which holds an autosaving handle with keys
//                    plugin-0..9 (in a global, leaked, or with checkpoints),
//                    dlcloses it; prints "registered N", "dlclose RC unloaded
//                    yes|no", "after_dlclose present|absent"; returns
//   churn PATH N     creates and drops N autosaving handles with nothing to
//                    save; prints "peak=P" (10 alive at once) and "registry=R"
//
// One handle, saved explicitly:
//   put PATH PREFIX COUNT [ROUNDS]
//                    puts PREFIX0..PREFIX<COUNT-1> in ROUNDS saves (default 1);
//                    prints "saved=COUNT"
//   erase PATH KEY   erases KEY (which must be in the file), saves
//   reset PATH       reset(), saves
//   budget PATH N    puts N keys budget-<i> (1000-byte raw values), saves;
//                    prints "evictions E" (RTCACHE_MAX_SIZE from the environment)
//   fsize-save PATH  saves a big change under RLIMIT_FSIZE (the kernel cuts the
//                    write short, then EFBIG); prints "status <Status>", then
//                    "retry <Status>" without the limit
//   modes PATH UMASK FILE_MODE DIR_MODE
//                    umask(UMASK) (octal), then saves one key with the modes
//                    (octal, 0 = defaults); prints "status <Status>"
//   default-path     prints "path=<default_cache_path()>" twice (two calls)
//   compile [PATH]   gets scale<float> (test_kernels.h) from an Engine on PATH
//                    (an implicit handle; default: a private cache); prints
//                    "compiled", "cached" or "error <Status>", then returns
//   read-only PATH KEY
//                    an autosaving handle on PATH: loads, prints "load <code>",
//                    "get KEY hit|miss", puts "added", prints "read_only 0|1"
//                    and "save <code>" (an explicit save), then returns (the
//                    exit hook autosaves)
//   settings         prints RuntimeSettings::from_environment(): "none" or
//                    "path=<path>"; then logs one warning ("probe")
//
// Kill loops, locks, concurrency, checkpoints, signals:
//   saver PATH RUN   prints "ready", then forever: its changes ("W key version"
//                    / "E key"), saves, prints "C" once save() returned OK;
//                    compacts now and then; "F reason" and exit 1 on failure
//   hold-lock PATH   takes PATH's lock, prints "locked", holds it until stdin ends
//   try-lock PATH MS prints "locked", "timeout" or "error ..."
//   putter PATH WRITER KEYS ROUNDS COMPACT [LOCK_TIMEOUT_MS]
//                    prints "ready", waits for a byte on stdin, puts
//                    w<WRITER>-<i> in ROUNDS saves (compacting every third
//                    round when COMPACT is 1); prints "wait <us>" per lock
//                    taken, then "done"
//   reader PATH      until stdin ends: loads PATH (a fresh handle and a
//                    reload) and checks every value; prints "reads N loads M",
//                    or "BAD ..." and exit 3
//   checkpoint PATH MS N
//                    N keys cp-<i> in a handle with checkpoint_interval MS;
//                    prints "put", waits for stdin to end
//   signal-save PATH DEADLINE_MS LOCK_TIMEOUT_MS
//                    autosaving handle with keys sig-0..9, save_on_signals
//                    ({SIGTERM}, deadline); prints "ready", waits for the signal
//   sigterm-bench PATH MB
//                    an autosaving handle holding MB megabytes of kernel-like
//                    values, save_on_signals; prints "ready <entries>"
//
// The JIT engine (the test module of test_kernels.h):
//   engine PATH      compiles every test kernel through an engine whose runtime
//                    settings are PATH, prints "<name> <from_cache 0|1> <xxh3 of
//                    binary>" per kernel, then "compiles N"; exits normally
//   engine-settings  prints the runtime settings the environment gives:
//                    "none" or "path <path>"
//
// Exit status 0 on success, 1 when an operation failed (the reason on stderr
// or as an "F"/"BAD" line), 2 on a usage error.
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/demo_kernels.h"
#include "rtcache/rtcache.h"
#include "rtcache/signals.h"
#include "test_kernels.h"
#include "test_values.h"

namespace {

using rtcache::Bytes;
using rtcache::Options;
using rtcache::RuntimeCache;
using rtcache::Status;
using rtcache::testing::CheckValue;
using rtcache::testing::MakeValue;
using Args = std::vector<std::string>;

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "test_child: usage error: %s (see the comment at the top)\n", why.c_str());
  std::exit(2);
}

[[noreturn]] void Fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "test_child: %s: %s\n", what.c_str(), status.to_string().c_str());
  std::exit(1);
}

// stdio, not iostreams: some lines are printed during static destruction.
void Line(const std::string& text) {
  std::fputs((text + "\n").c_str(), stdout);
  std::fflush(stdout);
}

int Number(const std::string& text) {
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || value < 0 || value > 100'000'000) {
    Usage("bad number: " + text);
  }
  return static_cast<int>(value);
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

void PutKeys(RuntimeCache& cache, const std::string& prefix, int begin, int end) {
  for (int i = begin; i < end; ++i) {
    const std::string key = prefix + std::to_string(i);
    cache.put(key, MakeValue(key, 1), "test_child");
  }
}

std::shared_ptr<RuntimeCache> Autosaving(const std::string& path, int keys) {
  Options options;
  options.path = path;
  options.autosave_on_del = true;
  auto cache = RuntimeCache::create(options);
  PutKeys(*cache, "exit-", 0, keys);
  return cache;
}

std::shared_ptr<RuntimeCache> OpenOrFail(Options options) {
  std::shared_ptr<RuntimeCache> cache;
  const std::string path = options.path;
  Status s = RuntimeCache::open(std::move(options), &cache);
  if (!s.ok()) Fail("open " + path, s);
  return cache;
}

std::shared_ptr<RuntimeCache> OpenOrFail(const std::string& path) {
  Options options;
  options.path = path;
  return OpenOrFail(options);
}

void SaveOrFail(RuntimeCache& cache) {
  Status s = cache.save();
  if (!s.ok()) Fail("save " + cache.path(), s);
}

// --- exit -------------------------------------------------------------------------------

constexpr int kExitKeys = 10;

std::string SaveReport(const char* label, const RuntimeCache& cache) {
  return std::string(label) + " saves=" + std::to_string(cache.stats().saves) +
         " autosave=" + std::to_string(cache.autosave_on_del() ? 1 : 0);
}

// Never destroyed and always reachable (so LeakSanitizer does not count it):
// a handle that only the exit hook can save.
std::shared_ptr<RuntimeCache>* g_alive = nullptr;
void* g_plugin_keep = nullptr;

void ReportAlive() {
  if (g_alive != nullptr && *g_alive) Line(SaveReport("report", **g_alive));
}

// Constructed before main, so its destructor runs after every atexit handler
// registered during main, the library's exit hook included.
struct Holder {
  std::shared_ptr<RuntimeCache> cache;
  ~Holder() {
    if (cache) Line(SaveReport("holder", *cache));
  }
};
Holder g_holder;

// Constructed after the exit hook is installed: destroyed before it runs.
void HoldInFunctionLocalStatic(const std::string& path) {
  static Holder holder{Autosaving(path, kExitKeys)};
  (void)holder;
}

int ExitByFork(const std::string& how, const std::string& path) {
  if (how == "fork_sigterm" && !rtcache::save_on_signals({SIGTERM}).ok()) return 1;
  g_alive = new std::shared_ptr<RuntimeCache>(Autosaving(path, kExitKeys));
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid < 0) Usage("fork failed");
  if (pid == 0) {
    // The forked child changes the inherited handle and exits normally (exit
    // hooks run): if it saved, "forked" would reach the file.
    (*g_alive)->put("forked", MakeValue("forked", 1));
    if (how == "fork_drop") g_alive->reset();
    if (how == "fork_sigterm") ::raise(SIGTERM);
    std::exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const std::string child = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                              : "signal " + std::to_string(WTERMSIG(status));
  Line("child " + child + " file_after_child " + (FileExists(path) ? "present" : "absent"));
  if (how == "fork_sigterm") std::_Exit(0);  // the parent does not save either
  return 0;                                  // the parent saves its own keys (without "forked")
}

int ExitByDlclose(const std::string& how, const std::string& path, const std::string& plugin) {
  void* module = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (module == nullptr) {
    std::fprintf(stderr, "dlopen: %s\n", ::dlerror());
    return 1;
  }
  using Start = int (*)(const char*, int, int, void**);
  auto start = reinterpret_cast<Start>(::dlsym(module, "rtcache_plugin_start"));
  if (start == nullptr) return 1;
  const int mode = how == "dlclose_global" ? 0 : how == "dlclose_leaked" ? 1 : 2;
  const int registered = start(path.c_str(), mode, kExitKeys, &g_plugin_keep);
  Line("registered " + std::to_string(registered));
  const int rc = ::dlclose(module);
  // Whether the module is really gone (it may be marked not unloadable).
  void* again = ::dlopen(plugin.c_str(), RTLD_NOW | RTLD_NOLOAD);
  Line("dlclose " + std::to_string(rc) + " unloaded " + (again ? "no" : "yes"));
  if (again) ::dlclose(again);
  Line(std::string("after_dlclose ") + (FileExists(path) ? "present" : "absent"));
  return 0;  // a normal exit follows
}

int Exit(const std::string& how, const std::string& path, const std::string& plugin) {
  if (how.starts_with("dlclose_")) return ExitByDlclose(how, path, plugin);
  if (how.starts_with("fork")) return ExitByFork(how, path);
  if (how == "local") {
    auto cache = Autosaving(path, kExitKeys);
    return 0;
  }
  if (how == "exit_main") {
    auto cache = Autosaving(path, kExitKeys);
    std::exit(0);
  }
  if (how == "static") {
    g_holder.cache = Autosaving(path, kExitKeys);
    return 0;
  }
  if (how == "static_local") {
    HoldInFunctionLocalStatic(path);
    return 0;
  }
  if (how == "drop") {
    Autosaving(path, kExitKeys).reset();
    Line("registry=" + std::to_string(rtcache::exit_registry_size()));
    return 0;
  }
  if (how == "return") std::atexit(ReportAlive);  // registered before the hook: runs after it
  g_alive = new std::shared_ptr<RuntimeCache>(Autosaving(path, kExitKeys));
  if (how == "return") return 0;
  if (how == "exit_thread") {
    std::thread([] { std::exit(0); }).join();
    return 3;  // not reached: the worker ends the process
  }
  if (how == "uncaught") throw std::runtime_error("uncaught on purpose");
  if (how == "quick_exit") std::quick_exit(0);
  if (how == "_exit") ::_exit(0);
  if (how == "_Exit") std::_Exit(0);
  if (how == "abort") std::abort();
  if (how == "sigterm" || how == "sigterm_handler" || how == "sigint_handler") {
    if (how != "sigterm" && !rtcache::save_on_signals({SIGTERM, SIGINT}).ok()) return 1;
    Line("ready");
    WaitForStdinEnd();
    return 4;  // the signal should have ended the process
  }
  Usage("unknown exit case " + how);
}

int Churn(const std::string& path, int n) {
  std::vector<std::shared_ptr<RuntimeCache>> alive;
  for (int i = 0; i < 10; ++i) alive.push_back(Autosaving(path, 0));
  Line("peak=" + std::to_string(rtcache::exit_registry_size()));
  alive.clear();
  for (int i = 0; i < n; ++i) Autosaving(path, 0).reset();
  Line("registry=" + std::to_string(rtcache::exit_registry_size()));
  return 0;
}

// --- one handle, saved explicitly -----------------------------------------------------------

int Put(const std::string& path, const std::string& prefix, int count, int rounds) {
  if (rounds < 1) Usage("ROUNDS must be at least 1");
  auto cache = OpenOrFail(path);
  for (int r = 0; r < rounds; ++r) {
    PutKeys(*cache, prefix, count * r / rounds, count * (r + 1) / rounds);
    SaveOrFail(*cache);
  }
  Line("saved=" + std::to_string(count));
  return 0;
}

int Erase(const std::string& path, const std::string& key) {
  auto cache = OpenOrFail(path);
  if (!cache->erase(key)) Usage("key to erase is not in the file");
  SaveOrFail(*cache);
  return 0;
}

int Reset(const std::string& path) {
  auto cache = OpenOrFail(path);
  cache->reset();
  SaveOrFail(*cache);
  return 0;
}

int Budget(const std::string& path, int n) {
  Options options;
  options.path = path;
  options.compression = rtcache::Compression::kNone;
  auto cache = OpenOrFail(options);
  for (int i = 0; i < n; ++i) {
    cache->put("budget-" + std::to_string(i), std::string(1000, static_cast<char>('a' + i % 26)));
  }
  SaveOrFail(*cache);
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
  auto cache = OpenOrFail(options);
  PutKeys(*cache, "big-", 0, 8);
  Line("status " + cache->save().to_string());
  // The changes are still in memory: without the limit they save.
  rlimit unlimited{hard, hard};
  ::setrlimit(RLIMIT_FSIZE, &unlimited);
  Line("retry " + cache->save().to_string());
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

int DefaultPath() {
  // Two calls: the warning for an unusable location is logged once per process.
  for (int i = 0; i < 2; ++i) Line("path=" + rtcache::default_cache_path());
  return 0;
}

int Compile(const std::string& path) {
  rtcache::EngineConfig config;
  config.source = rtcache::testing::kTestModule;
  config.options = {"-std=c++17"};
  rtcache::Engine engine(config, path.empty() ? rtcache::RuntimeSettings::none()
                                              : rtcache::RuntimeSettings::path(path));
  rtcache::Kernel kernel;
  const rtcache::Status s = engine.kernel("scale<float>", &kernel);
  Line(!s.ok() ? "error " + s.to_string() : kernel.from_cache ? "cached" : "compiled");
  return 0;
}

std::string CodeName(const rtcache::Status& s) {
  return std::string(rtcache::code_name(s.code()));
}

int ReadOnly(const std::string& path, const std::string& key) {
  Options options;
  options.path = path;
  options.autosave_on_del = true;
  auto cache = RuntimeCache::create(options);
  Line("load " + CodeName(cache->load()));
  Line("get " + key + (cache->contains(key) ? " hit" : " miss"));
  cache->put("added", std::string_view("in memory"));
  Line(std::string("read_only ") + (cache->read_only() ? "1" : "0"));
  Line("save " + CodeName(cache->save()));
  static std::shared_ptr<RuntimeCache> kept = cache;  // alive at exit: the exit hook's
  return 0;
}

int SettingsFromEnvironment() {
  const rtcache::RuntimeSettings settings = rtcache::RuntimeSettings::from_environment();
  Line(settings.is_path() ? "path=" + settings.cache_path() : std::string("none"));
  rtcache::log(rtcache::LogLevel::kWarning, "probe");
  return 0;
}

// --- kill loops, locks, concurrency --------------------------------------------------------

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
  Line(s.ok() ? "locked" : s.is_lock_timeout() ? "timeout" : "error " + s.to_string());
  return 0;
}

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
    const int until = keys * (round + 1) / rounds;
    for (; next < until; ++next) {
      const std::string key = "w" + writer + "-" + std::to_string(next);
      cache->put(key, MakeValue(key, 1), "putter");
    }
    Status s = cache->save();
    if (s.ok() && compact && round % 3 == 2) s = cache->compact();
    if (!s.ok()) {
      Line("F save: " + s.to_string());
      return 1;
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
    if (s.is_not_found()) continue;  // tolerate only misses
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
  PutKeys(*cache, "cp-", 0, n);
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
  PutKeys(**g_alive, "sig-", 0, 10);
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

// --- the engine ------------------------------------------------------------------------------

// The demo's engines (its sources in `kernel_dir`) on the cache at `path`:
// every demo kernel, then one line "kernels N hits H compiles C failed F".
int Demo(const std::string& kernel_dir, const std::string& path) {
  bundled::DemoBuild build;
  build.kernel_dir = kernel_dir;
  bundled::DemoEngines engines(build, rtcache::RuntimeSettings::path(path));
  if (!engines.unreadable().empty()) Fail(engines.unreadable(), Status::IOError("unreadable"));
  uint64_t hits = 0, failed = 0;
  for (size_t k = 0; k < bundled::kDemoKernelCount; ++k) {
    rtcache::Kernel kernel;
    const Status s =
        engines.for_kernel(k).kernel(bundled::kDemoKernels[k].name_expression, &kernel);
    failed += s.ok() ? 0 : 1;
    hits += s.ok() && kernel.from_cache ? 1 : 0;
  }
  std::printf("kernels %zu hits %llu compiles %llu failed %llu\n", bundled::kDemoKernelCount,
              static_cast<unsigned long long>(hits),
              static_cast<unsigned long long>(engines.compiles()),
              static_cast<unsigned long long>(failed));
  return 0;
}

// One kernel of a module that includes "params.h" through -I `include_dir`:
// prints "cached" or "compiled", and the binary's hash.
int IncludeCompile(const std::string& path, const std::string& include_dir) {
  rtcache::EngineConfig config;
  config.source = rtcache::testing::kIncludingModule;
  config.options = {"-I" + include_dir};
  rtcache::Engine engine(config, rtcache::RuntimeSettings::path(path));
  rtcache::Kernel kernel;
  const Status s = engine.kernel("steps", &kernel);
  if (!s.ok()) Fail("steps", s);
  std::printf(
      "%s %016llx\n", kernel.from_cache ? "cached" : "compiled",
      static_cast<unsigned long long>(XXH3_64bits(kernel.binary.data(), kernel.binary.size())));
  return 0;
}

int Engine(const std::string& path) {
  rtcache::EngineConfig config;
  config.name = "test_module";
  config.source = rtcache::testing::kTestModule;
  config.options = {"-std=c++17"};
  rtcache::Engine engine(config, rtcache::RuntimeSettings::path(path));
  for (const char* name : rtcache::testing::kTestKernels) {
    rtcache::Kernel kernel;
    Status s = engine.kernel(name, &kernel);
    if (!s.ok()) Fail(name, s);
    std::printf(
        "%s %d %016llx\n", name, kernel.from_cache ? 1 : 0,
        static_cast<unsigned long long>(XXH3_64bits(kernel.binary.data(), kernel.binary.size())));
  }
  std::printf("compiles %llu\n", static_cast<unsigned long long>(engine.stats().compiles));
  return 0;
}

int EngineSettings() {
  rtcache::RuntimeSettings s = rtcache::RuntimeSettings::from_environment();
  Line(s.is_none() ? "none" : "path " + s.cache_path());
  return 0;
}

// --- dispatch --------------------------------------------------------------------------------

struct Command {
  size_t min_args, max_args;  // after the command name
  std::function<int(const Args&)> run;
};

const std::map<std::string, Command>& Commands() {
  static const std::map<std::string, Command> commands = {
      {"exit", {2, 3, [](const Args& a) { return Exit(a[0], a[1], a.size() > 2 ? a[2] : ""); }}},
      {"churn", {2, 2, [](const Args& a) { return Churn(a[0], Number(a[1])); }}},
      {"put",
       {3, 4,
        [](const Args& a) {
          return Put(a[0], a[1], Number(a[2]), a.size() > 3 ? Number(a[3]) : 1);
        }}},
      {"erase", {2, 2, [](const Args& a) { return Erase(a[0], a[1]); }}},
      {"reset", {1, 1, [](const Args& a) { return Reset(a[0]); }}},
      {"budget", {2, 2, [](const Args& a) { return Budget(a[0], Number(a[1])); }}},
      {"fsize-save", {1, 1, [](const Args& a) { return FsizeSave(a[0]); }}},
      {"modes", {4, 4, [](const Args& a) { return Modes(a[0], a[1], a[2], a[3]); }}},
      {"default-path", {0, 0, [](const Args&) { return DefaultPath(); }}},
      {"settings", {0, 0, [](const Args&) { return SettingsFromEnvironment(); }}},
      {"compile", {0, 1, [](const Args& a) { return Compile(a.empty() ? "" : a[0]); }}},
      {"read-only", {2, 2, [](const Args& a) { return ReadOnly(a[0], a[1]); }}},
      {"saver", {2, 2, [](const Args& a) { return Saver(a[0], a[1]); }}},
      {"hold-lock", {1, 1, [](const Args& a) { return HoldLock(a[0]); }}},
      {"try-lock", {2, 2, [](const Args& a) { return TryLock(a[0], Number(a[1])); }}},
      {"putter",
       {5, 6,
        [](const Args& a) {
          return Putter(a[0], a[1], Number(a[2]), Number(a[3]), a[4] == "1",
                        a.size() > 5 ? Number(a[5]) : 60'000);
        }}},
      {"reader", {1, 1, [](const Args& a) { return Reader(a[0]); }}},
      {"checkpoint",
       {3, 3, [](const Args& a) { return Checkpoint(a[0], Number(a[1]), Number(a[2])); }}},
      {"signal-save",
       {3, 3, [](const Args& a) { return SignalSave(a[0], Number(a[1]), Number(a[2])); }}},
      {"sigterm-bench", {2, 2, [](const Args& a) { return SigtermBench(a[0], Number(a[1])); }}},
      {"engine", {1, 1, [](const Args& a) { return Engine(a[0]); }}},
      {"demo", {2, 2, [](const Args& a) { return Demo(a[0], a[1]); }}},
      {"include-compile", {2, 2, [](const Args& a) { return IncludeCompile(a[0], a[1]); }}},
      {"engine-settings", {0, 0, [](const Args&) { return EngineSettings(); }}},
  };
  return commands;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Usage("missing command");
  const auto& commands = Commands();
  auto it = commands.find(argv[1]);
  if (it == commands.end()) Usage(std::string("unknown command ") + argv[1]);
  const Args args(argv + 2, argv + argc);
  if (args.size() < it->second.min_args || args.size() > it->second.max_args) {
    Usage(std::string("wrong number of arguments for ") + argv[1]);
  }
  return it->second.run(args);
}
