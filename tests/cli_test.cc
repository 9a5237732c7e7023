// The `rtcache` command-line tool, driven as a real process exactly as
// scripts drive it: exit codes, output, JSON keys and errors (issue 4's
// contract), damaged and foreign files, merges and concurrent writers.
//
// Scenarios that need controlled times (pruning by age and by least recent
// use) are written through the library with a fake clock, then handed to the
// tool; nothing waits on the wall clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fault_env.h"
#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using ::rtcache::testing::Child;
using ::rtcache::testing::ChildResult;
using ::rtcache::testing::Exited;
using ::rtcache::testing::file_exists;
using ::rtcache::testing::file_size;
using ::rtcache::testing::kTestChild;
using ::rtcache::testing::MakeValue;
using ::rtcache::testing::read_file;
using ::rtcache::testing::run_child;
using ::rtcache::testing::TempDir;
using ::rtcache::testing::write_file;
using Json = nlohmann::json;

constexpr const char* kTool = RTCACHE_rtcache_cli_PATH;

// 2023-11-14T22:13:20Z, a fixed "now" for caches written with a fake clock.
constexpr int64_t kFixedEpochNs = 1'700'000'000'000'000'000;
constexpr int64_t kNsPerSecond = 1'000'000'000;

std::vector<std::string> ToolArgs(std::vector<std::string> args) {
  args.insert(args.begin(), kTool);
  return args;
}

// The variables that name the default cache: the tool runs without them
// unless a test gives one, so that no test can touch the user's own cache.
const std::vector<std::string> kLocationVariables = {"RTCACHE_DIR", "XDG_CACHE_HOME", "HOME"};

// Runs the tool to its end; `input` is its stdin (empty by default).
ChildResult Rtcache(const std::vector<std::string>& args, const std::string& input = "") {
  return run_child(ToolArgs(args), {.unset = kLocationVariables, .input = input});
}

// Runs the tool with the default cache in `dir` (RTCACHE_DIR) and `env` added.
ChildResult InDir(const TempDir& dir, const std::vector<std::string>& args,
                  const std::string& input = "", std::vector<std::string> env = {}) {
  env.push_back("RTCACHE_DIR=" + dir.path());
  return run_child(ToolArgs(args),
                   {.env = env, .unset = {"XDG_CACHE_HOME", "HOME"}, .input = input});
}

// The contract: every error is exactly one line on stderr.
void ExpectOneLineError(const ChildResult& result, const std::string& must_contain) {
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_TRUE(result.err.starts_with("rtcache")) << result.err;
  EXPECT_NE(result.err.find(must_contain), std::string::npos)
      << "stderr: " << result.err << "\nexpected to contain: " << must_contain;
}

Json ParseJson(const ChildResult& result) {
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return Json::parse(result.out);
}

std::vector<std::string> KeysOf(const Json& listing) {
  std::vector<std::string> keys;
  for (const Json& entry : listing) keys.push_back(entry.at("key").get<std::string>());
  return keys;
}

std::string MustGet(const std::string& cache, const std::string& key) {
  ChildResult result = Rtcache({"get", cache, key});
  EXPECT_EQ(result.exit_code, 0) << key << ": " << result.err;
  return result.out;
}

void MustPut(const TempDir& dir, const std::string& cache, const std::string& key,
             const std::string& value) {
  const std::string input = dir.file("value.tmp");
  write_file(input, value);
  ChildResult result = Rtcache({"put", cache, key, input});
  ASSERT_EQ(result.exit_code, 0) << result.err;
}

// A clock that stands still except for one nanosecond per reading, so that
// the order of puts and gets is the order of their times.
class FakeClockEnv : public testing::FaultInjectionEnv {
 public:
  explicit FakeClockEnv(int64_t now_ns) { set_now(now_ns); }
  void set_now(int64_t now_ns) { set_fake_clock(now_ns, 1); }
};

// A handle that stores values uncompressed (so record sizes are exact and a
// value's bytes can be found in the file) and records every last use.
std::shared_ptr<RuntimeCache> OpenWithClock(const std::string& path, FakeClockEnv* clock) {
  Options options;
  options.env = clock;
  options.compression = Compression::kNone;
  options.last_use_resolution = std::chrono::seconds(0);
  return testing::OpenCache(path, options);
}

// Same length for every key so that every record has the same size.
std::string ValueOfLength(const std::string& key, size_t length) {
  std::string value;
  while (value.size() < length) value += key + ";";
  value.resize(length);
  return value;
}

// A cache file with keys key0..key2 and uncompressed values, each saved by its
// own save (so the file holds several indexes).
std::string MakeThreeEntryCache(const TempDir& dir) {
  const std::string path = dir.file("c.rtc");
  FakeClockEnv clock(kFixedEpochNs);
  auto cache = OpenWithClock(path, &clock);
  for (int i = 0; i < 3; ++i) {
    const std::string key = "key" + std::to_string(i);
    cache->put(key, "value-number-" + std::to_string(i) + "-abcdefghijklmnop", "meta");
    EXPECT_OK(cache->save());
  }
  return path;
}

// --- help, usage errors -------------------------------------------------------------

const std::vector<std::string> kCommands = {"info",    "ls",     "get",    "put",    "rm",
                                            "verify",  "repair", "merge",  "prune",  "clear",
                                            "compact", "export", "import", "config", "warm"};

TEST(CliHelpTest, HelpListsEveryCommand) {
  ChildResult result = Rtcache({"--help"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.err.empty());
  for (const std::string& command : kCommands) {
    EXPECT_NE(result.out.find("\n  " + command + " "), std::string::npos) << command;
  }
  EXPECT_NE(result.out.find("nanoseconds since the Unix epoch"), std::string::npos);
}

TEST(CliHelpTest, EveryCommandHasHelp) {
  for (const std::string& command : kCommands) {
    ChildResult result = Rtcache({command, "--help"});
    EXPECT_EQ(result.exit_code, 0) << command << ": " << result.err;
    EXPECT_NE(result.out.find("Usage: rtcache " + command), std::string::npos) << result.out;
  }
}

TEST(CliHelpTest, VersionPrintsTheProjectVersion) {
  ChildResult result = Rtcache({"--version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(result.out.starts_with("rtcache ")) << result.out;
}

TEST(CliUsageTest, BadArgumentsExitTwoWithOneLine) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  const std::string value = dir.file("value");
  write_file(value, "v");
  // (Forms without FILE use the default cache; CliDefaultCacheTest has them.)
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"bogus"},
      {"--bogus"},
      {"info", cache, "extra"},
      {"info", ""},
      {"ls", cache, "--no-such-flag"},
      {"get"},
      {"get", cache, "k", "extra"},
      {"get", cache, "hex:zz"},
      {"get", cache, "hex:abc"},
      {"put"},
      {"put", cache, "hex:0g", value},
      {"put", cache, "k", value, "extra"},
      {"rm"},
      {"rm", cache, "hex:0"},
      {"merge"},
      {"prune", cache},
      {"prune", cache, "--max-size", "12X"},
      {"prune", cache, "--max-size", "-1"},
      {"prune", cache, "--max-size", "99999999999999999999"},
      {"prune", cache, "--older-than", "5y"},
      {"prune", cache, "--older-than", "1.5h"},
      {"prune", cache, "--older-than", "0s"},
      {"export"},
      {"export", cache, "-", "extra"},
      {"import"},
      {"import", cache, value, "extra"},
      {"config", "extra"},
      {"--log", "loud", "info", cache},
      {"--lock-timeout", "soon", "put", cache, "k", value},
      {"warm", "--cache", cache, "a.cu"},
      {"warm", "--cache", cache, "--arch", "sm_90"},
      // --cache names the cache: FILE may not be given too, nor --cache twice.
      {"--cache", cache, "info", cache},
      {"info", "--cache", cache, cache},
      {"--cache", cache, "get", cache, "k"},
      {"--cache", cache, "put", cache, "k", value},
      {"--cache", cache, "export", cache, "-"},
      {"--cache", cache, "rm"},
      {"--cache", cache, "info", "--cache", cache},
      {"--cache", cache, "--cache", cache, "info"},
      {"--cache=", "info"},
  };
  for (const std::vector<std::string>& args : cases) {
    std::string joined;
    for (const std::string& arg : args) joined += " " + arg;
    SCOPED_TRACE("rtcache" + joined);
    ChildResult result = Rtcache(args);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(result.out.empty()) << result.out;
    ExpectOneLineError(result, "--help");
  }
  EXPECT_FALSE(file_exists(cache)) << "a usage error must not touch the cache";
}

TEST(CliUsageTest, UnknownCommandIsNamed) {
  ChildResult result = Rtcache({"frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneLineError(result, "unknown command: frobnicate");
}

// --- the default cache and --cache ------------------------------------------------

// Without FILE, a command works on the default cache: $RTCACHE_DIR/kernels.rtc.
TEST(CliDefaultCacheTest, CommandsWithoutFileUseTheDefaultCache) {
  TempDir dir, other;
  const std::string default_cache = dir.file("kernels.rtc");
  ChildResult put = InDir(dir, {"put", "k"}, "on the default cache");
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_TRUE(file_exists(default_cache));
  ChildResult get = InDir(dir, {"get", "k"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "on the default cache");
  ChildResult info = InDir(dir, {"info", "--json"});
  EXPECT_EQ(ParseJson(info)["file"], default_cache);
  EXPECT_EQ(ParseJson(info)["entries"], 1);
  EXPECT_EQ(KeysOf(ParseJson(InDir(dir, {"ls", "--json"}))), std::vector<std::string>{"k"});
  EXPECT_EQ(InDir(dir, {"verify"}).exit_code, 0);
  EXPECT_EQ(InDir(dir, {"get", "absent"}).exit_code, 1);

  // export OUT and import IN: one argument fewer than the forms with FILE.
  const std::string image = other.file("image");
  ASSERT_EQ(InDir(dir, {"export", image}).exit_code, 0);
  ASSERT_EQ(InDir(dir, {"rm", "k"}).exit_code, 0);
  EXPECT_EQ(InDir(dir, {"get", "k"}).exit_code, 1);
  ChildResult import = InDir(dir, {"import", image});
  ASSERT_EQ(import.exit_code, 0) << import.err;
  EXPECT_EQ(MustGet(default_cache, "k"), "on the default cache");

  // merge IN: into the default cache.
  const std::string in = other.file("in.rtc");
  MustPut(other, in, "merged", "from in");
  ASSERT_EQ(InDir(dir, {"merge", in}).exit_code, 0);
  EXPECT_EQ(MustGet(default_cache, "merged"), "from in");

  EXPECT_EQ(InDir(dir, {"prune", "--max-size", "1K"}).exit_code, 0);
  EXPECT_EQ(InDir(dir, {"repair"}).exit_code, 0);
  EXPECT_EQ(InDir(dir, {"compact"}).exit_code, 0);
  EXPECT_EQ(InDir(dir, {"clear"}).exit_code, 0);
  EXPECT_FALSE(file_exists(default_cache));
  EXPECT_EQ(InDir(dir, {"info"}).exit_code, 2) << "a missing default cache is a missing file";
}

// The forms with FILE mean what they always did, with a default cache or not:
// two arguments to put are FILE KEY (the value on stdin).
TEST(CliDefaultCacheTest, FormsWithFileAreUnchanged) {
  TempDir dir, other;
  const std::string cache = other.file("c.rtc");
  ASSERT_EQ(InDir(dir, {"put", cache, "k"}, "v").exit_code, 0);
  ASSERT_EQ(InDir(dir, {"put", cache, "k2", "-"}, "v2").exit_code, 0);
  EXPECT_EQ(InDir(dir, {"get", cache, "k"}).out, "v");
  EXPECT_EQ(InDir(dir, {"info", cache}).exit_code, 0);
  ChildResult rm = InDir(dir, {"rm", cache, "k", "k2"});
  EXPECT_EQ(rm.out, "removed k\nremoved k2\n");
  EXPECT_FALSE(file_exists(dir.file("kernels.rtc"))) << "the default cache is not touched";
}

// --cache FILE, before or after the command, names the cache; then no
// positional is FILE.
TEST(CliDefaultCacheTest, CacheOptionNamesTheCacheForEveryCommand) {
  TempDir dir, other;
  const std::string cache = other.file("c.rtc");
  const std::string value = other.file("value");
  write_file(value, "from a file");
  ASSERT_EQ(InDir(dir, {"--cache", cache, "put", "k", value}).exit_code, 0);
  ASSERT_EQ(InDir(dir, {"put", "--cache", cache, "k2"}, "v2").exit_code, 0);
  ASSERT_EQ(InDir(dir, {"--cache=" + cache, "put", "k3", "-"}, "v3").exit_code, 0);
  EXPECT_EQ(MustGet(cache, "k"), "from a file");
  EXPECT_EQ(InDir(dir, {"get", "k2", "--cache", cache}).out, "v2");
  EXPECT_EQ(ParseJson(InDir(dir, {"--cache", cache, "info", "--json"}))["entries"], 3);
  ChildResult rm = InDir(dir, {"--cache", cache, "rm", "k2", "k3"});
  EXPECT_EQ(rm.out, "removed k2\nremoved k3\n");
  EXPECT_EQ(InDir(dir, {"--cache", cache, "export", other.file("image")}).exit_code, 0);
  EXPECT_EQ(InDir(dir, {"--cache", cache, "verify"}).exit_code, 0);
  EXPECT_FALSE(file_exists(dir.file("kernels.rtc"))) << "the default cache is not touched";
}

// No FILE, no --cache and no default location: exit 2, one line saying how
// to name a cache (it names RTCACHE_DIR), and nothing is created.
TEST(CliDefaultCacheTest, NoFileAndNoDefaultLocationExitsTwo) {
  TempDir dir;
  const std::string in = dir.file("in.rtc");
  MustPut(dir, in, "k", "v");
  write_file(dir.file("a.cu"), "__global__ void k() {}\n");
  const std::vector<std::vector<std::string>> cases = {
      {"info"},
      {"ls"},
      {"verify"},
      {"repair"},
      {"compact"},
      {"clear"},
      {"prune", "--max-size", "1M"},
      {"get", "k"},
      {"put", "k"},
      {"rm", "k"},
      {"export", "-"},
      {"import", "-"},
      {"merge", in},
      {"warm", "--arch", "sm_90", dir.file("a.cu")},
  };
  for (const std::vector<std::string>& args : cases) {
    SCOPED_TRACE(args[0]);
    ChildResult result = Rtcache(args, "v");
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(result.out.empty()) << result.out;
    ExpectOneLineError(result, "RTCACHE_DIR");
  }
  EXPECT_EQ(dir.names(), (std::vector<std::string>{"a.cu", "in.rtc", "in.rtc.lock", "value.tmp"}));
}

// --- config ------------------------------------------------------------------------

const std::vector<std::string> kConfigKeys = {
    "cache",       "cache_source",     "cache_problem",   "cache_exists", "cache_writable",
    "max_bytes",   "max_bytes_source", "lock_timeout_ms", "trust_others", "read_only",
    "log_level",   "disabled",         "nvrtc_found",     "nvrtc",        "nvrtc_identity",
    "nvrtc_error", "environment"};

Json Config(const std::vector<std::string>& env, const std::vector<std::string>& unset,
            std::vector<std::string> args = {}) {
  args.insert(args.begin(), "config");
  args.push_back("--json");
  ChildResult result = run_child(ToolArgs(args), {.env = env, .unset = unset});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return Json::parse(result.out);
}

TEST(CliConfigTest, NamesTheDefaultCacheAndWhatChoseIt) {
  TempDir dir;
  ChildResult text = InDir(dir, {"config"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(dir.file("kernels.rtc")), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("RTCACHE_DIR"), std::string::npos) << text.out;

  ChildResult printed = InDir(dir, {"config", "--json"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  std::vector<std::string> keys;
  const nlohmann::ordered_json in_order = nlohmann::ordered_json::parse(printed.out);
  for (auto it = in_order.begin(); it != in_order.end(); ++it) keys.push_back(it.key());
  Json json = Json::parse(printed.out);
  EXPECT_EQ(keys, kConfigKeys) << "the documented keys, in order";
  EXPECT_EQ(json["cache"], dir.file("kernels.rtc"));
  EXPECT_EQ(json["cache_source"], "RTCACHE_DIR");
  EXPECT_EQ(json["cache_exists"], false);
  EXPECT_EQ(json["cache_writable"], true) << "the first save can create it";
  EXPECT_EQ(Config({"RTCACHE_DIR=" + dir.file("new/sub")}, {})["cache_writable"], true);
  EXPECT_EQ(json["environment"]["RTCACHE_DIR"], dir.path());
  ASSERT_EQ(InDir(dir, {"put", "k"}, "v").exit_code, 0);
  json = ParseJson(InDir(dir, {"config", "--json"}));
  EXPECT_EQ(json["cache_exists"], true);
  EXPECT_EQ(json["cache_writable"], true);

  const std::vector<std::string> no_dir = {"RTCACHE_DIR"};
  json = Config({"XDG_CACHE_HOME=" + dir.path()}, no_dir);
  EXPECT_EQ(json["cache"], dir.path() + "/rtcache/kernels.rtc");
  EXPECT_EQ(json["cache_source"], "XDG_CACHE_HOME");
  json = Config({"HOME=" + dir.path()}, {"RTCACHE_DIR", "XDG_CACHE_HOME"});
  EXPECT_EQ(json["cache"], dir.path() + "/.cache/rtcache/kernels.rtc");
  EXPECT_EQ(json["cache_source"], "HOME");
  json = Config({}, kLocationVariables);
  EXPECT_EQ(json["cache"], "");
  EXPECT_NE(json["cache_problem"], "");
  json = Config({"RTCACHE_DIR=" + dir.path()}, {}, {"--cache", dir.file("other.rtc")});
  EXPECT_EQ(json["cache"], dir.file("other.rtc"));
  EXPECT_EQ(json["cache_source"], "--cache");
}

// The size cap applications get: 1 GiB by default, RTCACHE_MAX_SIZE when set
// (0: no limit, JSON null); a malformed value is a warning naming it.
TEST(CliConfigTest, ReportsTheSizeCapAndItsSource) {
  const std::vector<std::string> no_budget = {"RTCACHE_MAX_SIZE"};
  Json json = Config({}, no_budget);
  EXPECT_EQ(json["max_bytes"], kDefaultMaxBytes);
  EXPECT_EQ(json["max_bytes"], 1u << 30);
  EXPECT_EQ(json["max_bytes_source"], "default");
  json = Config({"RTCACHE_MAX_SIZE=0"}, {});
  EXPECT_TRUE(json["max_bytes"].is_null());
  EXPECT_EQ(json["max_bytes_source"], "RTCACHE_MAX_SIZE");
  json = Config({"RTCACHE_MAX_SIZE=512M"}, {});
  EXPECT_EQ(json["max_bytes"], 512u << 20);
  EXPECT_EQ(json["max_bytes_source"], "RTCACHE_MAX_SIZE");
  ChildResult bad = run_child(ToolArgs({"config", "--json"}), {.env = {"RTCACHE_MAX_SIZE=lots"}});
  ASSERT_EQ(bad.exit_code, 0) << bad.err;
  EXPECT_EQ(Json::parse(bad.out)["max_bytes"], kDefaultMaxBytes);
  EXPECT_NE(bad.err.find("RTCACHE_MAX_SIZE=lots"), std::string::npos) << bad.err;
}

TEST(CliConfigTest, ReportsTheCommandLineAndSwitches) {
  Json json = Config({"RTCACHE_READONLY=1", "RTCACHE_DISABLE=yes"}, {"RTCACHE_LOG"},
                     {"--lock-timeout", "2s", "--trust-others", "--log", "error"});
  EXPECT_EQ(json["lock_timeout_ms"], 2000);
  EXPECT_EQ(json["trust_others"], true);
  EXPECT_EQ(json["read_only"], true);
  EXPECT_EQ(json["disabled"], true);
  EXPECT_EQ(json["log_level"], "error");
  json = Config({}, {"RTCACHE_READONLY", "RTCACHE_DISABLE", "RTCACHE_TRUST_OTHERS", "RTCACHE_LOG"});
  EXPECT_EQ(json["lock_timeout_ms"], 10000);
  EXPECT_EQ(json["trust_others"], false);
  EXPECT_EQ(json["read_only"], false);
  EXPECT_EQ(json["disabled"], false);
  EXPECT_EQ(json["log_level"], "warning");
}

// A configuration can be pasted into a bug report: secrets are not shown.
TEST(CliConfigTest, SecretsAreNotShown) {
  Json json =
      Config({"RTCACHE_REMOTE_SECRET=hunter2",
              "RTCACHE_REMOTE=redis://app:pa55word@cache.internal:6379/2 file:///opt/c.rtc"},
             {}, {});
  EXPECT_EQ(json["environment"]["RTCACHE_REMOTE_SECRET"], "(set, hidden)");
  EXPECT_EQ(json["environment"]["RTCACHE_REMOTE"],
            "redis://app:****@cache.internal:6379/2 file:///opt/c.rtc");
  EXPECT_EQ(json.dump().find("hunter2"), std::string::npos);
  EXPECT_EQ(json.dump().find("pa55word"), std::string::npos);
}

// An NVRTC named by RTCACHE_NVRTC that is not there: config still exits 0,
// and says so naming the path.
TEST(CliConfigTest, NvrtcNotFoundIsNamed) {
  TempDir dir;
  const std::string missing = dir.file("no/libnvrtc.so.13");
  ChildResult text = InDir(dir, {"config"}, "", {"RTCACHE_NVRTC=" + missing});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find(missing), std::string::npos) << text.out;
  Json json = ParseJson(InDir(dir, {"config", "--json"}, "", {"RTCACHE_NVRTC=" + missing}));
  EXPECT_EQ(json["nvrtc_found"], false);
  EXPECT_EQ(json["nvrtc"], "");
  EXPECT_NE(json["nvrtc_error"].get<std::string>().find(missing), std::string::npos) << json;
  EXPECT_EQ(json["environment"]["RTCACHE_NVRTC"], missing);
}

// With the toolkit there, NVRTC is found and named (as the engine finds it).
TEST(CliConfigTest, NvrtcFoundIsNamedWithItsIdentity) {
  Json json = Config({}, {"RTCACHE_NVRTC"});
  if (!json["nvrtc_found"].get<bool>()) GTEST_SKIP() << "no NVRTC here: " << json["nvrtc_error"];
  EXPECT_TRUE(file_exists(json["nvrtc"].get<std::string>())) << json["nvrtc"];
  EXPECT_NE(json["nvrtc_identity"], "");
  EXPECT_EQ(json["nvrtc_error"], "");
}

// --- the round trip and each command's success path -----------------------------

TEST(CliRoundTripTest, PutGetLsRmVerify) {
  TempDir dir;
  const std::string cache = dir.file("sub/dir/c.rtc");  // parents are created
  const std::string binary("\x00\xff\x01 kernel\n", 10);

  MustPut(dir, cache, "text-key", "hello");
  ChildResult put_stdin = Rtcache({"put", cache, "hex:00ff01"}, binary);
  ASSERT_EQ(put_stdin.exit_code, 0) << put_stdin.err;
  EXPECT_TRUE(put_stdin.out.empty());
  ChildResult put_dash =
      Rtcache({"put", cache, "with-meta", "-", "-m", "sm_90 nvrtc 13.0"}, "third");
  ASSERT_EQ(put_dash.exit_code, 0) << put_dash.err;

  EXPECT_EQ(MustGet(cache, "text-key"), "hello");
  EXPECT_EQ(MustGet(cache, "hex:00ff01"), binary);
  EXPECT_EQ(MustGet(cache, "hex:00FF01"), binary) << "hex digits in either case";
  EXPECT_EQ(MustGet(cache, "with-meta"), "third");

  ChildResult ls = Rtcache({"ls", cache});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(std::count(ls.out.begin(), ls.out.end(), '\n'), 3) << ls.out;
  EXPECT_NE(ls.out.find("hex:00ff01"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("sm_90 nvrtc 13.0\n"), std::string::npos) << ls.out;

  Json listing = ParseJson(Rtcache({"ls", cache, "--json"}));
  EXPECT_EQ(KeysOf(listing), (std::vector<std::string>{"hex:00ff01", "text-key", "with-meta"}));
  EXPECT_EQ(listing[0]["size"], binary.size());
  EXPECT_EQ(listing[2]["metadata"], "sm_90 nvrtc 13.0");

  ChildResult rm = Rtcache({"rm", cache, "text-key", "never-there"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(rm.out, "removed text-key\nnot present: never-there\n");

  ChildResult miss = Rtcache({"get", cache, "text-key"});
  EXPECT_EQ(miss.exit_code, 1);
  EXPECT_TRUE(miss.out.empty());
  ExpectOneLineError(miss, cache + ": no entry for key text-key");
  EXPECT_EQ(KeysOf(ParseJson(Rtcache({"ls", cache, "--json"}))),
            (std::vector<std::string>{"hex:00ff01", "with-meta"}));

  ChildResult verify = Rtcache({"verify", cache});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find(": ok, "), std::string::npos) << verify.out;
}

TEST(CliPutTest, ReplacesAndKeepsTheOtherEntries) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  MustPut(dir, cache, "a", "first");
  MustPut(dir, cache, "b", "other");
  MustPut(dir, cache, "a", "second");
  EXPECT_EQ(MustGet(cache, "a"), "second");
  EXPECT_EQ(MustGet(cache, "b"), "other");
}

TEST(CliPutTest, MissingInputFileExitsTwo) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  ChildResult result = Rtcache({"put", cache, "k", dir.file("absent")});
  EXPECT_EQ(result.exit_code, 2);
  ExpectOneLineError(result, dir.file("absent"));
  EXPECT_FALSE(file_exists(cache));
}

TEST(CliGetTest, WritesToOutputFile) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  MustPut(dir, cache, "k", std::string("bin\0ary", 7));
  ChildResult result = Rtcache({"get", cache, "k", "-o", dir.file("out")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.out.empty());
  EXPECT_EQ(read_file(dir.file("out")), std::string("bin\0ary", 7));
}

TEST(CliGetTest, MissingKeyExitsOne) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  MustPut(dir, cache, "k", "v");
  ChildResult no_key = Rtcache({"get", cache, "hex:6b6b"});
  EXPECT_EQ(no_key.exit_code, 1);
  ExpectOneLineError(no_key, cache + ": no entry for key kk");
}

TEST(CliKeyTest, PrintedKeysPassBackAsKeys) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  // Printable text; bytes that are not; and text that itself reads "hex:41".
  MustPut(dir, cache, "plain key", "1");
  MustPut(dir, cache, "hex:0a09", "2");
  MustPut(dir, cache, "hex:6865783a3431", "3");
  Json listing = ParseJson(Rtcache({"ls", cache, "--json"}));
  EXPECT_EQ(KeysOf(listing),
            (std::vector<std::string>{"hex:0a09", "hex:6865783a3431", "plain key"}));
  EXPECT_EQ(MustGet(cache, "hex:0a09"), "2");
  EXPECT_EQ(MustGet(cache, "hex:6865783a3431"), "3");
  EXPECT_EQ(Rtcache({"get", cache, "hex:41"}).exit_code, 1) << "hex:41 is the key \"A\"";
}

TEST(CliLsTest, HumanLinesAndJsonKeys) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  FakeClockEnv clock(kFixedEpochNs);
  {
    auto handle = OpenWithClock(cache, &clock);
    handle->put("alpha", "12345", "sm_90");
    handle->put("beta-longer", std::string(1234, 'x'));
    ASSERT_OK(handle->save());
  }
  ChildResult ls = Rtcache({"ls", cache});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out,
            "alpha           5  2023-11-14T22:13:20Z  2023-11-14T22:13:20Z  sm_90\n"
            "beta-longer  1234  2023-11-14T22:13:20Z  2023-11-14T22:13:20Z\n");

  Json listing = ParseJson(Rtcache({"ls", cache, "--json"}));
  ASSERT_TRUE(listing.is_array());
  ASSERT_EQ(listing.size(), 2u);
  for (const Json& entry : listing) {
    for (const char* key : {"key", "size", "created", "last_used", "metadata"}) {
      EXPECT_TRUE(entry.contains(key)) << key << " in " << entry.dump();
    }
    EXPECT_TRUE(entry["created"].is_number_integer());
    EXPECT_GE(entry["created"].get<int64_t>(), kFixedEpochNs);
    EXPECT_LT(entry["created"].get<int64_t>(), kFixedEpochNs + kNsPerSecond);
    EXPECT_GE(entry["last_used"].get<int64_t>(), entry["created"].get<int64_t>());
  }
  EXPECT_EQ(listing[0]["key"], "alpha");
  EXPECT_EQ(listing[0]["size"], 5);
  EXPECT_EQ(listing[0]["metadata"], "sm_90");
  EXPECT_EQ(listing[1]["size"], 1234);
  EXPECT_EQ(listing[1]["metadata"], "");
}

TEST(CliLsTest, EmptyCacheListsNothing) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  MustPut(dir, cache, "k", "v");
  ASSERT_EQ(Rtcache({"rm", cache, "k"}).exit_code, 0);
  ChildResult ls = Rtcache({"ls", cache});
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_EQ(ls.out, "");
  EXPECT_EQ(ParseJson(Rtcache({"ls", cache, "--json"})), Json::array());
}

TEST(CliInfoTest, ReportsCountsTimesAndJsonKeys) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  FakeClockEnv clock(kFixedEpochNs);
  {
    auto handle = OpenWithClock(cache, &clock);
    handle->put("a", "1111");
    handle->put("b", "22");
    ASSERT_OK(handle->save());
    handle->put("a", "33");  // supersedes a record: dead bytes
    ASSERT_OK(handle->save());
  }
  Json info = ParseJson(Rtcache({"info", cache, "--json"}));
  for (const char* key : {"format_version", "entries", "live_bytes", "dead_bytes", "file_bytes"}) {
    EXPECT_TRUE(info.contains(key)) << key << " in " << info.dump();
  }
  EXPECT_EQ(info["format_version"], 1);
  EXPECT_EQ(info["entries"], 2);
  EXPECT_EQ(info["file_bytes"], file_size(cache));
  EXPECT_GT(info["live_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(info["dead_bytes"].get<uint64_t>(), 0u);
  EXPECT_LE(info["live_bytes"].get<uint64_t>() + info["dead_bytes"].get<uint64_t>(),
            info["file_bytes"].get<uint64_t>());
  EXPECT_EQ(info["value_bytes"], 4);
  EXPECT_GE(info["oldest_created"].get<int64_t>(), kFixedEpochNs);
  EXPECT_GT(info["newest_created"].get<int64_t>(), info["oldest_created"].get<int64_t>());
  EXPECT_GE(info["last_compaction"].get<int64_t>(), kFixedEpochNs);

  ChildResult human = Rtcache({"info", cache});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("format version:   1\n"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("entries:          2\n"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("oldest entry:     2023-11-14T22:13:20Z\n"), std::string::npos)
      << human.out;
  EXPECT_NE(human.out.find("file bytes:       " + std::to_string(file_size(cache))),
            std::string::npos)
      << human.out;
}

TEST(CliRmTest, ErasureSurvivesAMergeFromAHandleThatStillHadTheEntry) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  MustPut(dir, cache, "doomed", "v");
  Options options;
  options.path = cache;
  std::shared_ptr<RuntimeCache> stale;
  ASSERT_OK(RuntimeCache::open(options, &stale));
  ASSERT_TRUE(stale->contains("doomed"));

  ASSERT_EQ(Rtcache({"rm", cache, "doomed"}).exit_code, 0);
  stale->put("later", "w");
  ASSERT_OK(stale->save());  // merges with the file, which recorded the erase
  EXPECT_EQ(KeysOf(ParseJson(Rtcache({"ls", cache, "--json"}))),
            (std::vector<std::string>{"later"}));
}

// --- verify and repair on damaged and foreign files -------------------------------

TEST(CliVerifyTest, IntactFileExitsZeroWithJsonKeys) {
  TempDir dir;
  const std::string cache = MakeThreeEntryCache(dir);
  ChildResult result = Rtcache({"verify", cache, "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  Json report = Json::parse(result.out);
  EXPECT_EQ(report["ok"], true);
  EXPECT_GE(report["records"].get<uint64_t>(), 3u);
  EXPECT_EQ(report["damaged"], Json::array());
}

TEST(CliVerifyTest, FlippedByteIsDamageThatRepairDrops) {
  TempDir dir;
  const std::string cache = MakeThreeEntryCache(dir);
  std::string bytes = read_file(cache);
  const size_t value_at = bytes.find("value-number-1");
  ASSERT_NE(value_at, std::string::npos);
  const size_t key_at = bytes.rfind("key1", value_at);
  ASSERT_NE(key_at, std::string::npos);
  const uint64_t record_offset = key_at - 56;  // record header, then key, metadata, value
  bytes[value_at + 3] ^= 0x01;
  write_file(cache, bytes);

  ChildResult verify = Rtcache({"verify", cache, "--json"});
  EXPECT_EQ(verify.exit_code, 1) << verify.err;
  Json report = Json::parse(verify.out);
  EXPECT_EQ(report["ok"], false);
  ASSERT_EQ(report["damaged"].size(), 1u) << verify.out;
  EXPECT_EQ(report["damaged"][0]["offset"], record_offset);
  EXPECT_NE(report["damaged"][0]["reason"].get<std::string>().find("checksum"), std::string::npos);

  ChildResult human = Rtcache({"verify", cache});
  EXPECT_EQ(human.exit_code, 1);
  EXPECT_NE(human.out.find("damaged: 1 damaged record(s)"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("offset " + std::to_string(record_offset)), std::string::npos)
      << human.out;

  ChildResult damaged_get = Rtcache({"--log", "warning", "get", cache, "key1"});
  EXPECT_EQ(damaged_get.exit_code, 2);
  ExpectOneLineError(damaged_get, "checksum");

  ChildResult repair = Rtcache({"repair", cache, "--json"});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  Json repaired = Json::parse(repair.out);
  EXPECT_EQ(repaired["kept"], 2);
  ASSERT_EQ(repaired["dropped"].size(), 1u);
  EXPECT_EQ(repaired["dropped"][0]["offset"], record_offset);

  EXPECT_EQ(Rtcache({"verify", cache}).exit_code, 0);
  EXPECT_EQ(KeysOf(ParseJson(Rtcache({"ls", cache, "--json"}))),
            (std::vector<std::string>{"key0", "key2"}));
  EXPECT_EQ(MustGet(cache, "key0"), "value-number-0-abcdefghijklmnop");
  EXPECT_EQ(MustGet(cache, "key2"), "value-number-2-abcdefghijklmnop");
}

TEST(CliVerifyTest, TruncatedTailIsDamageThatRepairDrops) {
  TempDir dir;
  const std::string cache = MakeThreeEntryCache(dir);
  std::string bytes = read_file(cache);
  bytes.resize(bytes.size() - 10);  // cuts into the last index
  write_file(cache, bytes);

  ChildResult verify = Rtcache({"verify", cache, "--json"});
  EXPECT_EQ(verify.exit_code, 1) << verify.err;
  Json report = Json::parse(verify.out);
  EXPECT_EQ(report["ok"], false);
  ASSERT_FALSE(report["damaged"].empty());
  EXPECT_NE(report["damaged"].back()["reason"].get<std::string>().find("torn tail"),
            std::string::npos)
      << verify.out;

  ChildResult repair = Rtcache({"repair", cache});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_NE(repair.out.find("kept 3 entries, dropped 1 damaged record(s)"), std::string::npos)
      << repair.out;
  EXPECT_NE(repair.out.find("torn tail"), std::string::npos) << repair.out;
  EXPECT_EQ(Rtcache({"verify", cache}).exit_code, 0);
  EXPECT_EQ(MustGet(cache, "key2"), "value-number-2-abcdefghijklmnop");
}

TEST(CliVerifyTest, DamagedFileHeaderIsDamageNotForeign) {
  TempDir dir;
  const std::string cache = MakeThreeEntryCache(dir);
  std::string bytes = read_file(cache);
  bytes[20] ^= 0x01;  // past the magic, inside the checksummed header
  write_file(cache, bytes);
  ChildResult verify = Rtcache({"verify", cache, "--json"});
  EXPECT_EQ(verify.exit_code, 1) << verify.err;
  Json report = Json::parse(verify.out);
  ASSERT_EQ(report["damaged"].size(), 1u);
  EXPECT_EQ(report["damaged"][0]["offset"], 0);
}

TEST(CliVerifyTest, ForeignHeaderExitsTwoEverywhereAndIsLeftAlone) {
  TempDir dir;
  const std::string foreign = dir.file("foreign.rtc");
  const std::string contents = "\x89PNG\r\n\x1a\n this is an image, not a kernel cache";
  write_file(foreign, contents);
  const std::string value = dir.file("value");
  write_file(value, "v");
  const std::vector<std::vector<std::string>> commands = {{"verify", foreign},
                                                          {"verify", foreign, "--json"},
                                                          {"repair", foreign},
                                                          {"info", foreign},
                                                          {"ls", foreign},
                                                          {"get", foreign, "k"},
                                                          {"put", foreign, "k", value},
                                                          {"rm", foreign, "k"},
                                                          {"compact", foreign},
                                                          {"prune", foreign, "--max-size", "1K"},
                                                          {"export", foreign, dir.file("out")},
                                                          {"merge", dir.file("out.rtc"), foreign}};
  for (const std::vector<std::string>& args : commands) {
    SCOPED_TRACE(args[0]);
    ChildResult result = Rtcache(args);
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_TRUE(result.out.empty()) << result.out;
    ExpectOneLineError(result, foreign + ": not an rtcache file");
  }
  EXPECT_EQ(read_file(foreign), contents);
  EXPECT_FALSE(file_exists(dir.file("out.rtc")));
}

TEST(CliVerifyTest, EmptyFileExitsTwo) {
  TempDir dir;
  write_file(dir.file("empty.rtc"), "");
  ChildResult empty = Rtcache({"verify", dir.file("empty.rtc")});
  EXPECT_EQ(empty.exit_code, 2);
  ExpectOneLineError(empty, "not an rtcache file");
}

// Every command that reads a cache exits 2 for a missing one, names it in its
// one line on stderr, prints nothing else, and creates nothing. ("ABSENT"
// stands for the missing path.)
class CliMissingFile : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(CliMissingFile, ExitsTwoNamingItAndCreatesNothing) {
  TempDir dir;
  const std::string absent = dir.file("absent.rtc");
  std::vector<std::string> args = GetParam();
  for (std::string& arg : args) {
    if (arg == "ABSENT") arg = absent;
  }
  ChildResult result = Rtcache(args);
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(result.out.empty()) << result.out;
  ExpectOneLineError(result, absent);
  EXPECT_FALSE(file_exists(absent)) << "the cache is not created";
}

INSTANTIATE_TEST_SUITE_P(
    Commands, CliMissingFile,
    ::testing::Values(std::vector<std::string>{"info", "ABSENT"},
                      std::vector<std::string>{"ls", "ABSENT"},
                      std::vector<std::string>{"get", "ABSENT", "k"},
                      std::vector<std::string>{"rm", "ABSENT", "k"},
                      std::vector<std::string>{"verify", "ABSENT"},
                      std::vector<std::string>{"repair", "ABSENT"},
                      std::vector<std::string>{"prune", "ABSENT", "--max-size", "1M"},
                      std::vector<std::string>{"compact", "ABSENT"},
                      std::vector<std::string>{"export", "ABSENT", "-"}),
    [](const ::testing::TestParamInfo<std::vector<std::string>>& info) { return info.param[0]; });

TEST(CliLogTest, LogFlagControlsWarningsAboutDamage) {
  TempDir dir;
  const std::string cache = MakeThreeEntryCache(dir);
  std::string bytes = read_file(cache);
  const size_t key_at = bytes.find("key1");
  bytes[key_at] ^= 0x01;  // breaks the record's header checksum: ls skips it
  write_file(cache, bytes);
  ChildResult quiet = Rtcache({"--log", "off", "ls", cache});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.err, "");
  ChildResult loud = Rtcache({"ls", cache, "--log", "warning"});  // also after the command
  EXPECT_EQ(loud.exit_code, 0);
  EXPECT_NE(loud.err.find("warning"), std::string::npos) << loud.err;
  EXPECT_EQ(quiet.out, loud.out);
  EXPECT_EQ(std::count(quiet.out.begin(), quiet.out.end(), '\n'), 2) << quiet.out;
}

// --- merge -------------------------------------------------------------------------

TEST(CliMergeTest, UnitesCachesWrittenByTwoProcesses) {
  TempDir dir;
  const std::string a = dir.file("a.rtc"), b = dir.file("b.rtc"), out = dir.file("out/m.rtc");
  ASSERT_TRUE(Exited(run_child({kTestChild, "put", a, "a", "20"}).status, 0));
  ASSERT_TRUE(Exited(run_child({kTestChild, "put", b, "b", "30"}).status, 0));
  MustPut(dir, a, "shared", "from a");
  MustPut(dir, b, "shared", "from b");

  ChildResult merge = Rtcache({"merge", out, a, b});
  ASSERT_EQ(merge.exit_code, 0) << merge.err;
  EXPECT_EQ(merge.out, out + ": merged 2 file(s), now 51 entries\n");
  Json listing = ParseJson(Rtcache({"ls", out, "--json"}));
  EXPECT_EQ(listing.size(), 51u);
  EXPECT_EQ(MustGet(out, "a0"), MakeValue("a0"));
  EXPECT_EQ(MustGet(out, "b29"), MakeValue("b29"));
  EXPECT_EQ(MustGet(out, "shared"), "from a") << "the earliest input wins";
  EXPECT_EQ(Rtcache({"verify", out}).exit_code, 0);

  // Entries keep their creation and last-use times.
  Json from_a = ParseJson(Rtcache({"ls", a, "--json"}));
  auto find = [](const Json& list, const std::string& key) {
    for (const Json& entry : list) {
      if (entry["key"] == key) return entry;
    }
    return Json();
  };
  EXPECT_EQ(find(listing, "a7")["created"], find(from_a, "a7")["created"]);
  EXPECT_EQ(find(listing, "a7")["last_used"], find(from_a, "a7")["last_used"]);
}

TEST(CliMergeTest, OutKeepsItsOwnEntries) {
  TempDir dir;
  const std::string in = dir.file("in.rtc"), out = dir.file("out.rtc");
  MustPut(dir, out, "k", "out's");
  MustPut(dir, in, "k", "in's");
  MustPut(dir, in, "new", "n");
  ChildResult merge = Rtcache({"merge", out, in});
  ASSERT_EQ(merge.exit_code, 0) << merge.err;
  EXPECT_EQ(MustGet(out, "k"), "out's");
  EXPECT_EQ(MustGet(out, "new"), "n");
  EXPECT_EQ(MustGet(in, "k"), "in's") << "inputs are not changed";
}

TEST(CliMergeTest, MissingInputChangesNothing) {
  TempDir dir;
  const std::string in = dir.file("in.rtc"), out = dir.file("out.rtc");
  MustPut(dir, in, "k", "v");
  ChildResult merge = Rtcache({"merge", out, in, dir.file("absent.rtc")});
  EXPECT_EQ(merge.exit_code, 2);
  ExpectOneLineError(merge, dir.file("absent.rtc"));
  EXPECT_FALSE(file_exists(out));
}

TEST(CliMergeTest, CreatesOutEvenWithNothingToAdd) {
  TempDir dir;
  const std::string in = dir.file("in.rtc"), out = dir.file("out.rtc");
  MustPut(dir, in, "k", "v");
  ASSERT_EQ(Rtcache({"rm", in, "k"}).exit_code, 0);
  ChildResult merge = Rtcache({"merge", out, in});
  ASSERT_EQ(merge.exit_code, 0) << merge.err;
  Json info = ParseJson(Rtcache({"info", out, "--json"}));
  EXPECT_EQ(info["entries"], 0);
  EXPECT_EQ(Rtcache({"verify", out}).exit_code, 0);
}

// --- prune -------------------------------------------------------------------------

// Six equal-sized entries put in key order, then used in the order
// key3, key0, key5, key1, key4, key2 (so key3 is the least recently used).
std::string MakeLruCache(const TempDir& dir, uint64_t* record_bytes) {
  const std::string path = dir.file("lru.rtc");
  FakeClockEnv clock(kFixedEpochNs);
  auto cache = OpenWithClock(path, &clock);
  for (int i = 0; i < 6; ++i) {
    const std::string key = "key" + std::to_string(i);
    cache->put(key, ValueOfLength(key, 1000));
  }
  EXPECT_OK(cache->save());
  clock.set_now(kFixedEpochNs + 60 * kNsPerSecond);
  for (const char* key : {"key3", "key0", "key5", "key1", "key4", "key2"}) {
    Bytes value;
    EXPECT_OK(cache->get(key, &value));
  }
  EXPECT_OK(cache->save());
  std::vector<EntryInfo> entries;
  EXPECT_OK(cache->entries(&entries));
  *record_bytes = entries.at(0).stored_size;
  for (const EntryInfo& e : entries) EXPECT_EQ(e.stored_size, *record_bytes);
  return path;
}

TEST(CliPruneTest, BySizeRemovesLeastRecentlyUsedFirst) {
  TempDir dir;
  uint64_t record_bytes = 0;
  const std::string cache = MakeLruCache(dir, &record_bytes);
  ASSERT_GT(record_bytes, 1000u);
  ASSERT_LT(record_bytes, 1300u);  // so that 4K keeps exactly three

  ChildResult prune = Rtcache({"prune", cache, "--max-size", "4K", "--json"});
  ASSERT_EQ(prune.exit_code, 0) << prune.err;
  Json report = Json::parse(prune.out);
  EXPECT_EQ(report["removed"], Json({"key3", "key0", "key5"}));
  EXPECT_EQ(report["removed_bytes"], 3 * record_bytes);
  EXPECT_EQ(report["live_bytes_after"], 3 * record_bytes);

  EXPECT_EQ(KeysOf(ParseJson(Rtcache({"ls", cache, "--json"}))),
            (std::vector<std::string>{"key1", "key2", "key4"}));
  Json info = ParseJson(Rtcache({"info", cache, "--json"}));
  EXPECT_EQ(info["live_bytes"], 3 * record_bytes);
  EXPECT_EQ(Rtcache({"verify", cache}).exit_code, 0);

  ChildResult human = Rtcache({"prune", cache, "--max-size", std::to_string(record_bytes)});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out, cache + ": removed 2 entries (" + std::to_string(2 * record_bytes) +
                           " bytes), live bytes now " + std::to_string(record_bytes) +
                           "\n  key1\n  key4\n");

  // 0 is no limit, as ccache users read it (`rtcache clear` empties a cache).
  ChildResult none = Rtcache({"prune", cache, "--max-size", "0", "--json"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(Json::parse(none.out)["removed"], Json::array());
  EXPECT_EQ(ParseJson(Rtcache({"info", cache, "--json"}))["entries"], 1);
}

// RTCACHE_MAX_SIZE in an operator's environment is the applications' budget:
// import and put evict nothing for it.
TEST(CliPruneTest, CommandsEvictOnlyWhatTheirArgumentsAskFor) {
  TempDir dir;
  const std::string source = dir.file("source.rtc");
  for (int i = 0; i < 20; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_EQ(Rtcache({"put", source, key, "-"}, std::string(1000, 'v')).exit_code, 0);
  }
  ASSERT_EQ(Rtcache({"export", source, dir.file("image")}).exit_code, 0);
  const std::string target = dir.file("target.rtc");
  const testing::ChildOptions budget{.env = {"RTCACHE_MAX_SIZE=4K"}};
  ChildResult imported = run_child(ToolArgs({"import", target, dir.file("image")}), budget);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(ParseJson(Rtcache({"info", target, "--json"}))["entries"], 20);
  ChildResult put = run_child(ToolArgs({"put", target, "one-more", "-"}),
                              {.env = {"RTCACHE_MAX_SIZE=4K"}, .input = "v"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(ParseJson(Rtcache({"info", target, "--json"}))["entries"], 21);
  const std::string merged = dir.file("merged.rtc");
  ChildResult merge = run_child(ToolArgs({"merge", merged, source}), budget);
  ASSERT_EQ(merge.exit_code, 0) << merge.err;
  EXPECT_EQ(ParseJson(Rtcache({"info", merged, "--json"}))["entries"], 20);
}

// Nor for the default budget: commands use kNoSizeLimit, so a default cache
// with RTCACHE_MAX_SIZE in the environment keeps every entry put into it.
TEST(CliPruneTest, PutsIntoTheDefaultCacheEvictNothing) {
  TempDir dir;
  for (int i = 0; i < 12; ++i) {
    ChildResult put = InDir(dir, {"put", "k" + std::to_string(i)}, std::string(1000, 'v'),
                            {"RTCACHE_MAX_SIZE=2K"});
    ASSERT_EQ(put.exit_code, 0) << put.err;
  }
  EXPECT_EQ(ParseJson(InDir(dir, {"info", "--json"}))["entries"], 12);
}

TEST(CliPruneTest, ByAgeRemovesEntriesNotUsedSince) {
  TempDir dir;
  const std::string cache = dir.file("age.rtc");
  const int64_t now = Env::default_env()->now_nanos();
  const int64_t day = 24 * 3600 * kNsPerSecond;
  FakeClockEnv clock(now - 3 * day);
  {
    auto handle = OpenWithClock(cache, &clock);
    handle->put("old-b", "1");  // the older of the two old ones is listed first
    handle->put("old-a", "2");
    handle->put("old-but-used", "3");
    ASSERT_OK(handle->save());
    clock.set_now(now - 2 * 3600 * kNsPerSecond);
    handle->put("two-hours", "4");
    clock.set_now(now - 60 * kNsPerSecond);
    Bytes value;
    ASSERT_OK(handle->get("old-but-used", &value));
    ASSERT_OK(handle->save());
  }
  ChildResult nothing = Rtcache({"prune", cache, "--older-than", "4d", "--json"});
  ASSERT_EQ(nothing.exit_code, 0) << nothing.err;
  EXPECT_EQ(Json::parse(nothing.out)["removed"], Json::array());

  ChildResult prune = Rtcache({"prune", cache, "--older-than", "1d", "--json"});
  ASSERT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_EQ(Json::parse(prune.out)["removed"], Json({"old-b", "old-a"}));
  EXPECT_EQ(KeysOf(ParseJson(Rtcache({"ls", cache, "--json"}))),
            (std::vector<std::string>{"old-but-used", "two-hours"}));

  ChildResult hours = Rtcache({"prune", cache, "--older-than", "90m", "--max-size", "1G"});
  ASSERT_EQ(hours.exit_code, 0) << hours.err;
  EXPECT_NE(hours.out.find("removed 1 entry"), std::string::npos) << hours.out;
  EXPECT_EQ(KeysOf(ParseJson(Rtcache({"ls", cache, "--json"}))),
            (std::vector<std::string>{"old-but-used"}));
}

// --- compact, export, import --------------------------------------------------------

TEST(CliCompactTest, RemovesDeadBytesAndKeepsEntries) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  for (int i = 0; i < 4; ++i) {
    MustPut(dir, cache, "k" + std::to_string(i), std::string(3000, static_cast<char>('a' + i)));
  }
  ASSERT_EQ(Rtcache({"rm", cache, "k0", "k1"}).exit_code, 0);
  Json before = ParseJson(Rtcache({"info", cache, "--json"}));
  ChildResult compact = Rtcache({"compact", cache});
  ASSERT_EQ(compact.exit_code, 0) << compact.err;
  Json after = ParseJson(Rtcache({"info", cache, "--json"}));
  EXPECT_EQ(compact.out, cache + ": " + std::to_string(before["file_bytes"].get<uint64_t>()) +
                             " -> " + std::to_string(after["file_bytes"].get<uint64_t>()) +
                             " bytes (2 entries)\n");
  EXPECT_LT(after["file_bytes"], before["file_bytes"]);
  EXPECT_LT(after["dead_bytes"], before["dead_bytes"]);
  EXPECT_EQ(after["entries"], 2);
  EXPECT_EQ(MustGet(cache, "k3"), std::string(3000, 'd'));
  EXPECT_EQ(Rtcache({"verify", cache}).exit_code, 0);
}

TEST(CliExportImportTest, RoundTripThroughFileAndPipe) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  MustPut(dir, cache, "a", "alpha");
  MustPut(dir, cache, "hex:00", std::string(1, '\0'));

  ChildResult to_file = Rtcache({"export", cache, dir.file("c.bin")});
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_NE(to_file.out.find("exported 2 entries"), std::string::npos) << to_file.out;
  ChildResult to_stdout = Rtcache({"export", cache, "-"});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;
  // Each export is a new image (its header has a fresh file id and time), so
  // compare what is comparable: stdout carries only the bytes, of equal length.
  EXPECT_EQ(to_stdout.out.size(), file_size(dir.file("c.bin")));
  EXPECT_TRUE(to_stdout.out.starts_with(std::string("RTCACHE\0", 8)));

  // The exported bytes are the format's own: deserialize() takes them.
  auto memory = RuntimeCache::create();
  ASSERT_OK(memory->deserialize(to_stdout.out));
  EXPECT_EQ(memory->size(), 2u);

  ChildResult from_file = Rtcache({"import", dir.file("copy.rtc"), dir.file("c.bin")});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(from_file.out, dir.file("copy.rtc") + ": imported 2 entries\n");
  ChildResult from_stdin = Rtcache({"import", dir.file("piped.rtc"), "-"}, to_stdout.out);
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  for (const std::string& copy : {dir.file("copy.rtc"), dir.file("piped.rtc")}) {
    EXPECT_EQ(MustGet(copy, "a"), "alpha");
    EXPECT_EQ(MustGet(copy, "hex:00"), std::string(1, '\0'));
  }

  // Imported entries replace equal keys and keep the others.
  MustPut(dir, cache, "a", "changed");
  MustPut(dir, cache, "b", "beta");
  ASSERT_EQ(Rtcache({"import", cache, dir.file("c.bin")}).exit_code, 0);
  EXPECT_EQ(MustGet(cache, "a"), "alpha");
  EXPECT_EQ(MustGet(cache, "b"), "beta");
}

TEST(CliExportImportTest, BadInputLeavesTheCacheAlone) {
  TempDir dir;
  write_file(dir.file("junk.bin"), "definitely not a serialized cache");
  ChildResult junk = Rtcache({"import", dir.file("c.rtc"), dir.file("junk.bin")});
  EXPECT_EQ(junk.exit_code, 2);
  ExpectOneLineError(junk, dir.file("junk.bin"));
  EXPECT_FALSE(file_exists(dir.file("c.rtc")));

  ChildResult missing = Rtcache({"import", dir.file("c.rtc"), dir.file("absent.bin")});
  EXPECT_EQ(missing.exit_code, 2);
  ExpectOneLineError(missing, dir.file("absent.bin"));
}

TEST(CliExportImportTest, EmptyInputCreatesAnEmptyCache) {
  TempDir dir;
  ChildResult result = Rtcache({"import", dir.file("c.rtc"), "-"}, "");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ParseJson(Rtcache({"info", dir.file("c.rtc"), "--json"}))["entries"], 0);
}

// --- many processes, locks -----------------------------------------------------------

TEST(CliConcurrencyTest, EightConcurrentPutsLoseNothing) {
  TempDir dir;
  const std::string cache = dir.file("shared.rtc");
  constexpr int kProcesses = 8;
  constexpr int kRounds = 3;
  auto key_of = [](int round, int i) {
    return "r" + std::to_string(round) + "-p" + std::to_string(i);
  };
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::unique_ptr<Child>> children;
    for (int i = 0; i < kProcesses; ++i) {
      const std::string key = key_of(round, i);
      children.push_back(std::make_unique<Child>(
          ToolArgs({"put", cache, key}), testing::ChildOptions{.input = ValueOfLength(key, 5000)}));
    }
    for (int i = 0; i < kProcesses; ++i) {
      EXPECT_TRUE(Exited(children[i]->wait(), 0)) << key_of(round, i) << ": " << children[i]->err();
    }
  }
  Json listing = ParseJson(Rtcache({"ls", cache, "--json"}));
  EXPECT_EQ(listing.size(), static_cast<size_t>(kProcesses * kRounds)) << listing.dump();
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kProcesses; ++i) {
      EXPECT_EQ(MustGet(cache, key_of(round, i)), ValueOfLength(key_of(round, i), 5000));
    }
  }
  EXPECT_EQ(Rtcache({"verify", cache}).exit_code, 0);
}

TEST(CliLockTest, LockTimeoutExitsTwoAndChangesNothing) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  MustPut(dir, cache, "k", "v");
  const std::string before = read_file(cache);
  std::unique_ptr<FileLock> held;
  ASSERT_OK(Env::default_env()->lock(cache + ".lock", 0600, std::chrono::milliseconds(0), &held));
  const std::string value = dir.file("value");
  write_file(value, "w");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--lock-timeout", "0s", "put", cache, "k2", value},
        std::vector<std::string>{"rm", cache, "k", "--lock-timeout", "0"},
        std::vector<std::string>{"--lock-timeout", "0s", "repair", cache}}) {
    SCOPED_TRACE(args[2]);
    ChildResult result = Rtcache(args);
    EXPECT_EQ(result.exit_code, 2);
    ExpectOneLineError(result, cache + ".lock");
  }
  EXPECT_EQ(read_file(cache), before);
  // Readers take no lock.
  EXPECT_EQ(MustGet(cache, "k"), "v");
  EXPECT_EQ(Rtcache({"verify", cache}).exit_code, 0);
}

// --- warm ----------------------------------------------------------------------------

constexpr const char* kWarmSource = R"(
template <typename T> __global__ void scale(T* x, T a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}
extern "C" __global__ void vadd(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}
__global__ void __launch_bounds__(128) copy_ints(const int* a, int* b) { b[threadIdx.x] = a[threadIdx.x]; }
)";

TEST(CliWarmTest, HelpListsTheOptions) {
  ChildResult help = Rtcache({"warm", "--help"});
  ASSERT_EQ(help.exit_code, 0);
  for (const char* option : {"--cache", "--arch", "--option", "--name-expr", "SOURCE.cu"}) {
    EXPECT_NE(help.out.find(option), std::string::npos) << option;
  }
}

TEST(CliWarmTest, CompilesPlainKernelsThenFindsThemCached) {
  TempDir dir;
  write_file(dir.file("k.cu"), kWarmSource);
  const std::string cache = dir.file("c.rtc");
  ChildResult cold = Rtcache(
      {"warm", "--cache", cache, "--arch", "sm_90", "--option=-std=c++17", dir.file("k.cu")});
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  EXPECT_NE(cold.out.find("warm: 2 compiled, 0 already cached, 0 failed"), std::string::npos)
      << cold.out;
  ChildResult warm = Rtcache(
      {"warm", "--cache", cache, "--arch", "sm_90", "--option=-std=c++17", dir.file("k.cu")});
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  EXPECT_NE(warm.out.find("warm: 0 compiled, 2 already cached, 0 failed"), std::string::npos)
      << warm.out;
  ChildResult ls = Rtcache({"ls", cache});
  EXPECT_NE(ls.out.find("kernel=vadd"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("kernel=copy_ints"), std::string::npos) << ls.out;
  EXPECT_EQ(ls.out.find("kernel=scale"), std::string::npos) << "templates need --name-expr";
}

TEST(CliWarmTest, AnApplicationEngineFindsWhatWarmCompiled) {
  TempDir dir;
  write_file(dir.file("k.cu"), kWarmSource);
  const std::string cache = dir.file("c.rtc");
  ChildResult result = Rtcache({"warm", "--cache", cache, "--arch", "sm_90", "--option=-std=c++17",
                                "--name-expr", "scale<float>", dir.file("k.cu")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("warm: 1 compiled"), std::string::npos) << result.out;
  EngineConfig config;
  config.source = kWarmSource;
  config.options = {"-std=c++17"};
  config.arch = "sm_90";
  Engine engine(config, RuntimeSettings::path(cache));
  Kernel kernel;
  ASSERT_OK(engine.kernel("scale<float>", &kernel));
  EXPECT_TRUE(kernel.from_cache);
  EXPECT_EQ(engine.stats().compiles, 0u);
}

// Without --cache, warm fills the default cache (the one applications'
// engines use by default).
TEST(CliWarmTest, WithoutCacheFillsTheDefaultCache) {
  TempDir dir, sources;
  write_file(sources.file("k.cu"), kWarmSource);
  ChildResult result =
      InDir(dir, {"warm", "--arch", "sm_90", "--option=-std=c++17", sources.file("k.cu")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  ChildResult ls = InDir(dir, {"ls"});
  EXPECT_NE(ls.out.find("kernel=vadd"), std::string::npos) << ls.out;
  ChildResult global = InDir(dir, {"--cache", dir.file("other.rtc"), "warm", "--arch", "sm_90",
                                   "--option=-std=c++17", sources.file("k.cu")});
  ASSERT_EQ(global.exit_code, 0) << global.err;
  EXPECT_TRUE(file_exists(dir.file("other.rtc"))) << "the global --cache works for warm too";
}

TEST(CliWarmTest, CompileErrorsExitOneAndNameTheSource) {
  TempDir dir;
  write_file(dir.file("bad.cu"), "__global__ void broken() { not_declared(); }\n");
  ChildResult result =
      Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", dir.file("bad.cu")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("bad.cu"), std::string::npos) << result.err;
  EXPECT_NE(result.out.find("0 compiled, 0 already cached, 1 failed"), std::string::npos)
      << result.out;
}

TEST(CliWarmTest, UnreadableSourceOrNoKernelsExitTwo) {
  TempDir dir;
  ChildResult missing =
      Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", dir.file("none.cu")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.cu"), std::string::npos) << missing.err;
  write_file(dir.file("empty.cu"), "// nothing to compile\n");
  ChildResult empty =
      Rtcache({"warm", "--cache", dir.file("c.rtc"), "--arch", "sm_90", dir.file("empty.cu")});
  EXPECT_EQ(empty.exit_code, 2);
}

}  // namespace
}  // namespace rtcache
