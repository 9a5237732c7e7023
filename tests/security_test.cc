// Hostile users and careless admins (docs/reliability.md): each test is a
// finding reproduced with real processes and real file systems, and fails on
// the code before its fix.
//
//   LockFileDeletedUnderEightWriters   deleting path.lock let two writers in
//   ForeignLockFileIsRefused           a lock file another user could replace
//   SwapperInAWritableDirectory        the check/open race served foreign values
//   MaintenanceRefusesWhatItMustNot*   repair/compact/merge laundered, followed links
//   OversizedEntriesAreRefusedAtPut    limits held on read, not on write
//   EndlessInputIsBounded              put/import from /dev/zero
//   CraftedIndexesOpenInLinearWork     overlapping index records: quadratic open
//   DecompressionBombsAreRefused       many bombs in one image
//   EmptyFileIsForeign                 an empty file was overwritten
//   ImportObeysTheLockTimeout          import ignored --lock-timeout
//   FullDiskCanBeCleared               nothing could empty a cache on a full disk
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crafted_files.h"
#include "rtcache/rtcache.h"
#include "storage/format.h"
#include "storage/store.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::ChildOptions;
using testing::ChildResult;
using testing::file_exists;
using testing::read_file;
using testing::run_child;
using testing::TempDir;
using testing::write_file;

constexpr const char* kTool = RTCACHE_rtcache_cli_PATH;
constexpr uid_t kNobody = 65534;

ChildResult Tool(const std::vector<std::string>& args, const ChildOptions& options = {}) {
  std::vector<std::string> argv = {kTool};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_child(argv, options);
}

ChildResult AsNobody(const std::vector<std::string>& argv) {
  return run_child(argv, {.uid = kNobody, .gid = kNobody});
}

void RequireRoot() {
  ASSERT_EQ(::geteuid(), 0u) << "runs another user's processes: needs root";
}

// A directory another user may write: world-writable, sticky or not.
void OpenToOthers(const std::string& dir, bool sticky) {
  ASSERT_EQ(::chmod(dir.c_str(), sticky ? 01777 : 0777), 0) << std::strerror(errno);
}

// --- the lock -----------------------------------------------------------------------------

// 8 writer processes save distinct keys while the lock file is deleted over
// and over: every acknowledged key is in the file afterwards, with its value,
// and the file verifies clean. Before the fix, a writer that opened the lock
// file after its deletion locked a new file while the first writer still held
// the old one: 6,179 of 19,601 keys lost.
TEST(Security, LockFileDeletedUnderEightWriters) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  constexpr int kWriters = 8;
  const int per_writer = testing::kSanitizerBuild ? 6 : 15;
  std::atomic<bool> done{false};
  std::thread deleter([&] {
    const std::string lock = cache + ".lock";
    while (!done.load()) {
      (void)::unlink(lock.c_str());
      std::this_thread::yield();
    }
  });
  std::mutex mu;
  std::map<std::string, std::string> acknowledged;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < per_writer; ++i) {
        const std::string key = "w" + std::to_string(w) + "-" + std::to_string(i);
        const std::string value = testing::MakeValue(key, 1);
        ChildResult r = Tool({"put", cache, key, "-"}, {.input = value});
        if (r.exit_code == 0) {
          std::lock_guard<std::mutex> lock(mu);
          acknowledged[key] = value;
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  done = true;
  deleter.join();
  ASSERT_FALSE(acknowledged.empty());
  auto handle = testing::OpenCache(cache);
  for (const auto& [key, value] : acknowledged) {
    Bytes got;
    ASSERT_OK(handle->get(key, &got)) << key;
    EXPECT_EQ(got.view(), value) << key;
  }
  ChildResult verify = Tool({"verify", cache});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

// A lock file another user owns (planted before the cache existed, in a
// shared sticky directory) is refused: its owner could swap it at will.
TEST(Security, ForeignLockFileIsRefused) {
  RequireRoot();
  TempDir dir;
  OpenToOthers(dir.path(), /*sticky=*/true);
  const std::string cache = dir.file("c.rtc");
  ChildResult plant = AsNobody({"/usr/bin/touch", cache + ".lock"});
  ASSERT_EQ(plant.exit_code, 0) << plant.err;
  ChildResult put = Tool({"put", cache, "k", "-"}, {.input = "v"});
  EXPECT_EQ(put.exit_code, 2);
  EXPECT_NE(put.err.find(cache + ".lock: owned by another user"), std::string::npos) << put.err;
  EXPECT_FALSE(file_exists(cache));
}

// Another user swaps files in a directory they may write while this user
// reads: no value of theirs is ever served. A directory others may write
// (without the sticky bit) is refused outright; in a sticky one they cannot
// replace this user's file.
TEST(Security, SwapperInAWritableDirectoryNeverGetsItsValueServed) {
  RequireRoot();
  for (bool sticky : {false, true}) {
    SCOPED_TRACE(sticky ? "sticky directory" : "world-writable directory");
    TempDir dir;
    const std::string cache = dir.file("c.rtc");
    ASSERT_EQ(Tool({"put", cache, "k", "-"}, {.input = "mine"}).exit_code, 0);
    // Their cache, with their value under the same key, handed to them.
    const std::string theirs = dir.file("theirs.rtc");
    ASSERT_EQ(Tool({"put", theirs, "k", "-"}, {.input = "theirs"}).exit_code, 0);
    ASSERT_EQ(::chown(theirs.c_str(), kNobody, kNobody), 0);
    OpenToOthers(dir.path(), sticky);
    // The swapper: links their file over ours and back, as fast as it can.
    testing::Child swapper({"/bin/sh", "-c",
                            "while :; do ln -f " + theirs + " " + cache + ".x 2>/dev/null; mv -f " +
                                cache + ".x " + cache + " 2>/dev/null; done"},
                           {.uid = kNobody, .gid = kNobody});
    int served_theirs = 0, served_mine = 0;
    for (int i = 0; i < (testing::kSanitizerBuild ? 30 : 150); ++i) {
      ChildResult get = Tool({"get", cache, "k"});
      if (get.exit_code == 0) (get.out == "theirs" ? served_theirs : served_mine)++;
    }
    swapper.signal(SIGKILL);
    (void)swapper.wait();
    EXPECT_EQ(served_theirs, 0);
    if (sticky) {
      EXPECT_GT(served_mine, 0);
    }
  }
}

// repair, compact and merge write: they refuse another user's file and a
// symbolic link, write nothing and leave no lock file; repair makes no lock
// file next to a file that is not an rtcache file.
TEST(Security, MaintenanceRefusesUntrustedFilesAndLinks) {
  RequireRoot();
  TempDir dir;
  const std::string mine = dir.file("mine.rtc");
  ASSERT_EQ(Tool({"put", mine, "k", "-"}, {.input = "v"}).exit_code, 0);
  const std::string theirs = dir.file("theirs.rtc");
  write_file(theirs, read_file(mine));
  ASSERT_EQ(::chown(theirs.c_str(), kNobody, kNobody), 0);
  const std::string link = dir.file("link.rtc");
  ASSERT_EQ(::symlink(mine.c_str(), link.c_str()), 0);
  const std::string passwd = dir.file("passwd");
  write_file(passwd, "root:x:0:0:root:/root:/bin/sh\n");
  const std::string before = read_file(theirs);
  for (const std::string& target : {theirs, link, passwd}) {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"repair", target},
                                                 {"compact", target},
                                                 {"merge", target, mine},
                                                 {"rm", target, "k"},
                                                 {"put", target, "k2", "-"}}) {
      ChildResult r = Tool(args, {.input = "x"});
      EXPECT_EQ(r.exit_code, 2) << args[0] << " " << target << ": " << r.out;
      EXPECT_FALSE(file_exists(target + ".lock")) << args[0] << " " << target;
    }
  }
  EXPECT_EQ(read_file(theirs), before);
  EXPECT_EQ(read_file(passwd), "root:x:0:0:root:/root:/bin/sh\n");
  ChildResult get = Tool({"get", theirs, "k"});
  EXPECT_EQ(get.exit_code, 2) << "repair must not have laundered it";
}

// --- limits at the door ---------------------------------------------------------------------

TEST(Security, OversizedEntriesAreRefusedAtPut) {
  TempDir dir;
  Options options;
  options.path = dir.file("c.rtc");
  options.max_value_bytes = 1 << 20;
  auto cache = RuntimeCache::create(options);
  testing::LogCapture log;
  const std::string big_key(format::kMaxKeyBytes + 1, 'k');
  const std::string big_meta(format::kMaxMetaBytes + 1, 'm');
  const std::string big_value((1 << 20) + 1, 'v');
  EXPECT_EQ(cache->check_put(big_key, 1, 0).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(cache->check_put("k", 1, big_meta.size()).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(cache->check_put("k", big_value.size(), 0).code(), Status::Code::kInvalidArgument);
  EXPECT_OK(cache->check_put("k", 1 << 20, 0));
  cache->put(big_key, std::string_view("v"));
  cache->put("m", std::string_view("v"), big_meta);
  cache->put("v", std::string_view(big_value));
  cache->put("ok", std::string_view("fine"));
  EXPECT_EQ(cache->stats().rejected_puts, 3u);
  EXPECT_EQ(log.warnings().size(), 3u) << log.text();
  ASSERT_OK(cache->save());
  // What was saved reads back with default limits, and verify is clean.
  auto reader = testing::OpenCache(options.path);
  EXPECT_EQ(reader->size(), 1u);
  VerifyReport report;
  ASSERT_OK(verify_file(options.path, &report));
  EXPECT_TRUE(report.ok());
}

// A value over a raised limit is refused too: the format's 1 GiB is the most
// any reader (and compaction) accepts, so nothing is saved that a later
// compaction would drop.
TEST(Security, RaisedLimitStillStopsAtTheFormatsLimit) {
  Options options;
  options.max_value_bytes = 4ull << 30;
  auto cache = RuntimeCache::create(options);
  EXPECT_EQ(cache->check_put("k", (1ull << 30) + 1, 0).code(), Status::Code::kInvalidArgument);
  EXPECT_OK(cache->check_put("k", 1ull << 30, 0));
}

TEST(Security, EndlessInputIsBounded) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  ChildResult put = Tool({"--max-value-size", "1M", "put", cache, "k", "/dev/zero"});
  EXPECT_EQ(put.exit_code, 2);
  EXPECT_NE(put.err.find("more than 1048576 bytes"), std::string::npos) << put.err;
  ChildResult import = Tool({"import", cache, "/dev/zero"});
  EXPECT_EQ(import.exit_code, 2);
  EXPECT_NE(import.err.find("not an rtcache file"), std::string::npos) << import.err;
  EXPECT_FALSE(file_exists(cache));
}

// --- crafted files ----------------------------------------------------------------------------

// Counts the bytes read through every file it opens.
class CountingEnv : public EnvWrapper {
 public:
  CountingEnv() : EnvWrapper(Env::default_env()) {}
  uint64_t bytes_read() const { return read_.load(); }
  Status open_read(const std::string& path, std::unique_ptr<File>* file) override {
    std::unique_ptr<File> inner;
    Status s = target()->open_read(path, &inner);
    if (s.ok()) *file = std::make_unique<Counted>(std::move(inner), &read_);
    return s;
  }

 private:
  class Counted final : public File {
   public:
    Counted(std::unique_ptr<File> inner, std::atomic<uint64_t>* read)
        : inner_(std::move(inner)), read_(read) {}
    Status read_at(uint64_t offset, size_t n, char* dst, size_t* got) override {
      Status s = inner_->read_at(offset, n, dst, got);
      read_->fetch_add(*got);
      return s;
    }
    Status write_at(uint64_t offset, std::string_view data) override {
      return inner_->write_at(offset, data);
    }
    Status sync() override { return inner_->sync(); }
    Status truncate(uint64_t size) override { return inner_->truncate(size); }
    Status stat(FileInfo* info) override { return inner_->stat(info); }
    Status set_mode(uint32_t mode) override { return inner_->set_mode(mode); }
    Status close() override { return inner_->close(); }
    const std::string& path() const override { return inner_->path(); }

   private:
    std::unique_ptr<File> inner_;
    std::atomic<uint64_t>* read_;
  };
  std::atomic<uint64_t> read_{0};
};

TEST(Security, CraftedIndexesOpenInLinearWork) {
  TempDir dir;
  const std::string path = dir.file("crafted.rtc");
  constexpr uint64_t kSize = 4u << 20;
  write_file(path, crafted::overlapping_indexes(kSize));
  CountingEnv env;
  Options options;
  options.path = path;
  options.env = &env;
  auto cache = RuntimeCache::create(options);
  Status s = cache->load();
  EXPECT_TRUE(s.ok() || s.is_corruption()) << s.to_string();
  // The documented bound: at most twice the file in index bytes, plus the
  // records walked once.
  EXPECT_LE(env.bytes_read(), 4 * kSize) << "read " << env.bytes_read() << " bytes";
  EXPECT_EQ(cache->size(), 0u);
}

// An image of many values that each decode to 16 MiB of zeros (a few hundred
// bytes compressed): deserialize refuses it instead of decoding gigabytes.
TEST(Security, DecompressionBombsAreRefused) {
  // 64 values of 16 MiB: 1 GiB decoded, 4 times the budget for so small an image.
  const std::string image = crafted::decompression_bombs(64, 16u << 20);
  ASSERT_LT(image.size(), 2u << 20);
  auto cache = RuntimeCache::create();
  Status s = cache->deserialize(image);
  EXPECT_TRUE(s.is_corruption()) << s.to_string();
  EXPECT_NE(s.message().find("decompression bomb"), std::string::npos) << s.to_string();
  EXPECT_EQ(cache->size(), 0u);
}

// --- smaller findings -------------------------------------------------------------------------

TEST(Security, EmptyFileIsForeign) {
  TempDir dir;
  const std::string path = dir.file("empty.rtc");
  write_file(path, "");
  ChildResult put = Tool({"put", path, "k", "-"}, {.input = "v"});
  EXPECT_EQ(put.exit_code, 2);
  EXPECT_NE(put.err.find("empty file"), std::string::npos) << put.err;
  EXPECT_EQ(read_file(path), "");
  EXPECT_FALSE(file_exists(path + ".lock"));
  auto cache = RuntimeCache::create({.path = path});
  cache->put("k", std::string_view("v"));
  EXPECT_TRUE(cache->save().is_not_a_cache_file());
  EXPECT_EQ(read_file(path), "");
}

// import waits only as long as --lock-timeout says (it used the default 10 s).
TEST(Security, ImportObeysTheLockTimeout) {
  TempDir dir;
  const std::string cache = dir.file("c.rtc");
  ASSERT_EQ(Tool({"put", cache, "k", "-"}, {.input = "v"}).exit_code, 0);
  ASSERT_EQ(Tool({"export", cache, dir.file("image")}).exit_code, 0);
  testing::Child holder({testing::kTestChild, "hold-lock", cache});
  std::string line;
  ASSERT_TRUE(holder.read_line(&line));
  ASSERT_EQ(line, "locked");
  // With the default 10 s it would still be waiting when the bound below ends.
  testing::Child import({kTool, "--lock-timeout", "100ms", "import", cache, dir.file("image")});
  ASSERT_TRUE(import.wait_for(8000)) << "import did not give up after its lock timeout";
  EXPECT_TRUE(testing::Exited(import.status(), 2));
  EXPECT_NE(import.err().find("ms"), std::string::npos) << import.err();
  holder.close_stdin();
  (void)holder.wait();
}

// On a full file system nothing that writes can run, but `rtcache clear`
// deletes the cache under its lock and frees the space.
TEST(Security, FullDiskCanBeCleared) {
  RequireRoot();
  TempDir dir;
  const std::string tool = kTool;
  const std::string script =
      "set -u; d=" + dir.path() + "/mnt; mkdir -p $d; " +
      "mount -t tmpfs -o size=256k tmpfs $d || exit 90; " +
      "head -c 60000 /dev/urandom > $d/v; i=0; " + "while " + tool +
      " put $d/c.rtc k$i $d/v 2>/dev/null; do i=$((i+1)); done; " +
      "rm -f $d/v; head -c 300000 /dev/zero > $d/fill 2>/dev/null; echo puts=$i; " + tool +
      " compact $d/c.rtc >/dev/null 2>&1; echo compact=$?; " + tool +
      " clear $d/c.rtc; echo clear=$?; test -e $d/c.rtc; echo exists=$?";
  ChildResult r = run_child({"/usr/bin/unshare", "-m", "/bin/sh", "-c", script});
  ASSERT_NE(r.exit_code, 90) << "cannot mount a tmpfs: " << r.err;
  EXPECT_NE(r.out.find("clear=0"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("exists=1"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(r.out.find("puts=0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rtcache
