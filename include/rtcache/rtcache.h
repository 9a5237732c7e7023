// rtcache -- a persistent, multi-process cache for JIT-compiled GPU kernels.
// Include this header for the whole public API.
#pragma once

#include "rtcache/bytes.h"
#include "rtcache/engine.h"
#include "rtcache/env.h"
#include "rtcache/log.h"
#include "rtcache/maintenance.h"
#include "rtcache/options.h"
#include "rtcache/runtime_cache.h"
#include "rtcache/status.h"
