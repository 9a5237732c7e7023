// Kill loops: a child saves in a loop (the cache growing, overwrites and
// erases, compacting now and then) and is SIGKILLed at a random moment; after
// each kill the file opens, holds every entry whose save had returned before
// the kill, byte-exact, never anything torn, and verify_file finds nothing but
// a torn tail. 100 kills in the default run, 1,000 under the `slow` label.
//
// The random delays only pick where the kill lands; no check depends on them.
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

#include "fault_env.h"
#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::CheckValue;
using testing::DescribeStatus;
using testing::FilesWithPrefix;
using testing::Subprocess;
using testing::TempDir;

constexpr const char* kChild = RTCACHE_reliability_child_PATH;

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
  int corrupt_loads = 0;     // must stay 0
  uint64_t max_file_bytes = 0;
};

void RunKillLoop(int kills, uint64_t seed, int max_delay_us) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  std::mt19937_64 rng(seed);
  Model model;
  Totals t;
  auto corrupt = [&](const std::string& what) {
    ++t.corrupt_loads;
    ADD_FAILURE() << what;
  };
  const auto started = std::chrono::steady_clock::now();

  for (int run = 1; run <= kills; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    Subprocess child({kChild, "saver", path, std::to_string(run)});
    std::string line;
    if (!child.read_line(&line, 60'000) || line != "ready") {
      child.wait();
      FAIL() << "saver did not start: " << line << " " << child.stderr_text();
    }
    // Where the kill lands: anywhere from before the first save to a few
    // dozen saves (and compactions) later.
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % max_delay_us));
    child.signal(SIGKILL);
    int status = child.wait();
    ++t.kills;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      corrupt("saver ended by itself (" + DescribeStatus(status) + "): " + child.stderr_text());
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

    // The file as a new process sees it.
    Options options;
    options.path = path;
    std::shared_ptr<RuntimeCache> cache;
    Status s = RuntimeCache::open(options, &cache);
    if (!s.ok()) {
      corrupt("open after kill: " + s.to_string());
      return;
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
    size_t temps = FilesWithPrefix(dir.path(), "kernels.rtc.tmp-").size();
    t.temps_seen += static_cast<int>(temps);
    if (temps > 1) corrupt("temp files pile up: " + std::to_string(temps));
    t.max_file_bytes = std::max<uint64_t>(t.max_file_bytes, testing::file_size(path));
    model = std::move(disk);
    if (t.corrupt_loads > 10) FAIL() << "too many failures; stopping";
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "[figures] kill loop: %d SIGKILLs, %d saves reported before a kill, %d kills with a save "
      "in flight (%d of them landed anyway), %d torn tails seen (cut by the next save), %d "
      "stale temp files seen (removed by the next save), largest file %llu bytes, %zu "
      "entries at the end; corrupt loads: %d (%.1f s)\n",
      t.kills, t.commits, t.in_flight, t.in_flight_landed, t.torn_tails, t.temps_seen,
      static_cast<unsigned long long>(t.max_file_bytes), model.size(), t.corrupt_loads, seconds);
  EXPECT_EQ(t.corrupt_loads, 0);
  EXPECT_GE(t.commits, kills) << "the kills should mostly land after some saves";
}

#ifndef RTCACHE_RELIABILITY_SLOW

TEST(KillLoop, HundredKillsLoseNothingThatWasSaved) {
  RunKillLoop(100, 20240501, 40'000);
}

#else

// 1,000 kills in four tests of 250 (each its own CTest test, with its own
// time limit), with different seeds and kill windows.
TEST(KillLoopSlow, Part1) {
  RunKillLoop(250, 1, 40'000);
}
TEST(KillLoopSlow, Part2) {
  RunKillLoop(250, 2, 10'000);
}
TEST(KillLoopSlow, Part3) {
  RunKillLoop(250, 3, 80'000);
}
TEST(KillLoopSlow, Part4) {
  RunKillLoop(250, 4, 25'000);
}

#endif

}  // namespace
}  // namespace rtcache
