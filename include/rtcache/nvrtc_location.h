// Where NVRTC is, as the JIT engine would find it: for tools that report the
// configuration (`rtcache config`) without compiling anything.
#pragma once

#include <string>

#include "rtcache/export.h"
#include "rtcache/status.h"

namespace rtcache {

// Finds the NVRTC library the engine would load for an EngineConfig that
// names none: $RTCACHE_NVRTC when set (one that is not there is an error
// naming it), else the search README.md describes ($CUDA_HOME/lib64,
// $CUDA_PATH/lib64, /usr/local/cuda/lib64, LD_LIBRARY_PATH, the system
// library directories, then the dynamic loader's own search, which loads the
// library). On success *path is the file and, when given, *identity the
// name, size and modification time that go into cache keys. NotSupported
// when it is not found; the message names where it looked (or the
// RTCACHE_NVRTC value). Thread-safe.
RTCACHE_EXPORT Status locate_nvrtc(std::string* path, std::string* identity = nullptr);

}  // namespace rtcache
