// Unit tests of one RuntimeCache handle: entries, persistence, merge within a
// process, compaction, serialization, streams and damaged files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::file_exists;
using testing::file_size;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

std::string value_for(int i, size_t size = 3000) {
  std::string v;
  v.reserve(size);
  // Compressible but distinct, like a cubin: repeated structure plus an id.
  while (v.size() < size) v += "kernel-" + std::to_string(i) + "-section;";
  v.resize(size);
  return v;
}

std::shared_ptr<RuntimeCache> make(const std::string& path, Options options = {}) {
  options.path = path;
  return RuntimeCache::create(options);
}

std::shared_ptr<RuntimeCache> reopen(const std::string& path, Options options = {}) {
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return cache;
}

std::string get_or(RuntimeCache& cache, const std::string& key, std::string fallback = "<miss>") {
  Bytes value;
  return cache.get(key, &value).ok() ? value.str() : fallback;
}

// Collects log lines for the duration of a test.

TEST(CacheTest, PutGetEraseInMemory) {
  auto cache = RuntimeCache::create();
  EXPECT_EQ(cache->size(), 0u);
  cache->put("k1", std::string_view("v1"), "sm_90");
  cache->put("k2", std::string_view("v2"));
  EXPECT_EQ(get_or(*cache, "k1"), "v1");
  EXPECT_EQ(cache->size(), 2u);
  Bytes missing;
  EXPECT_TRUE(cache->get("absent", &missing).is_not_found());
  EXPECT_TRUE(cache->erase("k1"));
  EXPECT_FALSE(cache->erase("k1"));
  EXPECT_FALSE(cache->contains("k1"));
  EXPECT_EQ(cache->size(), 1u);
  cache->reset();
  EXPECT_EQ(cache->size(), 0u);
  CacheStats s = cache->stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.puts, 2u);
  EXPECT_EQ(s.entries, 0u);
}

TEST(CacheTest, HitDoesNotCopyTheValue) {
  auto cache = RuntimeCache::create();
  cache->put("k", Bytes(value_for(1)));
  Bytes a, b;
  ASSERT_TRUE(cache->get("k", &a).ok());
  ASSERT_TRUE(cache->get("k", &b).ok());
  EXPECT_TRUE(a.shares_with(b));
}

TEST(CacheTest, BinaryKeysAndEmptyValues) {
  TempDir dir;
  auto cache = make(dir.file("c.rtc"));
  std::string key("\0\x01\xff", 3);
  cache->put(key, std::string_view(""));
  ASSERT_TRUE(cache->save().ok());
  auto again = reopen(dir.file("c.rtc"));
  Bytes value;
  ASSERT_TRUE(again->get(key, &value).ok());
  EXPECT_TRUE(value.empty());
}

TEST(CacheTest, SaveThenOpenFindsEveryEntryWithItsFacts) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  auto cache = make(path);
  for (int i = 0; i < 50; ++i) cache->put("key" + std::to_string(i), Bytes(value_for(i)), "sm_90");
  ASSERT_TRUE(cache->save().ok());
  auto again = reopen(path);
  EXPECT_EQ(again->size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(get_or(*again, "key" + std::to_string(i)), value_for(i));
  std::vector<EntryInfo> entries;
  ASSERT_TRUE(again->entries(&entries).ok());
  ASSERT_EQ(entries.size(), 50u);
  EXPECT_EQ(entries[0].metadata, "sm_90");
  EXPECT_EQ(entries[0].value_size, 3000u);
  EXPECT_GT(entries[0].created_ns, 0);
  EXPECT_GT(entries[0].stored_size, 0u);
}

TEST(CacheTest, NoTargetOrNothingChangedIsANoOp) {
  TempDir dir;
  auto memory = RuntimeCache::create();
  memory->put("k", std::string_view("v"));
  EXPECT_TRUE(memory->save().ok());
  EXPECT_TRUE(memory->load().ok());
  auto cache = make(dir.file("none.rtc"));
  EXPECT_TRUE(cache->load().ok());  // first run: no file yet
  EXPECT_TRUE(cache->save().ok());  // nothing to write: no empty file either
  EXPECT_FALSE(file_exists(dir.file("none.rtc")));
}

TEST(CacheTest, SaveCreatesParentDirectoriesOwnerOnly) {
  TempDir dir;
  const std::string path = dir.file("a/b/c.rtc");
  auto cache = make(path);
  cache->put("k", std::string_view("v"));
  ASSERT_TRUE(cache->save().ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir.file("a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((path + ".lock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(CacheTest, GroupSharedModesAreAppliedExactly) {
  TempDir dir;
  Options options;
  options.file_mode = 0660;
  options.dir_mode = 0770;
  const std::string path = dir.file("shared/c.rtc");
  auto cache = make(path, options);
  cache->put("k", std::string_view("v"));
  ASSERT_TRUE(cache->save().ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  ASSERT_EQ(::stat(dir.file("shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0770u);
  ASSERT_EQ(::stat((path + ".lock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST(CacheTest, ASaveAppendsOnlyWhatChanged) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make(path);
  for (int i = 0; i < 200; ++i) cache->put("key" + std::to_string(i), Bytes(value_for(i, 20000)));
  ASSERT_TRUE(cache->save().ok());
  uint64_t before = file_size(path);
  cache->put("new", Bytes(value_for(999, 20000)));
  ASSERT_TRUE(cache->save().ok());
  uint64_t grown = file_size(path) - before;
  // One record plus a small delta index (and alignment padding), not a rewrite.
  EXPECT_LT(grown, 20000u + 3 * 4096u);
  EXPECT_EQ(reopen(path)->size(), 201u);
}

TEST(CacheTest, OverwriteEraseAndResetPersist) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make(path);
  cache->put("a", std::string_view("1"));
  cache->put("b", std::string_view("2"));
  cache->put("c", std::string_view("3"));
  ASSERT_TRUE(cache->save().ok());
  cache->put("a", std::string_view("1b"));
  cache->erase("b");
  ASSERT_TRUE(cache->save().ok());
  auto again = reopen(path);
  EXPECT_EQ(get_or(*again, "a"), "1b");
  EXPECT_EQ(get_or(*again, "b"), "<miss>");
  EXPECT_EQ(again->size(), 2u);
  again->reset();
  ASSERT_TRUE(again->save().ok());
  EXPECT_EQ(reopen(path)->size(), 0u);
}

TEST(CacheTest, CompressionShrinksTheFileAndIsOptional) {
  TempDir dir;
  Options raw;
  raw.compression = Compression::kNone;
  auto zstd_cache = make(dir.file("z.rtc"));
  auto raw_cache = make(dir.file("r.rtc"), raw);
  for (int i = 0; i < 20; ++i) {
    zstd_cache->put("k" + std::to_string(i), Bytes(value_for(i, 50000)));
    raw_cache->put("k" + std::to_string(i), Bytes(value_for(i, 50000)));
  }
  ASSERT_TRUE(zstd_cache->save().ok());
  ASSERT_TRUE(raw_cache->save().ok());
  EXPECT_LT(file_size(dir.file("z.rtc")) * 4, file_size(dir.file("r.rtc")));
  EXPECT_EQ(get_or(*reopen(dir.file("z.rtc")), "k7"), value_for(7, 50000));
  EXPECT_EQ(get_or(*reopen(dir.file("r.rtc")), "k7"), value_for(7, 50000));
}

TEST(CacheTest, CompactionDropsDeadBytesAndKeepsEntries) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  Options options;
  options.compaction_min_dead_bytes = 64 << 10;
  options.compression = Compression::kNone;
  auto cache = make(path, options);
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 20; ++i) {
      cache->put("k" + std::to_string(i), Bytes(value_for(round * 100 + i, 10000)));
    }
    ASSERT_TRUE(cache->save().ok());
  }
  EXPECT_GE(cache->stats().compactions, 1u);
  EXPECT_LT(file_size(path), 3u * 20 * 10000);
  auto again = reopen(path);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(get_or(*again, "k" + std::to_string(i)), value_for(500 + i, 10000));
  // Explicit compaction leaves only live records, a header and an index.
  ASSERT_TRUE(again->compact().ok());
  EXPECT_LT(file_size(path), 20u * 10100 + 2 * 4096);
}

TEST(CacheTest, ReaderNoticesAnotherHandlesCompaction) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto writer = make(path);
  for (int i = 0; i < 10; ++i) writer->put("k" + std::to_string(i), Bytes(value_for(i)));
  ASSERT_TRUE(writer->save().ok());
  auto reader = reopen(path);
  writer->put("late", std::string_view("v"));
  ASSERT_TRUE(writer->save().ok());
  ASSERT_TRUE(writer->compact().ok());
  // The reader still serves from the file it opened, then sees the new one.
  EXPECT_EQ(get_or(*reader, "k3"), value_for(3));
  EXPECT_EQ(get_or(*reader, "late"), "<miss>");
  ASSERT_TRUE(reader->load().ok());
  EXPECT_EQ(get_or(*reader, "late"), "v");
  EXPECT_EQ(get_or(*reader, "k4"), value_for(4));
}

TEST(CacheTest, TwoHandlesOnOnePathMerge) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto a = make(path);
  auto b = make(path);
  a->put("from-a", std::string_view("1"));
  b->put("from-b", std::string_view("2"));
  ASSERT_TRUE(a->save().ok());
  ASSERT_TRUE(b->save().ok());
  auto merged = reopen(path);
  EXPECT_EQ(get_or(*merged, "from-a"), "1");
  EXPECT_EQ(get_or(*merged, "from-b"), "2");
}

TEST(CacheTest, EraseIsNotUndoneByAnotherHandlesMerge) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto seed = make(path);
  seed->put("doomed", std::string_view("x"));
  seed->put("kept", std::string_view("y"));
  ASSERT_TRUE(seed->save().ok());
  auto a = reopen(path);
  auto b = reopen(path);
  EXPECT_EQ(get_or(*a, "doomed"), "x");  // a has it in memory now
  b->erase("doomed");
  ASSERT_TRUE(b->save().ok());
  a->put("new", std::string_view("z"));
  ASSERT_TRUE(a->save().ok());
  auto check = reopen(path);
  EXPECT_EQ(get_or(*check, "doomed"), "<miss>");
  EXPECT_EQ(get_or(*check, "kept"), "y");
  EXPECT_EQ(get_or(*check, "new"), "z");
}

TEST(CacheTest, ConcurrentPutsGetsAndSaves) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make(path);
  constexpr int kThreads = 8, kPerThread = 100;
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  std::thread saver([&] {
    while (!done.load()) EXPECT_TRUE(cache->save().ok());
  });
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        cache->put(key, Bytes(value_for(t * 1000 + i, 500)));
        EXPECT_EQ(get_or(*cache, key), value_for(t * 1000 + i, 500));
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  saver.join();
  ASSERT_TRUE(cache->save().ok());
  auto again = reopen(path);
  EXPECT_EQ(again->size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(get_or(*again, "t7-99"), value_for(7099, 500));
}

TEST(CacheTest, SerializeRoundTripAndBadBytes) {
  TempDir dir;
  auto cache = make(dir.file("c.rtc"));
  cache->put("saved", Bytes(value_for(1)), "m1");
  ASSERT_TRUE(cache->save().ok());
  cache->put("unsaved", Bytes(value_for(2)));
  std::string bytes;
  ASSERT_TRUE(cache->serialize(&bytes).ok());

  auto copy = RuntimeCache::create();
  ASSERT_TRUE(copy->deserialize(bytes).ok());
  EXPECT_EQ(copy->size(), 2u);
  EXPECT_EQ(get_or(*copy, "saved"), value_for(1));
  EXPECT_EQ(get_or(*copy, "unsaved"), value_for(2));
  EXPECT_TRUE(copy->deserialize("").ok());

  auto victim = RuntimeCache::create();
  victim->put("mine", std::string_view("v"));
  EXPECT_TRUE(victim->deserialize("not a cache at all").is_not_a_cache_file());
  EXPECT_FALSE(victim->deserialize(bytes.substr(0, bytes.size() - 1)).ok());
  std::string flipped = bytes;
  flipped[100] ^= 0x20;
  EXPECT_FALSE(victim->deserialize(flipped).ok());
  EXPECT_EQ(victim->size(), 1u);  // unchanged by every failure
  EXPECT_EQ(get_or(*victim, "mine"), "v");
}

TEST(CacheTest, StreamsRoundTripThroughMemoryAndAFile) {
  TempDir dir;
  auto cache = RuntimeCache::create();
  for (int i = 0; i < 5; ++i) cache->put("k" + std::to_string(i), Bytes(value_for(i)));
  std::stringstream memory;
  size_t written = 0, read = 0;
  ASSERT_TRUE(cache->save_to_stream(memory, &written).ok());
  EXPECT_GT(written, 0u);
  auto from_memory = RuntimeCache::create();
  ASSERT_TRUE(from_memory->load_from_stream(memory, &read).ok());
  EXPECT_EQ(read, written);
  EXPECT_EQ(from_memory->size(), 5u);

  {
    std::ofstream out(dir.file("stream.bin"), std::ios::binary);
    ASSERT_TRUE(cache->save_to_stream(out, &written).ok());
  }
  std::ifstream in(dir.file("stream.bin"), std::ios::binary);
  auto from_file = RuntimeCache::create();
  ASSERT_TRUE(from_file->load_from_stream(in, &read).ok());
  EXPECT_EQ(read, written);
  EXPECT_EQ(get_or(*from_file, "k4"), value_for(4));

  std::stringstream empty;
  ASSERT_TRUE(from_file->load_from_stream(empty, &read).ok());
  EXPECT_EQ(read, 0u);
}

TEST(CacheTest, SaveAndLoadAnotherPathMerge) {
  TempDir dir;
  auto cache = make(dir.file("own.rtc"));
  cache->put("a", std::string_view("1"));
  ASSERT_TRUE(cache->save().ok());
  cache->put("b", std::string_view("2"));
  auto other = make(dir.file("other.rtc"));
  other->put("c", std::string_view("3"));
  ASSERT_TRUE(other->save().ok());
  ASSERT_TRUE(cache->save(dir.file("other.rtc")).ok());
  auto check = reopen(dir.file("other.rtc"));
  EXPECT_EQ(check->size(), 3u);
  EXPECT_EQ(get_or(*check, "a"), "1");
  EXPECT_EQ(get_or(*check, "b"), "2");

  auto fresh = make(dir.file("fresh.rtc"));
  ASSERT_TRUE(fresh->load(dir.file("other.rtc")).ok());
  EXPECT_EQ(fresh->size(), 3u);
  ASSERT_TRUE(fresh->save().ok());  // merged-in entries are saved to its own file
  EXPECT_EQ(reopen(dir.file("fresh.rtc"))->size(), 3u);
}

TEST(CacheTest, CloneIsIndependent) {
  auto cache = RuntimeCache::create();
  cache->put("k", std::string_view("v"));
  auto copy = cache->clone();
  copy->put("only-in-copy", std::string_view("x"));
  cache->erase("k");
  EXPECT_EQ(get_or(*copy, "k"), "v");
  EXPECT_FALSE(cache->contains("only-in-copy"));
  EXPECT_NE(copy.get(), cache.get());
}

TEST(CacheTest, FlippedValueByteIsDetectedSkippedAndLogged) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  Options options;
  options.compression = Compression::kNone;
  auto cache = make(path, options);
  cache->put("victim", Bytes(std::string(1000, 'v')));
  cache->put("other", Bytes(std::string(1000, 'o')));
  ASSERT_TRUE(cache->save().ok());
  std::string bytes = read_file(path);
  size_t at = bytes.find(std::string(1000, 'v'));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 500] ^= 1;
  write_file(path, bytes);

  testing::LogCapture log;
  auto again = reopen(path);
  Bytes value;
  Status s = again->get("victim", &value);
  EXPECT_TRUE(s.is_corruption());
  EXPECT_NE(s.message().find(path), std::string::npos);
  EXPECT_NE(s.message().find("checksum"), std::string::npos);
  EXPECT_TRUE(again->get("victim", &value).is_not_found());  // dropped, reported once
  EXPECT_EQ(log.warnings().size(), 1u);
  EXPECT_EQ(get_or(*again, "other"), std::string(1000, 'o'));
  EXPECT_EQ(again->stats().damaged_records, 1u);
  // A compaction drops the damaged record for good.
  ASSERT_TRUE(again->compact().ok());
  auto compacted = reopen(path);
  EXPECT_EQ(compacted->size(), 1u);
}

TEST(CacheTest, ForeignEmptyAndNewerFilesGiveClearErrors) {
  TempDir dir;
  const std::string foreign = dir.file("foreign.bin");
  write_file(foreign, "#!/bin/sh\necho this is not a kernel cache\n");
  std::shared_ptr<RuntimeCache> cache;
  Options options;
  options.path = foreign;
  Status s = RuntimeCache::open(options, &cache);
  EXPECT_TRUE(s.is_not_a_cache_file());
  EXPECT_NE(s.message().find(foreign), std::string::npos);
  EXPECT_NE(s.message().find("not an rtcache file"), std::string::npos);
  // Saving must not destroy what is there.
  cache->put("k", std::string_view("v"));
  EXPECT_FALSE(cache->save().ok());
  EXPECT_EQ(read_file(foreign), "#!/bin/sh\necho this is not a kernel cache\n");

  const std::string empty = dir.file("empty.rtc");
  write_file(empty, "");
  options.path = empty;
  s = RuntimeCache::open(options, &cache);
  EXPECT_TRUE(s.is_not_a_cache_file());
  EXPECT_NE(s.message().find("empty"), std::string::npos);

  // A file from a future format version.
  auto good = make(dir.file("future.rtc"));
  good->put("k", std::string_view("v"));
  ASSERT_TRUE(good->save().ok());
  std::string bytes = read_file(dir.file("future.rtc"));
  bytes[8] = 99;  // version field; the header checksum now fails first
  write_file(dir.file("future.rtc"), bytes);
  options.path = dir.file("future.rtc");
  EXPECT_FALSE(RuntimeCache::open(options, &cache).ok());
}

// Cuts the file at every length inside its last save (its records and its
// index): each prefix loads, holds everything saved before, and whatever
// complete records of the last save precede the cut.
TEST(CacheTest, EveryPrefixOfTheLastSaveLoads) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  Options options;
  options.compression = Compression::kNone;
  auto cache = make(path, options);
  cache->put("first", Bytes(value_for(1, 700)));
  cache->put("second", Bytes(value_for(2, 700)));
  ASSERT_TRUE(cache->save().ok());
  const uint64_t committed = file_size(path);
  cache->put("third", Bytes(value_for(3, 700)));
  ASSERT_TRUE(cache->save().ok());
  const std::string full = read_file(path);
  const std::string cut_path = dir.file("cut.rtc");
  size_t with_third = 0;
  for (size_t len = committed; len <= full.size(); ++len) {
    // A fresh file each time: rewriting a truncated file makes ext4 flush it.
    std::remove(cut_path.c_str());
    write_file(cut_path, full.substr(0, len));
    std::shared_ptr<RuntimeCache> cut;
    Options o;
    o.path = cut_path;
    Status s = RuntimeCache::open(o, &cut);
    ASSERT_TRUE(s.ok()) << "length " << len << ": " << s.to_string();
    ASSERT_EQ(get_or(*cut, "first"), value_for(1, 700)) << len;
    ASSERT_EQ(get_or(*cut, "second"), value_for(2, 700)) << len;
    std::string third = get_or(*cut, "third");
    if (third != "<miss>") {
      ASSERT_EQ(third, value_for(3, 700)) << len;
      ++with_third;
    }
  }
  // The third record is complete in every prefix that reaches past it.
  EXPECT_GT(with_third, 0u);
  EXPECT_LT(with_third, full.size() - committed + 1);
}

TEST(CacheTest, TornTailIsCutByTheNextWriterAndNothingIsLost) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make(path);
  cache->put("a", Bytes(value_for(1)));
  ASSERT_TRUE(cache->save().ok());
  const uint64_t good = file_size(path);
  std::string bytes = read_file(path);
  write_file(path, bytes + std::string("RCR1 torn half-written record"));
  auto writer = reopen(path);
  EXPECT_EQ(get_or(*writer, "a"), value_for(1));
  writer->put("b", Bytes(value_for(2)));
  ASSERT_TRUE(writer->save().ok());
  EXPECT_GT(file_size(path), good);
  auto check = reopen(path);
  EXPECT_EQ(get_or(*check, "a"), value_for(1));
  EXPECT_EQ(get_or(*check, "b"), value_for(2));
  // The garbage is gone: the file verifies from its trailer again.
  EXPECT_EQ(read_file(path).find("torn half-written"), std::string::npos);
}

TEST(CacheTest, ManySavesKeepTheIndexChainShort) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make(path);
  for (int i = 0; i < 60; ++i) {
    cache->put("k" + std::to_string(i), Bytes(value_for(i, 100)));
    ASSERT_TRUE(cache->save().ok());
  }
  auto again = reopen(path);
  EXPECT_EQ(again->size(), 60u);
  for (int i = 0; i < 60; ++i)
    EXPECT_EQ(get_or(*again, "k" + std::to_string(i)), value_for(i, 100));
}

TEST(CacheTest, LastUseTimesArePersistedPastTheResolution) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  Options options;
  options.last_use_resolution = std::chrono::seconds(0);
  auto cache = make(path, options);
  cache->put("k", std::string_view("v"));
  ASSERT_TRUE(cache->save().ok());
  std::vector<EntryInfo> before;
  ASSERT_TRUE(reopen(path)->entries(&before).ok());
  auto user = reopen(path, options);
  EXPECT_EQ(get_or(*user, "k"), "v");
  ASSERT_TRUE(user->save().ok());
  std::vector<EntryInfo> after;
  ASSERT_TRUE(reopen(path)->entries(&after).ok());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_GT(after[0].last_used_ns, before[0].last_used_ns);
}

TEST(CacheTest, LockTimeoutIsReportedWithThePath) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  std::unique_ptr<FileLock> held;
  ASSERT_TRUE(
      Env::default_env()->lock(path + ".lock", 0600, std::chrono::milliseconds(0), &held).ok());
  Options options;
  options.lock_timeout = std::chrono::milliseconds(50);
  auto cache = make(path, options);
  cache->put("k", std::string_view("v"));
  Status s = cache->save();
  EXPECT_TRUE(s.is_lock_timeout());
  EXPECT_NE(s.message().find(path + ".lock"), std::string::npos);
  EXPECT_EQ(cache->stats().save_failures, 1u);
  held.reset();
  EXPECT_TRUE(cache->save().ok());  // the change was kept for the next save
  EXPECT_EQ(get_or(*reopen(path), "k"), "v");
}

}  // namespace
}  // namespace rtcache
