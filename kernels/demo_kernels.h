// The demo's kernels: the 39 instantiations `make demo` (tools/demo.cc)
// compiles and engine_bench measures, the engines both build for them, and
// the timed lookup of every kernel.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kernel_files.h"
#include "rtcache/engine.h"

namespace bundled {

struct DemoKernel {
  const char* module;  // file under the kernel directory
  const char* name_expression;
};

// Elementwise, reductions, softmax, normalisation, tiled GEMM, transposes,
// stencils, attention and CUB block primitives, over types and tile sizes.
inline constexpr DemoKernel kDemoKernels[] = {
    {"elementwise.cu", "unary_map<float, corpus::Gelu, 4>"},
    {"elementwise.cu", "unary_map<__half, corpus::Silu, 8>"},
    {"elementwise.cu", "binary_map<float, corpus::AddOp, 4, false>"},
    {"elementwise.cu", "binary_map<__half, corpus::MulOp, 8, true>"},
    {"elementwise.cu", "bias_act<float, corpus::Relu, true>"},
    {"elementwise.cu", "bias_act<__nv_bfloat16, corpus::Gelu, false>"},
    {"elementwise.cu", "fused_chain<float, corpus::AddOp, corpus::MulOp, corpus::Silu>"},
    {"elementwise.cu", "cast_clamp<float, __half>"},
    {"reduce.cu", "row_reduce<float, corpus::SumReduce, 256, 4>"},
    {"reduce.cu", "row_reduce<__half, corpus::MaxReduce, 128, 8>"},
    {"reduce.cu", "col_sum<float, 32, 8>"},
    {"reduce.cu", "global_sum_pass1<float, 256, 4>"},
    {"reduce.cu", "row_argmax<float, 256>"},
    {"softmax.cu", "softmax_warp_rows<float, 4, false>"},
    {"softmax.cu", "softmax_warp_rows<__half, 8, true>"},
    {"softmax.cu", "softmax_block_rows<float, 256, 4>"},
    {"softmax.cu", "softmax_backward<float, 256>"},
    {"softmax.cu", "causal_softmax<float, 4>"},
    {"layernorm.cu", "norm_forward<float, 1024, 256, false>"},
    {"layernorm.cu", "norm_forward<__half, 4096, 512, true>"},
    {"layernorm.cu", "layernorm_backward_input<float, 1024, 256>"},
    {"layernorm.cu", "layernorm_backward_params<float, 32, 8>"},
    {"gemm.cu", "gemm_tiled<float, 64, 64, 8, 4, 4, corpus::Identity, false>"},
    {"gemm.cu", "gemm_tiled<float, 128, 128, 8, 8, 8, corpus::Relu, false>"},
    {"gemm.cu", "gemm_tiled<__half, 64, 64, 16, 4, 4, corpus::Gelu, true>"},
    {"gemm.cu", "batched_gemv<float, 4, 4>"},
    {"transpose.cu", "transpose_2d<float, 32, 8>"},
    {"transpose.cu", "nchw_to_nhwc<float, __half, 32>"},
    {"transpose.cu", "permute_4d<float, 0, 2, 1, 3>"},
    {"stencil.cu", "stencil_2d<float, 2, 32, 8>"},
    {"stencil.cu", "conv2d_direct<float, 3, 3, 4, corpus::Relu>"},
    {"stencil.cu", "depthwise_conv2d<float, 3, 1>"},
    {"attention.cu", "attention_fwd<__half, 64, 64, 64, true>"},
    {"attention.cu", "rotary_embedding<__half, 128, false>"},
    {"cub_block.cu", "cub_block_reduce<float, 256, 4, cub::BLOCK_REDUCE_WARP_REDUCTIONS>"},
    {"cub_block.cu", "cub_select_if<int, 128, 8, cub::BLOCK_SCAN_WARP_SCANS>"},
    {"cub_block.cu", "cub_sort_keys<unsigned int, 256, 8, false>"},
    {"cub_block.cu", "cub_block_topk<float, 128, 8>"},
    {"cub_block.cu", "cub_histogram<256, 8, 256>"},
};
inline constexpr size_t kDemoKernelCount = std::size(kDemoKernels);

// Indices of every demo kernel, in order.
inline std::vector<size_t> all_demo_kernels() {
  std::vector<size_t> all(kDemoKernelCount);
  for (size_t k = 0; k < kDemoKernelCount; ++k) all[k] = k;
  return all;
}

// What the engines compile, and for which architecture. The options are
// part of each kernel's cache key, so the demo and engine_bench find each
// other's kernels when they agree.
struct DemoBuild {
  std::string kernel_dir = kKernelDir;
  std::string arch = "sm_90";
  std::string cuda_include_dir = kCudaIncludeDir;
};

// The demo's engines: one per source file, all on one runtime-cache setting
// (on one path they share one engine-implicit handle, loaded once and saved
// when the last of them lets go of it).
class DemoEngines {
 public:
  // Engines for the source files of `kernels` (indices into kDemoKernels).
  DemoEngines(const DemoBuild& build, const rtcache::RuntimeSettings& settings,
              const std::vector<size_t>& kernels = all_demo_kernels()) {
    const std::string common = read_file(build.kernel_dir + "/" + kCommonHeader);
    for (size_t k : kernels) {
      const std::string module = kDemoKernels[k].module;
      if (engines_.count(module)) continue;
      rtcache::EngineConfig config;
      config.name = module;
      config.source = read_file(build.kernel_dir + "/" + module);
      if (config.source.empty()) {
        unreadable_ = build.kernel_dir + "/" + module;
        return;
      }
      config.headers = {{kCommonHeader, common}};
      config.options = nvrtc_options("", build.cuda_include_dir);
      config.arch = build.arch;
      engines_[module] = std::make_unique<rtcache::Engine>(config, settings);
    }
  }

  // The source file that could not be read ("" when all were): the engines
  // after it are missing.
  const std::string& unreadable() const { return unreadable_; }

  rtcache::Engine& for_kernel(size_t k) { return *engines_.at(kDemoKernels[k].module); }

  uint64_t compiles() const {
    uint64_t total = 0;
    for (const auto& [module, engine] : engines_) total += engine->stats().compiles;
    return total;
  }

  // Destroys the engines; on an implicit handle, the last one saves the cache.
  void close() { engines_.clear(); }

 private:
  std::map<std::string, std::unique_ptr<rtcache::Engine>> engines_;
  std::string unreadable_;
};

// One kernel() call of a demo kernel.
struct KernelLookup {
  rtcache::Status status;
  rtcache::Kernel kernel;
  double seconds = 0;  // the call's wall time
};

// Asks the engines for every demo kernel, in order, on up to `jobs` threads
// (each takes the next kernel), timing each call. `on_done` (optional) runs
// on the worker right after each call, so it must be thread-safe.
inline std::vector<KernelLookup> look_up_demo_kernels(
    DemoEngines& engines, unsigned jobs,
    const std::function<void(size_t, const KernelLookup&)>& on_done = {}) {
  std::vector<KernelLookup> lookups(kDemoKernelCount);
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t k; (k = next.fetch_add(1)) < kDemoKernelCount;) {
      KernelLookup& lookup = lookups[k];
      const auto start = std::chrono::steady_clock::now();
      lookup.status = engines.for_kernel(k).kernel(kDemoKernels[k].name_expression, &lookup.kernel);
      lookup.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (on_done) on_done(k, lookup);
    }
  };
  std::vector<std::thread> pool;
  const size_t threads = std::clamp<size_t>(jobs, 1, kDemoKernelCount);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  return lookups;
}

}  // namespace bundled
