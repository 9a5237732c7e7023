#include "cache/storage_options.h"

#include <algorithm>
#include <string>

#include "common/environment.h"

namespace rtcache {

Options with_environment(Options options) {
  options.max_bytes = resolve_max_bytes(options.max_bytes);  // 0: RTCACHE_MAX_SIZE, else 1 GiB
  if (!options.trust_others) options.trust_others = env_switch("RTCACHE_TRUST_OTHERS", false);
  if (!options.read_only) options.read_only = env_switch("RTCACHE_READONLY", false);
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
  // The storage layer's "no budget" is 0.
  c.max_bytes = options.max_bytes == kNoSizeLimit ? 0 : options.max_bytes;
  c.file_mode = options.file_mode;
  c.dir_mode = options.dir_mode;
  c.lock_timeout = options.lock_timeout;
  c.sync = options.sync;
  c.compaction_dead_ratio = options.compaction_dead_ratio;
  c.compaction_min_dead_bytes = options.compaction_min_dead_bytes;
  return c;
}

}  // namespace rtcache
