// `rtcache warm`: pre-populates a cache by compiling kernels through it (at
// image-build time, so that production processes start warm).
#pragma once

#include <string>
#include <vector>

#include "rtcache/options.h"

namespace rtcache::cli {

struct WarmRequest {
  std::string cache_path;
  std::string arch;
  std::vector<std::string> compile_options;
  std::vector<std::string> name_expressions;  // empty: every non-template kernel
  std::vector<std::string> sources;
};

// Kernels a source defines that can be compiled without template arguments.
std::vector<std::string> plain_kernels(const std::string& source);

// Returns the exit code: 0 all compiled or cached, 1 some failed, 2 I/O error.
int run_warm(const Options& options, const WarmRequest& request);

}  // namespace rtcache::cli
