// rtcache's environment variables speak one grammar: every switch takes
// 1/0, true/false, yes/no, on/off in any case, RTCACHE_LOG its levels in any
// case, and a value that is none of those is one warning naming it.
// RTCACHE_MAX_SIZE is a size (0: no limit), else the 1 GiB default applies,
// and an explicit Options::max_bytes wins. Each case runs in a child with its
// own environment (a test_child process, or a forked EXPECT_EXIT child), so
// nothing leaks between tests.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rtcache/options.h"
#include "rtcache/runtime_cache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::ChildResult;
using testing::Exited;
using testing::kTestChild;
using testing::run_child;
using testing::TempDir;

ChildResult Settings(const TempDir& dir, std::vector<std::string> env) {
  env.push_back("RTCACHE_DIR=" + dir.path());
  return run_child({kTestChild, "settings"}, {.env = env, .unset = {"RTCACHE_LOG"}});
}

TEST(Environment, EverySpellingOfTrueDisablesTheDefaultCache) {
  TempDir dir;
  for (const char* yes : {"1", "true", "TRUE", "Yes", "on", "ON"}) {
    ChildResult r = Settings(dir, {std::string("RTCACHE_DISABLE=") + yes});
    EXPECT_TRUE(Exited(r.status, 0)) << r.err;
    EXPECT_EQ(r.out, "none\n") << yes;
  }
  for (const char* no : {"0", "false", "No", "off", ""}) {
    ChildResult r = Settings(dir, {std::string("RTCACHE_DISABLE=") + no});
    EXPECT_EQ(r.out, "path=" + dir.path() + "/kernels.rtc\n") << no << r.err;
    EXPECT_EQ(r.err, "rtcache: warning: probe\n") << no;
  }
}

TEST(Environment, ASwitchThatIsNotOneIsAWarningNamingIt) {
  TempDir dir;
  ChildResult r = Settings(dir, {"RTCACHE_DISABLE=maybe"});
  EXPECT_EQ(r.out, "path=" + dir.path() + "/kernels.rtc\n") << r.err;
  EXPECT_NE(r.err.find("RTCACHE_DISABLE=maybe is not a switch"), std::string::npos) << r.err;
}

TEST(Environment, LogLevelsAreReadInAnyCaseAndABadOneIsNamed) {
  TempDir dir;
  ChildResult quiet = run_child({kTestChild, "settings"},
                                {.env = {"RTCACHE_DIR=" + dir.path(), "RTCACHE_LOG=ERROR"}});
  EXPECT_EQ(quiet.err, "") << "warnings are below ERROR";
  ChildResult bad = run_child({kTestChild, "settings"},
                              {.env = {"RTCACHE_DIR=" + dir.path(), "RTCACHE_LOG=loud"}});
  EXPECT_NE(bad.err.find("RTCACHE_LOG=loud is not a level"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("rtcache: warning: probe"), std::string::npos) << "the default, warning";
}

// RTCACHE_LOG=debug says why each kernel was compiled or served: the first
// process has never compiled it; the second finds it in the file.
TEST(Environment, DebugLinesSayWhyAKernelMissedOrHit) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  const testing::ChildOptions debug{.env = {"RTCACHE_LOG=DEBUG"}};
  ChildResult cold = run_child({kTestChild, "compile", path}, debug);
  ASSERT_EQ(cold.out, "compiled\n") << cold.err;
  EXPECT_NE(cold.err.find("scale<float>: miss in " + path), std::string::npos) << cold.err;
  EXPECT_NE(cold.err.find("never compiled with this source"), std::string::npos) << cold.err;
  ChildResult warm = run_child({kTestChild, "compile", path}, debug);
  ASSERT_EQ(warm.out, "cached\n") << warm.err;
  EXPECT_NE(warm.err.find("scale<float>: hit in " + path), std::string::npos) << warm.err;
  ChildResult quiet = run_child({kTestChild, "compile", path}, {.unset = {"RTCACHE_LOG"}});
  EXPECT_EQ(quiet.err, "") << "nothing below warning by default";
}

// --- RTCACHE_MAX_SIZE and the default budget ----------------------------------------

// In a forked child (EXPECT_EXIT) that sets RTCACHE_MAX_SIZE to `value`
// (nullptr: unset) in its own environment only: a handle made with
// Options::max_bytes = `max_bytes` gets the budget `expected`, and
// resolve_max_bytes() says so with `source`. `err` matches the child's stderr.
void ExpectBudget(const char* value, uint64_t max_bytes, uint64_t expected, const char* source,
                  const char* err = "") {
  SCOPED_TRACE(std::string("RTCACHE_MAX_SIZE=") + (value ? value : "(unset)") +
               ", max_bytes=" + std::to_string(max_bytes));
  EXPECT_EXIT(
      {
        if (value != nullptr) {
          ::setenv("RTCACHE_MAX_SIZE", value, 1);
        } else {
          ::unsetenv("RTCACHE_MAX_SIZE");
        }
        Options options;
        options.max_bytes = max_bytes;
        const uint64_t handle = RuntimeCache::create(options)->options().max_bytes;
        const char* from = "";
        const uint64_t resolved = resolve_max_bytes(max_bytes, &from);
        std::fprintf(stderr, "handle %llu, resolved %llu from %s\n",
                     static_cast<unsigned long long>(handle),
                     static_cast<unsigned long long>(resolved), from);
        const bool ok = handle == expected && resolved == expected && std::string(from) == source;
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), err);
}

TEST(Environment, MaxSizeUnsetOrEmptyIsTheOneGibibyteDefault) {
  ExpectBudget(nullptr, 0, kDefaultMaxBytes, "default");
  ExpectBudget("", 0, kDefaultMaxBytes, "default");
  EXPECT_EQ(kDefaultMaxBytes, uint64_t{1} << 30);
}

TEST(Environment, MaxSizeZeroIsNoLimit) {
  ExpectBudget("0", 0, kNoSizeLimit, "RTCACHE_MAX_SIZE");
  ExpectBudget("0K", 0, kNoSizeLimit, "RTCACHE_MAX_SIZE");
}

TEST(Environment, MaxSizeOverridesTheDefault) {
  ExpectBudget("512M", 0, uint64_t{512} << 20, "RTCACHE_MAX_SIZE");
  ExpectBudget("4096", 0, 4096, "RTCACHE_MAX_SIZE");
  ExpectBudget("2T", 0, uint64_t{2} << 40, "RTCACHE_MAX_SIZE");
}

TEST(Environment, AMalformedMaxSizeIsAWarningAndTheDefault) {
  ExpectBudget("lots", 0, kDefaultMaxBytes, "default", "RTCACHE_MAX_SIZE=lots is not a size");
}

TEST(Environment, AnExplicitMaxBytesWinsOverMaxSize) {
  ExpectBudget("4K", 1 << 20, 1 << 20, "Options::max_bytes");
  ExpectBudget("0", 1 << 20, 1 << 20, "Options::max_bytes");
  ExpectBudget("4K", kNoSizeLimit, kNoSizeLimit, "Options::max_bytes");
}

// What the budget does at a save, in a child with RTCACHE_MAX_SIZE=4K: ten
// 1000-byte entries are cut down to fit with max_bytes left at 0; with an
// explicit budget (1 MiB, or kNoSizeLimit) nothing is evicted.
TEST(Environment, AnExplicitMaxBytesWinsAtSave) {
  TempDir dir;
  const auto evictions = [&dir](uint64_t max_bytes) {
    const std::string path = dir.file("budget-" + std::to_string(max_bytes) + ".rtc");
    EXPECT_EXIT(
        {
          ::setenv("RTCACHE_MAX_SIZE", "4K", 1);
          Options options;
          options.path = path;
          options.compression = Compression::kNone;
          options.max_bytes = max_bytes;
          auto cache = RuntimeCache::create(options);
          for (int i = 0; i < 10; ++i) cache->put("k" + std::to_string(i), std::string(1000, 'v'));
          if (!cache->save().ok()) std::_Exit(100);
          std::_Exit(static_cast<int>(std::min<uint64_t>(cache->stats().evictions, 99)));
        },
        ::testing::ExitedWithCode(max_bytes == 0 ? 7 : 0), "");
  };
  evictions(0);  // 4096 bytes hold three entries of about 1060 bytes
  evictions(1 << 20);
  evictions(kNoSizeLimit);
}

}  // namespace
}  // namespace rtcache
