#include "lifecycle/exit_registry.h"

#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace rtcache::exit_registry {
namespace {

struct Registration {
  std::weak_ptr<lifecycle::Saveable> handle;
  pid_t pid;
};

struct Registry {
  std::mutex mu;
  std::unordered_map<uint64_t, Registration> entries;
  uint64_t next_token = 1;
  bool hook_installed = false;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed, on purpose
  return *r;
}

void save_all_at_exit() {
  // Saved outside the registry lock: a save may drop the last reference to a
  // handle, whose destructor then unregisters itself.
  std::vector<std::shared_ptr<lifecycle::Saveable>> live = live_handles();
  for (auto& handle : live) handle->autosave_now();
  live.clear();
}

// A fork while another thread holds the registry lock would leave the child
// unable to exit; hold it across fork so it is free on both sides.
void prepare_fork() {
  registry().mu.lock();
}
void after_fork() {
  registry().mu.unlock();
}

}  // namespace

std::vector<std::shared_ptr<lifecycle::Saveable>> live_handles() {
  std::vector<std::shared_ptr<lifecycle::Saveable>> live;
  std::lock_guard<std::mutex> lock(registry().mu);
  const pid_t self = getpid();
  for (auto& [token, reg] : registry().entries) {
    if (reg.pid != self) continue;  // inherited across fork
    if (auto handle = reg.handle.lock()) live.push_back(std::move(handle));
  }
  return live;
}

uint64_t add(std::weak_ptr<lifecycle::Saveable> handle) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.hook_installed) {
    std::atexit(save_all_at_exit);
    pthread_atfork(prepare_fork, after_fork, after_fork);
    r.hook_installed = true;
  }
  uint64_t token = r.next_token++;
  r.entries.emplace(token, Registration{std::move(handle), getpid()});
  return token;
}

void remove(uint64_t token) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.entries.erase(token);
}

size_t size() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.entries.size();
}

}  // namespace rtcache::exit_registry
