// `rtcache warm`: pre-populates a cache by compiling kernels through it (at
// image-build time, so that production processes start warm).
#pragma once

#include <string>
#include <vector>

#include "rtcache/options.h"

namespace rtcache::cli {

struct WarmRequest {
  std::string cache_path;  // the default cache path when the user gave none
  std::string arch;
  std::vector<std::string> compile_options;
  std::vector<std::string> name_expressions;  // empty: every kernel the compiler emits
  std::vector<std::string> sources;
  // "NAME=FILE": FILE's contents given to NVRTC as the header NAME, as
  // EngineConfig::headers does (so that warm and the application agree on keys).
  std::vector<std::string> headers;
  unsigned jobs = 0;  // parallel compiles; 0: one per core
};

// Returns the exit code: 0 all compiled or cached, 1 some failed, 2 I/O error.
int run_warm(const Options& options, const WarmRequest& request);

}  // namespace rtcache::cli
