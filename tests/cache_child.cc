// cache_child -- a small program that tests run as a real process, so that
// what happens at process exit (exit hooks, static destruction, _exit, fork)
// is exercised for real rather than simulated.
//
// Usage: cache_child [--env NAME=VALUE | --unset NAME]... COMMAND ARGS...
//
// The environment options are applied with setenv/unsetenv before anything
// else runs. They exist because run_child() appends extra entries after the
// inherited environment, so a variable already set in the test's environment
// would shadow them.
//
// Commands (keys are PREFIX0..PREFIX<n-1>, values ValueFor(key)):
//   fill PATH N MODE     an autosaving handle on PATH gets N keys with prefix
//                        "k", then the process ends as MODE says:
//     local         handle is a local of main; return from main (destructor)
//     return        handle is only reachable from a global pointer and never
//                   destroyed; return from main (exit hook). An atexit handler
//                   registered before the handle prints "report saves=S
//                   autosave=A" after the hook ran.
//     exit_main     std::exit(0) from main while the handle is alive
//     exit_thread   std::exit(0) from a worker thread while main holds it
//     static        handle held by a global object constructed before main;
//                   its destructor prints "holder saves=S autosave=A"
//     static_local  handle held by a function-local static constructed after
//                   the exit hook was installed (its destructor runs first)
//     drop          handle dropped mid-program; prints "registry=R", returns
//     quick_exit    std::quick_exit(0) with the handle alive (not saved)
//     _exit         _exit(0) with the handle alive (not saved)
//     fork          forks; the child puts key "forked" into the inherited
//                   handle and calls exit(0); the parent prints
//                   "child_status=S file_after_child=present|absent" and
//                   returns (its destructor saves the N keys)
//     fork_drop     as fork, but the child also drops its copy of the handle
//                   before exit(0)
//   churn PATH N         creates and drops N autosaving handles on PATH (none
//                        has anything to save); prints "peak=P" with 10 alive
//                        at once and "registry=R" at the end
//   put PATH PREFIX COUNT [ROUNDS]
//                        a user-built handle opens PATH, puts the keys and
//                        saves explicitly, in ROUNDS saves (default 1)
//   erase PATH KEY       opens PATH, erases KEY, saves
//   reset PATH           opens PATH, reset(), saves
//   default_path         prints "path=<default_cache_path()>" twice (two calls)
//
// Exit status 0 on success; 2 for a usage error; 1 when an operation failed
// (the reason goes to stderr).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rtcache/rtcache.h"
#include "test_util.h"

namespace {

using rtcache::Options;
using rtcache::RuntimeCache;
using rtcache::Status;

std::string ValueFor(std::string_view key) {
  return rtcache::testing::child_value_for(key);
}

void Fill(RuntimeCache& cache, std::string_view prefix, int begin, int end) {
  for (int i = begin; i < end; ++i) {
    std::string key = std::string(prefix) + std::to_string(i);
    cache.put(key, ValueFor(key), "cache_child");
  }
}

std::shared_ptr<RuntimeCache> MakeAutosaving(const std::string& path) {
  Options options;
  options.path = path;
  options.autosave_on_del = true;
  return RuntimeCache::create(options);
}

[[noreturn]] void Fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "cache_child: %s: %s\n", what.c_str(), status.to_string().c_str());
  std::exit(1);
}

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr, "cache_child: usage error: %s\n", why);
  std::exit(2);
}

void PrintLine(const std::string& line) {
  // stdio, not iostreams: some lines are printed during static destruction.
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

std::string SaveReport(const char* label, const RuntimeCache& cache) {
  return std::string(label) + " saves=" + std::to_string(cache.stats().saves) +
         " autosave=" + std::to_string(cache.autosave_on_del() ? 1 : 0);
}

// --- fill modes that need state outside main's frame ---------------------------

// "return": reachable only through this global pointer (so LeakSanitizer does
// not count it as leaked) and never destroyed, so only the exit hook can save.
std::shared_ptr<RuntimeCache>* g_leaked = nullptr;

void ReportLeaked() {
  if (g_leaked != nullptr && *g_leaked) PrintLine(SaveReport("report", **g_leaked));
}

// "static": constructed before main, so its destructor runs after every atexit
// handler registered during main, including the library's exit hook.
struct Holder {
  std::shared_ptr<RuntimeCache> cache;
  ~Holder() {
    if (cache) PrintLine(SaveReport("holder", *cache));
  }
};
Holder g_holder;

// "static_local": the static is constructed after the exit hook is installed,
// so its destructor runs before the hook.
std::shared_ptr<RuntimeCache> MakeFilledAutosaving(const std::string& path, int n) {
  auto cache = MakeAutosaving(path);
  Fill(*cache, "k", 0, n);
  return cache;
}

void InitLocalHolder(const std::string& path, int n) {
  static Holder holder{MakeFilledAutosaving(path, n)};
  (void)holder;
}

int ForkMode(const std::string& path, int n, bool drop_in_child) {
  auto cache = MakeAutosaving(path);
  Fill(*cache, "k", 0, n);
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) Usage("fork failed");
  if (pid == 0) {
    // The forked child changes the inherited handle and exits normally: if
    // it saved (destructor or exit hook), "forked" would reach the file.
    cache->put("forked", ValueFor("forked"), "forked child");
    if (drop_in_child) cache.reset();
    std::exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  struct stat st;
  bool present = ::stat(path.c_str(), &st) == 0;
  PrintLine("child_status=" + std::to_string(status) +
            " file_after_child=" + (present ? "present" : "absent"));
  return 0;  // the parent's destructor saves the n keys
}

int FillCommand(const std::string& path, int n, const std::string& mode) {
  if (mode == "local") {
    auto cache = MakeAutosaving(path);
    Fill(*cache, "k", 0, n);
    return 0;
  }
  if (mode == "return") {
    std::atexit(ReportLeaked);  // registered before the hook, so runs after it
    g_leaked = new std::shared_ptr<RuntimeCache>(MakeAutosaving(path));
    Fill(**g_leaked, "k", 0, n);
    return 0;
  }
  if (mode == "exit_main") {
    auto cache = MakeAutosaving(path);
    Fill(*cache, "k", 0, n);
    std::exit(0);
  }
  if (mode == "exit_thread") {
    auto cache = MakeAutosaving(path);
    Fill(*cache, "k", 0, n);
    std::thread worker([] { std::exit(0); });
    worker.join();  // never returns: the worker ends the process
    return 3;
  }
  if (mode == "static") {
    g_holder.cache = MakeAutosaving(path);
    Fill(*g_holder.cache, "k", 0, n);
    return 0;
  }
  if (mode == "static_local") {
    InitLocalHolder(path, n);
    return 0;
  }
  if (mode == "drop") {
    auto cache = MakeAutosaving(path);
    Fill(*cache, "k", 0, n);
    cache.reset();
    PrintLine("registry=" + std::to_string(rtcache::exit_registry_size()));
    return 0;
  }
  if (mode == "quick_exit") {
    auto cache = MakeAutosaving(path);
    Fill(*cache, "k", 0, n);
    std::quick_exit(0);
  }
  if (mode == "_exit") {
    auto cache = MakeAutosaving(path);
    Fill(*cache, "k", 0, n);
    _exit(0);
  }
  if (mode == "fork") return ForkMode(path, n, /*drop_in_child=*/false);
  if (mode == "fork_drop") return ForkMode(path, n, /*drop_in_child=*/true);
  Usage("unknown fill mode");
}

int ChurnCommand(const std::string& path, int n) {
  std::vector<std::shared_ptr<RuntimeCache>> alive;
  for (int i = 0; i < 10; ++i) alive.push_back(MakeAutosaving(path));
  PrintLine("peak=" + std::to_string(rtcache::exit_registry_size()));
  alive.clear();
  for (int i = 0; i < n; ++i) MakeAutosaving(path).reset();
  PrintLine("registry=" + std::to_string(rtcache::exit_registry_size()));
  return 0;
}

std::shared_ptr<RuntimeCache> OpenUserBuilt(const std::string& path) {
  Options options;
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  if (!s.ok()) Fail("open " + path, s);
  return cache;
}

int PutCommand(const std::string& path, const std::string& prefix, int count, int rounds) {
  if (rounds < 1) Usage("ROUNDS must be at least 1");
  auto cache = OpenUserBuilt(path);
  for (int r = 0; r < rounds; ++r) {
    Fill(*cache, prefix, count * r / rounds, count * (r + 1) / rounds);
    Status s = cache->save();
    if (!s.ok()) Fail("save " + path, s);
  }
  PrintLine("saved=" + std::to_string(count));
  return 0;
}

int EraseCommand(const std::string& path, const std::string& key) {
  auto cache = OpenUserBuilt(path);
  if (!cache->erase(key)) Usage("key to erase is not in the file");
  Status s = cache->save();
  if (!s.ok()) Fail("save " + path, s);
  return 0;
}

int ResetCommand(const std::string& path) {
  auto cache = OpenUserBuilt(path);
  cache->reset();
  Status s = cache->save();
  if (!s.ok()) Fail("save " + path, s);
  return 0;
}

int DefaultPathCommand() {
  // Two calls: the warning for an unusable location is logged once per process.
  for (int i = 0; i < 2; ++i) PrintLine("path=" + rtcache::default_cache_path());
  return 0;
}

int ParseCount(const char* text) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > 100'000'000) Usage("bad count");
  return static_cast<int>(value);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  size_t i = 0;
  for (; i + 1 < args.size(); i += 2) {
    if (args[i] == "--env") {
      size_t eq = args[i + 1].find('=');
      if (eq == std::string::npos) Usage("--env needs NAME=VALUE");
      setenv(args[i + 1].substr(0, eq).c_str(), args[i + 1].substr(eq + 1).c_str(), 1);
    } else if (args[i] == "--unset") {
      unsetenv(args[i + 1].c_str());
    } else {
      break;
    }
  }
  args.erase(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(i));
  if (args.empty()) Usage("missing command");
  const std::string& command = args[0];
  if (command == "fill" && args.size() == 4) {
    return FillCommand(args[1], ParseCount(args[2].c_str()), args[3]);
  }
  if (command == "churn" && args.size() == 3) {
    return ChurnCommand(args[1], ParseCount(args[2].c_str()));
  }
  if (command == "put" && (args.size() == 4 || args.size() == 5)) {
    int rounds = args.size() == 5 ? ParseCount(args[4].c_str()) : 1;
    return PutCommand(args[1], args[2], ParseCount(args[3].c_str()), rounds);
  }
  if (command == "erase" && args.size() == 3) return EraseCommand(args[1], args[2]);
  if (command == "reset" && args.size() == 2) return ResetCommand(args[1]);
  if (command == "default_path" && args.size() == 1) return DefaultPathCommand();
  Usage("unknown command or wrong number of arguments");
}
