// The store seen from several handles and processes: saves merge (nobody's
// entries are lost, erases and resets are not undone by a merge), load/save
// no-op rules, created directories and permissions, the lock file, portable
// bytes and streams, and the default cache location.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
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

using testing::ChildResult;
using testing::file_exists;
using testing::run_child;
using testing::TempDir;
using testing::write_file;

constexpr const char* kChild = RTCACHE_cache_child_PATH;

std::string ValueFor(std::string_view key) {
  return testing::child_value_for(key);
}

std::string Key(const std::string& prefix, int i) {
  return prefix + std::to_string(i);
}

Options PathOptions(const std::string& path) {
  Options options;
  options.path = path;
  return options;
}

void PutKeys(RuntimeCache& cache, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) cache.put(Key(prefix, i), ValueFor(Key(prefix, i)));
}

std::shared_ptr<RuntimeCache> OpenOrDie(const std::string& path) {
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(PathOptions(path), &cache);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return cache ? cache : RuntimeCache::create(PathOptions(path));
}

void ExpectHasKeys(RuntimeCache& cache, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    Bytes value;
    Status s = cache.get(Key(prefix, i), &value);
    ASSERT_TRUE(s.ok()) << Key(prefix, i) << ": " << s.to_string();
    EXPECT_EQ(value.str(), ValueFor(Key(prefix, i)));
  }
}

// The sorted keys of every entry.
std::vector<std::string> Keys(RuntimeCache& cache) {
  std::vector<EntryInfo> entries;
  Status s = cache.entries(&entries);
  EXPECT_TRUE(s.ok()) << s.to_string();
  std::vector<std::string> keys;
  for (const auto& entry : entries) keys.push_back(entry.key);
  return keys;
}

uint32_t PermissionBits(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

void ExpectPutChildSucceeds(const std::string& path, const std::string& prefix, int count,
                            int rounds = 1) {
  ChildResult child =
      run_child({kChild, "put", path, prefix, std::to_string(count), std::to_string(rounds)});
  EXPECT_EQ(child.exit_code, 0) << child.err;
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
  ASSERT_TRUE(a->save().ok());
  ASSERT_TRUE(b->save().ok());  // must merge with a's save, not replace it

  auto check = OpenOrDie(path);
  EXPECT_EQ(check->size(), 60u);
  ExpectHasKeys(*check, "a", 30);
  ExpectHasKeys(*check, "b", 30);
}

TEST(MergeTest, HandleThatLoadedEarlierDoesNotLoseLaterSaves) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto a = RuntimeCache::create(PathOptions(path));
  PutKeys(*a, "a", 5);
  ASSERT_TRUE(a->save().ok());
  auto b = OpenOrDie(path);  // sees a0..a4
  PutKeys(*a, "late", 5);
  ASSERT_TRUE(a->save().ok());
  PutKeys(*b, "b", 5);
  ASSERT_TRUE(b->save().ok());  // b's view is stale: its save must still keep late*

  auto check = OpenOrDie(path);
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
  auto check = OpenOrDie(path);
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

  auto check = OpenOrDie(path);
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
    ASSERT_TRUE(seed->save().ok());
  }
  auto a = OpenOrDie(path);
  auto b = OpenOrDie(path);
  ASSERT_TRUE(b->erase("k1"));
  ASSERT_TRUE(b->save().ok());
  a->put("new", ValueFor("new"));  // a still believes k1 exists
  ASSERT_TRUE(a->save().ok());

  auto check = OpenOrDie(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"k0", "k2", "new"}));
  EXPECT_FALSE(check->contains("k1")) << "a merge must not resurrect an erased entry";
}

TEST(MergeTest, EraseByAnotherProcessSurvivesMerge) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "k", 3);
  auto a = OpenOrDie(path);
  ASSERT_EQ(a->size(), 3u);
  ChildResult child = run_child({kChild, "erase", path, "k1"});
  ASSERT_EQ(child.exit_code, 0) << child.err;
  a->put("new", ValueFor("new"));
  ASSERT_TRUE(a->save().ok());

  auto check = OpenOrDie(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"k0", "k2", "new"}));
}

TEST(MergeTest, ResetSurvivesMerge) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "k", 4);
  auto a = OpenOrDie(path);
  auto b = OpenOrDie(path);
  b->reset();
  EXPECT_EQ(b->size(), 0u);
  ASSERT_TRUE(b->save().ok());
  a->put("new", ValueFor("new"));  // a still holds k0..k3 from its load
  ASSERT_TRUE(a->save().ok());

  auto check = OpenOrDie(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"new"}));
}

TEST(MergeTest, ResetByAnotherProcessSurvivesMerge) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "k", 4);
  auto a = OpenOrDie(path);
  ChildResult child = run_child({kChild, "reset", path});
  ASSERT_EQ(child.exit_code, 0) << child.err;
  a->put("new", ValueFor("new"));
  ASSERT_TRUE(a->save().ok());

  auto check = OpenOrDie(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"new"}));
}

TEST(MergeTest, ResetKeepsEntriesTheHandleNeverSaw) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "old", 3);
  auto a = OpenOrDie(path);                  // knows old0..old2
  ExpectPutChildSucceeds(path, "other", 3);  // saved after a loaded
  a->reset();
  ASSERT_TRUE(a->save().ok());

  auto check = OpenOrDie(path);
  EXPECT_EQ(Keys(*check), (std::vector<std::string>{"other0", "other1", "other2"}));
}

// --- load/save rules, directories, permissions, lock file -----------------------

TEST(StoreTest, LoadOfMissingFileIsNoOp) {
  TempDir dir;
  const std::string path = dir.file("missing.rtc");
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(PathOptions(path), &cache);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(cache->size(), 0u);
  cache->put("kept", "value");
  EXPECT_TRUE(cache->load().ok());
  EXPECT_TRUE(cache->contains("kept")) << "loading nothing keeps unsaved entries";
  EXPECT_FALSE(file_exists(path)) << "load never creates the file";
}

TEST(StoreTest, InMemoryCacheLoadAndSaveAreNoOps) {
  TempDir dir;
  auto cache = RuntimeCache::create();  // path ""
  EXPECT_EQ(cache->path(), "");
  cache->put("key", "value");
  EXPECT_TRUE(cache->save().ok());
  EXPECT_TRUE(cache->load().ok());
  EXPECT_EQ(cache->stats().saves, 0u);
  EXPECT_TRUE(cache->contains("key"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(StoreTest, SaveWithNothingToWriteCreatesNoFile) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto cache = RuntimeCache::create(PathOptions(path));
  ASSERT_TRUE(cache->save().ok());
  EXPECT_FALSE(file_exists(path));
}

TEST(StoreTest, HandleThatNeverLoadedDoesNotReplaceFile) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  ExpectPutChildSucceeds(path, "disk", 5);
  auto cache = RuntimeCache::create(PathOptions(path));  // no load
  cache->put("mine", ValueFor("mine"));
  ASSERT_TRUE(cache->save().ok());
  auto check = OpenOrDie(path);
  EXPECT_EQ(check->size(), 6u);
  ExpectHasKeys(*check, "disk", 5);
}

TEST(StoreTest, SaveToExplicitPathWritesEveryEntry) {
  TempDir dir;
  auto cache = RuntimeCache::create(PathOptions(dir.file("own.rtc")));
  PutKeys(*cache, "k", 10);
  ASSERT_TRUE(cache->save().ok());
  const std::string other = dir.file("other.rtc");
  ASSERT_TRUE(cache->save(other).ok()) << "saving to another file writes what it lacks";
  auto check = OpenOrDie(other);
  EXPECT_EQ(check->size(), 10u);
  ExpectHasKeys(*check, "k", 10);
}

TEST(StoreTest, SaveCreatesMissingDirectoriesOwnerOnly) {
  TempDir dir;
  const std::string deep = dir.file("a/b/c");
  const std::string path = deep + "/cache.rtc";
  auto cache = RuntimeCache::create(PathOptions(path));
  cache->put("key", "value");
  Status s = cache->save();
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(file_exists(path));
  EXPECT_EQ(PermissionBits(path), 0600u);
  EXPECT_EQ(PermissionBits(path + ".lock"), 0600u);
  EXPECT_EQ(PermissionBits(dir.file("a")), 0700u);
  EXPECT_EQ(PermissionBits(dir.file("a/b")), 0700u);
  EXPECT_EQ(PermissionBits(deep), 0700u);
}

TEST(StoreTest, ConfiguredModesAreAppliedExactly) {
  TempDir dir;
  const std::string path = dir.file("shared/cache.rtc");
  Options options = PathOptions(path);
  options.file_mode = 0660;  // a group-shared cache; the umask must not narrow it
  options.dir_mode = 0770;
  auto cache = RuntimeCache::create(options);
  cache->put("key", "value");
  Status s = cache->save();
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(PermissionBits(path), 0660u);
  EXPECT_EQ(PermissionBits(path + ".lock"), 0660u);
  EXPECT_EQ(PermissionBits(dir.file("shared")), 0770u);
}

TEST(StoreTest, LockFileExistsAfterSaveAndIsNeverDeleted) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  const std::string lock = path + ".lock";
  {
    auto cache = RuntimeCache::create(PathOptions(path));
    cache->put("a", "1");
    ASSERT_TRUE(cache->save().ok());
    EXPECT_TRUE(file_exists(lock));
    cache->put("b", "2");
    ASSERT_TRUE(cache->save().ok());
    ASSERT_TRUE(cache->compact().ok());
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
  ASSERT_TRUE(expected.entries(&want).ok());
  ASSERT_TRUE(actual.entries(&got).ok());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].key, want[i].key);
    EXPECT_EQ(got[i].metadata, want[i].metadata) << want[i].key;
    EXPECT_EQ(got[i].value_size, want[i].value_size) << want[i].key;
    Bytes want_value, got_value;
    ASSERT_TRUE(expected.get(want[i].key, &want_value).ok());
    ASSERT_TRUE(actual.get(want[i].key, &got_value).ok()) << want[i].key;
    EXPECT_TRUE(got_value == want_value) << want[i].key;
  }
}

TEST(BytesTest, SerializeDeserializeRoundTrip) {
  auto source = RuntimeCache::create();
  PutAssortedEntries(*source);
  std::string bytes;
  ASSERT_TRUE(source->serialize(&bytes).ok());
  EXPECT_FALSE(bytes.empty());

  auto restored = RuntimeCache::create();
  Status s = restored->deserialize(bytes);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ExpectSameEntries(*source, *restored);
}

TEST(BytesTest, DeserializeMergesAndIsSavedByNextSave) {
  TempDir dir;
  const std::string path = dir.file("cache.rtc");
  auto source = RuntimeCache::create();
  PutKeys(*source, "from-bytes", 5);
  std::string bytes;
  ASSERT_TRUE(source->serialize(&bytes).ok());

  auto target = RuntimeCache::create(PathOptions(path));
  PutKeys(*target, "own", 5);
  ASSERT_TRUE(target->deserialize(bytes).ok());
  EXPECT_EQ(target->size(), 10u);
  ASSERT_TRUE(target->save().ok());
  auto check = OpenOrDie(path);
  ExpectHasKeys(*check, "from-bytes", 5);
  ExpectHasKeys(*check, "own", 5);
}

TEST(BytesTest, DeserializeOfEmptyInputIsNoOp) {
  auto cache = RuntimeCache::create();
  cache->put("key", "value");
  EXPECT_TRUE(cache->deserialize("").ok());
  EXPECT_EQ(cache->size(), 1u);
}

TEST(BytesTest, DeserializeOfGarbageFailsAndLeavesCacheUnchanged) {
  auto cache = RuntimeCache::create();
  PutKeys(*cache, "k", 3);
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) % 251));
  for (const std::string& bad : {garbage, std::string("RTC"), std::string(64, '\0')}) {
    Status s = cache->deserialize(bad);
    EXPECT_FALSE(s.ok()) << "accepted " << bad.size() << " bad bytes";
    EXPECT_FALSE(s.message().empty()) << "the error names the reason";
    EXPECT_EQ(cache->size(), 3u);
    ExpectHasKeys(*cache, "k", 3);
  }
}

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
  ASSERT_TRUE(source->save_to_stream(stream, &written).ok());
  EXPECT_GT(written, 0u);
  EXPECT_EQ(written, stream.str().size()) << "written whole, exactly once";

  auto restored = RuntimeCache::create();
  size_t read = 0;
  Status s = restored->load_from_stream(stream, &read);
  ASSERT_TRUE(s.ok()) << s.to_string();
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
    ASSERT_TRUE(source->save_to_stream(out, &written).ok());
  }
  EXPECT_GT(written, 0u);
  EXPECT_EQ(testing::file_size(file), written);

  auto restored = RuntimeCache::create();
  size_t read = 0;
  {
    std::fstream in(file, std::ios::in | std::ios::binary);
    ASSERT_TRUE(in.is_open());
    Status s = restored->load_from_stream(in, &read);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  EXPECT_EQ(read, written);
  ExpectSameEntries(*source, *restored);
}

TEST(StreamTest, EmptyStreamLoadsNothing) {
  auto cache = RuntimeCache::create();
  cache->put("key", "value");
  std::stringstream empty;
  size_t read = 123;
  ASSERT_TRUE(cache->load_from_stream(empty, &read).ok());
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

// Runs cache_child default_path with the given --env/--unset options; the
// child prints the result of two calls.
ChildResult DefaultPathIn(const std::vector<std::string>& env_options) {
  std::vector<std::string> argv = {kChild,           "--unset", "RTCACHE_DIR",        "--unset",
                                   "XDG_CACHE_HOME", "--env",   "RTCACHE_LOG=warning"};
  argv.insert(argv.end(), env_options.begin(), env_options.end());
  argv.push_back("default_path");
  return run_child(argv);
}

std::string TwoLines(const std::string& path) {
  return "path=" + path + "\npath=" + path + "\n";
}

TEST(DefaultPathTest, RtcacheDirWins) {
  TempDir dir;
  const std::string rtcache_dir = dir.file("explicit/dir");
  ChildResult child =
      DefaultPathIn({"--env", "RTCACHE_DIR=" + rtcache_dir, "--env",
                     "XDG_CACHE_HOME=" + dir.file("xdg"), "--env", "HOME=" + dir.file("home")});
  ASSERT_EQ(child.exit_code, 0) << child.err;
  EXPECT_EQ(child.out, TwoLines(rtcache_dir + "/kernels.rtc"));
  EXPECT_EQ(child.err, "");
  EXPECT_TRUE(std::filesystem::is_directory(rtcache_dir)) << "the directory is created";
  EXPECT_EQ(PermissionBits(rtcache_dir), 0700u);
}

TEST(DefaultPathTest, XdgCacheHomeWhenNoRtcacheDir) {
  TempDir dir;
  const std::string xdg = dir.file("xdg");
  ChildResult child =
      DefaultPathIn({"--env", "XDG_CACHE_HOME=" + xdg, "--env", "HOME=" + dir.file("home")});
  ASSERT_EQ(child.exit_code, 0) << child.err;
  EXPECT_EQ(child.out, TwoLines(xdg + "/rtcache/kernels.rtc"));
  EXPECT_EQ(child.err, "");
  EXPECT_EQ(PermissionBits(xdg + "/rtcache"), 0700u);
}

TEST(DefaultPathTest, HomeCacheWhenNeitherIsSet) {
  TempDir dir;
  const std::string home = dir.file("home");
  ChildResult child = DefaultPathIn({"--env", "HOME=" + home});
  ASSERT_EQ(child.exit_code, 0) << child.err;
  EXPECT_EQ(child.out, TwoLines(home + "/.cache/rtcache/kernels.rtc"));
  EXPECT_EQ(child.err, "");
  EXPECT_EQ(PermissionBits(home + "/.cache/rtcache"), 0700u);
}

TEST(DefaultPathTest, UnusableLocationFallsBackToMemoryWithOneWarning) {
  TempDir dir;
  write_file(dir.file("not-a-dir"), "x");
  const std::string rtcache_dir = dir.file("not-a-dir") + "/sub";
  ChildResult child = DefaultPathIn({"--env", "RTCACHE_DIR=" + rtcache_dir});
  ASSERT_EQ(child.exit_code, 0) << child.err;
  EXPECT_EQ(child.out, TwoLines(""));
  EXPECT_EQ(child.err.rfind("rtcache: warning: ", 0), 0u) << child.err;
  EXPECT_EQ(child.err.find("rtcache: ", 1), std::string::npos) << "one warning: " << child.err;
  // Names the location (the component that blocks it is enough) and the reason.
  EXPECT_NE(child.err.find(dir.file("not-a-dir")), std::string::npos) << child.err;
}

}  // namespace
}  // namespace rtcache
