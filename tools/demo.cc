// rtcache-demo: compiles a bundled set of realistic CUDA kernels with NVRTC
// through an engine-implicit runtime cache, and prints what each cost.
//
// `make demo` runs it twice, as two processes: the first starts from an
// empty cache and compiles everything (the cache is saved when the engines
// let go of it at exit); the second finds every kernel in the cache.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rtcache/cuda.h"
#include "rtcache/rtcache.h"

#ifndef RTCACHE_KERNEL_DIR
#define RTCACHE_KERNEL_DIR "kernels"
#endif

namespace {

using Clock = std::chrono::steady_clock;
const auto kProcessStart = Clock::now();

struct KernelSpec {
  const char* module;  // file under the kernel directory
  const char* name_expression;
};

// Elementwise, reductions, softmax, normalisation, tiled GEMM, transposes,
// stencils, attention and CUB block primitives, over types and tile sizes.
const KernelSpec kKernels[] = {
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

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Row {
  std::string name;
  bool ok = false;
  bool from_cache = false;
  double cold_ms = 0;  // NVRTC time, measured now or recorded when it was compiled
  double this_run_ms = 0;
  size_t bytes = 0;
  std::string error;
  rtcache::Kernel kernel;
};

class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(isatty(2)) {}
  void done(const Row& row) {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
    if (tty_) {
      constexpr int kWidth = 30;
      int filled = static_cast<int>(kWidth * count_ / total_);
      std::fprintf(stderr, "\r[%s%s] %zu/%zu %-60.60s", std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, '.').c_str(), count_, total_, row.name.c_str());
      if (count_ == total_) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "[%2zu/%zu] %9.1f ms %s %s\n", count_, total_, row.this_run_ms,
                   row.from_cache ? "cached  " : "compiled", row.name.c_str());
    }
  }

 private:
  std::mutex mu_;
  size_t total_, count_ = 0;
  bool tty_;
};

int usage() {
  std::fprintf(
      stderr,
      "usage: rtcache-demo [--cache PATH] [--arch ARCH] [--kernels DIR] [--jobs N] [--load]\n"
      "Compiles %zu bundled kernels through the runtime cache at PATH\n"
      "(default: the default cache location) and prints what each cost.\n"
      "--load also loads every kernel onto the GPU (needs a CUDA driver).\n",
      std::size(kKernels));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cache_path, arch = "sm_90", kernel_dir = RTCACHE_KERNEL_DIR;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  bool load_on_gpu = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--cache")
      cache_path = value();
    else if (arg == "--arch")
      arch = value();
    else if (arg == "--kernels")
      kernel_dir = value();
    else if (arg == "--load")
      load_on_gpu = true;
    else if (arg == "--jobs")
      jobs = static_cast<unsigned>(std::max(1, std::atoi(value().c_str())));
    else
      return usage();
  }
  if (cache_path.empty()) cache_path = rtcache::default_cache_path();
  if (cache_path.empty()) {
    std::fprintf(stderr, "rtcache-demo: no writable cache location; pass --cache PATH\n");
    return 2;
  }
  const bool existed = std::filesystem::exists(cache_path);
  std::printf("rtcache demo: %zu kernels for %s, cache %s (%s)\n", std::size(kKernels),
              arch.c_str(), cache_path.c_str(), existed ? "exists" : "empty: a cold start");
  std::fflush(stdout);

  // One engine per source file, all on one path: they share one
  // engine-implicit handle, loaded once and saved when they let go of it.
  const std::string common = read_text(kernel_dir + "/common.cuh");
  std::map<std::string, std::unique_ptr<rtcache::Engine>> engines;
  for (const KernelSpec& spec : kKernels) {
    if (engines.count(spec.module)) continue;
    rtcache::EngineConfig config;
    config.name = spec.module;
    config.source = read_text(kernel_dir + "/" + spec.module);
    if (config.source.empty()) {
      std::fprintf(stderr, "rtcache-demo: cannot read %s/%s\n", kernel_dir.c_str(), spec.module);
      return 2;
    }
    config.headers = {{"common.cuh", common}};
    config.options = {"-std=c++17", "-I/usr/local/cuda/include/cccl", "-I/usr/local/cuda/include"};
    config.arch = arch;
    engines[spec.module] =
        std::make_unique<rtcache::Engine>(config, rtcache::RuntimeSettings::path(cache_path));
  }
  const double setup_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - kProcessStart).count();

  std::vector<Row> rows(std::size(kKernels));
  Progress progress(rows.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < rows.size();) {
      const KernelSpec& spec = kKernels[i];
      Row& row = rows[i];
      row.name = spec.name_expression;
      rtcache::Kernel kernel;
      auto start = Clock::now();
      rtcache::Status s = engines[spec.module]->kernel(spec.name_expression, &kernel);
      row.this_run_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      row.ok = s.ok();
      row.error = s.ok() ? "" : s.to_string();
      row.from_cache = kernel.from_cache;
      row.cold_ms = kernel.compile_ms;
      row.bytes = kernel.binary.size();
      row.kernel = kernel;
      progress.done(row);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::min<unsigned>(jobs, rows.size()); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  const double ready_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - kProcessStart).count();

  std::printf("\n%-66s %11s %11s %9s\n", "kernel", "cold ms", "this run ms", "bytes");
  double cold_total = 0, warm_total = 0;
  size_t hits = 0, failed = 0, bytes = 0;
  for (const Row& row : rows) {
    if (!row.ok) {
      ++failed;
      std::printf("%-66.66s FAILED: %s\n", row.name.c_str(), row.error.c_str());
      continue;
    }
    cold_total += row.cold_ms;
    if (row.from_cache) {
      ++hits;
      warm_total += row.this_run_ms;
    }
    bytes += row.bytes;
    std::printf("%-66.66s %11.1f %11.3f %9zu%s\n", row.name.c_str(), row.cold_ms, row.this_run_ms,
                row.bytes, row.from_cache ? "" : "  (compiled now)");
  }
  std::printf(
      "\n%zu kernels: %zu from the cache, %zu compiled, %zu failed; %zu bytes of binaries\n",
      rows.size(), hits, rows.size() - hits - failed, failed, bytes);
  std::printf("cold: %.1f ms of NVRTC compiles in total\n", cold_total);
  if (hits == rows.size()) {
    std::printf("warm: %.2f ms for all lookups: %.0fx faster than compiling\n", warm_total,
                warm_total > 0 ? cold_total / warm_total : 0.0);
  }
  std::printf(
      "process start to all kernels ready: %.1f ms (of which %.1f ms setting up engines "
      "and opening the cache)\n",
      ready_ms, setup_ms);
  if (load_on_gpu) {
    rtcache::CudaDriver* driver = nullptr;
    rtcache::Status s = rtcache::CudaDriver::get(&driver);
    if (!s.ok()) {
      std::printf("GPU: %s\n", s.to_string().c_str());
      failed = std::max<size_t>(failed, 1);
    } else {
      auto start = Clock::now();
      size_t loaded = 0;
      for (const Row& row : rows) {
        rtcache::CudaFunction fn;
        if (!row.ok) continue;
        s = driver->load(row.kernel, &fn);
        if (s.ok()) {
          ++loaded;
        } else {
          std::printf("GPU: %s\n", s.to_string().c_str());
          ++failed;
        }
      }
      std::printf("GPU: loaded %zu kernels onto %s (%s) in %.1f ms\n", loaded,
                  driver->device_name().c_str(), driver->device_arch().c_str(),
                  std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    }
  }
  engines.clear();  // each engine saves the shared implicit handle as it lets go of it
  std::error_code ec;
  auto size = std::filesystem::file_size(cache_path, ec);
  std::printf("cache file: %s (%llu bytes)\n", cache_path.c_str(),
              static_cast<unsigned long long>(ec ? 0 : size));
  return failed == 0 ? 0 : 1;
}
