// docs/deploy.md's recipes that no other test runs, with the recipe's own
// commands: real processes, a read-only mount (unshare -m) and another user
// (setpriv --reuid=65534).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace rtcache {
namespace {

using testing::ChildResult;
using testing::kTestChild;
using testing::run_child;
using testing::TempDir;

constexpr const char* kTool = RTCACHE_rtcache_cli_PATH;

// "A writable cache beside a read-only one": the image's cache (root's, on a
// read-only mount) seeds the service's writable cache at container start with
// `rtcache merge`; the service then hits what the image held and adds what it
// compiles to its own file.
TEST(Deploy, AWritableCacheSeededFromTheImagesReadOnlyOne) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root for mounts and another user";
  TempDir image, state, bin;
  for (const TempDir* d : {&image, &bin}) ASSERT_EQ(::chmod(d->path().c_str(), 0755), 0);
  ASSERT_EQ(::chown(state.path().c_str(), 65534, 65534), 0);  // the service's own volume
  const std::string image_cache = image.file("kernels.rtc");
  ChildResult warm = run_child({kTestChild, "compile", image_cache});
  ASSERT_EQ(warm.out, "compiled\n") << warm.err;
  ASSERT_EQ(::unlink((image_cache + ".lock").c_str()), 0);
  ASSERT_EQ(::chmod(image_cache.c_str(), 0644), 0);

  const std::string tool = testing::CopyForOtherUsers(kTool, bin.path());
  const std::string child = testing::CopyForOtherUsers(kTestChild, bin.path());
  const std::string cache = state.file("kernels.rtc");
  // The entrypoint: seed, then start the service (here: one kernel).
  std::vector<std::string> entrypoint = testing::kAsOtherUser;
  entrypoint.insert(entrypoint.end(),
                    {"/bin/sh", "-c", "\"$0\" merge \"$2\" \"$3\" && exec \"$1\" compile \"$2\"",
                     tool, child, cache, image_cache});
  ChildResult r = testing::UnderReadOnlyMount(image.path(), entrypoint);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, cache + ": merged 1 file(s), now 2 entries\ncached\n") << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(image.names(), std::vector<std::string>{"kernels.rtc"}) << "nothing written there";
  struct stat st;
  ASSERT_EQ(::stat(cache.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u) << "the service's own file";
}

}  // namespace
}  // namespace rtcache
