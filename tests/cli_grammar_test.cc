// The command line speaks the library's grammar: one parser for sizes and
// durations, the trust choice as a flag and an environment variable, exit
// statuses decided on status codes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::ChildOptions;
using testing::ChildResult;
using testing::run_child;
using testing::TempDir;

constexpr const char* kTool = RTCACHE_rtcache_cli_PATH;

ChildResult Tool(const std::vector<std::string>& args, const ChildOptions& options = {}) {
  std::vector<std::string> argv = {kTool};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_child(argv, options);
}

// A group-shared cache (mode 0664): refused by default, read with
// --trust-others or RTCACHE_TRUST_OTHERS, by every reading command alike
// (info and ls used to refuse what verify accepted).
TEST(CliGrammar, GroupSharedCacheNeedsTrustAndGetsItEverywhere) {
  TempDir dir;
  const std::string cache = dir.file("shared.rtc");
  ASSERT_EQ(Tool({"put", cache, "k", "-"}, {.input = "v"}).exit_code, 0);
  ASSERT_EQ(::chmod(cache.c_str(), 0664), 0);
  for (const char* command : {"info", "ls", "verify", "export"}) {
    std::vector<std::string> args = {command, cache};
    if (std::string(command) == "export") args.push_back("-");
    ChildResult refused = Tool(args, {.unset = {"RTCACHE_TRUST_OTHERS"}});
    if (std::string(command) != "verify") {  // verify reads bytes, serves nothing
      EXPECT_EQ(refused.exit_code, 2) << command;
      EXPECT_NE(refused.err.find("not trusted"), std::string::npos) << command << refused.err;
    }
    args.insert(args.begin(), "--trust-others");
    EXPECT_EQ(Tool(args).exit_code, 0) << command;
    args.erase(args.begin());
    for (const char* yes : {"1", "true", "YES", "on"}) {
      ChildResult allowed = Tool(args, {.env = {std::string("RTCACHE_TRUST_OTHERS=") + yes}});
      EXPECT_EQ(allowed.exit_code, 0) << command << " " << yes << ": " << allowed.err;
    }
  }
  ChildResult get = Tool({"--trust-others", "get", cache, "k"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_EQ(get.out, "v");
  ChildResult bad = Tool({"info", cache}, {.env = {"RTCACHE_TRUST_OTHERS=maybe"}});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("RTCACHE_TRUST_OTHERS=maybe"), std::string::npos) << bad.err;
}

// --max-size 1T and RTCACHE_MAX_SIZE=1T mean the same: a budget far above
// this cache, so nothing is evicted; 1500ms is a lock timeout.
TEST(CliGrammar, SizesAndDurationsShareOneGrammar) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  ASSERT_EQ(Tool({"put", cache, "k", "-"}, {.input = "v"}).exit_code, 0);
  for (const char* size : {"1T", "1TiB", "512MB", "4096", "64k"}) {
    ChildResult prune = Tool({"prune", cache, "--max-size", size});
    EXPECT_EQ(prune.exit_code, 0) << size << ": " << prune.err;
    EXPECT_NE(prune.out.find("removed 0 entries"), std::string::npos) << size << prune.out;
    ChildResult put = Tool({"put", cache, std::string("k-") + size, "-"},
                           {.env = {std::string("RTCACHE_MAX_SIZE=") + size}, .input = "v"});
    EXPECT_EQ(put.exit_code, 0) << size << ": " << put.err;
  }
  for (const char* duration : {"1500ms", "2s", "1m", "10"}) {
    EXPECT_EQ(Tool({"--lock-timeout", duration, "info", cache}).exit_code, 0) << duration;
  }
  for (const char* bad : {"1X", "-1", "1.5G", ""}) {
    ChildResult r = Tool({"prune", cache, "--max-size", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
  }
  for (const char* bad : {"10q", "1.5s", "ms"}) {
    EXPECT_EQ(Tool({"--lock-timeout", bad, "info", cache}).exit_code, 2) << bad;
  }
}

// Exit statuses come from status codes: a missing key is 1, a missing file,
// a foreign file and a damaged entry are 2.
TEST(CliGrammar, ExitStatusesFollowStatusCodes) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  ASSERT_EQ(Tool({"put", cache, "k", "-"}, {.input = "v"}).exit_code, 0);
  EXPECT_EQ(Tool({"get", cache, "absent"}).exit_code, 1);
  EXPECT_EQ(Tool({"get", dir.file("missing.rtc"), "k"}).exit_code, 2);
  EXPECT_EQ(Tool({"info", dir.file("missing.rtc")}).exit_code, 2);
  testing::write_file(dir.file("foreign"), "#!/bin/sh\n");
  ChildResult verify = Tool({"verify", dir.file("foreign")});
  EXPECT_EQ(verify.exit_code, 2);
  EXPECT_NE(verify.err.find("not an rtcache file"), std::string::npos) << verify.err;
}

}  // namespace
}  // namespace rtcache
