// Concurrency between processes: 8 and 32 writers put disjoint keys into one
// file at once (half of them compacting now and then) while reader processes
// load and read it, checking every value they get; the final file holds the
// union, byte-exact. Lock-wait times are printed (never asserted). The lock:
// a SIGKILLed holder frees it at once, a SIGSTOPped holder makes others time
// out with LockTimeout (a logged warning on the autosave path) instead of
// hanging, and closing another descriptor of the lock file in the holding
// process does not drop it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fault_env.h"
#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using namespace testing;  // the kit (test_util.h)

struct Load {
  int writers;
  int readers;
  int keys_per_writer;
  int rounds;
};

class Concurrency : public ::testing::TestWithParam<Load> {};

TEST_P(Concurrency, WritersAndReadersLoseNothing) {
  const Load& load = GetParam();
  TempDir dir;
  const std::string path = dir.file("shared.rtc");
  Stopwatch watch;
  // Readers first, so that they read while the file is written.
  std::vector<std::unique_ptr<Child>> readers;
  for (int r = 0; r < load.readers; ++r) {
    readers.push_back(
        std::make_unique<Child>(std::vector<std::string>{kTestChild, "reader", path}));
  }
  std::vector<std::unique_ptr<Child>> writers;
  for (int w = 0; w < load.writers; ++w) {
    writers.push_back(std::make_unique<Child>(std::vector<std::string>{
        kTestChild, "putter", path, std::to_string(w), std::to_string(load.keys_per_writer),
        std::to_string(load.rounds), w % 2 ? "1" : "0"}));
  }
  for (auto& w : writers) {
    std::string line;
    ASSERT_TRUE(w->read_line(&line, 60'000) && line == "ready") << w->err();
  }
  for (auto& w : writers) w->write_stdin("g");  // all start together

  std::vector<int64_t> waits;
  int failed_writers = 0;
  for (auto& w : writers) {
    int status = w->wait();
    bool done = false;
    for (const std::string& line : w->take_lines()) {
      if (line.starts_with("wait ")) waits.push_back(std::stoll(line.substr(5)));
      if (line == "done") done = true;
      if (line.starts_with("F ")) ADD_FAILURE() << "writer: " << line;
    }
    if (!done || !Exited(status, 0)) {
      ++failed_writers;
      ADD_FAILURE() << "writer ended with " << DescribeStatus(status) << ": " << w->err();
    }
  }
  uint64_t reads = 0, loads = 0;
  for (auto& r : readers) {
    r->close_stdin();
    int status = r->wait();
    for (const std::string& line : r->take_lines()) {
      unsigned long long n = 0, m = 0;
      if (std::sscanf(line.c_str(), "reads %llu loads %llu", &n, &m) == 2) {
        reads += n;
        loads += m;
      } else {
        ADD_FAILURE() << "reader: " << line;  // "BAD ...": a torn or wrong value
      }
    }
    EXPECT_TRUE(Exited(status, 0)) << "reader: " << r->err();
  }

  // The union, byte-exact.
  auto cache = OpenCache(path);
  int written = 0, lost = 0;
  for (int w = 0; w < load.writers; ++w) {
    for (int i = 0; i < load.keys_per_writer; ++i) {
      const std::string key = "w" + std::to_string(w) + "-" + std::to_string(i);
      ++written;
      Bytes value;
      Status s = cache->get(key, &value);
      if (!s.ok() || value.str() != MakeValue(key, 1)) {
        ++lost;
        if (lost < 5) ADD_FAILURE() << key << ": " << s.to_string();
      }
    }
  }
  EXPECT_EQ(cache->size(), static_cast<size_t>(written)) << "no key appears from nowhere";
  VerifyReport report;
  Status vs = verify_file(path, &report);
  EXPECT_TRUE(vs.ok() && report.ok()) << vs.to_string();

  std::sort(waits.begin(), waits.end());
  auto pct = [&](double p) -> double {
    if (waits.empty()) return 0;
    size_t i = std::min(waits.size() - 1, static_cast<size_t>(p * waits.size()));
    return waits[i] / 1000.0;
  };
  const double seconds = watch.seconds();
  std::printf(
      "[figures] concurrency: %d writer processes (%d compacting) + %d reader processes, %d keys "
      "written in %d saves, keys lost: %d, torn values read: 0 (%llu values read over %llu "
      "loads); lock wait per save/compaction: p50 %.2f ms, p99 %.2f ms, max %.2f ms over %zu "
      "lock acquisitions (%.1f s)\n",
      load.writers, load.writers / 2, load.readers, written, load.writers * load.rounds, lost,
      static_cast<unsigned long long>(reads), static_cast<unsigned long long>(loads), pct(0.5),
      pct(0.99), waits.empty() ? 0.0 : waits.back() / 1000.0, waits.size(), seconds);
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(failed_writers, 0);
}

#ifndef RTCACHE_RELIABILITY_SLOW

INSTANTIATE_TEST_SUITE_P(Loads, Concurrency,
                         ::testing::Values(Load{8, 3, 200, 10}, Load{32, 4, 50, 5}),
                         [](const ::testing::TestParamInfo<Load>& info) {
                           return std::to_string(info.param.writers) + "Writers";
                         });

// --- the lock -------------------------------------------------------------------------------

std::unique_ptr<Child> HoldLock(const std::string& path) {
  auto holder = std::make_unique<Child>(std::vector<std::string>{kTestChild, "hold-lock", path});
  std::string line;
  EXPECT_TRUE(holder->read_line(&line, 60'000)) << holder->err();
  EXPECT_EQ(line, "locked");
  return holder;
}

std::string TryLockFromAnotherProcess(const std::string& path, int ms) {
  testing::ChildResult r = testing::run_child({kTestChild, "try-lock", path, std::to_string(ms)});
  return r.out.empty() ? "no output: " + r.err : r.out.substr(0, r.out.find('\n'));
}

TEST(Lock, KilledHolderFreesTheLockAtOnce) {
  TempDir dir;
  const std::string path = dir.file("k.rtc");
  auto holder = HoldLock(path);
  EXPECT_EQ(TryLockFromAnotherProcess(path, 50), "timeout") << "the holder holds it";
  holder->signal(SIGKILL);
  ASSERT_TRUE(Killed(holder->wait(), SIGKILL));
  // Free at once: a single non-waiting attempt gets it.
  {
    std::unique_ptr<FileLock> lock;
    EXPECT_OK(Env::default_env()->lock(path + ".lock", 0600, std::chrono::milliseconds(0), &lock));
  }
  Options options;
  options.path = path;
  auto cache = RuntimeCache::create(options);
  cache->put("k", MakeValue("k", 1));
  Stopwatch watch;
  Status s = cache->save();
  const double ms = watch.milliseconds();
  EXPECT_OK(s);
  std::printf(
      "[figures] lock: save right after the holder was SIGKILLed took %.1f ms "
      "(lock_timeout 10 s)\n",
      ms);
}

TEST(Lock, StoppedHolderMakesOthersTimeOutNotHang) {
  testing::LogCapture log;
  TempDir dir;
  const std::string path = dir.file("s.rtc");
  Options options;
  options.path = path;
  options.lock_timeout = std::chrono::milliseconds(200);
  {
    auto first = RuntimeCache::create(options);
    first->put("base", MakeValue("base", 1));
    ASSERT_OK(first->save());
  }
  auto holder = HoldLock(path);
  holder->signal(SIGSTOP);
  // An explicit save: a clear error naming the lock file.
  auto cache = RuntimeCache::create(options);
  cache->put("k", MakeValue("k", 1));
  Stopwatch watch;
  Status s = cache->save();
  const double ms = watch.milliseconds();
  EXPECT_TRUE(s.is_lock_timeout()) << s.to_string();
  EXPECT_NE(s.message().find(path + ".lock"), std::string::npos) << s.to_string();
  EXPECT_TRUE(cache->has_unsaved_changes());
  // compact() and the maintenance functions time out the same way.
  EXPECT_TRUE(cache->compact().is_lock_timeout());
  RepairReport repaired;
  EXPECT_TRUE(repair_file(path, &repaired, options).is_lock_timeout());
  // The autosave path: a warning naming the file, nothing thrown.
  {
    Options autosaving = options;
    autosaving.autosave_on_del = true;
    auto handle = RuntimeCache::create(autosaving);
    handle->put("a", MakeValue("a", 1));
  }  // destroyed: autosave runs, times out, logs
  const std::string logged = log.text();
  EXPECT_NE(logged.find("autosave"), std::string::npos) << logged;
  EXPECT_NE(logged.find("failed"), std::string::npos) << logged;
  EXPECT_NE(logged.find(path + ".lock"), std::string::npos) << logged;
  EXPECT_NE(logged.find("held by another process"), std::string::npos) << logged;
  // Once the holder goes on and lets go, the changes still in memory save.
  holder->signal(SIGCONT);
  holder->close_stdin();
  holder->wait();
  EXPECT_OK(cache->save());
  std::printf(
      "[figures] lock: a save against a SIGSTOPped holder gave %s after %.0f ms "
      "(lock_timeout 200 ms)\n",
      std::string(code_name(s.code())).c_str(), ms);
}

TEST(Lock, ClosingAnotherDescriptorOfTheLockFileKeepsTheLock) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  const std::string lock_path = path + ".lock";
  {
    std::unique_ptr<FileLock> lock;
    ASSERT_OK(Env::default_env()->lock(lock_path, 0600, std::chrono::seconds(1), &lock));
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::close(fd);  // with POSIX record locks this would drop the lock
    EXPECT_EQ(TryLockFromAnotherProcess(path, 100), "timeout");
  }
  EXPECT_EQ(TryLockFromAnotherProcess(path, 100), "locked");

  // The same, in the middle of a real save (the lock is held while it writes).
  FaultInjectionEnv env;
  std::string during_save;
  env.set_hook([&](FaultOp op, int) {
    if (op != FaultOp::kWrite || !during_save.empty()) return;
    int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    during_save = TryLockFromAnotherProcess(path, 100);
  });
  Options options;
  options.path = path;
  options.env = &env;
  auto cache = RuntimeCache::create(options);
  cache->put("k", MakeValue("k", 1));
  ASSERT_OK(cache->save());
  EXPECT_EQ(during_save, "timeout") << "another process got the lock during a save";
}

#else

INSTANTIATE_TEST_SUITE_P(ManyRounds, Concurrency,
                         ::testing::Values(Load{32, 8, 200, 20}, Load{8, 8, 1000, 50}),
                         [](const ::testing::TestParamInfo<Load>& info) {
                           return std::to_string(info.param.writers) + "Writers";
                         });

#endif

}  // namespace
}  // namespace rtcache
