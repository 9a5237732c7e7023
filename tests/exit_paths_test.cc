// The exit matrix, each case a real process (reliability_child "exit CASE"):
// an autosaving handle holding keys exit-0..9 is alive when the process ends
// as the case says. Saved or not exactly as the README's table says, the
// process ends as expected (exit status or signal), and nothing else goes
// wrong (no sanitizer report, no crash beyond the intended one).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fault_env.h"
#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::DescribeStatus;
using testing::MakeValue;
using testing::Subprocess;
using testing::TempDir;

constexpr const char* kChild = RTCACHE_reliability_child_PATH;
constexpr const char* kPlugin = RTCACHE_reliability_plugin_PATH;
constexpr const char* kUnloadablePlugin = RTCACHE_reliability_plugin_unloadable_PATH;

#ifndef RTCACHE_RELIABILITY_SLOW

// Whether `path` holds every key of `prefix`0..9 with its exact value; false
// when the file is absent. Keys beyond those are listed in *extra.
bool HoldsKeys(const std::string& path, const std::string& prefix,
               std::vector<std::string>* extra = nullptr) {
  if (!testing::file_exists(path)) return false;
  Options options;
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  EXPECT_TRUE(s.ok()) << s.to_string();
  if (!s.ok()) return false;
  bool all = true;
  for (int i = 0; i < 10; ++i) {
    const std::string key = prefix + std::to_string(i);
    Bytes value;
    all = all && cache->get(key, &value).ok() && value.str() == MakeValue(key, 1);
  }
  if (extra) {
    std::vector<EntryInfo> entries;
    EXPECT_TRUE(cache->entries(&entries).ok());
    for (const auto& e : entries) {
      if (!e.key.starts_with(prefix)) extra->push_back(e.key);
    }
  }
  return all;
}

void ExpectNoSanitizerReport(const std::string& err) {
  for (const char* report : {"AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                             "UndefinedBehaviorSanitizer", "runtime error:"}) {
    EXPECT_EQ(err.find(report), std::string::npos) << err;
  }
}

struct Expect {
  bool saved;
  int exit_code;  // -1 when it dies of a signal
  int signal;     // 0 when it exits
};

// Runs one case; `send` is a signal the test sends once the child is ready.
std::string RunCase(const std::string& how, const Expect& expect, int send = 0) {
  TempDir dir;
  const std::string path = dir.file("exit.rtc");
  Subprocess child({kChild, "exit", how, path, kPlugin});
  if (send) {
    std::string line;
    EXPECT_TRUE(child.read_line(&line, 60'000)) << child.stderr_text();
    EXPECT_EQ(line, "ready");
    child.signal(send);
  }
  EXPECT_TRUE(child.wait_for(60'000)) << how << ": hung; killed";
  const int status = child.status();
  const std::string err = child.stderr_text();
  if (expect.signal) {
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == expect.signal)
        << how << ": ended with " << DescribeStatus(status) << "\n"
        << err;
  } else {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == expect.exit_code)
        << how << ": ended with " << DescribeStatus(status) << "\n"
        << err;
  }
  EXPECT_EQ(HoldsKeys(path, "exit-"), expect.saved) << how;
  if (!expect.saved) {
    EXPECT_FALSE(testing::file_exists(path)) << how << ": nothing may be written";
  }
  ExpectNoSanitizerReport(err);
  std::printf("[exit] %-18s %-7s ended with %s\n", how.c_str(), expect.saved ? "saved" : "not",
              DescribeStatus(status).c_str());
  return err;
}

TEST(ExitPaths, ReturnFromMainSaves) {
  RunCase("return", {true, 0, 0});
}
TEST(ExitPaths, ExitFromAWorkerThreadSaves) {
  RunCase("exit_thread", {true, 0, 0});
}
TEST(ExitPaths, UncaughtExceptionDoesNotSave) {
  std::string err = RunCase("uncaught", {false, -1, SIGABRT});
  EXPECT_NE(err.find("uncaught on purpose"), std::string::npos) << err;
}
TEST(ExitPaths, QuickExitDoesNotSave) {
  RunCase("quick_exit", {false, 0, 0});
}
TEST(ExitPaths, UnderscoreExitDoesNotSave) {
  RunCase("_Exit", {false, 0, 0});
}
TEST(ExitPaths, AbortDoesNotSave) {
  RunCase("abort", {false, -1, SIGABRT});
}
TEST(ExitPaths, SigtermWithoutHandlerDoesNotSave) {
  RunCase("sigterm", {false, -1, SIGTERM}, SIGTERM);
}
TEST(ExitPaths, SigtermWithSaveOnSignalsSavesAndStillDiesOfSigterm) {
  RunCase("sigterm_handler", {true, -1, SIGTERM}, SIGTERM);
}
TEST(ExitPaths, SigintWithSaveOnSignalsSavesAndStillDiesOfSigint) {
  RunCase("sigint_handler", {true, -1, SIGINT}, SIGINT);
}

// A forked child that exits normally (its exit hooks run) does not save the
// handle it inherited: the file does not exist when it is gone; the parent
// then saves its own keys, without the child's.
TEST(ExitPaths, ForkedChildDoesNotSaveInheritedHandles) {
  TempDir dir;
  const std::string path = dir.file("exit.rtc");
  Subprocess child({kChild, "exit", "fork", path});
  EXPECT_TRUE(child.wait_for(60'000)) << "hung; killed";
  const int status = child.status();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeStatus(status);
  auto lines = child.take_lines();
  ASSERT_EQ(lines.size(), 1u) << child.stderr_text();
  EXPECT_EQ(lines[0], "child exit 0 file_after_child absent");
  std::vector<std::string> extra;
  EXPECT_TRUE(HoldsKeys(path, "exit-", &extra));
  EXPECT_TRUE(extra.empty()) << "the child's key reached the file: " << extra.front();
  ExpectNoSanitizerReport(child.stderr_text());
  std::printf("[exit] %-18s %-7s forked child: %s\n", "fork", "saved", lines[0].c_str());
}

// With save_on_signals installed in the parent, a forked child that gets
// SIGTERM behaves as if it had never been installed: it dies of SIGTERM and
// saves nothing.
TEST(ExitPaths, ForkedChildGettingSigtermDoesNotSave) {
  TempDir dir;
  const std::string path = dir.file("exit.rtc");
  Subprocess child({kChild, "exit", "fork_sigterm", path});
  EXPECT_TRUE(child.wait_for(60'000)) << "hung; killed";
  const int status = child.status();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeStatus(status);
  auto lines = child.take_lines();
  ASSERT_EQ(lines.size(), 1u) << child.stderr_text();
  EXPECT_EQ(lines[0], "child signal 15 file_after_child absent");
  EXPECT_FALSE(testing::file_exists(path));
  ExpectNoSanitizerReport(child.stderr_text());
}

// A module holding a registered autosaving handle is dlclose()d. The module
// carries its own copy of rtcache, whose exit hook and static destructors
// belong to the module: they run when the module is unloaded, or at exit when
// the loader keeps it (a module with STB_GNU_UNIQUE symbols, as GCC makes for
// most C++ code, is never unloaded). Either way the handle is saved once, and
// nothing runs the module's code after it is gone.
//
// Sanitizer builds, for a module that is really unloaded: its never-destroyed
// singletons (exit registry, Env, zstd context pool) become unreachable with
// it, which LeakSanitizer would report (~100 KB once per unload; leak checking
// is off in that child); and ThreadSanitizer's atexit interceptor, which the
// instrumented module binds to instead of glibc's, drops the module's DSO
// handle, so the module's exit hook is not called at dlclose but at process
// exit, after the module is gone: in TSan builds only, the child then dies of
// SIGSEGV, and a handle that only that hook could save (the leaked one) is
// not saved. (Registering the hook with __cxa_atexit and the module's
// __dso_handle, which TSan passes through, would avoid this.)
void RunDlclose(const std::string& how, const char* plugin, bool unloads) {
  TempDir dir;
  const std::string path = dir.file("plugin.rtc");
  const char* asan = std::getenv("ASAN_OPTIONS");
  Subprocess child({kChild, "exit", how, path, plugin},
                   {std::string("ASAN_OPTIONS=") + (asan ? asan : "") + ":detect_leaks=0"});
  EXPECT_TRUE(child.wait_for(60'000)) << how << ": hung; killed";
  const int status = child.status();
  const std::string err = child.stderr_text();
  auto lines = child.take_lines();
  ASSERT_EQ(lines.size(), 3u) << err;
  EXPECT_EQ(lines[0], "registered 1");
  EXPECT_EQ(lines[1], std::string("dlclose 0 unloaded ") + (unloads ? "yes" : "no"));
  // Under TSan the unloaded module's exit hook runs only at process exit (see
  // above), so a handle only that hook saves is not saved by dlclose time.
  const bool tsan_lost = unloads && testing::kThreadSanitizerBuild && how != "dlclose_global";
  // Unloaded: saved by then; kept: saved at exit.
  if (!tsan_lost) {
    EXPECT_EQ(lines[2], std::string("after_dlclose ") + (unloads ? "present" : "absent"));
    EXPECT_TRUE(HoldsKeys(path, "plugin-")) << how;
  }
  if (unloads && testing::kThreadSanitizerBuild) {
    EXPECT_TRUE((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                err.find("ThreadSanitizer: SEGV") != std::string::npos)
        << how << ": ended with " << DescribeStatus(status) << "\n"
        << err;
  } else {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << how << ": ended with " << DescribeStatus(status) << "\n"
        << err;
    ExpectNoSanitizerReport(err);
  }
  std::printf("[exit] %-18s %-7s %s; %s\n", how.c_str(), "saved", lines[1].c_str(),
              lines[2].c_str());
}
TEST(ExitPaths, DlcloseKeptModuleHoldingAHandleInAGlobal) {
  RunDlclose("dlclose_global", kPlugin, false);
}
TEST(ExitPaths, DlcloseKeptModuleHoldingALeakedHandle) {
  RunDlclose("dlclose_leaked", kPlugin, false);
}
TEST(ExitPaths, DlcloseUnloadedModuleHoldingAHandleInAGlobal) {
  RunDlclose("dlclose_global", kUnloadablePlugin, true);
}
TEST(ExitPaths, DlcloseUnloadedModuleHoldingALeakedHandle) {
  RunDlclose("dlclose_leaked", kUnloadablePlugin, true);
}
TEST(ExitPaths, DlcloseUnloadedModuleWithACheckpointThread) {
  RunDlclose("dlclose_checkpoint", kUnloadablePlugin, true);
}

#else

// SIGTERM save time for a cache of 100 MB (400 kernel-like values of 256 KB),
// against the 30 s grace period Kubernetes gives a pod.
TEST(ExitPathsSlow, SigtermSaveOf100MegabytesFitsTheGracePeriod) {
  TempDir dir;
  const std::string path = dir.file("big.rtc");
  Subprocess child({kChild, "sigterm-bench", path, "100"});
  std::string line;
  ASSERT_TRUE(child.read_line(&line, 300'000)) << child.stderr_text();
  ASSERT_TRUE(line.starts_with("ready ")) << line;
  const size_t entries = std::stoul(line.substr(6));
  const auto sent = std::chrono::steady_clock::now();
  child.signal(SIGTERM);
  const int status = child.wait();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << DescribeStatus(status);
  Options options;
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  ASSERT_TRUE(RuntimeCache::open(options, &cache).ok());
  EXPECT_EQ(cache->size(), entries);
  FileReport report;
  ASSERT_TRUE(inspect_file(path, &report).ok());
  std::printf(
      "[figures] SIGTERM save of %zu entries, %.1f MB of values (%.1f MB on disk): %.2f s from "
      "the signal to the process's death, against a 30 s grace period\n",
      entries, report.value_bytes / 1048576.0, report.file_bytes / 1048576.0, seconds);
  EXPECT_LT(seconds, 30.0);
}

#endif

}  // namespace
}  // namespace rtcache
