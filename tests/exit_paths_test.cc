// How a process ends, each case a real process (test_child "exit CASE"): an
// autosaving handle holding keys exit-0..9 is alive when the process ends as
// the case says. Saved or not exactly as the README's table says, the process
// ends as expected (exit status or signal), prints what the case promises,
// and nothing else goes wrong (no warning, no sanitizer report, no crash
// beyond the intended one). Also: the exit registry under churn, a failed
// autosave at exit, and modules holding handles that are dlclose()d.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::Child;
using testing::ChildOptions;
using testing::DescribeStatus;
using testing::Exited;
using testing::file_exists;
using testing::Killed;
using testing::kTestChild;
using testing::MakeValue;
using testing::TempDir;

#ifndef RTCACHE_RELIABILITY_SLOW

constexpr const char* kPlugin = RTCACHE_reliability_plugin_PATH;
constexpr const char* kUnloadablePlugin = RTCACHE_reliability_plugin_unloadable_PATH;

// Empty when `path` holds exactly prefix0..prefix9, each with its value; else
// what differs.
std::string KeysDiffer(const std::string& path, const std::string& prefix) {
  if (!file_exists(path)) return "no file";
  Options options;
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  if (!s.ok()) return s.to_string();
  std::string problems;
  for (int i = 0; i < 10; ++i) {
    const std::string key = prefix + std::to_string(i);
    Bytes value;
    if (!cache->get(key, &value).ok() || value.str() != MakeValue(key, 1)) {
      problems += " missing " + key;
    }
  }
  std::vector<EntryInfo> entries;
  s = cache->entries(&entries);
  if (!s.ok()) return s.to_string();
  for (const auto& e : entries) {
    if (!e.key.starts_with(prefix)) problems += " extra " + e.key;
  }
  return problems;
}

void ExpectNoSanitizerReport(const std::string& err) {
  for (const char* report : {"AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                             "UndefinedBehaviorSanitizer", "runtime error:"}) {
    EXPECT_EQ(err.find(report), std::string::npos) << err;
  }
}

// Logging on at warning level, whatever the test's own environment says.
const ChildOptions kWarnings{.env = {"RTCACHE_LOG=warning"}};

// --- the matrix ---------------------------------------------------------------------------

struct ExitCase {
  const char* how;  // test_child exit CASE
  bool saved;
  int exit_code = 0;  // when it exits
  int signal = 0;     // when a signal ends it instead
  int send = 0;       // a signal the test sends once the child says "ready"
  const char* out = "";
  const char* err_contains = nullptr;  // stderr must be empty unless this is set
};

class ExitPaths : public ::testing::TestWithParam<ExitCase> {};

TEST_P(ExitPaths, SavedExactlyAsDocumented) {
  const ExitCase& c = GetParam();
  TempDir dir;
  const std::string path = dir.file("exit.rtc");
  Child child({kTestChild, "exit", c.how, path}, kWarnings);
  if (c.send) {
    std::string line;
    ASSERT_TRUE(child.read_line(&line, 60'000)) << child.err();
    ASSERT_EQ(line, "ready");
    child.signal(c.send);
  }
  ASSERT_TRUE(child.wait_for(60'000)) << c.how << ": hung; killed";
  const std::string err = child.err();
  if (c.signal) {
    EXPECT_TRUE(Killed(child.status(), c.signal)) << err;
  } else {
    EXPECT_TRUE(Exited(child.status(), c.exit_code)) << err;
  }
  EXPECT_EQ(child.out(), std::string(c.send ? "ready\n" : "") + c.out);
  if (c.saved) {
    EXPECT_EQ(KeysDiffer(path, "exit-"), "");
  } else {
    EXPECT_FALSE(file_exists(path)) << "nothing may be written";
  }
  if (c.err_contains) {
    EXPECT_NE(err.find(c.err_contains), std::string::npos) << err;
  } else {
    EXPECT_EQ(err, "") << "no warning, no error at exit";
  }
  ExpectNoSanitizerReport(err);
  std::printf("[exit] %-18s %-7s ended with %s\n", c.how, c.saved ? "saved" : "not",
              DescribeStatus(child.status()).c_str());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ExitPaths,
    ::testing::Values(
        // The destructor saves a handle that dies before the process.
        ExitCase{.how = "local", .saved = true},
        ExitCase{.how = "drop", .saved = true, .out = "registry=0\n"},
        // (A function-local static is destroyed before the hook runs: its
        // destructor reports before the handle it holds saves itself.)
        ExitCase{.how = "static_local", .saved = true, .out = "holder saves=0 autosave=1\n"},
        // The exit hook saves what is alive at a normal exit, once (an atexit
        // handler and a static destructor that run after it see saves=1).
        ExitCase{.how = "return", .saved = true, .out = "report saves=1 autosave=0\n"},
        ExitCase{.how = "exit_main", .saved = true}, ExitCase{.how = "exit_thread", .saved = true},
        ExitCase{.how = "static", .saved = true, .out = "holder saves=1 autosave=0\n"},
        // No exit hooks run.
        ExitCase{.how = "quick_exit", .saved = false}, ExitCase{.how = "_exit", .saved = false},
        ExitCase{.how = "_Exit", .saved = false},
        ExitCase{.how = "abort", .saved = false, .exit_code = -1, .signal = SIGABRT},
        ExitCase{.how = "uncaught",
                 .saved = false,
                 .exit_code = -1,
                 .signal = SIGABRT,
                 .err_contains = "uncaught on purpose"},
        // Signals: saved only with save_on_signals, and the process still dies of them.
        ExitCase{.how = "sigterm", .saved = false, .signal = SIGTERM, .send = SIGTERM},
        ExitCase{.how = "sigterm_handler", .saved = true, .signal = SIGTERM, .send = SIGTERM},
        ExitCase{.how = "sigint_handler", .saved = true, .signal = SIGINT, .send = SIGINT},
        // A forked child that exits normally (its exit hooks run), or drops the
        // handle, saves nothing it inherited: the file does not exist when it
        // is gone; the parent then saves its own keys, without "forked".
        ExitCase{.how = "fork", .saved = true, .out = "child exit 0 file_after_child absent\n"},
        ExitCase{
            .how = "fork_drop", .saved = true, .out = "child exit 0 file_after_child absent\n"},
        // With save_on_signals installed in the parent, a forked child that gets
        // SIGTERM dies of it as if it had never been installed, saving nothing.
        ExitCase{.how = "fork_sigterm",
                 .saved = false,
                 .out = "child signal 15 file_after_child absent\n"}),
    [](const ::testing::TestParamInfo<ExitCase>& info) { return std::string(info.param.how); });

// --- the registry and failures at exit ------------------------------------------------------

TEST(ExitRegistry, ChurnOfAutosavingHandlesLeavesItEmpty) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  testing::ChildResult child = testing::run_child({kTestChild, "churn", path, "100000"});
  EXPECT_TRUE(Exited(child.status, 0)) << child.err;
  EXPECT_EQ(child.out, "peak=10\nregistry=0\n");
  EXPECT_FALSE(file_exists(path)) << "handles with nothing to save write nothing";
}

TEST(ExitRegistry, ExitHookSaveFailureIsLoggedOnceWithThePath) {
  TempDir dir;
  // The parent is a regular file: creating the directory fails with ENOTDIR,
  // which (unlike permission bits) stops root too.
  testing::write_file(dir.file("not-a-dir"), "x");
  const std::string path = dir.file("not-a-dir") + "/cache.rtc";
  testing::ChildResult child =
      testing::run_child({kTestChild, "exit", "exit_main", path}, kWarnings);
  EXPECT_TRUE(Exited(child.status, 0)) << "a failed autosave does not change the exit status";
  EXPECT_EQ(child.err.find("rtcache: "), 0u) << child.err;
  EXPECT_EQ(child.err.find("rtcache: ", 1), std::string::npos) << "logged once: " << child.err;
  EXPECT_NE(child.err.find(path), std::string::npos) << child.err;
}

// --- dlclose -------------------------------------------------------------------------------

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
struct DlcloseCase {
  const char* how;  // dlclose_global, dlclose_leaked, dlclose_checkpoint
  bool unloads;     // the unloadable module (else the one the loader keeps)
};

class Dlclose : public ::testing::TestWithParam<DlcloseCase> {};

TEST_P(Dlclose, ModuleHoldingAHandleSavesItOnce) {
  const DlcloseCase& c = GetParam();
  const std::string how = c.how;
  TempDir dir;
  const std::string path = dir.file("plugin.rtc");
  const char* asan = std::getenv("ASAN_OPTIONS");
  Child child({kTestChild, "exit", how, path, c.unloads ? kUnloadablePlugin : kPlugin},
              {.env = {std::string("ASAN_OPTIONS=") + (asan ? asan : "") + ":detect_leaks=0"}});
  EXPECT_TRUE(child.wait_for(60'000)) << how << ": hung; killed";
  const int status = child.status();
  const std::string err = child.err();
  auto lines = child.take_lines();
  ASSERT_EQ(lines.size(), 3u) << err;
  EXPECT_EQ(lines[0], "registered 1");
  EXPECT_EQ(lines[1], std::string("dlclose 0 unloaded ") + (c.unloads ? "yes" : "no"));
  // Under TSan the unloaded module's exit hook runs only at process exit (see
  // above), so a handle only that hook saves is not saved by dlclose time.
  const bool tsan_lost = c.unloads && testing::kThreadSanitizerBuild && how != "dlclose_global";
  // Unloaded: saved by then; kept: saved at exit.
  if (!tsan_lost) {
    EXPECT_EQ(lines[2], std::string("after_dlclose ") + (c.unloads ? "present" : "absent"));
    EXPECT_EQ(KeysDiffer(path, "plugin-"), "") << how;
  }
  if (c.unloads && testing::kThreadSanitizerBuild) {
    EXPECT_TRUE(Exited(status, 0) || err.find("ThreadSanitizer: SEGV") != std::string::npos)
        << how << ": ended with " << DescribeStatus(status) << "\n"
        << err;
  } else {
    EXPECT_TRUE(Exited(status, 0)) << how << "\n" << err;
    ExpectNoSanitizerReport(err);
  }
  std::printf("[exit] %-18s %-7s %s; %s\n", how.c_str(), "saved", lines[1].c_str(),
              lines[2].c_str());
}

INSTANTIATE_TEST_SUITE_P(
    Modules, Dlclose,
    ::testing::Values(DlcloseCase{"dlclose_global", false}, DlcloseCase{"dlclose_leaked", false},
                      DlcloseCase{"dlclose_global", true}, DlcloseCase{"dlclose_leaked", true},
                      DlcloseCase{"dlclose_checkpoint", true}),
    [](const ::testing::TestParamInfo<DlcloseCase>& info) {
      return std::string(info.param.unloads ? "Unloaded_" : "Kept_") + (info.param.how + 8);
    });

#else

// SIGTERM save time for a cache of 100 MB (400 kernel-like values of 256 KB),
// against the 30 s grace period Kubernetes gives a pod.
TEST(ExitPathsSlow, SigtermSaveOf100MegabytesFitsTheGracePeriod) {
  TempDir dir;
  const std::string path = dir.file("big.rtc");
  Child child({kTestChild, "sigterm-bench", path, "100"});
  std::string line;
  ASSERT_TRUE(child.read_line(&line, 300'000)) << child.err();
  ASSERT_TRUE(line.starts_with("ready ")) << line;
  const size_t entries = std::stoul(line.substr(6));
  testing::Stopwatch watch;
  child.signal(SIGTERM);
  const int status = child.wait();
  const double seconds = watch.seconds();
  EXPECT_TRUE(Killed(status, SIGTERM));
  EXPECT_EQ(testing::OpenCache(path)->size(), entries);
  FileReport report;
  ASSERT_OK(inspect_file(path, &report));
  std::printf(
      "[figures] SIGTERM save of %zu entries, %.1f MB of values (%.1f MB on disk): %.2f s from "
      "the signal to the process's death, against a 30 s grace period\n",
      entries, report.value_bytes / 1048576.0, report.file_bytes / 1048576.0, seconds);
  EXPECT_LT(seconds, 30.0);
}

#endif

}  // namespace
}  // namespace rtcache
