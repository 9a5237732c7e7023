// The size budget (R13), the safety of shared files (R17), periodic
// checkpoints and saving on SIGTERM (R14):
//  - max_bytes evicts the least recently used entries first (recency as
//    rtcache records it), entries this process uses last; RTCACHE_MAX_SIZE
//    (set only in a child's environment) does the same;
//  - a file others can write, or another user owns, is refused with
//    PermissionDenied naming it unless Options::trust_others; symbolic links
//    planted at the lock, data and temp paths are never written through;
//    created files and directories get exactly the requested modes;
//  - a dirty handle with checkpoint_interval is saved in the background (also
//    in a process that is then SIGKILLed); save_on_signals saves on SIGTERM and
//    gives up at its deadline when a save cannot finish.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fault_env.h"
#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using namespace testing;  // the kit (test_util.h)

std::set<std::string> Keys(const std::string& path) {
  Options trusting;
  trusting.trust_others = true;
  auto cache = OpenCache(path, trusting);
  std::vector<EntryInfo> entries;
  EXPECT_OK(cache->entries(&entries));
  std::set<std::string> keys;
  for (const auto& e : entries) keys.insert(e.key);
  return keys;
}

// Waits (bounded) until `done()` holds; polls, since the condition is in
// another thread or process that cannot signal us.
template <typename Done>
bool WaitFor(Done done, std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// --- size budget ------------------------------------------------------------------------------

constexpr uint64_t kRecord = 56 + 2 + 1000;  // a PUT of a 2-byte key and a 1000-byte raw value

Options BudgetOptions(const std::string& path, Env* env, uint64_t max_bytes) {
  Options options;
  options.path = path;
  options.env = env;
  options.compression = Compression::kNone;
  options.last_use_resolution = std::chrono::seconds(0);  // every use is recorded
  options.max_bytes = max_bytes;
  return options;
}

std::string Kilo(char c) {
  return std::string(1000, c);
}

TEST(Budget, LeastRecentlyUsedGoFirstAndThisProcesssEntriesLast) {
  TempDir dir;
  const std::string path = dir.file("b.rtc");
  FaultInjectionEnv env;
  env.set_fake_clock(1'700'000'000'000'000'000, 1'000'000);  // 1 ms per reading
  {
    // k0..k9 created in this order.
    auto cache = RuntimeCache::create(BudgetOptions(path, &env, 0));
    for (int i = 0; i < 10; ++i) cache->put("k" + std::to_string(i), Kilo('a' + i));
    ASSERT_OK(cache->save());
  }
  {
    // Another process uses k5..k9 later: their last-use times move.
    std::shared_ptr<RuntimeCache> cache;
    ASSERT_OK(RuntimeCache::open(BudgetOptions(path, &env, 0), &cache));
    for (int i = 5; i < 10; ++i) {
      Bytes v;
      ASSERT_OK(cache->get("k" + std::to_string(i), &v));
    }
    ASSERT_OK(cache->save());
  }
  {
    // A process with room for 8 entries adds one: the three least recently
    // used (k0, k1, k2: created first, never used since) go.
    std::shared_ptr<RuntimeCache> cache;
    ASSERT_OK(RuntimeCache::open(BudgetOptions(path, &env, 8 * kRecord), &cache));
    cache->put("n0", Kilo('n'));
    ASSERT_OK(cache->save());
    EXPECT_EQ(cache->stats().evictions, 3u);
  }
  EXPECT_EQ(Keys(path), (std::set<std::string>{"k3", "k4", "k5", "k6", "k7", "k8", "k9", "n0"}));
  FileReport report;
  ASSERT_OK(inspect_file(path, &report));
  EXPECT_LE(report.live_bytes, 8 * kRecord);
  {
    // A process that uses k3 (now the least recently used) and adds n1, with
    // room for 6 of the 9: k3 is in use here, so k4, k5 and k6 go instead.
    std::shared_ptr<RuntimeCache> cache;
    ASSERT_OK(RuntimeCache::open(BudgetOptions(path, &env, 6 * kRecord), &cache));
    Bytes v;
    ASSERT_OK(cache->get("k3", &v));
    cache->put("n1", Kilo('m'));
    ASSERT_OK(cache->save());
    EXPECT_EQ(cache->stats().evictions, 3u);
  }
  EXPECT_EQ(Keys(path), (std::set<std::string>{"k3", "k7", "k8", "k9", "n0", "n1"}));
  // Evictions are erasures in the file: a handle that still holds an evicted
  // entry does not bring it back by saving something else.
  {
    std::shared_ptr<RuntimeCache> cache;
    ASSERT_OK(RuntimeCache::open(BudgetOptions(path, &env, 0), &cache));
    cache->put("n2", Kilo('o'));
    ASSERT_OK(cache->save());
  }
  EXPECT_EQ(Keys(path).count("k4"), 0u);
}

TEST(Budget, RtcacheMaxSizeFromTheEnvironmentOfAChild) {
  TempDir dir;
  const std::string path = dir.file("env.rtc");
  {
    Options options;
    options.path = path;
    options.compression = Compression::kNone;
    auto cache = RuntimeCache::create(options);
    for (int i = 0; i < 10; ++i) cache->put("k" + std::to_string(i), Kilo('a' + i));
    ASSERT_OK(cache->save());
  }
  // No budget: nothing is evicted.
  ChildResult none = run_child({kTestChild, "budget", path, "1"}, {.unset = {"RTCACHE_MAX_SIZE"}});
  ASSERT_TRUE(Exited(none.status, 0)) << none.out << none.err;
  EXPECT_EQ(none.out, "evictions 0\n");
  // A malformed budget is a warning, and no budget.
  ChildResult bad = run_child({kTestChild, "budget", path, "1"},
                              {.env = {"RTCACHE_MAX_SIZE=lots", "RTCACHE_LOG=warning"}});
  ASSERT_TRUE(Exited(bad.status, 0)) << bad.out << bad.err;
  EXPECT_EQ(bad.out, "evictions 0\n");
  EXPECT_NE(bad.err.find("RTCACHE_MAX_SIZE=lots"), std::string::npos) << bad.err;
  // 8K: the child's five new entries (in use there) stay, and the other
  // process's entries go, least recently used first, until it fits.
  ChildResult r = run_child({kTestChild, "budget", path, "5"}, {.env = {"RTCACHE_MAX_SIZE=8K"}});
  ASSERT_TRUE(Exited(r.status, 0)) << r.out << r.err;
  std::set<std::string> keys = Keys(path);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(keys.count("budget-" + std::to_string(i)), 1u);
  EXPECT_EQ(keys.count("budget-0"), 1u);
  FileReport report;
  ASSERT_OK(inspect_file(path, &report));
  EXPECT_LE(report.live_bytes, 8192u);
  EXPECT_GT(report.live_bytes, 8192u - 2 * kRecord) << "evicts no more than it must";
  // 11 entries before (k0..k9, budget-0), 4 added: every missing one was evicted.
  EXPECT_EQ(r.out, "evictions " + std::to_string(15 - keys.size()) + "\n");
  EXPECT_EQ(keys.size(), 7u);
}

// --- trust -----------------------------------------------------------------------------------

std::string MakeFile(const std::string& path) {
  Options options;
  options.path = path;
  auto cache = RuntimeCache::create(options);
  cache->put("k", MakeValue("k", 1));
  EXPECT_OK(cache->save());
  return testing::read_file(path);
}

void ExpectRefused(const std::string& path, const std::string& why) {
  SCOPED_TRACE(why);
  const std::string before = testing::read_file(path);
  Options options;
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.to_string();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("not trusted"), std::string::npos) << s.to_string();
  // Saving into it is refused too, and the file is left alone.
  auto writer = RuntimeCache::create(options);
  writer->put("intruder", MakeValue("intruder", 1));
  Status w = writer->save();
  EXPECT_EQ(w.code(), Status::Code::kPermissionDenied) << w.to_string();
  EXPECT_EQ(testing::read_file(path), before);
  // Unless the options trust others.
  options.trust_others = true;
  std::shared_ptr<RuntimeCache> trusting;
  ASSERT_OK(RuntimeCache::open(options, &trusting));
  Bytes v;
  EXPECT_OK(trusting->get("k", &v));
}

// A file others could have written is refused, whoever made it so.
struct Untrusted {
  const char* name;
  std::function<void(const std::string& path)> make_untrusted;
};

class Trust : public ::testing::TestWithParam<Untrusted> {};

TEST_P(Trust, FileIsRefusedUnlessTrusted) {
  TempDir dir;
  const std::string path = dir.file("t.rtc");
  MakeFile(path);
  GetParam().make_untrusted(path);
  if (HasFatalFailure()) return;
  ExpectRefused(path, GetParam().name);
}

INSTANTIATE_TEST_SUITE_P(
    Files, Trust,
    ::testing::Values(
        Untrusted{"WorldWritable",
                  [](const std::string& p) { ASSERT_EQ(::chmod(p.c_str(), 0666), 0); }},
        Untrusted{"GroupWritable",
                  [](const std::string& p) { ASSERT_EQ(::chmod(p.c_str(), 0620), 0); }},
        // The suite runs as root (as the project's make test does), which can
        // give a file away; a test run as another user cannot set this up.
        Untrusted{"OwnedByAnotherUser",
                  [](const std::string& p) {
                    ASSERT_EQ(::geteuid(), 0u) << "needs root to chown a file to uid 65534";
                    ASSERT_EQ(::chown(p.c_str(), 65534, 65534), 0) << std::strerror(errno);
                  }}),
    [](const ::testing::TestParamInfo<Untrusted>& info) { return std::string(info.param.name); });

// The same seen from the other side: a process running as one user (uid
// 65534) refuses a file another user (uid 65533, not root: root's files are
// trusted) wrote, and cannot save into it.
TEST(TrustAcrossUsers, AnotherUsersProcessRefusesThisUsersFile) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to run a child as uid 65534";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // the other user may look inside
  const std::string path = dir.file("theirs.rtc");
  const std::string before = MakeFile(path);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);  // readable, so only trust refuses it
  ASSERT_EQ(::chown(path.c_str(), 65533, 65533), 0) << std::strerror(errno);
  const std::string child = testing::CopyForOtherUsers(kTestChild, dir.path());
  ChildResult r = run_child({child, "put", path, "intruder", "1"},
                            {.env = {"RTCACHE_LOG=warning"}, .uid = 65534, .gid = 65534});
  EXPECT_TRUE(Exited(r.status, 1)) << r.out << r.err;
  EXPECT_NE(r.err.find("not trusted"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
  EXPECT_EQ(testing::read_file(path), before);
}

// A cache root wrote (an image build's warm step) is served to another user
// (the service), since no one else can write it; once the group can write
// it, it is refused.
TEST(TrustAcrossUsers, RootsFileIsServedToAnotherUser) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to write as root and run a child as uid 65534";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  const std::string path = dir.file("warmed.rtc");
  MakeFile(path);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  const std::string tool = testing::CopyForOtherUsers(RTCACHE_rtcache_cli_PATH, dir.path());
  ChildResult r = run_child({tool, "get", path, "k"}, {.uid = 65534, .gid = 65534});
  EXPECT_TRUE(Exited(r.status, 0)) << r.err;
  EXPECT_EQ(r.out, MakeValue("k", 1));
  EXPECT_EQ(r.err, "");
  ASSERT_EQ(::chmod(path.c_str(), 0664), 0);
  r = run_child({tool, "get", path, "k"}, {.uid = 65534, .gid = 65534});
  EXPECT_TRUE(Exited(r.status, 2)) << r.err;
  EXPECT_NE(r.err.find("writable by group or others"), std::string::npos) << r.err;
}

// --- symbolic links ----------------------------------------------------------------------------

struct Victim {
  std::string path;
  std::string content;
  timespec mtime;
};

Victim MakeVictim(const std::string& path) {
  Victim v{path, "precious bytes that must not change\n", {}};
  testing::write_file(path, v.content);
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  v.mtime = st.st_mtim;
  return v;
}

void ExpectUntouched(const Victim& v) {
  EXPECT_EQ(testing::read_file(v.path), v.content);
  struct stat st;
  ASSERT_EQ(::stat(v.path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, v.mtime.tv_sec);
  EXPECT_EQ(st.st_mtim.tv_nsec, v.mtime.tv_nsec);
}

TEST(Symlinks, PlantedAtTheLockPathIsNotFollowed) {
  TempDir dir;
  const std::string path = dir.file("l.rtc");
  Victim victim = MakeVictim(dir.file("victim"));
  ASSERT_EQ(::symlink(victim.path.c_str(), (path + ".lock").c_str()), 0);
  Options options;
  options.path = path;
  auto cache = RuntimeCache::create(options);
  cache->put("k", MakeValue("k", 1));
  Status s = cache->save();
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.to_string();
  EXPECT_NE(s.message().find("symbolic link"), std::string::npos) << s.to_string();
  ExpectUntouched(victim);
  EXPECT_FALSE(testing::file_exists(path));
}

TEST(Symlinks, PlantedAtTheDataPathIsNotWrittenThrough) {
  TempDir dir;
  const std::string path = dir.file("d.rtc");
  // The target is a real cache file (so nothing stops at parsing), elsewhere.
  const std::string target = dir.file("elsewhere.rtc");
  MakeFile(target);
  Victim victim{target, testing::read_file(target), {}};
  struct stat st;
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  victim.mtime = st.st_mtim;
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  Options options;
  options.path = path;
  auto cache = RuntimeCache::create(options);
  cache->put("new", MakeValue("new", 1));
  Status s = cache->save();
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.to_string();
  EXPECT_NE(s.message().find("symbolic link"), std::string::npos) << s.to_string();
  Status c = cache->compact();
  EXPECT_EQ(c.code(), Status::Code::kPermissionDenied) << c.to_string();
  ExpectUntouched(victim);
  struct stat link;
  ASSERT_EQ(::lstat(path.c_str(), &link), 0);
  EXPECT_TRUE(S_ISLNK(link.st_mode)) << "the link itself was replaced";
  // A planted non-cache target is left alone the same way.
  const std::string other = dir.file("d2.rtc");
  Victim plain = MakeVictim(dir.file("plain"));
  ASSERT_EQ(::symlink(plain.path.c_str(), other.c_str()), 0);
  options.path = other;
  auto second = RuntimeCache::create(options);
  second->put("new", MakeValue("new", 1));
  EXPECT_FALSE(second->save().ok());
  ExpectUntouched(plain);
}

TEST(Symlinks, PlantedAtATempPathIsRemovedNotFollowed) {
  TempDir dir;
  const std::string path = dir.file("t.rtc");
  Victim victim = MakeVictim(dir.file("victim"));
  // Temp names are "<name>.tmp-<random>", created O_EXCL|O_NOFOLLOW; a link
  // planted under that prefix is taken for a stale temp file and unlinked
  // (the link, not its target) before the next file is written whole.
  const std::string planted = path + ".tmp-planted";
  ASSERT_EQ(::symlink(victim.path.c_str(), planted.c_str()), 0);
  Options options;
  options.path = path;
  auto cache = RuntimeCache::create(options);
  cache->put("k", MakeValue("k", 1));
  ASSERT_OK(cache->save());  // a new file: written to a temp file, renamed
  ExpectUntouched(victim);
  struct stat st;
  EXPECT_NE(::lstat(planted.c_str(), &st), 0) << "the planted link is still there";
  // And again before a compaction.
  ASSERT_EQ(::symlink(victim.path.c_str(), planted.c_str()), 0);
  ASSERT_OK(cache->compact());
  ExpectUntouched(victim);
  EXPECT_EQ(Keys(path), std::set<std::string>{"k"});
}

// --- modes -------------------------------------------------------------------------------------

TEST(Modes, CreatedExactlyAsRequestedWhateverTheUmask) {
  TempDir dir;
  struct Case {
    const char* umask;
    const char* file_mode;
    const char* dir_mode;
    uint32_t want_file, want_dir;
  };
  for (const Case& c :
       {Case{"000", "0", "0", 0600, 0700}, Case{"077", "0", "0", 0600, 0700},
        Case{"077", "660", "770", 0660, 0770}, Case{"000", "640", "750", 0640, 0750}}) {
    SCOPED_TRACE(std::string("umask ") + c.umask + " file_mode " + c.file_mode);
    const std::string sub = dir.file(std::string("u") + c.umask + "-" + c.file_mode);
    const std::string path = sub + "/nested/kernels.rtc";
    ChildResult r = run_child({kTestChild, "modes", path, c.umask, c.file_mode, c.dir_mode});
    ASSERT_TRUE(Exited(r.status, 0)) << r.out << r.err;
    EXPECT_EQ(permission_bits(path), c.want_file);
    EXPECT_EQ(permission_bits(path + ".lock"), c.want_file);
    EXPECT_EQ(permission_bits(sub + "/nested"), c.want_dir);
    EXPECT_EQ(permission_bits(sub), c.want_dir);
  }
}

// --- checkpoints ----------------------------------------------------------------------------

// Drops the test's reference and waits until the handle is really gone: the
// checkpoint thread holds its own reference while it saves, so the handle (and
// its I/O through Options::env, into the test's directory) can outlive the
// caller's last reference for the length of a save.
void DropAndWait(std::shared_ptr<RuntimeCache>* cache) {
  std::weak_ptr<RuntimeCache> weak = *cache;
  cache->reset();
  EXPECT_TRUE(WaitFor([&] { return weak.expired(); }));
}

int EntriesIn(const std::string& path) {
  FileReport report;
  if (!inspect_file(path, &report).ok()) return -1;
  return static_cast<int>(report.entries);
}

TEST(Checkpoints, DirtyHandleIsSavedInTheBackground) {
  TempDir dir;
  const std::string path = dir.file("cp.rtc");
  Options options;
  options.path = path;
  options.checkpoint_interval = std::chrono::milliseconds(50);
  auto cache = RuntimeCache::create(options);
  for (int i = 0; i < 5; ++i) cache->put("cp-" + std::to_string(i), MakeValue("cp", i + 1));
  EXPECT_TRUE(WaitFor([&] { return EntriesIn(path) == 5; })) << "no checkpoint came";
  EXPECT_TRUE(WaitFor([&] { return !cache->has_unsaved_changes(); }));
  // Later changes are checkpointed too.
  cache->put("cp-5", MakeValue("cp", 6));
  EXPECT_TRUE(WaitFor([&] { return EntriesIn(path) == 6; }));
  EXPECT_TRUE(WaitFor([&] { return cache->stats().saves >= 2; }));
  DropAndWait(&cache);
}

TEST(Checkpoints, FailedCheckpointIsLoggedAndRetried) {
  testing::LogCapture log;
  TempDir dir;
  const std::string path = dir.file("cpf.rtc");
  FaultInjectionEnv env;
  env.fail_every(FaultOp::kSync, ENOSPC);
  Options options;
  options.path = path;
  options.env = &env;
  options.checkpoint_interval = std::chrono::milliseconds(20);
  auto cache = RuntimeCache::create(options);
  cache->put("k", MakeValue("k", 1));
  EXPECT_TRUE(WaitFor([&] { return log.contains("checkpoint failed"); }));
  EXPECT_TRUE(log.contains("No space left on device"));
  EXPECT_TRUE(cache->has_unsaved_changes());
  env.clear_faults();  // space again
  EXPECT_TRUE(WaitFor([&] { return EntriesIn(path) == 1; })) << "not retried";
  DropAndWait(&cache);  // before `env` goes
  EXPECT_EQ(env.syncs_after_failed_sync(), 0);
}

TEST(Checkpoints, WhatACheckpointSavedSurvivesSigkill) {
  TempDir dir;
  const std::string path = dir.file("cpk.rtc");
  Child child({kTestChild, "checkpoint", path, "50", "20"});
  std::string line;
  ASSERT_TRUE(child.read_line(&line, 60'000)) << child.err();
  ASSERT_EQ(line, "put");
  EXPECT_TRUE(WaitFor([&] { return EntriesIn(path) == 20; })) << "no checkpoint came";
  child.signal(SIGKILL);
  EXPECT_TRUE(Killed(child.wait(), SIGKILL));
  auto cache = OpenCache(path);
  for (int i = 0; i < 20; ++i) {
    const std::string key = "cp-" + std::to_string(i);
    Bytes v;
    ASSERT_OK(cache->get(key, &v)) << key;
    EXPECT_EQ(v.str(), MakeValue(key, 1));
  }
}

// --- save_on_signals --------------------------------------------------------------------------

TEST(SaveOnSignals, SigtermSavesThenTheProcessDiesOfIt) {
  TempDir dir;
  const std::string path = dir.file("sig.rtc");
  Child child({kTestChild, "signal-save", path, "5000", "10000"});
  std::string line;
  ASSERT_TRUE(child.read_line(&line, 60'000)) << child.err();
  ASSERT_EQ(line, "ready");
  Stopwatch watch;
  child.signal(SIGTERM);
  const int status = child.wait();
  const double ms = watch.milliseconds();
  EXPECT_TRUE(Killed(status, SIGTERM));
  auto cache = OpenCache(path);
  for (int i = 0; i < 10; ++i) {
    Bytes v;
    const std::string key = "sig-" + std::to_string(i);
    EXPECT_TRUE(cache->get(key, &v).ok() && v.str() == MakeValue(key, 1)) << key;
  }
  std::printf("[figures] save_on_signals: SIGTERM to death, 10 entries saved: %.1f ms\n", ms);
}

// A save that cannot finish (another process holds the lock; lock_timeout
// 10 s) does not hold the dying process past the deadline (300 ms): it dies
// of SIGTERM soon after, with a warning, and the file is not half-written.
TEST(SaveOnSignals, DeadlineBoundsAStuckSave) {
  TempDir dir;
  const std::string path = dir.file("stuck.rtc");
  Child holder({kTestChild, "hold-lock", path});
  std::string line;
  ASSERT_TRUE(holder.read_line(&line, 60'000)) << holder.err();
  ASSERT_EQ(line, "locked");
  Child child({kTestChild, "signal-save", path, "300", "10000"}, {.env = {"RTCACHE_LOG=warning"}});
  ASSERT_TRUE(child.read_line(&line, 60'000)) << child.err();
  ASSERT_EQ(line, "ready");
  Stopwatch watch;
  child.signal(SIGTERM);
  const int status = child.wait();
  const double seconds = watch.seconds();
  EXPECT_TRUE(Killed(status, SIGTERM));
  EXPECT_LT(seconds, 5.0) << "waited for the lock (10 s) instead of the deadline (0.3 s)";
  EXPECT_NE(child.err().find("deadline of 300 ms"), std::string::npos) << child.err();
  EXPECT_FALSE(testing::file_exists(path));
  holder.close_stdin();
  holder.wait();
  std::printf(
      "[figures] save_on_signals: a save stuck on a held lock; the process died %.2f s "
      "after SIGTERM (deadline 0.3 s, lock_timeout 10 s)\n",
      seconds);
}

}  // namespace
}  // namespace rtcache
