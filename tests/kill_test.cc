// Kill loops: a child saves in a loop (the cache growing, overwrites and
// erases, compacting now and then) and is SIGKILLed at a random moment; after
// each kill the file opens, holds every entry whose save had returned before
// the kill, byte-exact, never anything torn, and verify_file finds nothing but
// a torn tail. 100 kills in the default run, 1,000 under the `slow` label.
//
// The random delays only pick where the kill lands; no check depends on them.
// A kill that lands before the first save ever completed may leave no file at
// all, which is correct (nothing was acknowledged): it is counted, not failed.
// The loop fails only on a defect: a file that exists but does not load or
// verify, a value that is torn or not what was saved, a key whose save was
// acknowledged missing, a file gone after a save was acknowledged, or temp
// files piling up.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::CheckValue;
using testing::Child;
using testing::DescribeStatus;
using testing::kTestChild;
using testing::TempDir;

// key -> version of its value (present keys only).
using Model = std::map<std::string, uint64_t>;

struct Op {
  std::string key;
  uint64_t version = 0;  // 0: erase
};

struct Totals {
  int kills = 0;
  int commits = 0;           // saves reported done before a kill
  int in_flight = 0;         // kills that hit between "changes printed" and "C"
  int in_flight_landed = 0;  // ... whose changes were found in the file anyway
  int torn_tails = 0;        // verify_file reports of a torn tail / unindexed end
  int temps_seen = 0;        // temp files present after a kill (removed by the next save)
  int no_file_yet = 0;       // kills before any save completed that left no file (correct)
  int corrupt_loads = 0;     // must stay 0
  uint64_t max_file_bytes = 0;
};

// Runs `kills` savers, each SIGKILLed after a random delay below
// max_delay_us, checking the file after each; returns the figures.
Totals RunKillLoop(int kills, uint64_t seed, int max_delay_us) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  std::mt19937_64 rng(seed);
  Model model;
  Totals t;
  bool ever_committed = false;  // some save reported done, in this run or an earlier one
  auto corrupt = [&](const std::string& what) {
    ++t.corrupt_loads;
    ADD_FAILURE() << what;
  };
  testing::Stopwatch watch;

  for (int run = 1; run <= kills; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    Child child({kTestChild, "saver", path, std::to_string(run)});
    std::string line;
    if (!child.read_line(&line, 60'000) || line != "ready") {
      child.wait();
      ADD_FAILURE() << "saver did not start: " << line << " " << child.err();
      return t;
    }
    // Where the kill lands: anywhere from before the first save to a few
    // dozen saves (and compactions) later.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % max_delay_us));
    child.signal(SIGKILL);
    int status = child.wait();
    ++t.kills;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      corrupt("saver ended by itself (" + DescribeStatus(status) + "): " + child.err());
    }

    // Replay what the child reported.
    std::vector<Op> pending;
    Model committed = model;
    for (const std::string& l : child.take_lines()) {
      if (l == "C") {
        for (const Op& op : pending) {
          if (op.version) {
            committed[op.key] = op.version;
          } else {
            committed.erase(op.key);
          }
        }
        pending.clear();
        ++t.commits;
      } else if (l.starts_with("W ")) {
        size_t space = l.rfind(' ');
        pending.push_back({l.substr(2, space - 2), std::stoull(l.substr(space + 1))});
      } else if (l.starts_with("E ")) {
        pending.push_back({l.substr(2), 0});
      } else if (l.starts_with("F ")) {
        corrupt("saver reported a failure: " + l);
      }
    }
    // The final state of each key the in-flight save touched.
    std::map<std::string, uint64_t> in_flight;
    for (const Op& op : pending) in_flight[op.key] = op.version;
    if (!in_flight.empty()) ++t.in_flight;
    ever_committed = ever_committed || t.commits > 0;

    // A killed save may leave its temp file; the next save removes it.
    const size_t temps = dir.names("kernels.rtc.tmp-").size();
    t.temps_seen += static_cast<int>(temps);
    if (temps > 1) corrupt("temp files pile up: " + std::to_string(temps));

    // No file: correct only while no save has ever been acknowledged (the
    // kill landed before the first save completed, or during it).
    if (!testing::file_exists(path)) {
      if (ever_committed) {
        corrupt("the file is gone although saves were acknowledged");
      } else {
        ++t.no_file_yet;
      }
      if (t.corrupt_loads > 10) {
        ADD_FAILURE() << "too many failures; stopping";
        return t;
      }
      continue;
    }

    // The file as a new process sees it.
    Options options;
    options.path = path;
    std::shared_ptr<RuntimeCache> cache;
    Status s = RuntimeCache::open(options, &cache);
    if (!s.ok()) {
      corrupt("open after kill: " + s.to_string());
      return t;
    }
    std::vector<EntryInfo> entries;
    s = cache->entries(&entries);
    if (!s.ok()) corrupt("entries after kill: " + s.to_string());
    Model disk;
    for (const EntryInfo& e : entries) {
      Bytes value;
      Status g = cache->get(e.key, &value);
      std::string key;
      uint64_t version = 0;
      if (!g.ok()) {
        corrupt("entry " + e.key + " unreadable: " + g.to_string());
      } else if (!CheckValue(value.view(), &key, &version) || key != e.key) {
        corrupt("entry " + e.key + " holds a torn or foreign value");
      } else {
        disk[e.key] = version;
      }
    }
    std::set<std::string> keys;
    for (const auto& [k, v] : committed) keys.insert(k);
    for (const auto& [k, v] : disk) keys.insert(k);
    for (const auto& [k, v] : in_flight) keys.insert(k);
    bool landed = false;
    for (const std::string& k : keys) {
      auto find = [&](const Model& m) -> uint64_t {
        auto it = m.find(k);
        return it == m.end() ? 0 : it->second;
      };
      const uint64_t got = find(disk), want = find(committed);
      auto flight = in_flight.find(k);
      if (got == want) continue;
      if (flight != in_flight.end() && got == flight->second) {
        landed = true;
        continue;
      }
      corrupt("key " + k + ": file has version " + std::to_string(got) + ", committed " +
              std::to_string(want) +
              (flight != in_flight.end() ? ", in flight " + std::to_string(flight->second) : ""));
    }
    if (landed) ++t.in_flight_landed;

    VerifyReport report;
    s = verify_file(path, &report);
    if (!s.ok()) corrupt("verify_file: " + s.to_string());
    for (const DamagedRecord& d : report.damaged) {
      if (d.reason.find("torn tail") != std::string::npos ||
          d.reason.find("no index covers the end") != std::string::npos) {
        ++t.torn_tails;
      } else {
        corrupt("verify_file: damage at " + std::to_string(d.offset) + ": " + d.reason);
      }
    }
    t.max_file_bytes = std::max<uint64_t>(t.max_file_bytes, testing::file_size(path));
    model = std::move(disk);
    if (t.corrupt_loads > 10) {
      ADD_FAILURE() << "too many failures; stopping";
      return t;
    }
  }
  const double seconds = watch.seconds();
  std::printf(
      "[figures] kill loop: %d SIGKILLs (%d before any save completed, leaving no file), %d "
      "saves reported before a kill, %d kills with a save in flight (%d of them landed "
      "anyway), %d torn tails seen (cut by the next save), %d stale temp files seen (removed "
      "by the next save), largest file %llu bytes, %zu entries at the end; corrupt loads: %d "
      "(%.1f s)\n",
      t.kills, t.no_file_yet, t.commits, t.in_flight, t.in_flight_landed, t.torn_tails,
      t.temps_seen, static_cast<unsigned long long>(t.max_file_bytes), model.size(),
      t.corrupt_loads, seconds);
  EXPECT_EQ(t.corrupt_loads, 0);
  return t;
}

#ifndef RTCACHE_RELIABILITY_SLOW

TEST(KillLoop, HundredKillsLoseNothingThatWasSaved) {
  const Totals t = RunKillLoop(100, 20240501, 40'000);
  // Where the kills land is up to the scheduler; that some saves completed at
  // all is what makes the loop a test of anything.
  EXPECT_GT(t.commits, 0) << "no save ever completed before a kill";
}

// Kills at once, most of them before the first save completes: each leaves
// no file (or a first save that landed), and none of that is a failure.
TEST(KillLoop, KillsBeforeTheFirstSaveAreNotFailures) {
  const Totals t = RunKillLoop(5, 7, 1);
  EXPECT_EQ(t.kills, 5);
}

#else

// 1,000 kills in four tests of 250 (each its own CTest test, with its own
// time limit), with different seeds and kill windows.
struct KillPart {
  uint64_t seed;
  int max_delay_us;
};

class KillLoopSlow : public ::testing::TestWithParam<KillPart> {};

TEST_P(KillLoopSlow, TwoHundredFiftyKills) {
  const Totals t = RunKillLoop(250, GetParam().seed, GetParam().max_delay_us);
  EXPECT_GT(t.commits, 0) << "no save ever completed before a kill";
}

INSTANTIATE_TEST_SUITE_P(Parts, KillLoopSlow,
                         ::testing::Values(KillPart{1, 40'000}, KillPart{2, 10'000},
                                           KillPart{3, 80'000}, KillPart{4, 25'000}));

#endif

}  // namespace
}  // namespace rtcache
