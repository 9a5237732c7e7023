// A shared module (dlopen'ed by test_child's "exit dlclose_*" cases) that
// holds a registered autosaving handle, to show what unloading it does.
// Linked with its own copy of rtcache (the static library, built PIC), as a
// plugin of a program that does not use rtcache itself would be.
#include <chrono>
#include <memory>
#include <string>

#include "rtcache/rtcache.h"
#include "test_values.h"

namespace {

// Destroyed when the module's static destructors run (at dlclose, or at exit
// if the module cannot be unloaded).
std::shared_ptr<rtcache::RuntimeCache> g_handle;
// Never destroyed: only the exit hook (of this module's rtcache) can save it.
std::shared_ptr<rtcache::RuntimeCache>* g_leaked = nullptr;

}  // namespace

// mode 0: the handle is held by a global of the module; mode 1: it is held by
// a pointer that is never freed (stored in *keep too, so that a leak checker
// still sees it reachable once the module is gone); mode 2: as 0, with
// periodic checkpoints (a background thread running the module's code). Puts `count` keys
// "plugin-<i>". Returns the module's exit registry size.
extern "C" __attribute__((visibility("default"))) int rtcache_plugin_start(const char* path,
                                                                           int mode, int count,
                                                                           void** keep) {
  rtcache::Options options;
  options.path = path;
  options.autosave_on_del = true;
  if (mode == 2) options.checkpoint_interval = std::chrono::milliseconds(5);
  auto cache = rtcache::RuntimeCache::create(options);
  for (int i = 0; i < count; ++i) {
    std::string key = "plugin-" + std::to_string(i);
    cache->put(key, rtcache::testing::MakeValue(key, 1));
  }
  if (mode != 1) {
    g_handle = std::move(cache);
  } else {
    g_leaked = new std::shared_ptr<rtcache::RuntimeCache>(std::move(cache));
    *keep = g_leaked;
  }
  return static_cast<int>(rtcache::exit_registry_size());
}
