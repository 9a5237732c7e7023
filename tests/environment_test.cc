// rtcache's environment variables speak one grammar: every switch takes
// 1/0, true/false, yes/no, on/off in any case, RTCACHE_LOG its levels in any
// case, and a value that is none of those is one warning naming it. Each case
// runs in a child with its own environment, so nothing leaks between tests.
#include <gtest/gtest.h>

#include <string>
#include <vector>

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

}  // namespace
}  // namespace rtcache
