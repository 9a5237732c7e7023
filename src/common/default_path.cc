// The default cache location (R18): works out of the box, and falls back to
// an in-memory cache with one warning when the location is not writable and
// holds no cache (one that is there is used, read-only). It creates nothing.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>

#include "common/environment.h"
#include "common/paths.h"
#include "rtcache/env.h"
#include "rtcache/log.h"
#include "rtcache/options.h"

namespace rtcache {

DefaultCacheLocation default_cache_location(Env* env) {
  if (env == nullptr) env = Env::default_env();
  DefaultCacheLocation where;
  std::string dir;
  if (const char* d = env_value("RTCACHE_DIR")) {
    dir = d;
    where.source = "RTCACHE_DIR";
  } else if (const char* x = env_value("XDG_CACHE_HOME")) {
    dir = std::string(x) + "/rtcache";
    where.source = "XDG_CACHE_HOME";
  } else if (const char* h = env_value("HOME")) {
    dir = std::string(h) + "/.cache/rtcache";
    where.source = "HOME";
  }
  if (dir.empty()) {
    where.problem = "no cache directory: RTCACHE_DIR, XDG_CACHE_HOME and HOME are unset";
    return where;
  }
  where.file = dir + "/kernels.rtc";
  // A cache that is there is used even where nothing can be written (a
  // read-only image layer): it is opened read-only.
  FileInfo cache_file;
  if (env->stat(where.file, true, &cache_file).ok() && cache_file.is_regular) {
    where.path = where.file;
    return where;
  }
  // Nothing is created here (the first save makes the directory, 0700): the
  // nearest directory that exists must let this user create it.
  std::string existing = dir;
  FileInfo info;
  while (!env->stat(existing, true, &info).ok()) {
    const std::string up = parent_dir(existing);
    if (up == existing) {
      where.problem = dir + ": no existing parent directory";
      return where;
    }
    existing = up;
  }
  if (!S_ISDIR(info.mode)) {
    where.problem = existing + ": not a directory";
  } else if (::access(existing.c_str(), W_OK | X_OK) != 0) {
    where.problem = existing + ": not writable";
  } else {
    where.path = where.file;
  }
  return where;
}

std::string default_cache_path(Env* env) {
  DefaultCacheLocation where = default_cache_location(env);
  static std::atomic<bool> warned{false};
  if (where.path.empty() && !warned.exchange(true)) {
    log(LogLevel::kWarning, where.problem + "; kernels will be cached in memory only");
  }
  return where.path;
}

}  // namespace rtcache
