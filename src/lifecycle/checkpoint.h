// Periodic checkpoints (Options::checkpoint_interval): one background thread
// per process saves handles that have unsaved changes, each at most once per
// its interval. The thread starts with the first registration and is stopped
// and joined by an exit hook, so it never runs into static destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "lifecycle/saveable.h"

namespace rtcache::checkpoint {

uint64_t add(std::weak_ptr<lifecycle::Saveable> handle, std::chrono::milliseconds interval);
void remove(uint64_t token);

}  // namespace rtcache::checkpoint
