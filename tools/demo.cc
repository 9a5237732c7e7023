// rtcache-demo: compiles a bundled set of realistic CUDA kernels with NVRTC
// through an engine-implicit runtime cache, and prints what each cost.
//
// `make demo` runs it twice, as two processes: the first starts from an
// empty cache and compiles everything (the cache is saved when the engines
// let go of it at exit); the second finds every kernel in the cache.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cli.h"
#include "kernels/demo_kernels.h"
#include "rtcache/cuda.h"
#include "rtcache/rtcache.h"

namespace {

using Clock = std::chrono::steady_clock;
const auto kProcessStart = Clock::now();

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(isatty(2)) {}
  void done(const std::string& name, const bundled::KernelLookup& lookup) {
    std::lock_guard<std::mutex> lock(mu_);
    ++count_;
    if (tty_) {
      constexpr int kWidth = 30;
      int filled = static_cast<int>(kWidth * count_ / total_);
      std::fprintf(stderr, "\r[%s%s] %zu/%zu %-60.60s", std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, '.').c_str(), count_, total_, name.c_str());
      if (count_ == total_) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "[%2zu/%zu] %9.1f ms %s %s\n", count_, total_, lookup.seconds * 1e3,
                   lookup.kernel.from_cache ? "cached  " : "compiled", name.c_str());
    }
  }

 private:
  std::mutex mu_;
  size_t total_, count_ = 0;
  bool tty_;
};

}  // namespace

// The table of kernels and the totals; returns how many failed.
size_t print_report(const std::vector<bundled::KernelLookup>& lookups, double setup_ms,
                    double ready_ms) {
  using bundled::kDemoKernelCount;
  using bundled::kDemoKernels;
  std::printf("\n%-66s %11s %11s %9s\n", "kernel", "cold ms", "this run ms", "bytes");
  double cold_total = 0, warm_total = 0;
  size_t hits = 0, failed = 0, bytes = 0;
  for (size_t k = 0; k < kDemoKernelCount; ++k) {
    const bundled::KernelLookup& lookup = lookups[k];
    const char* name = kDemoKernels[k].name_expression;
    if (!lookup.status.ok()) {
      ++failed;
      std::printf("%-66.66s FAILED: %s\n", name, lookup.status.to_string().c_str());
      continue;
    }
    // NVRTC time: measured now, or recorded when the entry was compiled.
    const double cold_ms = lookup.kernel.compile_ms;
    const double this_run_ms = lookup.seconds * 1e3;
    cold_total += cold_ms;
    if (lookup.kernel.from_cache) {
      ++hits;
      warm_total += this_run_ms;
    }
    bytes += lookup.kernel.binary.size();
    std::printf("%-66.66s %11.1f %11.3f %9zu%s\n", name, cold_ms, this_run_ms,
                lookup.kernel.binary.size(), lookup.kernel.from_cache ? "" : "  (compiled now)");
  }
  std::printf(
      "\n%zu kernels: %zu from the cache, %zu compiled, %zu failed; %zu bytes of binaries\n",
      kDemoKernelCount, hits, kDemoKernelCount - hits - failed, failed, bytes);
  std::printf("cold: %.1f ms of NVRTC compiles in total\n", cold_total);
  if (hits == kDemoKernelCount) {
    std::printf("warm: %.2f ms for all lookups: %.0fx faster than compiling\n", warm_total,
                warm_total > 0 ? cold_total / warm_total : 0.0);
  }
  std::printf(
      "process start to all kernels ready: %.1f ms (of which %.1f ms setting up engines "
      "and opening the cache)\n",
      ready_ms, setup_ms);
  return failed;
}

// Loads every kernel onto the GPU; returns how many failed (the driver too).
size_t load_onto_gpu(const std::vector<bundled::KernelLookup>& lookups) {
  rtcache::CudaDriver* driver = nullptr;
  rtcache::Status s = rtcache::CudaDriver::get(&driver);
  if (!s.ok()) {
    std::printf("GPU: %s\n", s.to_string().c_str());
    return 1;
  }
  auto start = Clock::now();
  size_t loaded = 0, failed = 0;
  for (const bundled::KernelLookup& lookup : lookups) {
    rtcache::CudaFunction fn;
    if (!lookup.status.ok()) continue;
    s = driver->load(lookup.kernel, &fn);
    if (s.ok()) {
      ++loaded;
    } else {
      std::printf("GPU: %s\n", s.to_string().c_str());
      ++failed;
    }
  }
  std::printf("GPU: loaded %zu kernels onto %s (%s) in %.1f ms\n", loaded,
              driver->device_name().c_str(), driver->device_arch().c_str(), ms_since(start));
  return failed;
}

int main(int argc, char** argv) {
  using bundled::kDemoKernelCount;
  using bundled::kDemoKernels;
  bundled::DemoBuild build;
  std::string cache_path;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  bool load_on_gpu = false;
  CLI::App app("Compiles " + std::to_string(kDemoKernelCount) +
                   " bundled kernels through the runtime cache and prints what each cost.",
               "rtcache-demo");
  app.add_option("--cache", cache_path, "Cache file (default: the default cache location)")
      ->type_name("PATH");
  app.add_option("--arch", build.arch, "GPU architecture to compile for")
      ->type_name("ARCH")
      ->capture_default_str();
  bundled::add_kernel_options(app, &build.kernel_dir, &jobs);
  app.add_flag("--load", load_on_gpu, "Also load every kernel onto the GPU (needs a CUDA driver)");
  if (const std::optional<int> exit_status = bundled::parse_command_line(app, argc, argv))
    return *exit_status;

  if (cache_path.empty()) cache_path = rtcache::default_cache_path();
  if (cache_path.empty()) {
    std::fprintf(stderr, "rtcache-demo: no writable cache location; pass --cache PATH\n");
    return 2;
  }
  const bool existed = std::filesystem::exists(cache_path);
  std::printf("rtcache demo: %zu kernels for %s, cache %s (%s)\n", kDemoKernelCount,
              build.arch.c_str(), cache_path.c_str(), existed ? "exists" : "empty: a cold start");
  std::fflush(stdout);

  bundled::DemoEngines engines(build, rtcache::RuntimeSettings::path(cache_path));
  if (!engines.unreadable().empty()) {
    std::fprintf(stderr, "rtcache-demo: cannot read %s\n", engines.unreadable().c_str());
    return 2;
  }
  const double setup_ms = ms_since(kProcessStart);

  Progress progress(kDemoKernelCount);
  const std::vector<bundled::KernelLookup> lookups = bundled::look_up_demo_kernels(
      engines, jobs, [&](size_t k, const bundled::KernelLookup& lookup) {
        progress.done(kDemoKernels[k].name_expression, lookup);
      });
  const double ready_ms = ms_since(kProcessStart);

  size_t failed = print_report(lookups, setup_ms, ready_ms);
  if (load_on_gpu) failed += load_onto_gpu(lookups);
  engines.close();  // each engine saves the shared implicit handle as it lets go of it
  std::error_code ec;
  auto size = std::filesystem::file_size(cache_path, ec);
  std::printf("cache file: %s (%llu bytes)\n", cache_path.c_str(),
              static_cast<unsigned long long>(ec ? 0 : size));
  return failed == 0 ? 0 : 1;
}
