// Header files a compile reads from disk decide hits by content: an edited
// header is a miss, always (include/rtcache/engine.h, src/jit/header_manifest.h).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>

#include <string>
#include <vector>

#include "jit/header_manifest.h"
#include "rtcache/engine.h"
#include "test_kernels.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::ChildResult;
using testing::Exited;
using testing::run_child;
using testing::TempDir;
using testing::write_file;

constexpr const char* kTestChild = RTCACHE_test_child_PATH;

bool Before(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

// Waits (at most one clock tick) until the clock that file times come from
// has moved past `path`'s change time. A compile records a header only when
// it was last changed before the compile started (it may otherwise have been
// read mid-edit), so a test that writes a header and wants the next compile
// cached waits for this condition first.
void WaitForTheFileClockToPass(const std::string& path) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
  while (!Before(st.st_ctim, headers::file_clock_now())) ::sched_yield();
}

// Rewrites `path` with `text` and sets its modification time back to what it
// was: an edit that keeps the path, the size and the modification time.
void EditKeepingSizeAndTime(const std::string& path, const std::string& text) {
  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  ASSERT_EQ(text.size(), static_cast<size_t>(before.st_size)) << "the same size";
  write_file(path, text);
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  struct stat after;
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  ASSERT_EQ(after.st_size, before.st_size);
  ASSERT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
}

// "cached 0123..." or "compiled 0123...": how the child got the kernel, and
// the hash of its binary.
struct Outcome {
  std::string how;
  std::string binary_hash;
};

Outcome IncludeCompile(const std::string& cache, const std::string& include_dir) {
  ChildResult r = run_child({kTestChild, "include-compile", cache, include_dir});
  EXPECT_TRUE(Exited(r.status, 0)) << r.err;
  const size_t space = r.out.find(' ');
  if (space == std::string::npos) return {r.out, ""};
  return {r.out.substr(0, space), r.out.substr(space + 1)};
}

// The cuda-samples case: NUM_STEPS edited in a header reached through -I,
// the file keeping its path, size and modification time. Each step is a new
// process, as an application restarted after the edit.
TEST(HeaderFiles, AnEditedHeaderIsAMissAndANewBinaryInTheNextProcess) {
  TempDir dir;
  const std::string inc = dir.file("inc");
  ASSERT_EQ(::mkdir(inc.c_str(), 0755), 0);
  const std::string header = inc + "/params.h";
  write_file(header, "#define NUM_STEPS 2048\n");
  WaitForTheFileClockToPass(header);
  const std::string cache = dir.file("kernels.rtc");

  const Outcome first = IncludeCompile(cache, inc);
  EXPECT_EQ(first.how, "compiled");
  const Outcome again = IncludeCompile(cache, inc);
  EXPECT_EQ(again.how, "cached") << "unchanged headers: a hit";
  EXPECT_EQ(again.binary_hash, first.binary_hash);

  EditKeepingSizeAndTime(header, "#define NUM_STEPS 1024\n");
  WaitForTheFileClockToPass(header);
  const Outcome edited = IncludeCompile(cache, inc);
  EXPECT_EQ(edited.how, "compiled") << "an edited header is a miss";
  EXPECT_NE(edited.binary_hash, first.binary_hash) << "and gives a new binary";
  const Outcome edited_again = IncludeCompile(cache, inc);
  EXPECT_EQ(edited_again.how, "cached");
  EXPECT_EQ(edited_again.binary_hash, edited.binary_hash);

  // Back to the first contents: the first binary, from the cache.
  EditKeepingSizeAndTime(header, "#define NUM_STEPS 2048\n");
  const Outcome reverted = IncludeCompile(cache, inc);
  EXPECT_EQ(reverted.how, "cached");
  EXPECT_EQ(reverted.binary_hash, first.binary_hash);
}

EngineConfig IncludingConfig(const std::string& include_dir) {
  EngineConfig config;
  config.source = testing::kIncludingModule;
  config.options = {"-I" + include_dir};
  return config;
}

// In one process, between two kernel() calls: a header included by a header.
TEST(HeaderFiles, AnEditToANestedHeaderIsSeenByTheSameProcess) {
  TempDir dir;
  const std::string inner = dir.file("inner.h");
  write_file(dir.file("params.h"), "#include \"inner.h\"\n#define NUM_STEPS INNER\n");
  write_file(inner, "#define INNER 7\n");
  WaitForTheFileClockToPass(inner);
  Engine engine(IncludingConfig(dir.path()), RuntimeSettings::none());
  Kernel first, hit, edited;
  ASSERT_OK(engine.kernel("steps", &first));
  ASSERT_OK(engine.kernel("steps", &hit));
  EXPECT_TRUE(hit.from_cache);
  EditKeepingSizeAndTime(inner, "#define INNER 8\n");
  ASSERT_OK(engine.kernel("steps", &edited));
  EXPECT_FALSE(edited.from_cache);
  EXPECT_NE(edited.binary.str(), first.binary.str());
  EXPECT_EQ(engine.stats().compiles, 2u);
}

// Lookups that repeat are served through a directory watch without a stat
// per header (directory_watch.h); an edit is still seen by the next one.
TEST(HeaderFiles, AnEditAfterRepeatedHitsIsSeen) {
  TempDir dir;
  const std::string header = dir.file("params.h");
  write_file(header, "#define NUM_STEPS 5\n");
  WaitForTheFileClockToPass(header);
  Engine engine(IncludingConfig(dir.path()), RuntimeSettings::none());
  Kernel first;
  ASSERT_OK(engine.kernel("steps", &first));
  for (int i = 0; i < 4; ++i) {  // first by stat, then watched, then by the watch's epoch
    Kernel hit;
    ASSERT_OK(engine.kernel("steps", &hit));
    EXPECT_TRUE(hit.from_cache) << i;
  }
  EditKeepingSizeAndTime(header, "#define NUM_STEPS 6\n");
  Kernel edited;
  ASSERT_OK(engine.kernel("steps", &edited));
  EXPECT_FALSE(edited.from_cache);
  EXPECT_NE(edited.binary.str(), first.binary.str());
}

// A header touched (or copied: new times, same bytes) is read and hashed
// once, and is still a hit.
TEST(HeaderFiles, ATouchedButUnchangedHeaderIsStillAHit) {
  TempDir dir;
  const std::string header = dir.file("params.h");
  write_file(header, "#define NUM_STEPS 3\n");
  WaitForTheFileClockToPass(header);
  Engine engine(IncludingConfig(dir.path()), RuntimeSettings::none());
  Kernel first, touched;
  ASSERT_OK(engine.kernel("steps", &first));
  ASSERT_EQ(::utimensat(AT_FDCWD, header.c_str(), nullptr, 0), 0);  // now
  ASSERT_OK(engine.kernel("steps", &touched));
  EXPECT_TRUE(touched.from_cache);
  EXPECT_EQ(engine.stats().compiles, 1u);
}

// A header changed after the compile started may have been read mid-edit:
// its contents are not recorded, so that kernel is not cached.
TEST(HeaderFiles, AHeaderChangedDuringTheCompileIsNotRecorded) {
  TempDir dir;
  const std::string header = dir.file("params.h");
  const timespec compile_start = headers::file_clock_now();
  write_file(header, "#define NUM_STEPS 4\n");
  std::vector<headers::HeaderFile> files;
  const Status s = headers::snapshot({header}, {}, compile_start, &files);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(header), std::string::npos) << s.message();
  // Recorded once it is older than the compile.
  WaitForTheFileClockToPass(header);
  ASSERT_OK(headers::snapshot({header}, {}, headers::file_clock_now(), &files));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].path, header);
  EXPECT_EQ(headers::first_changed(files), "");
}

// In-memory headers are part of the key by name and contents, in any order,
// so `rtcache warm --header` and the application agree however they list them.
TEST(HeaderFiles, InMemoryHeadersGiveOneKeyInAnyOrder) {
  EngineConfig a;
  a.source = "#include \"x.h\"\n#include \"y.h\"\nextern \"C\" __global__ void k() {}\n";
  a.headers = {{"x.h", "#define X 1\n"}, {"y.h", "#define Y 1\n"}};
  EngineConfig b = a;
  b.headers = {{"y.h", "#define Y 1\n"}, {"x.h", "#define X 1\n"}};
  EngineConfig c = a;
  c.headers = {{"x.h", "#define X 2\n"}, {"y.h", "#define Y 1\n"}};
  Engine ea(a, RuntimeSettings::none()), eb(b, RuntimeSettings::none()),
      ec(c, RuntimeSettings::none());
  EXPECT_EQ(ea.key_for("k"), eb.key_for("k"));
  EXPECT_NE(ea.key_for("k"), ec.key_for("k"));
}

// The manifest's encoding: what encode() wrote decodes to the same; anything
// else is refused (and is then a miss, never a crash).
TEST(HeaderFiles, ManifestsRoundTripAndMalformedOnesAreRefused) {
  headers::Variant v;
  v.kernel_key = "k:0123";
  v.files = {{"/inc/a b.h", std::string(32, 'a'), 1, 2, 3, 4, 5}, {"rel.h", std::string(32, 'b')}};
  const std::string text = headers::encode({v, v});
  std::vector<headers::Variant> back;
  ASSERT_TRUE(headers::decode(text, &back));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].kernel_key, "k:0123");
  ASSERT_EQ(back[0].files.size(), 2u);
  EXPECT_EQ(back[0].files[0].path, "/inc/a b.h");
  EXPECT_EQ(back[0].files[0].ctime_ns, 5);
  std::vector<headers::Variant> none;
  EXPECT_FALSE(headers::decode(text.substr(0, text.size() - 1), &none)) << "a cut line";
  const size_t last_line = text.rfind('\n', text.size() - 2) + 1;
  EXPECT_FALSE(headers::decode(text.substr(0, last_line), &none)) << "a variant short of a file";
  EXPECT_FALSE(headers::decode("rtcache-headers 2\n", &none));
  EXPECT_FALSE(headers::decode("rtcache-headers 1\nvariant k 99999999999\n", &none));
}

}  // namespace
}  // namespace rtcache
