// Lifecycle of RuntimeCache handles in one process: autosave in the
// destructor and through autosave_now(), the exit registry, clone(),
// implicit_for(). How real processes end (return, exit, static objects,
// _exit, fork, signals, dlclose) is exit_paths_test.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::file_exists;
using testing::LogCapture;
using testing::MakeValue;
using testing::TempDir;
using testing::write_file;

std::string Key(int i) {
  return "k" + std::to_string(i);
}

Options PathOptions(const std::string& path, bool autosave) {
  Options options;
  options.path = path;
  options.autosave_on_del = autosave;
  return options;
}

void PutKeys(RuntimeCache& cache, int n) {
  for (int i = 0; i < n; ++i) cache.put(Key(i), MakeValue(Key(i)));
}

// Opens `path` in a fresh handle and checks it holds exactly k0..k<n-1>.
void ExpectFileHoldsKeys(const std::string& path, int n) {
  auto cache = testing::OpenCache(path);
  EXPECT_EQ(cache->size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Bytes value;
    ASSERT_OK(cache->get(Key(i), &value));
    EXPECT_EQ(value.str(), MakeValue(Key(i)));
  }
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// A cache path whose parent is a regular file: creating the directory fails
// with ENOTDIR, which (unlike permission bits) stops root too.
std::string UnsavablePath(const TempDir& dir) {
  write_file(dir.file("not-a-dir"), "x");
  return dir.file("not-a-dir") + "/cache.rtc";
}

// Exactly one warning was logged, and it names `path`.
void ExpectOneWarningNaming(LogCapture& logs, const std::string& path) {
  std::vector<std::string> warnings = logs.warnings();
  ASSERT_EQ(warnings.size(), 1u) << logs.text();
  EXPECT_TRUE(Contains(warnings[0], path)) << "the warning names the file: " << warnings[0];
}

// --- autosave in-process ---------------------------------------------------------

TEST(LifecycleTest, DestructorSavesAutosavingHandle) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  {
    auto cache = RuntimeCache::create(PathOptions(path, true));
    PutKeys(*cache, 20);
    EXPECT_FALSE(file_exists(path)) << "nothing is written before the handle dies";
  }
  ExpectFileHoldsKeys(path, 20);
}

TEST(LifecycleTest, DestructorSaveFailureIsLoggedOnceAndNotThrown) {
  TempDir dir;
  const std::string path = UnsavablePath(dir);
  LogCapture logs;
  {
    auto cache = RuntimeCache::create(PathOptions(path, true));
    PutKeys(*cache, 3);
  }  // the destructor is noexcept: an escaping error would terminate the test
  ExpectOneWarningNaming(logs, path);
}

TEST(LifecycleTest, AutosaveNowFailureCountsAndLogsOnceAndIsNotRetriedOnDestruction) {
  TempDir dir;
  const std::string path = UnsavablePath(dir);
  LogCapture logs;
  auto cache = RuntimeCache::create(PathOptions(path, true));
  PutKeys(*cache, 3);
  cache->autosave_now();
  EXPECT_FALSE(cache->autosave_on_del()) << "autosave is turned off before saving";
  EXPECT_EQ(cache->stats().save_failures, 1u);
  EXPECT_EQ(cache->stats().saves, 0u);
  EXPECT_EQ(cache->size(), 3u) << "a failed save keeps the entries";
  cache.reset();  // autosave is off: the destructor must not try (and log) again
  ExpectOneWarningNaming(logs, path);
}

TEST(LifecycleTest, AutosaveNowSavesOnceAndTurnsAutosaveOff) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  const size_t baseline = exit_registry_size();
  auto cache = RuntimeCache::create(PathOptions(path, true));
  EXPECT_EQ(exit_registry_size(), baseline + 1);
  PutKeys(*cache, 5);

  EXPECT_TRUE(cache->autosave_now());
  EXPECT_FALSE(cache->autosave_on_del());
  EXPECT_EQ(cache->exit_token(), 0u) << "turning autosave off unregisters";
  EXPECT_EQ(exit_registry_size(), baseline);
  EXPECT_EQ(cache->stats().saves, 1u);
  ExpectFileHoldsKeys(path, 5);

  // Second call: autosave is off, so nothing runs, even with new entries.
  cache->put("late", "late value");
  EXPECT_FALSE(cache->autosave_now());
  EXPECT_EQ(cache->stats().saves, 1u);
  cache.reset();
  ExpectFileHoldsKeys(path, 5);  // "late" was never saved
}

TEST(LifecycleTest, AutosaveNowOnUserBuiltHandleDoesNothing) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto cache = RuntimeCache::create(PathOptions(path, false));
  PutKeys(*cache, 2);
  EXPECT_FALSE(cache->autosave_now());
  EXPECT_EQ(cache->stats().saves, 0u);
  EXPECT_FALSE(file_exists(path));
}

TEST(LifecycleTest, UserBuiltHandleDoesNotAutosaveByDefault) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  const size_t baseline = exit_registry_size();
  Options options;
  options.path = path;  // autosave_on_del left at its default
  auto cache = RuntimeCache::create(options);
  EXPECT_FALSE(cache->autosave_on_del());
  EXPECT_EQ(cache->exit_token(), 0u);
  EXPECT_EQ(exit_registry_size(), baseline);
  PutKeys(*cache, 4);
  cache.reset();
  EXPECT_FALSE(file_exists(path));
}

TEST(LifecycleTest, ExitRegistryShrinksBackAfterHandlesDie) {
  TempDir dir;
  const size_t baseline = exit_registry_size();
  std::vector<std::shared_ptr<RuntimeCache>> handles;
  for (int i = 0; i < 10; ++i) {
    handles.push_back(RuntimeCache::create(PathOptions(dir.file("c" + std::to_string(i)), true)));
  }
  EXPECT_EQ(exit_registry_size(), baseline + 10);
  handles.resize(4);
  EXPECT_EQ(exit_registry_size(), baseline + 4);
  handles.clear();
  EXPECT_EQ(exit_registry_size(), baseline);
}

TEST(LifecycleTest, DeadHandleLeavesNothingRegistered) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  const size_t baseline = exit_registry_size();
  std::weak_ptr<RuntimeCache> weak;
  {
    auto cache = RuntimeCache::create(PathOptions(path, true));
    EXPECT_NE(cache->exit_token(), 0u);
    PutKeys(*cache, 1);
    weak = cache;
  }
  EXPECT_TRUE(weak.expired()) << "the registry must not keep the handle alive";
  EXPECT_EQ(exit_registry_size(), baseline);
  ExpectFileHoldsKeys(path, 1);
}

TEST(LifecycleTest, RegistryHoldsNoStrongReference) {
  TempDir dir;
  auto cache = RuntimeCache::create(PathOptions(dir.file("cache.rtc"), true));
  EXPECT_EQ(cache.use_count(), 1) << "the exit hook holds only a weak reference";
}

TEST(LifecycleTest, HandlesGetDistinctExitTokens) {
  TempDir dir;
  auto a = RuntimeCache::create(PathOptions(dir.file("cache.rtc"), true));
  auto b = RuntimeCache::create(PathOptions(dir.file("cache.rtc"), true));
  EXPECT_NE(a, b) << "two handles on one path are two handles";
  EXPECT_NE(a->exit_token(), 0u);
  EXPECT_NE(b->exit_token(), 0u);
  EXPECT_NE(a->exit_token(), b->exit_token());
}

TEST(LifecycleTest, SetAutosaveOnDelRegistersAndUnregisters) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  const size_t baseline = exit_registry_size();
  auto cache = RuntimeCache::create(PathOptions(path, false));
  ASSERT_EQ(cache->exit_token(), 0u);

  cache->set_autosave_on_del(true);
  EXPECT_TRUE(cache->autosave_on_del());
  const uint64_t token = cache->exit_token();
  EXPECT_NE(token, 0u);
  EXPECT_EQ(exit_registry_size(), baseline + 1);

  cache->set_autosave_on_del(true);  // already on: no second registration
  EXPECT_EQ(cache->exit_token(), token);
  EXPECT_EQ(exit_registry_size(), baseline + 1);

  cache->set_autosave_on_del(false);
  EXPECT_FALSE(cache->autosave_on_del());
  EXPECT_EQ(cache->exit_token(), 0u);
  EXPECT_EQ(exit_registry_size(), baseline);

  PutKeys(*cache, 2);
  cache.reset();
  EXPECT_FALSE(file_exists(path)) << "autosave turned off: the destructor does not save";
}

TEST(LifecycleTest, AutosaveTurnedOnLaterSavesOnDestruction) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  const size_t baseline = exit_registry_size();
  {
    auto cache = RuntimeCache::create(PathOptions(path, false));
    PutKeys(*cache, 3);
    cache->set_autosave_on_del(true);
  }
  EXPECT_EQ(exit_registry_size(), baseline);
  ExpectFileHoldsKeys(path, 3);
}

// --- clone --------------------------------------------------------------------

TEST(LifecycleTest, CloneGetsOwnExitTokenAndKeepsPathAutosaveAndEntries) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  const size_t baseline = exit_registry_size();
  auto original = RuntimeCache::create(PathOptions(path, true));
  PutKeys(*original, 6);
  original->put("with-metadata", "v", "sm_90 nvrtc 13.0");

  auto copy = original->clone();
  ASSERT_NE(copy, nullptr);
  EXPECT_NE(copy, original);
  EXPECT_EQ(copy->path(), path);
  EXPECT_TRUE(copy->autosave_on_del());
  EXPECT_NE(copy->exit_token(), 0u);
  EXPECT_NE(copy->exit_token(), original->exit_token());
  EXPECT_EQ(exit_registry_size(), baseline + 2);
  EXPECT_EQ(copy->size(), original->size());
  for (int i = 0; i < 6; ++i) {
    Bytes value;
    ASSERT_OK(copy->get(Key(i), &value));
    EXPECT_EQ(value.str(), MakeValue(Key(i)));
  }
  std::vector<EntryInfo> entries;
  ASSERT_OK(copy->entries(&entries));
  bool found_metadata = false;
  for (const auto& entry : entries) {
    if (entry.key == "with-metadata") found_metadata = entry.metadata == "sm_90 nvrtc 13.0";
  }
  EXPECT_TRUE(found_metadata) << "per-entry metadata survives clone()";

  // Independent afterwards: changes to one do not show in the other.
  copy->put("only-in-copy", "x");
  EXPECT_TRUE(original->erase(Key(0)));
  EXPECT_FALSE(original->contains("only-in-copy"));
  EXPECT_TRUE(copy->contains(Key(0)));

  copy.reset();
  EXPECT_EQ(exit_registry_size(), baseline + 1) << "the clone's registration goes with it";
  original->set_autosave_on_del(false);
}

TEST(LifecycleTest, CloneOfUserBuiltHandleIsNotRegistered) {
  TempDir dir;
  const size_t baseline = exit_registry_size();
  auto original = RuntimeCache::create(PathOptions(dir.file("cache.rtc"), false));
  auto copy = original->clone();
  EXPECT_FALSE(copy->autosave_on_del());
  EXPECT_EQ(copy->exit_token(), 0u);
  EXPECT_EQ(exit_registry_size(), baseline);
}

TEST(LifecycleTest, CloneSavesWhatTheOriginalHadNotSaved) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto original = RuntimeCache::create(PathOptions(path, true));
  PutKeys(*original, 8);
  auto copy = original->clone();
  original->set_autosave_on_del(false);
  original.reset();  // never saved
  EXPECT_FALSE(file_exists(path));
  copy.reset();  // the clone's destructor saves the unsaved entries
  ExpectFileHoldsKeys(path, 8);
}

// --- implicit_for ---------------------------------------------------------------

TEST(LifecycleTest, ImplicitForSharesOneHandlePerPathWhileAlive) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto first = RuntimeCache::implicit_for(path);
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->autosave_on_del());
  EXPECT_NE(first->exit_token(), 0u);
  EXPECT_EQ(first->path(), path);

  auto second = RuntimeCache::implicit_for(path);
  EXPECT_EQ(second, first);
  auto other = RuntimeCache::implicit_for(dir.file("other.rtc"));
  EXPECT_NE(other, first);

  std::weak_ptr<RuntimeCache> weak = first;
  first->put("shared", "value");
  first.reset();
  EXPECT_EQ(RuntimeCache::implicit_for(path), second) << "still alive through `second`";

  second.reset();
  EXPECT_TRUE(weak.expired()) << "the factory must not keep implicit handles alive";
  EXPECT_TRUE(file_exists(path)) << "the last holder's release autosaved it";

  auto fresh = RuntimeCache::implicit_for(path);
  EXPECT_TRUE(fresh->autosave_on_del());
  Bytes value;
  ASSERT_OK(fresh->get("shared", &value)) << "a new implicit handle loads the file";
  EXPECT_EQ(value.str(), "value");
}

TEST(LifecycleTest, ImplicitForLogsLoadFailureAndStartsEmpty) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  write_file(path, std::string(4096, 'G'));  // a foreign file
  LogCapture logs;
  auto cache = RuntimeCache::implicit_for(path);
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->size(), 0u);
  ExpectOneWarningNaming(logs, path);
  EXPECT_TRUE(logs.contains("not an rtcache file")) << logs.text();
  cache->set_autosave_on_del(false);  // keep the foreign file out of this test's scope
}

}  // namespace
}  // namespace rtcache
