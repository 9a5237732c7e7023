// What the process-level hooks (exit registry, checkpoints, signal saver)
// know of a cache handle: enough to save it, nothing of how. The cache layer
// above implements it; a hook holds it through a weak reference that expires
// with the handle (an aliasing pointer that shares the handle's ownership).
#pragma once

#include "rtcache/status.h"

namespace rtcache::lifecycle {

class Saveable {
 public:
  // Saves once if autosave is on and this process made the handle; turns
  // autosave off. Never throws; a failure is logged once. True if it saved.
  virtual bool autosave_now() noexcept = 0;
  virtual bool autosave_enabled() const = 0;
  virtual bool has_unsaved_changes() const = 0;
  virtual Status save() = 0;

 protected:
  ~Saveable() = default;
};

}  // namespace rtcache::lifecycle
