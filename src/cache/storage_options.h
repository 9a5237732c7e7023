// The one mapping from the public Options to what the storage layer needs,
// used by the handle and by the maintenance functions (and so by the CLI).
#pragma once

#include "rtcache/env.h"
#include "rtcache/options.h"
#include "storage/view.h"
#include "storage/writer.h"

namespace rtcache {

// Options with the environment applied where the caller left the default:
// RTCACHE_MAX_SIZE (a size) when max_bytes is 0, RTCACHE_TRUST_OTHERS (a
// switch) when trust_others is false. A malformed value is ignored with one
// warning per process that names it.
Options with_environment(Options options);

Env* env_of(const Options& options);
store::Limits limits_of(const Options& options);
store::CommitOptions commit_options_of(const Options& options);

}  // namespace rtcache
