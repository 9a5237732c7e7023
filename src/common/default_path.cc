// The default cache location (R18): works out of the box, and falls back to
// an in-memory cache with one warning when the location is not writable and
// holds no cache (one that is there is used, read-only). It creates nothing.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "common/paths.h"
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
  FileInfo cache_file;
  if (env->stat(path, true, &cache_file).ok() && cache_file.is_regular) return path;
  // Nothing is created here (the first save makes the directory, 0700): the
  // nearest directory that exists must let this user create it.
  std::string existing = dir;
  FileInfo info;
  while (!env->stat(existing, true, &info).ok()) {
    const std::string up = parent_dir(existing);
    if (up == existing) return fall_back(dir + ": no existing parent directory");
    existing = up;
  }
  if (!S_ISDIR(info.mode)) return fall_back(existing + ": not a directory");
  if (::access(existing.c_str(), W_OK | X_OK) != 0) return fall_back(existing + ": not writable");
  return path;
}

}  // namespace rtcache
