// The default cache location (R18): works out of the box, and falls back to
// an in-memory cache with one warning when the location is not writable and
// holds no cache (one that is there is used, read-only).
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "rtcache/env.h"
#include "rtcache/log.h"
#include "rtcache/options.h"

namespace rtcache {

std::string default_cache_path(Env* env) {
  if (env == nullptr) env = Env::default_env();
  std::string dir;
  auto set = [](const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : nullptr;
  };
  if (const char* d = set("RTCACHE_DIR")) {
    dir = d;
  } else if (const char* x = set("XDG_CACHE_HOME")) {
    dir = std::string(x) + "/rtcache";
  } else if (const char* h = set("HOME")) {
    dir = std::string(h) + "/.cache/rtcache";
  }
  static std::atomic<bool> warned{false};
  auto fall_back = [&](const std::string& why) {
    if (!warned.exchange(true)) {
      log(LogLevel::kWarning, why + "; kernels will be cached in memory only");
    }
    return std::string();
  };
  if (dir.empty())
    return fall_back("no cache directory: RTCACHE_DIR, XDG_CACHE_HOME and HOME are unset");
  const std::string path = dir + "/kernels.rtc";
  // A cache that is there is used even where nothing can be written (a
  // read-only image layer): it is opened read-only.
  FileInfo existing;
  if (env->stat(path, true, &existing).ok() && existing.is_regular) return path;
  Status s = env->create_dirs(dir, 0700);
  if (!s.ok()) return fall_back(s.message());
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return fall_back(dir + ": not writable");
  return path;
}

}  // namespace rtcache
