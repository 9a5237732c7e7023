// Saving on SIGTERM and SIGINT -- opt-in, because a library must not change a
// process's signal handling by itself.
//
// Servers are stopped with SIGTERM; by default that ends the process without
// running exit hooks, so autosaving handles would not be saved. After
// save_on_signals(), the first such signal makes a dedicated thread (never
// the signal handler: it only writes one byte to a pipe) save every live
// autosaving handle of this process, waiting at most `deadline`, then restore
// the signal's previous disposition and raise it again, so the process ends
// (or not) exactly as it would have. Handles stay registered: the usual
// autosave at exit or destruction still runs if the process goes on.
//
// A forked child that receives the signal behaves as if save_on_signals had
// never been called. Saving a 100 MB cache takes well under a second (see
// docs/reliability.md), far inside the 30 s grace period orchestrators give.
//
// Thread safety: call from any thread; calling it again adds signals and
// updates the deadline.
#pragma once

#include <chrono>
#include <csignal>
#include <initializer_list>

#include "rtcache/export.h"
#include "rtcache/status.h"

namespace rtcache {

RTCACHE_EXPORT Status save_on_signals(std::initializer_list<int> signals = {SIGTERM, SIGINT},
                                      std::chrono::milliseconds deadline = std::chrono::seconds(5));

// Saves every live autosaving handle of this process now, without turning
// autosave off, giving up waiting after `deadline` (a save still running then
// finishes in the background). Returns the number saved successfully.
RTCACHE_EXPORT size_t save_registered_handles(std::chrono::milliseconds deadline);

}  // namespace rtcache
