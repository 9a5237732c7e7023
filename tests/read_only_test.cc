// Read-only caches: a cache baked into an image layer, on a read-only mount,
// not writable by the service's user, or opened with RTCACHE_READONLY=1
// serves its hits, keeps what the process adds in memory, writes nothing,
// makes no lock file and says nothing at exit. Real processes; mounts in a
// private namespace (unshare -m, as root); another user through setpriv.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

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
using testing::UnderReadOnlyMount;

// A cache file holding key "k", with no lock file beside it.
std::string Warm(const TempDir& dir) {
  const std::string path = dir.file("kernels.rtc");
  Options options;
  options.path = path;
  auto cache = RuntimeCache::create(options);
  cache->put("k", std::string_view("warm"));
  EXPECT_OK(cache->save());
  EXPECT_EQ(::unlink((path + ".lock").c_str()), 0);
  return path;
}

const char* const kReadOnlyOutput = "load OK\nget k hit\nread_only 1\nsave Permission denied\n";

TEST(ReadOnly, TheOptionServesHitsAndWritesNothing) {
  TempDir dir;
  const std::string path = Warm(dir);
  const std::string before = testing::read_file(path);
  ChildResult r = run_child({kTestChild, "read-only", path, "k"},
                            {.env = {"RTCACHE_READONLY=1"}, .unset = {"RTCACHE_LOG"}});
  EXPECT_TRUE(Exited(r.status, 0)) << r.err;
  EXPECT_EQ(r.out, kReadOnlyOutput);
  EXPECT_EQ(r.err, "") << "nothing is said at exit";
  EXPECT_EQ(testing::read_file(path), before);
  EXPECT_EQ(dir.names(), std::vector<std::string>{"kernels.rtc"}) << "no lock file";
}

TEST(ReadOnly, AReadOnlyMountIsFoundOnItsOwn) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root for a private mount namespace (unshare -m)";
  TempDir dir;
  const std::string path = Warm(dir);
  const std::string before = testing::read_file(path);
  ChildResult r = UnderReadOnlyMount(dir.path(), {kTestChild, "read-only", path, "k"});
  EXPECT_TRUE(Exited(r.status, 0)) << r.err;
  EXPECT_EQ(r.out, kReadOnlyOutput);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(testing::read_file(path), before);
  EXPECT_EQ(dir.names(), std::vector<std::string>{"kernels.rtc"});
  // At info level, one line says so, naming the file and the reason.
  r = UnderReadOnlyMount(dir.path(), {kTestChild, "read-only", path, "k"}, {"RTCACHE_LOG=info"});
  EXPECT_NE(r.err.find(path + ": read-only (" + path + ": read-only file system)"),
            std::string::npos)
      << r.err;
}

// The image-build story: the cache is made as root (an image's RUN step);
// the service runs as another user with that directory read-only. Every
// kernel is found: nothing compiles, nothing is written or said.
TEST(ReadOnly, AServiceUserReadsACacheWarmedAsRootOnAReadOnlyMount) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root for mounts and another user";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  const std::string path = dir.file("kernels.rtc");
  ChildResult warm = run_child({kTestChild, "compile", path});
  ASSERT_EQ(warm.out, "compiled\n") << warm.err;
  ASSERT_EQ(::unlink((path + ".lock").c_str()), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  const std::string before = testing::read_file(path);
  TempDir bin;
  ASSERT_EQ(::chmod(bin.path().c_str(), 0755), 0);
  const std::string child = testing::CopyForOtherUsers(kTestChild, bin.path());
  for (bool read_only_mount : {false, true}) {
    SCOPED_TRACE(read_only_mount ? "read-only mount" : "directory not writable by the user");
    const std::vector<std::string> as_service = {"/usr/bin/setpriv",
                                                 "--reuid=65534",
                                                 "--regid=65534",
                                                 "--clear-groups",
                                                 child,
                                                 "compile",
                                                 path};
    ChildResult r = read_only_mount ? UnderReadOnlyMount(dir.path(), as_service)
                                    : run_child(as_service, {.unset = {"RTCACHE_LOG"}});
    EXPECT_TRUE(Exited(r.status, 0)) << r.err;
    EXPECT_EQ(r.out, "cached\n") << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(testing::read_file(path), before);
    EXPECT_EQ(dir.names(), std::vector<std::string>{"kernels.rtc"});
  }
}

// The default location on a read-only layer that holds a cache: used (not
// replaced by an in-memory cache with a warning).
TEST(ReadOnly, TheDefaultLocationUsesACacheThatIsThere) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root for a private mount namespace (unshare -m)";
  TempDir dir;
  const std::string path = Warm(dir);
  ChildResult r =
      UnderReadOnlyMount(dir.path(), {kTestChild, "settings"}, {"RTCACHE_DIR=" + dir.path()});
  EXPECT_TRUE(Exited(r.status, 0)) << r.err;
  EXPECT_EQ(r.out, "path=" + path + "\n");
  EXPECT_EQ(r.err, "rtcache: warning: probe\n");
}

}  // namespace
}  // namespace rtcache
