// Unit tests of one RuntimeCache handle: entries, persistence, compaction,
// saving to and loading from another path, damaged, foreign and newer files.
// (Merges between handles and processes, portable bytes and streams:
// multiprocess_test; clone and autosave: lifecycle_test.)
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <thread>

#include "rtcache/rtcache.h"
#include "storage/format.h"
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

// A handle that stores values as given (so their bytes can be found in the file).
std::shared_ptr<RuntimeCache> make_uncompressed(const std::string& path) {
  Options options;
  options.compression = Compression::kNone;
  return make(path, options);
}

std::shared_ptr<RuntimeCache> reopen(const std::string& path, Options options = {}) {
  return testing::OpenCache(path, options);
}

std::string get_or(RuntimeCache& cache, const std::string& key, std::string fallback = "<miss>") {
  Bytes value;
  return cache.get(key, &value).ok() ? value.str() : fallback;
}

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
  ASSERT_OK(cache->get("k", &a));
  ASSERT_OK(cache->get("k", &b));
  EXPECT_TRUE(a.shares_with(b));
}

TEST(CacheTest, BinaryKeysAndEmptyValues) {
  TempDir dir;
  auto cache = make(dir.file("c.rtc"));
  std::string key("\0\x01\xff", 3);
  cache->put(key, std::string_view(""));
  ASSERT_OK(cache->save());
  auto again = reopen(dir.file("c.rtc"));
  Bytes value;
  ASSERT_OK(again->get(key, &value));
  EXPECT_TRUE(value.empty());
}

TEST(CacheTest, SaveThenOpenFindsEveryEntryWithItsFacts) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  auto cache = make(path);
  for (int i = 0; i < 50; ++i) cache->put("key" + std::to_string(i), Bytes(value_for(i)), "sm_90");
  ASSERT_OK(cache->save());
  auto again = reopen(path);
  EXPECT_EQ(again->size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(get_or(*again, "key" + std::to_string(i)), value_for(i));
  std::vector<EntryInfo> entries;
  ASSERT_OK(again->entries(&entries));
  ASSERT_EQ(entries.size(), 50u);
  EXPECT_EQ(entries[0].metadata, "sm_90");
  EXPECT_EQ(entries[0].value_size, 3000u);
  EXPECT_GT(entries[0].created_ns, 0);
  EXPECT_GT(entries[0].stored_size, 0u);
}

TEST(CacheTest, ASaveAppendsOnlyWhatChanged) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make(path);
  for (int i = 0; i < 200; ++i) cache->put("key" + std::to_string(i), Bytes(value_for(i, 20000)));
  ASSERT_OK(cache->save());
  uint64_t before = file_size(path);
  cache->put("new", Bytes(value_for(999, 20000)));
  ASSERT_OK(cache->save());
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
  ASSERT_OK(cache->save());
  cache->put("a", std::string_view("1b"));
  cache->erase("b");
  ASSERT_OK(cache->save());
  auto again = reopen(path);
  EXPECT_EQ(get_or(*again, "a"), "1b");
  EXPECT_EQ(get_or(*again, "b"), "<miss>");
  EXPECT_EQ(again->size(), 2u);
  again->reset();
  ASSERT_OK(again->save());
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
  ASSERT_OK(zstd_cache->save());
  ASSERT_OK(raw_cache->save());
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
    ASSERT_OK(cache->save());
  }
  EXPECT_GE(cache->stats().compactions, 1u);
  EXPECT_LT(file_size(path), 3u * 20 * 10000);
  auto again = reopen(path);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(get_or(*again, "k" + std::to_string(i)), value_for(500 + i, 10000));
  // Explicit compaction leaves only live records, a header and an index.
  ASSERT_OK(again->compact());
  EXPECT_LT(file_size(path), 20u * 10100 + 2 * 4096);
}

TEST(CacheTest, ReaderNoticesAnotherHandlesCompaction) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto writer = make(path);
  for (int i = 0; i < 10; ++i) writer->put("k" + std::to_string(i), Bytes(value_for(i)));
  ASSERT_OK(writer->save());
  auto reader = reopen(path);
  writer->put("late", std::string_view("v"));
  ASSERT_OK(writer->save());
  ASSERT_OK(writer->compact());
  // The reader still serves from the file it opened, then sees the new one.
  EXPECT_EQ(get_or(*reader, "k3"), value_for(3));
  EXPECT_EQ(get_or(*reader, "late"), "<miss>");
  ASSERT_OK(reader->load());
  EXPECT_EQ(get_or(*reader, "late"), "v");
  EXPECT_EQ(get_or(*reader, "k4"), value_for(4));
}

TEST(CacheTest, ConcurrentPutsGetsAndSaves) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make(path);
  constexpr int kThreads = 8, kPerThread = 100;
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  std::thread saver([&] {
    while (!done.load()) EXPECT_OK(cache->save());
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
  ASSERT_OK(cache->save());
  auto again = reopen(path);
  EXPECT_EQ(again->size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(get_or(*again, "t7-99"), value_for(7099, 500));
}

TEST(CacheTest, SaveAndLoadAnotherPathMerge) {
  TempDir dir;
  auto cache = make(dir.file("own.rtc"));
  cache->put("a", std::string_view("1"));
  ASSERT_OK(cache->save());
  cache->put("b", std::string_view("2"));
  auto other = make(dir.file("other.rtc"));
  other->put("c", std::string_view("3"));
  ASSERT_OK(other->save());
  ASSERT_OK(cache->save(dir.file("other.rtc")));
  auto check = reopen(dir.file("other.rtc"));
  EXPECT_EQ(check->size(), 3u);
  EXPECT_EQ(get_or(*check, "a"), "1");
  EXPECT_EQ(get_or(*check, "b"), "2");

  auto fresh = make(dir.file("fresh.rtc"));
  ASSERT_OK(fresh->load(dir.file("other.rtc")));
  EXPECT_EQ(fresh->size(), 3u);
  ASSERT_OK(fresh->save());  // merged-in entries are saved to its own file
  EXPECT_EQ(reopen(dir.file("fresh.rtc"))->size(), 3u);
}

TEST(CacheTest, FlippedValueByteIsDetectedSkippedAndLogged) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make_uncompressed(path);
  cache->put("victim", Bytes(std::string(1000, 'v')));
  cache->put("other", Bytes(std::string(1000, 'o')));
  ASSERT_OK(cache->save());
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
  ASSERT_OK(again->compact());
  auto compacted = reopen(path);
  EXPECT_EQ(compacted->size(), 1u);
}

// --- what is not an rtcache file, or not one this version reads ------------------------

// What `path` is, for "left alone" checks: its type and, for a file, its
// size and a hash of its bytes.
std::string Snapshot(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return "absent";
  if (!S_ISREG(st.st_mode)) return "type " + std::to_string(st.st_mode & S_IFMT);
  const std::string bytes = read_file(path);
  return "file of " + std::to_string(bytes.size()) + " bytes, hash " +
         std::to_string(std::hash<std::string>()(bytes));
}

struct NotACacheCase {
  const char* name;
  std::function<void(const std::string& path)> make;
  const char* reason;  // in the message
};

class NotACacheFile : public ::testing::TestWithParam<NotACacheCase> {};

TEST_P(NotACacheFile, IsNamedAsSuchAndNeverOverwritten) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  GetParam().make(path);
  const std::string before = Snapshot(path);
  Options options;
  options.path = path;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  EXPECT_TRUE(s.is_not_a_cache_file()) << s.to_string();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find(GetParam().reason), std::string::npos) << s.to_string();
  // The maintenance functions say the same.
  FileReport info;
  Status i = inspect_file(path, &info);
  EXPECT_TRUE(i.is_not_a_cache_file()) << i.to_string();
  VerifyReport report;
  Status v = verify_file(path, &report);
  EXPECT_TRUE(v.is_not_a_cache_file()) << v.to_string();
  // Saving into it is refused and leaves it as it was.
  auto writer = RuntimeCache::create(options);
  writer->put("k", std::string_view("v"));
  Status w = writer->save();
  EXPECT_TRUE(w.is_not_a_cache_file()) << w.to_string();
  EXPECT_EQ(Snapshot(path), before);
}

INSTANTIATE_TEST_SUITE_P(
    Files, NotACacheFile,
    ::testing::Values(
        NotACacheCase{"ShellScript",
                      [](const std::string& p) {
                        write_file(p, "#!/bin/sh\necho this is not a kernel cache\n");
                      },
                      "not an rtcache file"},
        NotACacheCase{"Image",
                      [](const std::string& p) {
                        write_file(p, std::string("\x89PNG\r\n\x1a\n", 8) + std::string(4096, 'p'));
                      },
                      "not an rtcache file"},
        NotACacheCase{"Empty", [](const std::string& p) { write_file(p, ""); }, "empty"},
        NotACacheCase{"Directory", [](const std::string& p) { ::mkdir(p.c_str(), 0700); },
                      "not a regular file"},
        NotACacheCase{"Fifo", [](const std::string& p) { ::mkfifo(p.c_str(), 0600); },
                      "not a regular file"}),
    [](const ::testing::TestParamInfo<NotACacheCase>& info) {
      return std::string(info.param.name);
    });

TEST(CacheTest, NewerFormatVersionIsNotSupportedAndLeftAlone) {
  TempDir dir;
  const std::string path = dir.file("future.rtc");
  auto good = make(path);
  good->put("k", std::string_view("v"));
  ASSERT_OK(good->save());
  format::FileHeader header;
  header.version = format::kFormatVersion + 1;
  const std::string future =
      format::encode_file_header(header) + read_file(path).substr(format::kFileHeaderSize);
  write_file(path, future);
  std::shared_ptr<RuntimeCache> cache;
  Options options;
  options.path = path;
  Status s = RuntimeCache::open(options, &cache);
  EXPECT_EQ(s.code(), Status::Code::kNotSupported) << s.to_string();
  EXPECT_NE(s.message().find(path), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("newer"), std::string::npos) << s.to_string();
  auto writer = RuntimeCache::create(options);
  writer->put("k2", std::string_view("v"));
  Status w = writer->save();
  EXPECT_EQ(w.code(), Status::Code::kNotSupported) << w.to_string();
  EXPECT_EQ(read_file(path), future);
}

TEST(CacheTest, DamagedFileHeaderIsCorruption) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto good = make(path);
  good->put("k", std::string_view("v"));
  ASSERT_OK(good->save());
  std::string bytes = read_file(path);
  bytes[8] = 99;  // the version field: the header checksum fails first
  write_file(path, bytes);
  std::shared_ptr<RuntimeCache> cache;
  Options options;
  options.path = path;
  Status s = RuntimeCache::open(options, &cache);
  EXPECT_TRUE(s.is_corruption()) << s.to_string();
  EXPECT_NE(s.message().find("checksum"), std::string::npos) << s.to_string();
}

// Cuts the file at every length inside its last save (its records and its
// index): each prefix loads, holds everything saved before, and whatever
// complete records of the last save precede the cut.
TEST(CacheTest, EveryPrefixOfTheLastSaveLoads) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  auto cache = make_uncompressed(path);
  cache->put("first", Bytes(value_for(1, 700)));
  cache->put("second", Bytes(value_for(2, 700)));
  ASSERT_OK(cache->save());
  const uint64_t committed = file_size(path);
  cache->put("third", Bytes(value_for(3, 700)));
  ASSERT_OK(cache->save());
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
    ASSERT_OK(s) << "length " << len << ": " << s.to_string();
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
  ASSERT_OK(cache->save());
  const uint64_t good = file_size(path);
  std::string bytes = read_file(path);
  write_file(path, bytes + std::string("RCR1 torn half-written record"));
  auto writer = reopen(path);
  EXPECT_EQ(get_or(*writer, "a"), value_for(1));
  writer->put("b", Bytes(value_for(2)));
  ASSERT_OK(writer->save());
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
    ASSERT_OK(cache->save());
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
  ASSERT_OK(cache->save());
  std::vector<EntryInfo> before;
  ASSERT_OK(reopen(path)->entries(&before));
  auto user = reopen(path, options);
  EXPECT_EQ(get_or(*user, "k"), "v");
  ASSERT_OK(user->save());
  std::vector<EntryInfo> after;
  ASSERT_OK(reopen(path)->entries(&after));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_GT(after[0].last_used_ns, before[0].last_used_ns);
}

TEST(CacheTest, LockTimeoutIsReportedWithThePath) {
  TempDir dir;
  const std::string path = dir.file("c.rtc");
  std::unique_ptr<FileLock> held;
  ASSERT_OK(Env::default_env()->lock(path + ".lock", 0600, std::chrono::milliseconds(0), &held));
  Options options;
  options.lock_timeout = std::chrono::milliseconds(50);
  auto cache = make(path, options);
  cache->put("k", std::string_view("v"));
  Status s = cache->save();
  EXPECT_TRUE(s.is_lock_timeout());
  EXPECT_NE(s.message().find(path + ".lock"), std::string::npos);
  EXPECT_EQ(cache->stats().save_failures, 1u);
  held.reset();
  EXPECT_OK(cache->save());  // the change was kept for the next save
  EXPECT_EQ(get_or(*reopen(path), "k"), "v");
}

}  // namespace
}  // namespace rtcache
