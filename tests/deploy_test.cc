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

std::vector<std::string> AsUser(uid_t uid, gid_t gid, std::vector<std::string> argv) {
  std::vector<std::string> full = {"/usr/bin/setpriv", "--reuid=" + std::to_string(uid),
                                   "--regid=" + std::to_string(gid), "--clear-groups"};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

// "A group-shared cache on a multi-user node": the directory made as the
// recipe makes it (install -d -m 2770 -g GROUP), one member's process
// creating the cache group-writable (file_mode 0660), another member using
// it through the CLI with RTCACHE_TRUST_OTHERS=1, refused without it; someone
// outside the group cannot use it at all. Users by number only (setpriv):
// 65534 and 1234 in group 65534, 1235 outside it.
TEST(Deploy, AGroupSharedCacheOnAMultiUserNode) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to act as other users";
  TempDir root, bin;
  for (const TempDir* d : {&root, &bin}) ASSERT_EQ(::chmod(d->path().c_str(), 0755), 0);
  const std::string dir = root.file("kernel-cache");
  ChildResult made = run_child({"/usr/bin/install", "-d", "-m", "2770", "-g", "65534", dir});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string tool = testing::CopyForOtherUsers(kTool, bin.path());
  const std::string child = testing::CopyForOtherUsers(kTestChild, bin.path());

  // Member 65534's application creates the cache group-writable.
  ChildResult created =
      run_child(AsUser(65534, 65534, {child, "modes", dir + "/kernels.rtc", "007", "660", "0"}));
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  EXPECT_EQ(testing::permission_bits(dir + "/kernels.rtc"), 0660u);

  const std::vector<std::string> env = {"RTCACHE_DIR=" + dir, "RTCACHE_TRUST_OTHERS=1"};
  ChildResult read = run_child(AsUser(1234, 65534, {tool, "get", "mode-key"}), {.env = env});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_FALSE(read.out.empty());
  ChildResult added = run_child(AsUser(1234, 65534, {tool, "put", "member-2"}),
                                {.env = env, .input = std::string("from member 2")});
  EXPECT_EQ(added.exit_code, 0) << added.err;
  ChildResult back = run_child(AsUser(65534, 65534, {tool, "get", "member-2"}), {.env = env});
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, "from member 2");

  // Without the setting, the group-writable file is refused, naming it.
  ChildResult refused =
      run_child(AsUser(1234, 65534, {tool, "get", "mode-key"}),
                {.env = {"RTCACHE_DIR=" + dir}, .unset = {"RTCACHE_TRUST_OTHERS"}});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find(dir + "/kernels.rtc"), std::string::npos) << refused.err;
  // Outside the group: no access at all.
  ChildResult outsider = run_child(AsUser(1235, 1235, {tool, "get", "mode-key"}), {.env = env});
  EXPECT_NE(outsider.exit_code, 0);
}

}  // namespace
}  // namespace rtcache
