// The process-wide exit registry: weak references to every handle with
// autosave on, saved by one std::atexit handler at normal process exit.
//
// The registry is allocated once and never destroyed, so it stays usable from
// static destructors that run after (or before) the handler. Each entry
// remembers the process that registered it, so a forked child that exits
// normally does not save the handles it inherited.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "lifecycle/saveable.h"

namespace rtcache::exit_registry {

// Registers a handle; installs the atexit handler on first use. Returns a
// token (never 0) for unregister().
uint64_t add(std::weak_ptr<lifecycle::Saveable> handle);
void remove(uint64_t token);
size_t size();
// Live handles registered by this process (not inherited across fork).
std::vector<std::shared_ptr<lifecycle::Saveable>> live_handles();

}  // namespace rtcache::exit_registry
