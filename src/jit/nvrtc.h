// NVRTC, loaded at run time (dlopen) on first use, never linked: a process
// that only hits the cache never pays the 35-50 ms it costs to load.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "rtcache/status.h"

namespace rtcache::nvrtc {

// Finds the library, loading nothing while a directory has it. `configured`
// (EngineConfig::nvrtc_library), else $RTCACHE_NVRTC, is used as given: one
// that does not exist is an error naming it. Otherwise, in $CUDA_HOME/lib64,
// $CUDA_PATH/lib64, /usr/local/cuda/lib64, the LD_LIBRARY_PATH directories and
// the system library directories (each once, in that order): libnvrtc.so,
// else libnvrtc.so.<major> with the newest major (CUDA runtime images ship
// only the versioned soname). Last, the dynamic loader's own search by soname
// (ldconfig), which loads the library. NotSupported lists where it looked.
// *identity names the exact file ("libnvrtc.so.13 109338064 1760564160..."),
// so that a different toolkit gives different cache keys.
Status locate(const std::string& configured, std::string* path, std::string* identity);

struct Program {
  std::string name;
  std::string source;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> options;
  std::string arch;  // sm_XX or compute_XX
  std::string name_expression;
};

struct Output {
  std::string binary;  // CUBIN, or PTX for a compute_XX target
  std::string lowered_name;
  std::string log;
  std::string version;  // "13.0"
};

// Loads the library at `path` (once per process) and compiles. A compile
// error is CompileError carrying NVRTC's log; a missing or broken library
// is NotSupported.
Status compile(const std::string& path, const Program& program, Output* out);

}  // namespace rtcache::nvrtc
