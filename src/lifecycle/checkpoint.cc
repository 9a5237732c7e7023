#include "lifecycle/checkpoint.h"

#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "rtcache/log.h"

namespace rtcache::checkpoint {
namespace {

using Clock = std::chrono::steady_clock;

struct Registration {
  std::weak_ptr<lifecycle::Saveable> handle;
  std::chrono::milliseconds interval;
  Clock::time_point due;
};

struct Checkpointer {
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Registration> entries;
  uint64_t next_token = 1;
  std::thread thread;
  pid_t thread_pid = 0;
  bool stopping = false;
  bool hook_installed = false;
};

Checkpointer& checkpointer() {
  static Checkpointer* c = new Checkpointer();  // never destroyed, on purpose
  return *c;
}

void run() {
  Checkpointer& c = checkpointer();
  std::unique_lock<std::mutex> lock(c.mu);
  while (!c.stopping) {
    Clock::time_point wake = Clock::now() + std::chrono::hours(1);
    for (auto& [token, reg] : c.entries) wake = std::min(wake, reg.due);
    c.cv.wait_until(lock, wake);
    if (c.stopping) break;
    std::vector<std::shared_ptr<lifecycle::Saveable>> due;
    const auto now = Clock::now();
    for (auto& [token, reg] : c.entries) {
      if (reg.due > now) continue;
      reg.due = now + reg.interval;
      if (auto handle = reg.handle.lock()) due.push_back(std::move(handle));
    }
    lock.unlock();
    for (auto& handle : due) {
      if (!handle->has_unsaved_changes()) continue;
      Status s = handle->save();
      if (!s.ok()) log(LogLevel::kWarning, "checkpoint failed (will retry): " + s.to_string());
    }
    due.clear();  // may run a destructor: outside the lock
    lock.lock();
  }
}

void stop_at_exit() {
  Checkpointer& c = checkpointer();
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.thread_pid != getpid()) return;  // a forked child has no such thread
    c.stopping = true;
    thread = std::move(c.thread);
  }
  c.cv.notify_all();
  if (thread.joinable()) thread.join();
}

}  // namespace

uint64_t add(std::weak_ptr<lifecycle::Saveable> handle, std::chrono::milliseconds interval) {
  Checkpointer& c = checkpointer();
  std::lock_guard<std::mutex> lock(c.mu);
  if (!c.hook_installed) {
    std::atexit(stop_at_exit);
    c.hook_installed = true;
  }
  if (c.thread_pid != getpid()) {
    // Inherited across fork, the thread object names a thread that does not
    // run here: leave it alone (never join or detach it).
    if (c.thread.joinable()) new std::thread(std::move(c.thread));
    c.stopping = false;
    c.thread = std::thread(run);
    c.thread_pid = getpid();
  }
  uint64_t token = c.next_token++;
  c.entries.emplace(token, Registration{std::move(handle), interval, Clock::now() + interval});
  c.cv.notify_all();
  return token;
}

void remove(uint64_t token) {
  Checkpointer& c = checkpointer();
  std::lock_guard<std::mutex> lock(c.mu);
  c.entries.erase(token);
}

}  // namespace rtcache::checkpoint
