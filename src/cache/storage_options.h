// The one mapping from the public Options to what the storage layer needs,
// used by the handle and by the maintenance functions (and so by the CLI).
#pragma once

#include "rtcache/env.h"
#include "rtcache/options.h"
#include "storage/view.h"
#include "storage/writer.h"

namespace rtcache {

// Options with the environment applied where the caller left the default:
// max_bytes 0 becomes RTCACHE_MAX_SIZE when set (kNoSizeLimit for "0"), else
// kDefaultMaxBytes (resolve_max_bytes); RTCACHE_TRUST_OTHERS and
// RTCACHE_READONLY (switches) apply when trust_others / read_only are false.
// A malformed value is ignored with one warning per process that names it.
// The result's max_bytes is never 0 (commit_options_of maps kNoSizeLimit to
// the storage layer's 0, no budget).
Options with_environment(Options options);

Env* env_of(const Options& options);
store::Limits limits_of(const Options& options);
store::CommitOptions commit_options_of(const Options& options);

}  // namespace rtcache
