// Fault injection through the file-system seam (FaultInjectionEnv):
//  - every operation position N of a save (a first save into a new file, an
//    append save, a save that compacts) x ENOSPC/EIO/EDQUOT x once/sticky:
//    the save reports the error, the file still loads to the last durable
//    state, no temp file is left, the in-memory cache keeps working, a later
//    save succeeds and holds everything, and no fsync is retried on a File
//    whose fsync failed;
//  - a crash at every operation position of a sequence of saves, compactions
//    included, under several crash models: the file loads, holds every entry
//    of the saves that returned OK, nothing torn;
//  - the real kernel's short write (RLIMIT_FSIZE) in a child process.
// Scratch directories are RAM-backed where possible: these loops write
// thousands of small files and model durability themselves.
// Figures are printed as "[figures] ..." lines for docs/reliability.md.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "fault_env.h"
#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::CheckValue;
using testing::CrashData;
using testing::CrashNames;
using testing::FaultInjectionEnv;
using testing::FaultOp;
using testing::MakeValue;
using testing::TempDir;

using State = std::map<std::string, std::string>;

// One change: a put of MakeValue(key, version), or an erase (version 0).
struct Change {
  std::string key;
  uint64_t version = 0;
};

// A few values are tiny (stored raw), "big" ones are 1.5 MB that do not
// compress (a save of several spans more than one 4 MB write); the rest are
// MakeValue's 64 B to 4 KB.
std::string ValueOf(const std::string& key, uint64_t version) {
  if (key.starts_with("tiny")) return key + "#" + std::to_string(version);
  std::string value = MakeValue(key, version);
  if (key.starts_with("big")) {
    static std::map<std::string, std::string> made;  // made once: the matrix uses them often
    std::string& big = made[value];
    if (big.empty()) {
      std::mt19937_64 rng(std::hash<std::string>()(value));
      big = value;
      while (big.size() < (3u << 19)) {
        uint64_t word = rng();
        big.append(reinterpret_cast<const char*>(&word), sizeof word);
      }
    }
    return big;
  }
  return value;
}

void Apply(const std::vector<Change>& changes, RuntimeCache* cache, State* state) {
  for (const Change& c : changes) {
    if (c.version == 0) {
      if (cache) cache->erase(c.key);
      if (state) state->erase(c.key);
    } else {
      std::string value = ValueOf(c.key, c.version);
      if (cache) cache->put(c.key, value, "fault_test");
      if (state) (*state)[c.key] = value;
    }
  }
}

std::optional<std::string> Lookup(const State& state, const std::string& key) {
  auto it = state.find(key);
  if (it == state.end()) return std::nullopt;
  return it->second;
}

std::string Show(const std::optional<std::string>& v) {
  if (!v) return "<absent>";
  return v->substr(0, std::min<size_t>(v->size(), 24)) + "...(" + std::to_string(v->size()) +
         " bytes)";
}

// Loads the file with a fresh handle on the real file system: every entry it
// lists, read and verified. Problems (a value that cannot be read) are listed.
Status LoadState(const std::string& path, State* state, std::vector<std::string>* problems) {
  state->clear();
  Options options;
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  if (!s.ok()) return s;
  std::vector<EntryInfo> entries;
  s = cache->entries(&entries);
  if (!s.ok()) return s;
  for (const EntryInfo& e : entries) {
    Bytes value;
    Status g = cache->get(e.key, &value);
    if (g.ok()) {
      (*state)[e.key] = value.str();
    } else if (problems) {
      problems->push_back(e.key + ": " + g.to_string());
    }
  }
  return Status::OK();
}

enum class Action { kSave, kCompact, kRepair };

struct Scenario {
  const char* name;
  std::vector<std::vector<Change>> base;  // saves made (without faults) before
  std::vector<Change> change;             // the changes the operation under test saves
  Action action = Action::kSave;
  bool compacts = false;   // the operation under test compacts (eager thresholds)
  bool torn_tail = false;  // the base file ends with a torn record (a writer died)
};

std::vector<Scenario> Scenarios() {
  std::vector<Change> six = {{"a0", 1}, {"a1", 1}, {"a2", 1}, {"a3", 1}, {"a4", 1}, {"tiny0", 1}};
  std::vector<Change> overwrite = {{"a0", 2}, {"a1", 2}, {"a2", 2}, {"a3", 0}};
  return {
      {"first save (new file)", {}, six},
      {"append save", {six}, {{"b0", 1}, {"b1", 1}, {"tiny1", 1}, {"a0", 2}, {"a1", 0}}},
      {"compacting save",
       {six, overwrite},
       {{"c0", 1}, {"a0", 3}, {"a4", 2}, {"tiny0", 0}},
       Action::kSave,
       true},
      {"append save after a torn tail", {six}, {{"b0", 1}, {"a2", 2}}, Action::kSave, false, true},
      {"large append save (several writes)",
       {six},
       {{"big0", 1}, {"big1", 1}, {"big2", 1}, {"big3", 1}, {"a0", 2}}},
      {"large first save (several writes)",
       {},
       {{"big0", 1}, {"big1", 1}, {"big2", 1}, {"big3", 1}}},
      {"compact()", {six, overwrite}, {}, Action::kCompact, true},
      {"repair_file()", {six, overwrite}, {}, Action::kRepair, true},
  };
}

Options HandleOptions(const std::string& path, Env* env, bool compact_eagerly) {
  Options options;
  options.path = path;
  options.env = env;
  if (compact_eagerly) {
    options.compaction_min_dead_bytes = 1;
    options.compaction_dead_ratio = 0.05;
  }
  return options;
}

Status RunAction(const Scenario& sc, RuntimeCache* cache, const std::string& path, Env* env) {
  switch (sc.action) {
    case Action::kSave:
      return cache->save();
    case Action::kCompact:
      return cache->compact();
    case Action::kRepair: {
      RepairReport report;
      return repair_file(path, &report, HandleOptions(path, env, false));
    }
  }
  return Status::InvalidArgument("action");
}

// Builds the scenario's file; returns the durable state.
State BuildBase(const Scenario& sc, const std::string& path, FaultInjectionEnv* env) {
  State state;
  for (const auto& save : sc.base) {
    std::shared_ptr<RuntimeCache> cache;
    EXPECT_OK(RuntimeCache::open(HandleOptions(path, env, false), &cache));
    Apply(save, cache.get(), &state);
    Status s = cache->save();
    EXPECT_OK(s);
  }
  if (sc.torn_tail) {
    // Half a record, as a writer killed mid-append leaves it.
    Options options;
    auto donor = RuntimeCache::create(options);
    donor->put("torn", ValueOf("torn", 1));
    std::string image;
    EXPECT_OK(donor->serialize(&image));
    // The first record of the image starts right after its 64-byte header.
    uint32_t key_len, meta_len;
    uint64_t value_len;
    std::memcpy(&key_len, image.data() + 64 + 8, 4);
    std::memcpy(&meta_len, image.data() + 64 + 12, 4);
    std::memcpy(&value_len, image.data() + 64 + 16, 8);
    const size_t record_len = 56 + key_len + meta_len + value_len;
    std::string file = testing::read_file(path);
    testing::write_file(path, file + image.substr(64, record_len / 2));
  }
  return state;
}

std::string TempPrefix(const std::string& path) {
  return path.substr(path.find_last_of('/') + 1) + ".tmp-";
}

TEST(FaultInjection, EveryOperationOfASaveFailsCleanly) {
  testing::LogCapture log;
  const int kErrors[] = {ENOSPC, EIO, EDQUOT};
  int injected = 0, violations = 0, positions_total = 0;
  std::map<std::string, int> fired_ops;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) {
      ++violations;
      ADD_FAILURE() << what;
    }
  };

  for (const Scenario& sc : Scenarios()) {
    testing::Stopwatch scenario_watch;
    // A dry run counts the operations of the save under test.
    int total = 0;
    std::string trace_text;
    {
      TempDir dir(TempDir::Medium::kMemory);
      const std::string path = dir.file("kernels.rtc");
      FaultInjectionEnv env;
      env.set_real_syncs(false);
      BuildBase(sc, path, &env);
      std::shared_ptr<RuntimeCache> cache;
      ASSERT_OK(RuntimeCache::open(HandleOptions(path, &env, sc.compacts), &cache));
      Apply(sc.change, cache.get(), nullptr);
      env.reset_counts();
      Status s = RunAction(sc, cache.get(), path, &env);
      ASSERT_OK(s);
      if (sc.action == Action::kSave) {
        ASSERT_EQ(cache->stats().compactions, sc.compacts ? 1u : 0u) << sc.name;
      }
      total = env.ops();
      for (FaultOp op : env.trace()) trace_text += std::string(testing::fault_op_name(op)) + " ";
    }
    std::printf("[figures] %s: %d operations: %s\n", sc.name, total, trace_text.c_str());
    positions_total += total;

    for (int position = 1; position <= total; ++position) {
      for (int error : kErrors) {
        for (bool sticky : {false, true}) {
          const std::string where = std::string(sc.name) + ", operation " +
                                    std::to_string(position) + ", " + std::strerror(error) +
                                    (sticky ? ", sticky" : ", once");
          SCOPED_TRACE(where);
          TempDir dir(TempDir::Medium::kMemory);
          const std::string path = dir.file("kernels.rtc");
          FaultInjectionEnv env;
          env.set_real_syncs(false);
          const State before = BuildBase(sc, path, &env);
          State after = before;
          Apply(sc.change, nullptr, &after);

          std::shared_ptr<RuntimeCache> cache;
          ASSERT_OK(RuntimeCache::open(HandleOptions(path, &env, sc.compacts), &cache));
          Apply(sc.change, cache.get(), nullptr);
          const size_t logged_before = log.warnings().size();
          env.reset_counts();
          env.fail_at(position, error, sticky);
          Status s = RunAction(sc, cache.get(), path, &env);
          env.clear_faults();
          ++injected;
          check(env.fault_fired(), where + ": the fault did not fire");
          fired_ops[testing::fault_op_name(env.fired_op())]++;

          if (s.ok()) {
            // Only a compaction may fail without failing the save: the save
            // itself was durable before it started, and the failure is logged.
            check(sc.compacts && sc.action == Action::kSave,
                  where + ": reported OK despite the fault");
            const auto warnings = log.warnings();
            bool logged = false;
            for (size_t i = logged_before; i < warnings.size(); ++i) {
              logged = logged || warnings[i].find("compaction failed") != std::string::npos;
            }
            check(logged, where + ": compaction failure not logged");
          } else {
            check(s.is_io_error(), where + ": not an IOError: " + s.to_string());
            check(s.message().find(std::strerror(error)) != std::string::npos,
                  where + ": message lacks the reason: " + s.to_string());
            check(s.message().find(dir.path()) != std::string::npos,
                  where + ": message lacks the file: " + s.to_string());
            check(sc.action != Action::kSave || cache->stats().save_failures == 1,
                  where + ": save_failures not counted");
          }
          check(dir.names(TempPrefix(path)).empty(),
                where + ": a temp file is left after the failed save");

          // The file loads, to the durable state (or, for keys the failed save
          // touched, possibly to its new value); never anything else.
          State disk;
          std::vector<std::string> problems;
          Status ls = LoadState(path, &disk, &problems);
          check(ls.ok(), where + ": file does not load: " + ls.to_string());
          check(problems.empty(),
                where + ": unreadable entries: " + (problems.empty() ? "" : problems.front()));
          std::set<std::string> keys;
          for (const State* st : std::initializer_list<const State*>{&before, &after, &disk}) {
            for (const auto& [k, v] : *st) keys.insert(k);
          }
          for (const std::string& k : keys) {
            auto got = Lookup(disk, k), old_value = Lookup(before, k), new_value = Lookup(after, k);
            bool fine = s.ok() ? got == new_value : (got == old_value || got == new_value);
            check(fine, where + ": key " + k + " holds " + Show(got) + ", durable " +
                            Show(old_value) + ", attempted " + Show(new_value));
          }

          // The handle still works, with every change still in memory.
          for (const std::string& k : keys) {
            Bytes value;
            Status g = cache->get(k, &value);
            auto want = Lookup(after, k);
            check(want ? (g.ok() && value.str() == *want) : g.is_not_found(),
                  where + ": in-memory key " + k + ": " + g.to_string());
          }
          cache->put("after-fault", MakeValue("after-fault", 1));
          after["after-fault"] = MakeValue("after-fault", 1);

          // A later save without faults succeeds and holds everything.
          Status later = cache->save();
          check(later.ok(), where + ": later save failed: " + later.to_string());
          check(!cache->has_unsaved_changes(), where + ": changes left unsaved");
          if (sc.action != Action::kSave) {
            Status again = RunAction(sc, cache.get(), path, &env);
            check(again.ok(), where + ": the operation fails again: " + again.to_string());
          }
          Status ls2 = LoadState(path, &disk, nullptr);
          check(ls2.ok() && disk == after, where + ": after the later save the file differs");
          check(dir.names(TempPrefix(path)).empty(),
                where + ": a temp file is left after the later save");
          VerifyReport report;
          Status vs = verify_file(path, &report);
          check(vs.ok() && report.ok(),
                where + ": verify after the later save: " + vs.to_string() +
                    (report.ok() ? "" : " " + report.damaged.front().reason));
          check(env.syncs_after_failed_sync() == 0,
                where + ": File::sync called again after it failed");
          if (violations > 20) FAIL() << "too many violations; stopping";
        }
      }
    }
    std::printf("[figures] %s: %d x 6 faults in %.1f s\n", sc.name, total,
                scenario_watch.seconds());
  }
  std::string ops_text;
  for (const auto& [op, n] : fired_ops) ops_text += op + "=" + std::to_string(n) + " ";
  std::printf(
      "[figures] fault injection: %d operation positions x 3 errors (ENOSPC, EIO, EDQUOT) x "
      "2 modes (once, sticky) = %d faults injected (%s); violations: %d\n",
      positions_total, injected, ops_text.c_str(), violations);
  EXPECT_EQ(violations, 0);
}

// A failed fsync is never retried on the same File, and the next save (which
// opens the file anew) writes the changes again.
TEST(FaultInjection, FailedSyncIsNeverRetriedOnTheSameFile) {
  for (const Scenario& sc : Scenarios()) {
    SCOPED_TRACE(sc.name);
    TempDir dir(TempDir::Medium::kMemory);
    const std::string path = dir.file("kernels.rtc");
    FaultInjectionEnv env;
    env.set_real_syncs(false);
    State after = BuildBase(sc, path, &env);
    Apply(sc.change, nullptr, &after);
    std::shared_ptr<RuntimeCache> cache;
    ASSERT_OK(RuntimeCache::open(HandleOptions(path, &env, sc.compacts), &cache));
    Apply(sc.change, cache.get(), nullptr);
    // Every sync fails, for three attempts in a row: each attempt syncs once
    // and gives up, never syncing that File again.
    for (int attempt = 0; attempt < 3; ++attempt) {
      env.reset_counts();
      env.fail_every(FaultOp::kSync, EIO);
      Status s = RunAction(sc, cache.get(), path, &env);
      env.clear_faults();
      EXPECT_FALSE(s.ok()) << "attempt " << attempt;
      EXPECT_EQ(env.count(FaultOp::kSync), 1)
          << "attempt " << attempt << ": one sync, never retried";
      EXPECT_EQ(env.syncs_after_failed_sync(), 0);
    }
    Status s = RunAction(sc, cache.get(), path, &env);
    ASSERT_OK(s);
    if (sc.action == Action::kSave) {
      State disk;
      ASSERT_OK(LoadState(path, &disk, nullptr));
      EXPECT_EQ(disk, after);
    }
    EXPECT_EQ(env.syncs_after_failed_sync(), 0);
  }
}

// --- crashes -------------------------------------------------------------------------------

struct Step {
  std::vector<Change> changes;
  bool compact = false;  // compact() instead of save()
};

std::vector<Step> CrashSequence() {
  return {
      {{{"a0", 1}, {"a1", 1}, {"a2", 1}, {"a3", 1}, {"tiny0", 1}}},
      {{{"b0", 1}, {"b1", 1}, {"a0", 2}, {"a1", 0}}},
      {{{"a2", 2}, {"a3", 2}, {"b0", 2}, {"tiny0", 2}}},
      {{}, true},
      {{{"c0", 1}, {"c1", 1}, {"b1", 0}, {"a1", 3}}},
      {{{"a0", 3}, {"a2", 3}, {"a3", 3}, {"b0", 3}, {"c0", 2}, {"c1", 2}}},
      {{{"d0", 1}, {"tiny0", 0}}},
  };
}

struct CrashRun {
  int ok_steps = 0;
  int compactions = 0;
};

// Runs the sequence until a step fails (the crash); returns the states
// committed (after the last step that returned OK) and attempted.
CrashRun RunSequence(const std::string& path, FaultInjectionEnv* env, State* committed,
                     State* attempted) {
  CrashRun run;
  committed->clear();
  Options options = HandleOptions(path, env, false);
  options.compaction_min_dead_bytes = 1;
  options.compaction_dead_ratio = 0.4;
  auto cache = RuntimeCache::create(options);
  for (const Step& step : CrashSequence()) {
    *attempted = *committed;
    Apply(step.changes, cache.get(), attempted);
    Status s = step.compact ? cache->compact() : cache->save();
    if (!s.ok()) break;
    *committed = *attempted;
    ++run.ok_steps;
  }
  run.compactions = static_cast<int>(cache->stats().compactions);
  return run;
}

int SequenceOperationCount() {
  TempDir dir(TempDir::Medium::kMemory);
  FaultInjectionEnv env;
  env.set_real_syncs(false);
  State committed, attempted;
  CrashRun dry = RunSequence(dir.file("kernels.rtc"), &env, &committed, &attempted);
  EXPECT_EQ(dry.ok_steps, static_cast<int>(CrashSequence().size()));
  EXPECT_GE(dry.compactions, 2) << "the sequence must compact by itself and on request";
  return env.ops();
}

struct CrashMode {
  CrashData data;
  CrashNames names;
  int seeds;
};

struct CrashFigures {
  int crashes = 0;
  int violations = 0;
  int temps_after_next_save = 0;
};

// Crashes the sequence at every operation position (and once after its last
// operation) under each mode; checks what a new process finds.
CrashFigures CrashEverywhere(const std::vector<CrashMode>& modes, bool expect_clean_verify) {
  // Damaged records after a crash are logged; keep them out of the output.
  testing::LogCapture quiet(LogLevel::kOff);
  const int total = SequenceOperationCount();
  CrashFigures f;
  for (const CrashMode& mode : modes) {
    for (int position = 1; position <= total + 1; ++position) {
      for (int seed = 0; seed < mode.seeds; ++seed) {
        const std::string where = std::string(testing::crash_data_name(mode.data)) + "/" +
                                  testing::crash_names_name(mode.names) + ", crash at operation " +
                                  std::to_string(position) + " of " + std::to_string(total) +
                                  ", seed " + std::to_string(seed);
        TempDir dir(TempDir::Medium::kMemory);
        const std::string path = dir.file("kernels.rtc");
        FaultInjectionEnv env;
        env.set_real_syncs(false);
        env.crash_at(position);
        State committed, attempted;
        RunSequence(path, &env, &committed, &attempted);
        env.simulate_crash(mode.data, mode.names, 1000 * position + seed);
        ++f.crashes;
        // Every crash is checked; the first few violations are described.
        std::vector<std::string> wrong;

        // Every entry of the saves that returned OK is there, exactly; a key
        // the crashed save touched holds its old or its new value.
        State disk;
        std::vector<std::string> problems;
        Status ls = LoadState(path, &disk, &problems);
        if (!ls.ok()) wrong.push_back("does not load: " + ls.to_string());
        std::set<std::string> keys;
        for (const State* st : std::initializer_list<const State*>{&committed, &attempted, &disk}) {
          for (const auto& [k, v] : *st) keys.insert(k);
        }
        for (const std::string& k : keys) {
          auto got = Lookup(disk, k), c = Lookup(committed, k), a = Lookup(attempted, k);
          if (got != c && (c == a || got != a)) {
            wrong.push_back("key " + k + " holds " + Show(got) + ", committed " + Show(c) +
                            ", attempted " + Show(a));
          }
        }

        // Life goes on: the next save on the crashed file works.
        Options options;
        options.path = path;
        std::shared_ptr<RuntimeCache> next;
        Status os = RuntimeCache::open(options, &next);
        if (!os.ok()) wrong.push_back("next open: " + os.to_string());
        if (next) {
          next->put("after-crash", MakeValue("after-crash", 1));
          Status ss = next->save();
          if (!ss.ok()) wrong.push_back("next save: " + ss.to_string());
          if (expect_clean_verify) {
            VerifyReport report;
            Status vs = verify_file(path, &report);
            if (!vs.ok() || !report.ok()) {
              wrong.push_back("verify after the next save: " + vs.to_string() +
                              (report.ok() ? "" : " " + report.damaged.front().reason));
            }
          }
          if (!dir.names(TempPrefix(path)).empty()) {
            ++f.temps_after_next_save;
            wrong.push_back("a temp file the crash left outlives the next save");
          }
          Status cs = next->compact();
          if (!cs.ok()) wrong.push_back("compact: " + cs.to_string());
          if (!dir.names(TempPrefix(path)).empty()) {
            wrong.push_back("a temp file survives the next compaction");
          }
        }
        if (!wrong.empty()) {
          if (++f.violations <= 10) {
            std::string all;
            for (const std::string& w : wrong) all += "\n  " + w;
            ADD_FAILURE() << where << ":" << all;
          }
        }
      }
    }
  }
  return f;
}

// LevelDB's model (unsynced data lost) and a torn prefix of it, with unsynced
// renames and creations undone or kept.
TEST(CrashSimulation, EveryOperationPositionOfASequenceOfSaves) {
  const int total = SequenceOperationCount();
  CrashFigures f = CrashEverywhere({{CrashData::kDropUnsynced, CrashNames::kUndoUnsynced, 1},
                                    {CrashData::kDropUnsynced, CrashNames::kKeepAll, 1},
                                    {CrashData::kTornPrefix, CrashNames::kUndoUnsynced, 3},
                                    {CrashData::kTornPrefix, CrashNames::kKeepAll, 3}},
                                   /*expect_clean_verify=*/true);
  std::printf(
      "[figures] crash simulation: %d operation positions of 7 saves/compactions (+1 after the "
      "last) x 4 crash models (unsynced data dropped or a torn prefix of it kept, 3 seeds; "
      "unsynced renames undone or kept) = %d crashes; violations: %d; crashes whose temp file "
      "outlived the next save: %d\n",
      total, f.crashes, f.violations, f.temps_after_next_save);
  EXPECT_EQ(f.violations, 0);
}

// A disk may persist the sectors of an unsynced write in any order (SQLite's
// crash tests model this): a crash mid-save can then leave the new index on
// disk while some records it points to are not. A key whose earlier value was
// durable must still read as that value (or as the new one), never vanish.
TEST(CrashSimulation, SectorsPersistedOutOfOrderLoseNoCommittedValue) {
  const int total = SequenceOperationCount();
  CrashFigures f = CrashEverywhere({{CrashData::kReorderSectors, CrashNames::kUndoUnsynced, 5},
                                    {CrashData::kReorderSectors, CrashNames::kKeepAll, 5}},
                                   /*expect_clean_verify=*/false);
  std::printf(
      "[figures] crash simulation, sectors persisted out of order: %d operation positions x 2 "
      "name models x 5 seeds = %d crashes; violations: %d\n",
      total, f.crashes, f.violations);
  EXPECT_EQ(f.violations, 0);
}

// A writer that dies after writing its compacted temp file leaves it behind;
// the next save (which holds the lock, so no live writer can own that temp
// file) should remove it rather than leave a cache-sized file until some later
// compaction.
TEST(CrashSimulation, TempFileLeftByACrashIsRemovedByTheNextSave) {
  // Crash compact() at its rename: the operation position where the crash
  // hits the rename (it depends on what a save does before it, so it is
  // found rather than assumed).
  for (int position = 1; position <= 64; ++position) {
    TempDir dir(TempDir::Medium::kMemory);
    const std::string path = dir.file("kernels.rtc");
    FaultInjectionEnv env;
    env.set_real_syncs(false);
    {
      auto cache = RuntimeCache::create(HandleOptions(path, &env, false));
      Apply({{"a0", 1}, {"a1", 1}, {"a2", 1}}, cache.get(), nullptr);
      ASSERT_OK(cache->save());
      Apply({{"a0", 2}, {"a1", 2}}, cache.get(), nullptr);
      ASSERT_OK(cache->save());
      env.reset_counts();
      env.crash_at(position);
      if (cache->compact().ok()) FAIL() << "compact() never reached its rename";
      if (!env.fault_fired() || env.fired_op() != FaultOp::kRename) continue;
    }
    env.simulate_crash(CrashData::kDropUnsynced, CrashNames::kKeepAll, 1);
    ASSERT_EQ(dir.names(TempPrefix(path)).size(), 1u);

    Options options;
    options.path = path;
    std::shared_ptr<RuntimeCache> next;
    ASSERT_OK(RuntimeCache::open(options, &next));
    next->put("b0", MakeValue("b0", 1));
    ASSERT_OK(next->save());
    EXPECT_TRUE(dir.names(TempPrefix(path)).empty())
        << "the temp file a crashed compaction left (" << testing::file_size(path)
        << "-byte cache) is still there after the next save";
    return;
  }
  FAIL() << "no operation position of compact() ended at a rename";
}

// The real kernel's short write: under RLIMIT_FSIZE a write that crosses the
// limit is cut short and the next one fails with EFBIG. The save reports it,
// the file keeps its previous state, and the changes save once the limit is
// gone.
TEST(FaultInjection, RealShortWriteUnderFileSizeLimit) {
  TempDir dir(TempDir::Medium::kMemory);
  const std::string path = dir.file("kernels.rtc");
  State before;
  {
    Options options;
    options.path = path;
    auto cache = RuntimeCache::create(options);
    Apply({{"a0", 1}, {"a1", 1}, {"a2", 1}}, cache.get(), &before);
    ASSERT_OK(cache->save());
  }
  testing::ChildResult r = testing::run_child({testing::kTestChild, "fsize-save", path});
  ASSERT_TRUE(testing::Exited(r.status, 0)) << r.err;
  EXPECT_NE(r.out.find("status IO error"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("File too large"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("retry OK"), std::string::npos) << r.out;
  State disk;
  ASSERT_OK(LoadState(path, &disk, nullptr));
  for (const auto& [k, v] : before) EXPECT_EQ(Lookup(disk, k), v) << k;
  for (int i = 0; i < 8; ++i) {
    std::string key = "big-" + std::to_string(i);
    EXPECT_EQ(Lookup(disk, key), MakeValue(key, 1)) << key;
  }
}

}  // namespace
}  // namespace rtcache
