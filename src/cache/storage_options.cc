#include "cache/storage_options.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "rtcache/log.h"

namespace rtcache {
namespace {

const char* env_value(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

void warn_once(const std::string& message) {
  static std::mutex mu;
  static auto* warned = new std::set<std::string>();  // never destroyed: usable at exit
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!warned->insert(message).second) return;
  }
  log(LogLevel::kWarning, message);
}

}  // namespace

Options with_environment(Options options) {
  if (options.max_bytes == 0) {
    if (const char* budget = env_value("RTCACHE_MAX_SIZE");
        budget && !parse_byte_size(budget, &options.max_bytes)) {
      warn_once(std::string("RTCACHE_MAX_SIZE=") + budget +
                " is not a size (e.g. 512M); no budget applied");
    }
  }
  if (!options.trust_others) {
    if (const char* trust = env_value("RTCACHE_TRUST_OTHERS");
        trust && !parse_bool(trust, &options.trust_others)) {
      warn_once(std::string("RTCACHE_TRUST_OTHERS=") + trust +
                " is not a switch (1/0, true/false, yes/no, on/off); ignored");
    }
  }
  return options;
}

Env* env_of(const Options& options) {
  return options.env ? options.env : Env::default_env();
}

store::Limits limits_of(const Options& options) {
  store::Limits limits;
  limits.max_value_bytes = std::min(options.max_value_bytes, format::kMaxValueBytes);
  limits.trust_others = options.trust_others;
  return limits;
}

store::CommitOptions commit_options_of(const Options& options) {
  store::CommitOptions c;
  c.limits = limits_of(options);
  c.max_bytes = options.max_bytes;
  c.file_mode = options.file_mode;
  c.dir_mode = options.dir_mode;
  c.lock_timeout = options.lock_timeout;
  c.sync = options.sync;
  c.compaction_dead_ratio = options.compaction_dead_ratio;
  c.compaction_min_dead_bytes = options.compaction_min_dead_bytes;
  return c;
}

}  // namespace rtcache
