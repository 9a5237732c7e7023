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
  // The header files the compile read, as NVRTC named them (a path through
  // an include directory, as given: "inc/a.h", "/usr/local/cuda/include/x.h";
  // or an in-memory header's name), each once, in the order NVRTC finished
  // them. NVRTC reports them in its time trace (-fdevice-time-trace, NVRTC
  // 12.8 and later); headers_known is false when it could not (an older
  // NVRTC, no writable temporary directory): then nothing is known about
  // which files the binary depends on. A module whose source, in-memory
  // headers and options never say "include" reads no file: it is compiled
  // without the trace (NVRTC 13.0 leaks about 20 KB per traced compile).
  std::vector<std::string> headers_read;
  bool headers_known = false;
  std::string headers_unknown_reason;  // why, when !headers_known
};

// Loads the library at `path` (once per process) and compiles. A compile
// error is CompileError carrying NVRTC's log; a missing or broken library
// is NotSupported.
Status compile(const std::string& path, const Program& program, Output* out);

// The kernels `program` defines that compile without template arguments (and
// instantiations the source names), by their lowered (mangled) names, read from
// the PTX NVRTC emits for the whole module: no name expression is used, and
// comments, attributes and namespaces cannot mislead it.
Status list_kernels(const std::string& path, const Program& program,
                    std::vector<std::string>* lowered_names);

}  // namespace rtcache::nvrtc
