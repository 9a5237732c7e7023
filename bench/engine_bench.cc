// engine_bench: the JIT engine's figures (issue 3) on the demo's kernels.
//
// One cold process compiles all of the demo's kernels with NVRTC through an
// engine-implicit cache (once per run: it costs ~35 s of NVRTC here) and
// records each kernel's compile time. Then, in rounds with rotating order,
// new processes (this binary, fork + exec, --child) measure:
//   - warm-all: start to all kernels ready from the cache (and each kernel's
//     first lookup in that process);
//   - read-file: start, read the cache file whole, exit (its baseline);
//   - warm-one: start, one engine, one kernel from the cache, exit;
//   - read-one: start, read one file holding that kernel's binary, exit;
//   - noop: start and exit.
// The parent measures each child's whole wall time (fork to reaped) and
// peak RSS; the child reports the time from the parent's fork to "ready"
// (steady_clock is one clock for all processes). It prints markdown tables
// and marks issue 3's targets met or missed; it asserts nothing.
//
// Usage: engine_bench --work DIR [--kernels DIR] [--runs 31] [--jobs 1] [--reuse-cold]
//        (--help says more)

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_cli.h"
#include "bench_common.h"
#include "kernels/cli.h"
#include "kernels/demo_kernels.h"
#include "rtcache/rtcache.h"

namespace {

namespace fs = std::filesystem;
using namespace bench;
using bundled::kDemoKernelCount;
using bundled::kDemoKernels;

// The kernel the one-kernel process asks for: a CUB block reduction (the
// issue's "4 s for compiling a CUB kernel cold").
constexpr size_t kOneKernel = 34;

// Reads a file whole with open/fstat/read/close; returns its size, or -1.
ssize_t read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return -1;
  }
  std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(st.st_size);
  ssize_t done = 0;
  while (done < st.st_size) {
    const ssize_t got = ::read(fd, buffer.get() + done, st.st_size - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += got;
  }
  ::close(fd);
  return done == st.st_size ? done : -1;
}

bool nvrtc_is_loaded() {
  return bundled::read_file("/proc/self/maps").find("libnvrtc") != std::string::npos;
}

// --- child processes -------------------------------------------------------------

struct ChildArgs {
  std::string mode;
  std::string cache;
  std::string file;
  std::string kernel_dir = bundled::kKernelDir;
  int64_t t0_ns = 0;  // the parent's clock just before fork
  unsigned jobs = 1;
  int repeat = 0;
};

// The demo's engines, as the demo builds them (same options, same keys).
bundled::DemoBuild demo_build(const ChildArgs& a) {
  bundled::DemoBuild build;
  build.kernel_dir = a.kernel_dir;
  return build;
}

double since_fork_s(const ChildArgs& a) {
  return (monotonic_ns() - a.t0_ns) / 1e9;
}

// Compiles every kernel into an empty cache; prints each compile time.
int child_cold(const ChildArgs& a) {
  // Load NVRTC first with a throwaway compile (a memory-only engine), so the
  // per-kernel figures are compile times only; the load is reported apart.
  auto load_start = Clock::now();
  {
    rtcache::EngineConfig warm_up;
    warm_up.name = "warm_up";
    warm_up.source = "__global__ void warm_up() {}\n";
    rtcache::Engine engine(warm_up, rtcache::RuntimeSettings::none());
    rtcache::Kernel kernel;
    const rtcache::Status status = engine.kernel("warm_up", &kernel);
    if (!status.ok()) return child_fail("NVRTC: " + status.to_string());
  }
  const double load_s = seconds_since(load_start);

  bundled::DemoEngines engines(demo_build(a), rtcache::RuntimeSettings::path(a.cache));
  if (!engines.unreadable().empty()) return child_fail("cannot read " + engines.unreadable());
  const std::vector<bundled::KernelLookup> lookups = bundled::look_up_demo_kernels(engines, a.jobs);
  for (size_t k = 0; k < kDemoKernelCount; ++k) {
    const bundled::KernelLookup& lookup = lookups[k];
    if (!lookup.status.ok())
      return child_fail(kDemoKernels[k].name_expression + (": " + lookup.status.to_string()));
    std::printf("kernel=%zu compile_ms=%.3f call_ms=%.3f bytes=%zu cached=%d\n", k,
                lookup.kernel.compile_ms, lookup.seconds * 1e3, lookup.kernel.binary.size(),
                lookup.kernel.from_cache ? 1 : 0);
  }
  // The file the one-kernel baseline reads: that kernel's binary alone.
  std::ofstream one(a.file, std::ios::binary | std::ios::trunc);
  const rtcache::Bytes& one_binary = lookups[kOneKernel].kernel.binary;
  one.write(one_binary.data(), static_cast<std::streamsize>(one_binary.size()));
  one.close();
  if (!one) return child_fail("cannot write " + a.file);
  std::printf("nvrtc_load_s=%.6f jobs=%u ready_s=%.6f hwm_kb=%ld\n", load_s, a.jobs,
              since_fork_s(a), peak_rss_kb());
  return 0;  // the engines save the cache as they let go of it
}

// All kernels from the cache, one after another; with --repeat R, then each
// kernel R more times (the in-memory hit).
int child_warm_all(const ChildArgs& a) {
  const auto main_start = Clock::now();
  bundled::DemoEngines engines(demo_build(a), rtcache::RuntimeSettings::path(a.cache));
  if (!engines.unreadable().empty()) return child_fail("cannot read " + engines.unreadable());
  const double setup_s = seconds_since(main_start);
  const std::vector<bundled::KernelLookup> lookups = bundled::look_up_demo_kernels(engines, 1);
  size_t hits = 0;
  for (size_t k = 0; k < kDemoKernelCount; ++k) {
    if (!lookups[k].status.ok())
      return child_fail(kDemoKernels[k].name_expression + (": " + lookups[k].status.to_string()));
    if (lookups[k].kernel.from_cache) ++hits;
  }
  const double ready_s = since_fork_s(a);
  const double in_s = seconds_since(main_start);
  std::vector<double> again_ns(kDemoKernelCount, NAN);
  for (size_t k = 0; k < kDemoKernelCount && a.repeat > 0; ++k) {
    rtcache::Kernel kernel;
    rtcache::Engine& engine = engines.for_kernel(k);
    const auto start = Clock::now();
    for (int i = 0; i < a.repeat; ++i)
      (void)engine.kernel(kDemoKernels[k].name_expression, &kernel);
    again_ns[k] = seconds_since(start) * 1e9 / a.repeat;
  }
  for (size_t k = 0; k < kDemoKernelCount; ++k)
    std::printf("kernel=%zu first_s=%.9f again_ns=%.1f\n", k, lookups[k].seconds, again_ns[k]);
  std::printf(
      "ready_s=%.6f in_s=%.6f setup_s=%.6f hits=%zu compiles=%llu nvrtc_loaded=%d hwm_kb=%ld\n",
      ready_s, in_s, setup_s, hits, static_cast<unsigned long long>(engines.compiles()),
      nvrtc_is_loaded() ? 1 : 0, peak_rss_kb());
  return 0;
}

int child_warm_one(const ChildArgs& a) {
  const auto main_start = Clock::now();
  bundled::DemoEngines engines(demo_build(a), rtcache::RuntimeSettings::path(a.cache),
                               {kOneKernel});
  if (!engines.unreadable().empty()) return child_fail("cannot read " + engines.unreadable());
  rtcache::Kernel kernel;
  const rtcache::Status status =
      engines.for_kernel(kOneKernel).kernel(kDemoKernels[kOneKernel].name_expression, &kernel);
  if (!status.ok()) return child_fail(status.to_string());
  const double ready_s = since_fork_s(a);
  std::printf("ready_s=%.6f in_s=%.6f hits=%d bytes=%zu hwm_kb=%ld\n", ready_s,
              seconds_since(main_start), kernel.from_cache ? 1 : 0, kernel.binary.size(),
              peak_rss_kb());
  return 0;
}

int child_read_file(const ChildArgs& a) {
  const auto main_start = Clock::now();
  const ssize_t bytes = read_whole_file(a.file);
  if (bytes < 0) return child_fail("cannot read " + a.file);
  const double ready_s = since_fork_s(a);
  std::printf("ready_s=%.6f in_s=%.6f bytes=%zd hwm_kb=%ld\n", ready_s, seconds_since(main_start),
              bytes, peak_rss_kb());
  return 0;
}

int child_main(const ChildArgs& a) {
  if (a.mode == "cold") return child_cold(a);
  if (a.mode == "warm-all") return child_warm_all(a);
  if (a.mode == "warm-one") return child_warm_one(a);
  if (a.mode == "read-file") return child_read_file(a);
  if (a.mode == "noop") {
    const double ready_s = since_fork_s(a);
    std::printf("ready_s=%.6f in_s=0 hwm_kb=%ld\n", ready_s, peak_rss_kb());
    return 0;
  }
  return child_fail("unknown child mode " + a.mode);
}

// --- the parent ---------------------------------------------------------------------

// Copies the cache at `from` into a new file at `to` with values stored
// uncompressed (what the warm start would cost without decompression).
std::string copy_uncompressed(const std::string& from, const std::string& to) {
  std::shared_ptr<rtcache::RuntimeCache> source;
  rtcache::Options options;
  options.path = from;
  rtcache::Status status = rtcache::RuntimeCache::open(options, &source);
  std::vector<rtcache::EntryInfo> entries;
  if (status.ok()) status = source->entries(&entries);
  if (!status.ok()) return status.to_string();
  std::error_code ignored;
  fs::remove(to, ignored);
  options.path = to;
  options.compression = rtcache::Compression::kNone;
  std::shared_ptr<rtcache::RuntimeCache> copy = rtcache::RuntimeCache::create(options);
  for (const rtcache::EntryInfo& entry : entries) {
    rtcache::Bytes value;
    std::string metadata;
    status = source->get(entry.key, &value, &metadata);
    if (!status.ok()) return status.to_string();
    copy->put(entry.key, value, metadata);
  }
  status = copy->save();
  return status.ok() ? "" : status.to_string();
}

struct Config {
  fs::path work_dir;
  std::string kernel_dir = bundled::kKernelDir;
  int runs = 31;  // a warm round is ~50 ms of processes; many rounds tame the load's noise
  unsigned jobs = 1;
  bool reuse_cold = false;  // for working on this benchmark: keep the cold cache
  std::string exe;
};

// A process measured: whole wall (parent), start-to-ready (child), peak RSS.
struct ProcessCell {
  Samples whole, ready, rss_mb;
};

bool record(ProcessCell* cell, const ChildResult& result) {
  const double ready = output_field(result.output, "ready_s");
  if (!result.ok || std::isnan(ready)) {
    cell->whole.fail(result.ok ? "no ready_s in: " + result.output : result.error);
    return false;
  }
  cell->whole.add(result.wall_s);
  cell->ready.add(ready);
  cell->rss_mb.add(child_rss_mb(result));
  return true;
}

struct ColdKernel {
  double compile_ms = NAN;
  size_t bytes = 0;
};

std::vector<std::string> child_command(const Config& config, const std::string& mode,
                                       std::vector<std::string> extra) {
  std::vector<std::string> args = {config.exe,
                                   "--child",
                                   mode,
                                   "--kernels",
                                   config.kernel_dir,
                                   "--t0",
                                   std::to_string(monotonic_ns())};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

int run_parent(const Config& config) {
  fs::create_directories(config.work_dir);
  const std::string cache = (config.work_dir / "kernels.rtc").string();
  const std::string one_file = (config.work_dir / "one-kernel.cubin").string();
  const std::string cold_log = (config.work_dir / "cold.txt").string();

  // Cold: one process compiles everything.
  std::string cold_output;
  double cold_wall_s = NAN, cold_rss_mb = NAN;
  if (config.reuse_cold && fs::exists(cache) && fs::exists(cold_log)) {
    cold_output = bundled::read_file(cold_log);
    cold_wall_s = output_field(cold_output, "wall_s");
    cold_rss_mb = output_field(cold_output, "rss_mb");
  } else {
    std::error_code ignored;
    fs::remove(cache, ignored);
    fs::remove(cache + ".lock", ignored);
    std::fprintf(stderr, "engine_bench: compiling %zu kernels cold (%u job%s)...\n",
                 kDemoKernelCount, config.jobs, config.jobs > 1 ? "s" : "");
    const ChildResult cold = run_child(child_command(
        config, "cold",
        {"--cache", cache, "--file", one_file, "--jobs", std::to_string(config.jobs)}));
    if (!cold.ok) {
      std::printf("The cold run failed: %s\n\n", cold.error.c_str());
      return 1;
    }
    cold_output = cold.output;
    cold_wall_s = cold.wall_s;
    cold_rss_mb = cold.max_rss_kb / 1024.0;
    std::ofstream(cold_log) << cold_output << "wall_s=" << cold_wall_s << " rss_mb=" << cold_rss_mb
                            << "\n";
  }
  std::vector<ColdKernel> cold(kDemoKernelCount);
  {
    std::stringstream lines(cold_output);
    std::string line;
    while (std::getline(lines, line)) {
      const double k = output_field(line, "kernel");
      if (std::isnan(k) || k < 0 || k >= kDemoKernelCount) continue;
      cold[static_cast<size_t>(k)].compile_ms = output_field(line, "compile_ms");
      cold[static_cast<size_t>(k)].bytes = static_cast<size_t>(output_field(line, "bytes"));
    }
  }
  const double nvrtc_load_s = output_field(cold_output, "nvrtc_load_s");
  const unsigned cold_jobs = static_cast<unsigned>(output_field(cold_output, "jobs"));
  std::error_code size_error;
  const uintmax_t cache_bytes = fs::file_size(cache, size_error);
  const std::string cache_none = (config.work_dir / "kernels-uncompressed.rtc").string();
  const std::string copy_error = copy_uncompressed(cache, cache_none);
  if (!copy_error.empty()) std::fprintf(stderr, "engine_bench: %s\n", copy_error.c_str());
  const uintmax_t cache_none_bytes = fs::file_size(cache_none, size_error);

  // Warm rounds.
  ProcessCell warm_all, read_cache, warm_one, read_one, noop, warm_all_none, read_cache_none;
  std::vector<Samples> first_hit(kDemoKernelCount);
  Samples warm_lookup_total;
  std::string warm_problems;
  for (int run = 0; run < config.runs; ++run) {
    const std::vector<std::function<void()>> steps = {
        [&] {
          const ChildResult result =
              run_child(child_command(config, "warm-all", {"--cache", cache}));
          if (!record(&warm_all, result)) return;
          if (output_field(result.output, "compiles") != 0 ||
              output_field(result.output, "hits") != kDemoKernelCount ||
              output_field(result.output, "nvrtc_loaded") != 0) {
            warm_problems = "a warm process compiled or loaded NVRTC: " + result.output;
          }
          std::stringstream lines(result.output);
          std::string line;
          double total = 0;
          while (std::getline(lines, line)) {
            const double k = output_field(line, "kernel");
            if (std::isnan(k)) continue;
            const double first = output_field(line, "first_s");
            first_hit[static_cast<size_t>(k)].add(first);
            total += first;
          }
          warm_lookup_total.add(total);
        },
        [&] {
          record(&read_cache, run_child(child_command(config, "read-file", {"--file", cache})));
        },
        [&] {
          const ChildResult result =
              run_child(child_command(config, "warm-one", {"--cache", cache}));
          if (record(&warm_one, result) && output_field(result.output, "hits") != 1)
            warm_problems = "the one-kernel process missed: " + result.output;
        },
        [&] {
          record(&read_one, run_child(child_command(config, "read-file", {"--file", one_file})));
        },
        [&] { record(&noop, run_child(child_command(config, "noop", {}))); },
        [&] {
          record(&warm_all_none,
                 run_child(child_command(config, "warm-all", {"--cache", cache_none})));
        },
        [&] {
          record(&read_cache_none,
                 run_child(child_command(config, "read-file", {"--file", cache_none})));
        },
    };
    run_rotated(run, steps);
  }
  // Repeated hits (in-memory), once: 39 kernels x 2,000 calls.
  std::vector<double> again_ns(kDemoKernelCount, NAN);
  {
    const ChildResult result =
        run_child(child_command(config, "warm-all", {"--cache", cache, "--repeat", "2000"}));
    std::stringstream lines(result.output);
    std::string line;
    while (std::getline(lines, line)) {
      const double k = output_field(line, "kernel");
      if (!std::isnan(k)) again_ns[static_cast<size_t>(k)] = output_field(line, "again_ns");
    }
  }

  // --- report ---
  double compile_total_ms = 0, cheapest_ms = INFINITY, worst_ratio = 0, slowest_hit_s = 0;
  size_t cheapest = 0, worst = 0;
  // Kernel 1 is the process's first lookup and carries its one-time costs;
  // the worst ratio is also shown without it.
  double worst_later_ratio = 0;
  size_t worst_later = 1;
  std::printf(
      "| # | Kernel | Binary | NVRTC compile (cold) | First hit, warm process (median) | Hit / "
      "compile | Repeated hit |\n|---|---|---|---|---|---|---|\n");
  for (size_t k = 0; k < kDemoKernelCount; ++k) {
    const double compile_ms = cold[k].compile_ms;
    const double hit_s = first_hit[k].median();
    const double ratio = hit_s * 1e3 / compile_ms;
    compile_total_ms += compile_ms;
    if (compile_ms < cheapest_ms) cheapest_ms = compile_ms, cheapest = k;
    if (ratio > worst_ratio) worst_ratio = ratio, worst = k;
    if (k > 0 && ratio > worst_later_ratio) worst_later_ratio = ratio, worst_later = k;
    slowest_hit_s = std::max(slowest_hit_s, hit_s);
    char again[32];
    std::snprintf(again, sizeof(again), "%.0f ns", again_ns[k]);
    std::printf("| %zu | `%s` | %s | %s | %s | %s | %s |\n", k + 1, kDemoKernels[k].name_expression,
                format_bytes(static_cast<double>(cold[k].bytes)).c_str(),
                format_seconds(compile_ms / 1e3).c_str(), format_seconds(hit_s).c_str(),
                format_ratio(ratio).c_str(), std::isnan(again_ns[k]) ? "error" : again);
  }
  std::printf("\n");

  const double lookup_total_s = warm_lookup_total.median();
  std::printf("| Figure | Value |\n|---|---|\n");
  std::printf("| cold: NVRTC compile time, sum over the %zu kernels (1 process, %u job%s) | %s |\n",
              kDemoKernelCount, cold_jobs, cold_jobs > 1 ? "s" : "",
              format_seconds(compile_total_ms / 1e3).c_str());
  std::printf("| cold: whole process (NVRTC load %s, compiles, save at exit) | %s |\n",
              format_seconds(nvrtc_load_s).c_str(), format_seconds(cold_wall_s).c_str());
  std::printf("| warm: first lookups of all %zu kernels, sum (median of %d processes) | %s |\n",
              kDemoKernelCount, config.runs, format_seconds(lookup_total_s).c_str());
  std::printf("| warm: process start to all kernels ready | %s |\n",
              format_seconds(warm_all.ready.median()).c_str());
  std::printf("| warm: whole process (start to exit) | %s |\n",
              format_seconds(warm_all.whole.median()).c_str());
  std::printf("| speedup, compile sum / lookup sum | %s |\n",
              format_ratio(compile_total_ms / 1e3 / lookup_total_s).c_str());
  std::printf("| speedup, cold process / warm process (whole) | %s |\n",
              format_ratio(cold_wall_s / warm_all.whole.median()).c_str());
  std::printf("| cache file (zstd-1, the default) / an uncompressed copy | %s / %s |\n",
              format_bytes(static_cast<double>(cache_bytes)).c_str(),
              format_bytes(static_cast<double>(cache_none_bytes)).c_str());
  std::printf("| peak RSS: cold process / warm process | %.0f MB / %.0f MB |\n", cold_rss_mb,
              warm_all.rss_mb.median());
  std::printf("| warm processes compiled nothing and never loaded NVRTC | %s |\n",
              warm_problems.empty() ? "yes" : warm_problems.c_str());
  std::printf("\n");

  std::printf(
      "| Process (median of %d, rotating order) | Start to ready | Whole process | Peak RSS |\n"
      "|---|---|---|---|\n",
      config.runs);
  const auto process_row = [](const char* name, const ProcessCell& cell) {
    std::printf("| %s | %s | %s | %.0f MB |\n", name, format_seconds(cell.ready.median()).c_str(),
                format_seconds(cell.whole.median()).c_str(), cell.rss_mb.median());
  };
  process_row("all kernels from the cache (demo's engines, 1 thread)", warm_all);
  process_row("read the cache file whole, nothing else", read_cache);
  const std::string one_name =
      std::string("one kernel from the cache (`") + kDemoKernels[kOneKernel].name_expression + "`)";
  process_row(one_name.c_str(), warm_one);
  process_row("read one file holding that kernel's binary", read_one);
  process_row("start a process that does nothing", noop);
  process_row("all kernels from an uncompressed copy of the cache", warm_all_none);
  process_row("read that uncompressed copy whole, nothing else", read_cache_none);
  std::printf("\n");

  const double ready_ratio = paired_ratio(warm_all.ready, read_cache.ready);
  const double all_whole_ratio = paired_ratio(warm_all.whole, read_cache.whole);
  const double one_ratio = paired_ratio(warm_one.whole, read_one.whole);
  const double max_over_min = slowest_hit_s * 1e3 / cheapest_ms;
  const std::vector<Target> targets = {
      {"a hit < 1/1000 of its compile (worst kernel)",
       format_ratio(worst_ratio) + " (`" + kDemoKernels[worst].name_expression + "`)",
       worst_ratio < 1e-3},
      {"… the same, not counting the process's first lookup (kernel 1)",
       format_ratio(worst_later_ratio) + " (`" + kDemoKernels[worst_later].name_expression + "`)",
       worst_later_ratio < 1e-3},
      {"the slowest hit < 1/1000 of the cheapest compile",
       format_ratio(max_over_min) + " (" + format_seconds(slowest_hit_s) + " vs " +
           format_seconds(cheapest_ms / 1e3) + ", `" + kDemoKernels[cheapest].name_expression +
           "`)",
       max_over_min < 1e-3},
      {"warm process start → all kernels ready within 2x of start → cache file read",
       format_ratio(ready_ratio) + " (" + format_seconds(warm_all.ready.median()) + " vs " +
           format_seconds(read_cache.ready.median()) + ")",
       ready_ratio <= 2.0},
      {"… the same, whole processes", format_ratio(all_whole_ratio), all_whole_ratio <= 2.0},
      {"… the same from the uncompressed copy (start → ready vs reading the default cache file)",
       format_ratio(paired_ratio(warm_all_none.ready, read_cache.ready)),
       paired_ratio(warm_all_none.ready, read_cache.ready) <= 2.0},
      {"one warm kernel's process within 1.5x of a process reading one file",
       format_ratio(one_ratio) + " (" + format_seconds(warm_one.whole.median()) + " vs " +
           format_seconds(read_one.whole.median()) + ")",
       one_ratio <= 1.5},
  };
  print_targets("Target (issue 3)", targets);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  ChildArgs child;
  CLI::App app(
      "The JIT engine on the demo's kernels: one cold process, then warm processes in "
      "rounds; prints markdown tables.",
      "engine_bench");
  CLI::Option* work = app.add_option("--work", config.work_dir, "Directory for the caches and logs")
                          ->type_name("DIR");
  bundled::add_kernel_options(app, &config.kernel_dir, &config.jobs);
  app.add_option("--runs", config.runs, "Rounds of warm processes")
      ->type_name("N")
      ->check(bundled::positive_count())
      ->capture_default_str();
  app.add_flag("--reuse-cold", config.reuse_cold,
               "Keep the cold cache and its figures from an earlier run (for working on this "
               "benchmark)");
  add_child_mode(app, &child.mode, work);
  app.add_option("--cache", child.cache)->group("");
  app.add_option("--file", child.file)->group("");
  app.add_option("--t0", child.t0_ns)->group("");
  app.add_option("--repeat", child.repeat)->group("");
  if (const std::optional<int> exit_status = bundled::parse_command_line(app, argc, argv))
    return *exit_status;
  if (!child.mode.empty()) {
    child.kernel_dir = config.kernel_dir;
    child.jobs = config.jobs;
    return child_main(child);
  }
  config.exe = self_exe();
  return run_parent(config);
}
