// The bundled kernels' files: where they are, how to read them, and the NVRTC
// options every one of them compiles with. Shared by the demo, engine_bench
// and make_corpus; it needs only the standard library, because make_corpus
// calls NVRTC itself, without rtcache.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// The build passes the source tree's kernels/ and the CUDA toolkit's include/.
#ifndef RTCACHE_KERNEL_DIR
#define RTCACHE_KERNEL_DIR "kernels"
#endif
#ifndef RTCACHE_CUDA_INCLUDE_DIR
#define RTCACHE_CUDA_INCLUDE_DIR "/usr/local/cuda/include"
#endif

namespace bundled {

inline constexpr const char* kKernelDir = RTCACHE_KERNEL_DIR;
inline constexpr const char* kCudaIncludeDir = RTCACHE_CUDA_INCLUDE_DIR;
// Included by every kernel source: the helpers they share.
inline constexpr const char* kCommonHeader = "common.cuh";

// The file's bytes; "" when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// C++17, the kernel directory when given (make_corpus: NVRTC finds
// common.cuh there; an engine is given it as a header instead), and the
// toolkit's CUB and libcu++ (cub_block.cu includes <cub/...>). The order is
// part of what NVRTC compiles: changing it changes the cubins.
inline std::vector<std::string> nvrtc_options(
    const std::string& kernel_dir = "", const std::string& cuda_include_dir = kCudaIncludeDir) {
  std::vector<std::string> options = {"-std=c++17"};
  if (!kernel_dir.empty()) options.push_back("-I" + kernel_dir);
  options.push_back("-I" + cuda_include_dir + "/cccl");
  options.push_back("-I" + cuda_include_dir);
  return options;
}

}  // namespace bundled
