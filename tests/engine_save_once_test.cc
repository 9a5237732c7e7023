// An engine saves its implicit handle once (include/rtcache/engine.h, "Letting
// go of an implicit handle"): destroying the engine, swapping its settings or
// exiting while another process holds the cache's lock waits for one lock
// timeout and logs one warning, not two.
//
// Attempts are counted, never timed: every save attempt opens `path.lock`
// once (Env::lock), and inotify reports each open, by this process or a
// child, in order. The lock is held by a real second process (test_child
// hold-lock). Implicit handles use the default lock timeout (10 s; the
// engine path takes no Options), so each of those tests waits once.
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rtcache/rtcache.h"
#include "test_util.h"

namespace rtcache {
namespace {

using testing::Child;
using testing::Exited;
using testing::kTestChild;
using testing::LogCapture;
using testing::run_child;
using testing::TempDir;

constexpr const char* kExitChild = RTCACHE_engine_save_once_child_PATH;

// Counts the opens of one file, by any process, from construction on.
// Opens and closes alternate in the event queue, so none is coalesced.
class OpenCounter {
 public:
  explicit OpenCounter(const std::string& path)
      : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)),
        watch_(inotify_add_watch(fd_, path.c_str(), IN_OPEN | IN_CLOSE)) {
    EXPECT_GE(fd_, 0);
    EXPECT_GE(watch_, 0) << path;
  }
  ~OpenCounter() { ::close(fd_); }
  OpenCounter(const OpenCounter&) = delete;
  OpenCounter& operator=(const OpenCounter&) = delete;

  // Opens so far (the kernel queues an event before open() returns).
  int opens() {
    alignas(struct inotify_event) char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd_, buffer, sizeof buffer)) > 0) {
      for (char* p = buffer; p < buffer + n;) {
        const auto* event = reinterpret_cast<const struct inotify_event*>(p);
        if (event->mask & IN_OPEN) ++opens_;
        p += sizeof(struct inotify_event) + event->len;
      }
    }
    return opens_;
  }

 private:
  int fd_;
  int watch_;
  int opens_ = 0;
};

// Another process holding the cache's lock until destroyed.
class HeldLock {
 public:
  explicit HeldLock(const std::string& path) : holder_({kTestChild, "hold-lock", path}) {
    std::string line;
    EXPECT_TRUE(holder_.read_line(&line, 60'000)) << holder_.err();
    EXPECT_EQ(line, "locked") << holder_.err();
  }
  ~HeldLock() {
    holder_.close_stdin();
    EXPECT_TRUE(Exited(holder_.wait(), 0)) << holder_.err();
  }
  HeldLock(const HeldLock&) = delete;
  HeldLock& operator=(const HeldLock&) = delete;

 private:
  Child holder_;
};

EngineConfig config() {
  EngineConfig c;
  c.name = "save_once";
  return c;  // no source: nothing is compiled, entries are put directly
}

// An engine on `path`'s implicit handle, with one unsaved entry.
std::unique_ptr<Engine> engine_with_changes(const std::string& path) {
  auto engine = std::make_unique<Engine>(config(), RuntimeSettings::path(path));
  engine->runtime_cache()->put("save-once", std::string_view("value"));
  return engine;
}

// Lines of `text` that are rtcache warnings.
size_t warning_lines(const std::string& text) {
  size_t n = 0;
  for (size_t at = text.find("rtcache: warning: "); at != std::string::npos;
       at = text.find("rtcache: warning: ", at + 1)) {
    ++n;
  }
  return n;
}

// --- another process holds the lock --------------------------------------------------------

// The engine lets go of its handle (by `release`) while another process
// holds the lock: one save attempt, one warning naming the file.
void ExpectOneAttemptAndOneWarning(
    const std::function<void(std::unique_ptr<Engine>&)>& release,
    const std::function<void(std::unique_ptr<Engine>&, OpenCounter&, LogCapture&)>& after = {}) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  HeldLock held(path);
  auto engine = engine_with_changes(path);
  std::weak_ptr<RuntimeCache> handle = engine->runtime_cache();
  OpenCounter attempts(path + ".lock");
  LogCapture log;
  release(engine);
  EXPECT_TRUE(handle.expired());
  EXPECT_EQ(attempts.opens(), 1);
  ASSERT_EQ(log.warnings().size(), 1u) << log.text();
  EXPECT_NE(log.warnings()[0].find(path), std::string::npos) << log.text();
  if (after) after(engine, attempts, log);
}

TEST(EngineSaveOnceTest, DestroyedWhileLockedWaitsOnceAndWarnsOnce) {
  ExpectOneAttemptAndOneWarning([](std::unique_ptr<Engine>& engine) { engine.reset(); });
}

TEST(EngineSaveOnceTest, SwappedWhileLockedWaitsOnceAndWarnsOnce) {
  ExpectOneAttemptAndOneWarning(
      [](std::unique_ptr<Engine>& engine) {
        engine->set_runtime_settings(RuntimeSettings::none());
      },
      [](std::unique_ptr<Engine>& engine, OpenCounter& attempts, LogCapture& log) {
        engine.reset();  // it holds a private in-memory cache now: nothing more
        EXPECT_EQ(attempts.opens(), 1);
        EXPECT_EQ(log.warnings().size(), 1u) << log.text();
      });
}

// The process exits with the engine alive; MODE says who lets go first.
class EngineSaveOnceAtExitTest : public ::testing::TestWithParam<const char*> {};

TEST_P(EngineSaveOnceAtExitTest, WaitsOnceAndWarnsOnce) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  HeldLock held(path);
  OpenCounter attempts(path + ".lock");
  auto child = run_child({kExitChild, path, GetParam()}, {.env = {"RTCACHE_LOG=warning"}});
  ASSERT_TRUE(Exited(child.status, 0)) << child.err;
  EXPECT_EQ(child.out, "ready\n");
  EXPECT_EQ(attempts.opens(), 1);
  EXPECT_EQ(warning_lines(child.err), 1u) << child.err;
}

INSTANTIATE_TEST_SUITE_P(Modes, EngineSaveOnceAtExitTest,
                         ::testing::Values("static", "global", "leaked"),
                         [](const auto& info) { return std::string(info.param); });

// --- an unwritable path (fails at once: no lock wait) ---------------------------------------

std::string unsavable(const TempDir& dir) {
  testing::write_file(dir.file("not-a-dir"), "x");
  return dir.file("not-a-dir/kernels.rtc");  // its parent is a regular file
}

TEST(EngineSaveOnceTest, DestroyedWithAnUnwritablePathWarnsOnce) {
  TempDir dir;
  auto engine = engine_with_changes(unsavable(dir));
  LogCapture log;
  engine.reset();
  EXPECT_EQ(log.warnings().size(), 1u) << log.text();
}

TEST(EngineSaveOnceTest, SwappedWithAnUnwritablePathWarnsOnce) {
  TempDir dir;
  const std::string good = dir.file("good.rtc");
  auto engine = engine_with_changes(unsavable(dir));
  LogCapture log;
  engine->set_runtime_settings(RuntimeSettings::path(good));
  EXPECT_EQ(log.warnings().size(), 1u) << log.text();
  engine->runtime_cache()->put("second", std::string_view("v"));
  engine.reset();  // the new implicit handle saves
  EXPECT_EQ(log.warnings().size(), 1u) << log.text();
  EXPECT_TRUE(testing::file_exists(good));
}

// --- a handle shared by several engines -----------------------------------------------------

TEST(EngineSaveOnceTest, EachReleaseOfASharedHandleIsOneSave) {
  TempDir dir;
  const std::string path = unsavable(dir);
  auto a = engine_with_changes(path);
  auto b = std::make_unique<Engine>(config(), RuntimeSettings::path(path));
  ASSERT_EQ(a->runtime_cache(), b->runtime_cache());
  std::weak_ptr<RuntimeCache> handle = a->runtime_cache();
  LogCapture log;
  a.reset();  // b still uses it: saved now on a's behalf, autosave stays on for b
  EXPECT_EQ(log.warnings().size(), 1u) << log.text();
  if (auto alive = handle.lock()) {
    EXPECT_TRUE(alive->autosave_on_del());
  } else {
    FAIL() << "the handle died although b still uses it";
  }
  b.reset();  // the last reference: the handle's destructor autosaves, once
  EXPECT_TRUE(handle.expired());
  EXPECT_EQ(log.warnings().size(), 2u) << log.text();
}

TEST(EngineSaveOnceTest, ASharedHandleWhoseAutosaveRanIsNotSavedAgain) {
  TempDir dir;
  auto a = engine_with_changes(unsavable(dir));
  auto b = std::make_unique<Engine>(config(), a->runtime_settings());
  LogCapture log;
  EXPECT_TRUE(a->runtime_cache()->autosave_now());  // what the exit hook does
  EXPECT_EQ(log.warnings().size(), 1u) << log.text();
  a.reset();
  b->set_runtime_settings(RuntimeSettings::none());
  EXPECT_EQ(log.warnings().size(), 1u) << log.text();
}

TEST(EngineSaveOnceTest, ASharedReleaseSavesAndTheLastOneSavesTheRest) {
  TempDir dir;
  const std::string path = dir.file("kernels.rtc");
  auto a = engine_with_changes(path);
  auto b = std::make_unique<Engine>(config(), RuntimeSettings::path(path));
  a.reset();
  ASSERT_TRUE(testing::file_exists(path));  // saved when a let go
  b->runtime_cache()->put("later", std::string_view("v"));
  b.reset();
  Options options;
  options.path = path;
  std::shared_ptr<RuntimeCache> check;
  ASSERT_OK(RuntimeCache::open(options, &check));
  EXPECT_TRUE(check->contains("save-once"));
  EXPECT_TRUE(check->contains("later"));
}

}  // namespace
}  // namespace rtcache
