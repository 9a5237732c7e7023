// RuntimeCache: construction, the implicit handle per path, clones, and the
// lifecycle (autosave at destruction or exit, checkpoints). Entries, streams
// and files are in entries.cc, streams.cc and persistence.cc.
#include "rtcache/runtime_cache.h"

#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "cache/handle_state.h"
#include "cache/record_encoding.h"
#include "cache/storage_options.h"
#include "lifecycle/checkpoint.h"
#include "lifecycle/exit_registry.h"

namespace rtcache {

// --- construction and lifecycle ------------------------------------------------

RuntimeCache::RuntimeCache(Options options)
    : options_(with_environment(std::move(options))),
      owner_pid_(getpid()),
      state_(std::make_unique<State>(this)) {
  state_->env = env_of(options_);
  state_->limits = limits_of(options_);
  state_->read_only.store(options_.read_only);
}

std::shared_ptr<RuntimeCache> RuntimeCache::create(Options options) {
  bool autosave = options.autosave_on_del;
  std::shared_ptr<RuntimeCache> cache(new RuntimeCache(std::move(options)));
  if (autosave) cache->set_autosave_on_del(true);
  cache->start_checkpoints();
  return cache;
}

void RuntimeCache::start_checkpoints() {
  if (options_.checkpoint_interval.count() > 0 && !options_.path.empty()) {
    checkpoint_token_ = checkpoint::add(saveable(), options_.checkpoint_interval);
  }
}

Status RuntimeCache::open(Options options, std::shared_ptr<RuntimeCache>* cache) {
  *cache = create(std::move(options));
  return (*cache)->load();
}

std::shared_ptr<RuntimeCache> RuntimeCache::implicit_for(const std::string& path) {
  struct Implicit {
    std::mutex mu;
    std::unordered_map<std::string, std::weak_ptr<RuntimeCache>> by_path;
  };
  static Implicit* implicit = new Implicit();  // never destroyed, like the exit registry
  std::error_code ec;
  std::string key =
      path.empty() ? path : std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) key = path;
  std::lock_guard<std::mutex> lock(implicit->mu);
  std::erase_if(implicit->by_path, [](const auto& kv) { return kv.second.expired(); });
  if (auto it = implicit->by_path.find(key); it != implicit->by_path.end()) {
    if (auto alive = it->second.lock()) return alive;
  }
  Options options;
  options.path = key;
  options.autosave_on_del = true;
  auto cache = create(std::move(options));
  Status s = cache->load();
  if (!s.ok()) log(LogLevel::kWarning, "loading " + s.message() + " failed; starting empty");
  implicit->by_path[key] = cache;
  return cache;
}

std::shared_ptr<RuntimeCache> RuntimeCache::clone() const {
  Options options = options_;
  options.autosave_on_del = false;  // registered below, once the state is copied
  std::shared_ptr<RuntimeCache> copy(new RuntimeCache(std::move(options)));
  {
    std::shared_lock lock(state_->mu);
    copy->state_->overlay = state_->overlay;
    copy->state_->view = state_->view;
    copy->state_->next_version = state_->next_version;
  }
  copy->options_.autosave_on_del = options_.autosave_on_del;
  if (autosave_.load()) copy->set_autosave_on_del(true);
  copy->start_checkpoints();
  return copy;
}

RuntimeCache::~RuntimeCache() {
  if (checkpoint_token_ != 0) checkpoint::remove(checkpoint_token_);
  autosave_now();
  unregister_exit_hook();
}

void RuntimeCache::set_autosave_on_del(bool on) {
  autosave_.store(on);
  if (on) {
    register_exit_hook();
  } else {
    unregister_exit_hook();
  }
}

// A weak reference to the hooks that expires with this handle: it shares the
// handle's ownership (aliasing constructor), so locking it keeps the handle alive.
std::weak_ptr<lifecycle::Saveable> RuntimeCache::saveable() {
  return std::shared_ptr<lifecycle::Saveable>(shared_from_this(), &state_->hooks);
}

void RuntimeCache::register_exit_hook() {
  std::lock_guard<std::mutex> lock(state_->token_mu);
  if (state_->exit_token != 0) return;
  // Called after create() made the shared_ptr, never from the constructor.
  state_->exit_token = exit_registry::add(saveable());
}

void RuntimeCache::unregister_exit_hook() {
  std::lock_guard<std::mutex> lock(state_->token_mu);
  if (state_->exit_token == 0) return;
  exit_registry::remove(state_->exit_token);
  state_->exit_token = 0;
}

uint64_t RuntimeCache::exit_token() const {
  std::lock_guard<std::mutex> lock(state_->token_mu);
  return state_->exit_token;
}

bool RuntimeCache::autosave_now() noexcept {
  // Only the process that created the handle saves it (not a forked child),
  // and only once: whoever flips the flag first saves.
  if (getpid() != owner_pid_ || !autosave_.exchange(false)) return false;
  try {
    unregister_exit_hook();        // autosave is off now: nothing left for the hook to do
    if (read_only()) return true;  // what it added stays in memory, by design: nothing to say
    Status s = save();
    if (!s.ok())
      log(LogLevel::kWarning, "autosave of " + options_.path + " failed: " + s.to_string());
  } catch (const std::exception& e) {
    log(LogLevel::kWarning, "autosave of " + options_.path + " failed: " + e.what());
  } catch (...) {
    log(LogLevel::kWarning, "autosave of " + options_.path + " failed");
  }
  return true;
}

size_t exit_registry_size() {
  return exit_registry::size();
}

}  // namespace rtcache
