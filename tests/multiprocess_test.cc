// The store seen from several handles and processes: saves merge (nobody's
// entries are lost, erases and resets are not undone by a merge), load/save
// no-op rules, created directories and permissions, the lock file, portable
// bytes and streams, and the default cache location.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::ChildOptions;
using testing::ChildResult;
using testing::Exited;
using testing::file_exists;
using testing::kTestChild;
using testing::MakeValue;
using testing::OpenCache;
using testing::permission_bits;
using testing::run_child;
using testing::TempDir;
using testing::write_file;

std::string Key(const std::string& prefix, int i) {
  return prefix + std::to_string(i);
}

Options PathOptions(const std::string& path) {
  Options options;
  options.path = path;
  return options;
}

void PutKeys(RuntimeCache& cache, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) cache.put(Key(prefix, i), MakeValue(Key(prefix, i)));
}

void ExpectHasKeys(RuntimeCache& cache, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    Bytes value;
    ASSERT_OK(cache.get(Key(prefix, i), &value));
    EXPECT_EQ(value.str(), MakeValue(Key(prefix, i)));
  }
}

// The sorted keys of every entry.
std::vector<std::string> Keys(RuntimeCache& cache) {
  std::vector<EntryInfo> entries;
  EXPECT_OK(cache.entries(&entries));
  std::vector<std::string> keys;
  for (const auto& entry : entries) keys.push_back(entry.key);
  return keys;
}

void ExpectPutChildSucceeds(const std::string& path, const std::string& prefix, int count,
                            int rounds = 1) {
  ChildResult child =
      run_child({kTestChild, "put", path, prefix, std::to_string(count), std::to_string(rounds)});
  EXPECT_TRUE(Exited(child.status, 0)) << child.err;
  EXPECT_EQ(child.out, "saved=" + std::to_string(count) + "\n");
}

// --- merge ----------------------------------------------------------------------

TEST(MergeTest, TwoHandlesInOneProcessSaveDifferentEntries) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto a = RuntimeCache::create(PathOptions(path));
  auto b = RuntimeCache::create(PathOptions(path));
  PutKeys(*a, "a", 30);
  PutKeys(*b, "b", 30);
  ASSERT_OK(a->save());
  ASSERT_OK(b->save());  // must merge with a's save, not replace it

  auto check = OpenCache(path);
  EXPECT_EQ(check->size(), 60u);
  ExpectHasKeys(*check, "a", 30);
  ExpectHasKeys(*check, "b", 30);
}

TEST(MergeTest, HandleThatLoadedEarlierDoesNotLoseLaterSaves) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto a = RuntimeCache::create(PathOptions(path));
  PutKeys(*a, "a", 5);
  ASSERT_OK(a->save());
  auto b = OpenCache(path);  // sees a0..a4
  PutKeys(*a, "late", 5);
  ASSERT_OK(a->save());
  PutKeys(*b, "b", 5);
  ASSERT_OK(b->save());  // b's view is stale: its save must still keep late*

  auto check = OpenCache(path);
  EXPECT_EQ(check->size(), 15u);
  ExpectHasKeys(*check, "a", 5);
  ExpectHasKeys(*check, "late", 5);
  ExpectHasKeys(*check, "b", 5);
}

TEST(MergeTest, TwoProcessesSaveDifferentEntries) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "p", 40);
  ExpectPutChildSucceeds(path, "q", 40);
  auto check = OpenCache(path);
  EXPECT_EQ(check->size(), 80u);
  ExpectHasKeys(*check, "p", 40);
  ExpectHasKeys(*check, "q", 40);
}

TEST(MergeTest, FourConcurrentProcessesKeepTheUnion) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  constexpr int kProcesses = 4;
  constexpr int kKeysEach = 200;
  std::vector<std::thread> threads;
  for (int p = 0; p < kProcesses; ++p) {
    // Several saves per process so that their lock/merge cycles interleave.
    threads.emplace_back(
        [&path, p] { ExpectPutChildSucceeds(path, "w" + std::to_string(p) + "-", kKeysEach, 8); });
  }
  for (auto& t : threads) t.join();

  auto check = OpenCache(path);
  EXPECT_EQ(check->size(), static_cast<size_t>(kProcesses * kKeysEach));
  for (int p = 0; p < kProcesses; ++p)
    ExpectHasKeys(*check, "w" + std::to_string(p) + "-", kKeysEach);

  // Temp files are unique and cleaned up: only the cache and its lock remain.
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    names.insert(entry.path().filename().string());
  }
  EXPECT_EQ(names, (std::set<std::string>{"cache.rtc", "cache.rtc.lock"}));
}

TEST(MergeTest, EraseSurvivesMergeInOneProcess) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  {
    auto seed = RuntimeCache::create(PathOptions(path));
    PutKeys(*seed, "k", 3);
    ASSERT_OK(seed->save());
  }
  auto a = OpenCache(path);
  auto b = OpenCache(path);
  ASSERT_TRUE(b->erase("k1"));
  ASSERT_OK(b->save());
  a->put("new", MakeValue("new"));  // a still believes k1 exists
  ASSERT_OK(a->save());

  auto check = OpenCache(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"k0", "k2", "new"}));
  EXPECT_FALSE(check->contains("k1")) << "a merge must not resurrect an erased entry";
}

TEST(MergeTest, EraseByAnotherProcessSurvivesMerge) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "k", 3);
  auto a = OpenCache(path);
  ASSERT_EQ(a->size(), 3u);
  ChildResult child = run_child({kTestChild, "erase", path, "k1"});
  ASSERT_TRUE(Exited(child.status, 0)) << child.err;
  a->put("new", MakeValue("new"));
  ASSERT_OK(a->save());

  auto check = OpenCache(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"k0", "k2", "new"}));
}

TEST(MergeTest, ResetSurvivesMerge) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "k", 4);
  auto a = OpenCache(path);
  auto b = OpenCache(path);
  b->reset();
  EXPECT_EQ(b->size(), 0u);
  ASSERT_OK(b->save());
  a->put("new", MakeValue("new"));  // a still holds k0..k3 from its load
  ASSERT_OK(a->save());

  auto check = OpenCache(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"new"}));
}

TEST(MergeTest, ResetByAnotherProcessSurvivesMerge) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "k", 4);
  auto a = OpenCache(path);
  ChildResult child = run_child({kTestChild, "reset", path});
  ASSERT_TRUE(Exited(child.status, 0)) << child.err;
  a->put("new", MakeValue("new"));
  ASSERT_OK(a->save());

  auto check = OpenCache(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"new"}));
}

TEST(MergeTest, ResetKeepsEntriesTheHandleNeverSaw) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "old", 3);
  auto a = OpenCache(path);                  // knows old0..old2
  ExpectPutChildSucceeds(path, "other", 3);  // saved after a loaded
  a->reset();
  ASSERT_OK(a->save());

  auto check = OpenCache(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"other0", "other1", "other2"}));
}

// --- load/save rules, directories, permissions, lock file -----------------------

TEST(StoreTest, LoadOfMissingFileIsNoOp) {
  TempDir dir;
  const std::string path = dir.file("missing.rtc");
  std::shared_ptr<RuntimeCache> cache;
  ASSERT_OK(RuntimeCache::open(PathOptions(path), &cache));
  EXPECT_EQ(cache->size(), 0u);
  cache->put("kept", "value");
  EXPECT_OK(cache->load());
  EXPECT_TRUE(cache->contains("kept")) << "loading nothing keeps unsaved entries";
  EXPECT_FALSE(file_exists(path)) << "load never creates the file";
}

TEST(StoreTest, InMemoryCacheLoadAndSaveAreNoOps) {
  TempDir dir;
  auto cache = RuntimeCache::create();  // path ""
  EXPECT_EQ(cache->path(), "");
  cache->put("key", "value");
  EXPECT_OK(cache->save());
  EXPECT_OK(cache->load());
  EXPECT_EQ(cache->stats().saves, 0u);
  EXPECT_TRUE(cache->contains("key"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(StoreTest, SaveWithNothingToWriteCreatesNoFile) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto cache = RuntimeCache::create(PathOptions(path));
  ASSERT_OK(cache->save());
  EXPECT_FALSE(file_exists(path));
}

TEST(StoreTest, HandleThatNeverLoadedDoesNotReplaceFile) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "disk", 5);
  auto cache = RuntimeCache::create(PathOptions(path));  // no load
  cache->put("mine", MakeValue("mine"));
  ASSERT_OK(cache->save());
  auto check = OpenCache(path);
  EXPECT_EQ(check->size(), 6u);
  ExpectHasKeys(*check, "disk", 5);
}

TEST(StoreTest, SaveCreatesMissingDirectoriesOwnerOnly) {
  TempDir dir;
  const std::string deep = dir.file("a/b/c");
  const std::string path = deep + "/cache.rtc";
  auto cache = RuntimeCache::create(PathOptions(path));
  cache->put("key", "value");
  ASSERT_OK(cache->save());
  EXPECT_TRUE(file_exists(path));
  EXPECT_EQ(permission_bits(path), 0600u);
  EXPECT_EQ(permission_bits(path + ".lock"), 0600u);
  EXPECT_EQ(permission_bits(dir.file("a")), 0700u);
  EXPECT_EQ(permission_bits(dir.file("a/b")), 0700u);
  EXPECT_EQ(permission_bits(deep), 0700u);
}

TEST(StoreTest, LockFileExistsAfterSaveAndIsNeverDeleted) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  const std::string lock = path + ".lock";
  {
    auto cache = RuntimeCache::create(PathOptions(path));
    cache->put("a", "1");
    ASSERT_OK(cache->save());
    EXPECT_TRUE(file_exists(lock));
    cache->put("b", "2");
    ASSERT_OK(cache->save());
    ASSERT_OK(cache->compact());
    EXPECT_TRUE(file_exists(lock)) << "compaction keeps the lock file";
  }
  EXPECT_TRUE(file_exists(lock)) << "destroying the handle keeps the lock file";
  ExpectPutChildSucceeds(path, "c", 2);
  EXPECT_TRUE(file_exists(lock)) << "another process's save keeps the lock file";
}

// --- portable bytes and streams ---------------------------------------------------

// Keys and values with every byte value, a large value, and metadata.
void PutAssortedEntries(RuntimeCache& cache) {
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  cache.put(std::string("binary\0key", 10), all_bytes, "sm_90 nvrtc 13.0 -O3");
  std::string large;
  for (int i = 0; large.size() < (1 << 20); ++i) large += std::to_string(i * 2654435761u);
  cache.put("large", large, "sm_80");
  PutKeys(cache, "k", 50);
}

void ExpectSameEntries(RuntimeCache& expected, RuntimeCache& actual) {
  std::vector<EntryInfo> want, got;
  ASSERT_OK(expected.entries(&want));
  ASSERT_OK(actual.entries(&got));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].key, want[i].key);
    EXPECT_EQ(got[i].metadata, want[i].metadata) << want[i].key;
    EXPECT_EQ(got[i].value_size, want[i].value_size) << want[i].key;
    Bytes want_value, got_value;
    ASSERT_OK(expected.get(want[i].key, &want_value));
    ASSERT_OK(actual.get(want[i].key, &got_value)) << want[i].key;
    EXPECT_TRUE(got_value == want_value) << want[i].key;
  }
}

TEST(BytesTest, SerializeDeserializeRoundTrip) {
  auto source = RuntimeCache::create();
  PutAssortedEntries(*source);
  std::string bytes;
  ASSERT_OK(source->serialize(&bytes));
  EXPECT_FALSE(bytes.empty());

  auto restored = RuntimeCache::create();
  ASSERT_OK(restored->deserialize(bytes));
  ExpectSameEntries(*source, *restored);
}

TEST(BytesTest, SerializeHoldsSavedAndUnsavedEntries) {
  TempDir dir;
  auto cache = RuntimeCache::create(PathOptions(dir.file("cache.rtc")));
  cache->put("saved", MakeValue("saved"), "m1");
  ASSERT_OK(cache->save());
  cache->put("unsaved", MakeValue("unsaved"));
  std::string bytes;
  ASSERT_OK(cache->serialize(&bytes));
  auto copy = RuntimeCache::create();
  ASSERT_OK(copy->deserialize(bytes));
  EXPECT_EQ(Keys(*copy), (std::vector<std::string>{"saved", "unsaved"}));
  ExpectSameEntries(*cache, *copy);
}

TEST(BytesTest, DeserializeMergesAndIsSavedByNextSave) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto source = RuntimeCache::create();
  PutKeys(*source, "from-bytes", 5);
  std::string bytes;
  ASSERT_OK(source->serialize(&bytes));

  auto target = RuntimeCache::create(PathOptions(path));
  PutKeys(*target, "own", 5);
  ASSERT_OK(target->deserialize(bytes));
  EXPECT_EQ(target->size(), 10u);
  ASSERT_OK(target->save());
  auto check = OpenCache(path);
  ExpectHasKeys(*check, "from-bytes", 5);
  ExpectHasKeys(*check, "own", 5);
}

TEST(BytesTest, DeserializeOfEmptyInputIsNoOp) {
  auto cache = RuntimeCache::create();
  cache->put("key", "value");
  EXPECT_OK(cache->deserialize(""));
  EXPECT_EQ(cache->size(), 1u);
}

// Bytes deserialize() refuses, with the code it gives: anything without the
// rtcache magic is not a cache at all; a real image cut short or with a
// flipped bit is damaged.
struct BadBytes {
  const char* name;
  std::function<std::string(const std::string& image)> make;  // from a good image
  Status::Code code;
};

class DeserializeRefuses : public ::testing::TestWithParam<BadBytes> {};

TEST_P(DeserializeRefuses, AndLeavesTheCacheUnchanged) {
  auto source = RuntimeCache::create();
  PutKeys(*source, "img", 3);
  std::string image;
  ASSERT_OK(source->serialize(&image));
  auto cache = RuntimeCache::create();
  PutKeys(*cache, "k", 3);
  const std::string bad = GetParam().make(image);
  Status s = cache->deserialize(bad);
  EXPECT_EQ(s.code(), GetParam().code) << s.to_string();
  EXPECT_NE(s.message().find("serialized cache"), std::string::npos) << s.to_string();
  EXPECT_EQ(Keys(*cache), (std::vector<std::string>{"k0", "k1", "k2"}));
  ExpectHasKeys(*cache, "k", 3);
}

INSTANTIATE_TEST_SUITE_P(
    Bytes, DeserializeRefuses,
    ::testing::Values(
        BadBytes{"Text", [](const std::string&) { return std::string("not a cache at all"); },
                 Status::Code::kNotACacheFile},
        BadBytes{"ShortMagic", [](const std::string&) { return std::string("RTC"); },
                 Status::Code::kNotACacheFile},
        BadBytes{"Zeros", [](const std::string&) { return std::string(64, '\0'); },
                 Status::Code::kNotACacheFile},
        BadBytes{"Noise",
                 [](const std::string&) {
                   std::string garbage;
                   for (int i = 0; i < 4096; ++i) {
                     garbage.push_back(static_cast<char>((i * 131 + 7) % 251));
                   }
                   return garbage;
                 },
                 Status::Code::kNotACacheFile},
        BadBytes{"Truncated",
                 [](const std::string& image) { return image.substr(0, image.size() - 1); },
                 Status::Code::kCorruption},
        BadBytes{"FlippedBit",
                 [](const std::string& image) {
                   std::string flipped = image;
                   flipped[100] ^= 0x20;  // inside the first record
                   return flipped;
                 },
                 Status::Code::kCorruption}),
    [](const ::testing::TestParamInfo<BadBytes>& info) { return std::string(info.param.name); });

// An unsupported stream target is rejected at compile time (the original took
// "anything" and failed at run time).
template <typename T>
concept SavableTo = requires(RuntimeCache& cache, T& target) {
  cache.save_to_stream(target);
};
template <typename T>
concept LoadableFrom = requires(RuntimeCache& cache, T& source) {
  cache.load_from_stream(source);
};
static_assert(SavableTo<std::stringstream> && SavableTo<std::ofstream>);
static_assert(LoadableFrom<std::stringstream> && LoadableFrom<std::ifstream>);
static_assert(!SavableTo<std::string> && !SavableTo<std::istringstream> && !SavableTo<int>);
static_assert(!LoadableFrom<std::string> && !LoadableFrom<std::ostringstream>);

TEST(StreamTest, RoundTripThroughStringStream) {
  auto source = RuntimeCache::create();
  PutAssortedEntries(*source);
  std::stringstream stream;
  size_t written = 0;
  ASSERT_OK(source->save_to_stream(stream, &written));
  EXPECT_GT(written, 0u);
  EXPECT_EQ(written, stream.str().size()) << "written whole, exactly once";

  auto restored = RuntimeCache::create();
  size_t read = 0;
  Status s = restored->load_from_stream(stream, &read);
  ASSERT_OK(s);
  EXPECT_EQ(read, written);
  ExpectSameEntries(*source, *restored);
}

TEST(StreamTest, RoundTripThroughFileStream) {
  TempDir dir;
  const std::string file = dir.file("stream.bin");
  auto source = RuntimeCache::create();
  PutAssortedEntries(*source);
  size_t written = 0;
  {
    std::fstream out(file, std::ios::out | std::ios::binary | std::ios::trunc);
    ASSERT_TRUE(out.is_open());
    ASSERT_OK(source->save_to_stream(out, &written));
  }
  EXPECT_GT(written, 0u);
  EXPECT_EQ(testing::file_size(file), written);

  auto restored = RuntimeCache::create();
  size_t read = 0;
  {
    std::fstream in(file, std::ios::in | std::ios::binary);
    ASSERT_TRUE(in.is_open());
    Status s = restored->load_from_stream(in, &read);
    ASSERT_OK(s);
  }
  EXPECT_EQ(read, written);
  ExpectSameEntries(*source, *restored);
}

TEST(StreamTest, EmptyStreamLoadsNothing) {
  auto cache = RuntimeCache::create();
  cache->put("key", "value");
  std::stringstream empty;
  size_t read = 123;
  ASSERT_OK(cache->load_from_stream(empty, &read));
  EXPECT_EQ(read, 0u);
  EXPECT_EQ(cache->size(), 1u);
}

TEST(StreamTest, GarbageStreamFailsAndLeavesCacheUnchanged) {
  auto cache = RuntimeCache::create();
  cache->put("key", "value");
  std::stringstream garbage(std::string(1000, 'x'));
  EXPECT_FALSE(cache->load_from_stream(garbage).ok());
  EXPECT_EQ(cache->size(), 1u);
  EXPECT_TRUE(cache->contains("key"));
}

// --- default location (in a child process: the environment stays untouched) -------

// default_cache_path() in a child whose environment has RTCACHE_DIR and
// XDG_CACHE_HOME removed, then `env` added (paths relative to a TempDir); the
// child prints the result of two calls.
struct DefaultPathCase {
  const char* name;
  std::vector<std::string> env;  // "NAME=relative/path"
  const char* dir;               // the directory it chooses (created by the first save)
};

class DefaultPath : public ::testing::TestWithParam<DefaultPathCase> {};

TEST_P(DefaultPath, ChosenWithoutSideEffects) {
  TempDir dir;
  ChildOptions options{.env = {"RTCACHE_LOG=warning"}, .unset = {"RTCACHE_DIR", "XDG_CACHE_HOME"}};
  for (const std::string& e : GetParam().env) {
    const size_t eq = e.find('=');
    options.env.push_back(e.substr(0, eq + 1) + dir.file(e.substr(eq + 1)));
  }
  ChildResult child = run_child({kTestChild, "default-path"}, options);
  ASSERT_TRUE(Exited(child.status, 0)) << child.err;
  const std::string chosen = dir.file(GetParam().dir);
  EXPECT_EQ(child.out, "path=" + chosen + "/kernels.rtc\npath=" + chosen + "/kernels.rtc\n");
  EXPECT_EQ(child.err, "");
  EXPECT_FALSE(std::filesystem::exists(chosen)) << "nothing is created until a save";
}

INSTANTIATE_TEST_SUITE_P(
    Locations, DefaultPath,
    ::testing::Values(
        DefaultPathCase{"RtcacheDirWins",
                        {"RTCACHE_DIR=explicit/dir", "XDG_CACHE_HOME=xdg", "HOME=home"},
                        "explicit/dir"},
        DefaultPathCase{
            "XdgCacheHomeWhenNoRtcacheDir", {"XDG_CACHE_HOME=xdg", "HOME=home"}, "xdg/rtcache"},
        DefaultPathCase{"HomeCacheWhenNeitherIsSet", {"HOME=home"}, "home/.cache/rtcache"}),
    [](const ::testing::TestParamInfo<DefaultPathCase>& info) {
      return std::string(info.param.name);
    });

TEST(DefaultPathTest, UnusableLocationFallsBackToMemoryWithOneWarning) {
  TempDir dir;
  write_file(dir.file("not-a-dir"), "x");
  const std::string rtcache_dir = dir.file("not-a-dir") + "/sub";
  ChildResult child = run_child(
      {kTestChild, "default-path"},
      {.env = {"RTCACHE_LOG=warning", "RTCACHE_DIR=" + rtcache_dir}, .unset = {"XDG_CACHE_HOME"}});
  ASSERT_TRUE(Exited(child.status, 0)) << child.err;
  EXPECT_EQ(child.out, "path=\npath=\n");
  EXPECT_EQ(child.err.rfind("rtcache: warning: ", 0), 0u) << child.err;
  EXPECT_EQ(child.err.find("rtcache: ", 1), std::string::npos) << "one warning: " << child.err;
  // Names the location (the component that blocks it is enough) and the reason.
  EXPECT_NE(child.err.find(dir.file("not-a-dir")), std::string::npos) << child.err;
}

}  // namespace
}  // namespace rtcache
