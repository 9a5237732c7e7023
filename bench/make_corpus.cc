// make_corpus: compiles the benchmark corpus, a few hundred real NVRTC cubins
// of the kernels under kernels/, into one directory.
//
// The benchmark needs values that look and compress like what a JIT kernel
// cache really holds, so the corpus is made of real cubins: small fused
// elementwise kernels (most entries of a real cache), reductions, softmax,
// normalization, transposes, stencils and convolutions, attention, tiled GEMM
// and CUB block primitives (which carry large symbol tables), and a few
// "library" modules with many GEMM tile configurations (the largest
// entries). Each module is compiled for one of sm_80/86/89/90 with a mix of
// options. The plan is deterministic, so every machine builds the same set.
//
// Usage: make_corpus [--kernels DIR] [--out DIR] [--jobs N] [--force]   (--help says more)
// Skips all work when DIR/MANIFEST.tsv exists (written last), unless --force.

#include <nvrtc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "kernels/cli.h"
#include "kernels/kernel_files.h"

namespace {

namespace fs = std::filesystem;
using bench::Clock;
using bench::seconds_since;

// Entries larger than this are cut down (fewer kernels per module): the
// workload description caps cubins at 700 KB.
constexpr size_t kMaxCubinBytes = 700 * 1024;

struct ModuleSpec {
  std::string family;  // names the output file
  std::string source;  // file under the kernels directory
  std::string arch;    // "sm_80"
  std::vector<std::string> name_expressions;
  std::vector<std::string> extra_options;
};

struct CompiledModule {
  bool ok = false;
  std::string file_name;
  size_t bytes = 0;
  size_t kernels = 0;  // name expressions that made it in (after size capping)
  double seconds = 0;
  std::string error;
};

// splitmix64: a tiny deterministic generator, so the plan does not depend on
// the standard library's distribution implementations.
class PlanRng {
 public:
  explicit PlanRng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    const uint64_t z = bench::splitmix64(state_);
    state_ += 0x9e3779b97f4a7c15ull;  // the step splitmix64 adds
    return z;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  // Inclusive range.
  size_t between(size_t lo, size_t hi) { return lo + below(hi - lo + 1); }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[below(items.size())];
  }

 private:
  uint64_t state_;
};

const std::vector<std::string> kArchs = {"sm_80", "sm_86", "sm_89", "sm_90"};
const std::vector<std::string> kFloatTypes = {"float", "__half", "__nv_bfloat16"};
const std::vector<std::string> kAllTypes = {"float", "__half", "__nv_bfloat16", "double"};
const std::vector<std::string> kActivations = {
    "corpus::Identity", "corpus::Relu", "corpus::Gelu",     "corpus::Silu",
    "corpus::Sigmoid",  "corpus::Tanh", "corpus::Softplus", "corpus::Erf"};
const std::vector<std::string> kBinaryOps = {"corpus::AddOp", "corpus::MulOp", "corpus::SubOp",
                                             "corpus::MaxOp", "corpus::PowOp"};

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

std::string tmpl(const std::string& kernel, const std::vector<std::string>& args) {
  return kernel + "<" + join(args, ", ") + ">";
}

std::string num(long value) {
  return std::to_string(value);
}

// --- candidate instantiations, per kernel source -----------------------------

std::string random_elementwise(PlanRng& rng) {
  switch (rng.below(5)) {
    case 0:
      return tmpl("unary_map",
                  {rng.pick(kAllTypes), rng.pick(kActivations), num(1 << rng.below(4))});
    case 1:
      return tmpl("binary_map", {rng.pick(kAllTypes), rng.pick(kBinaryOps), num(1 << rng.below(4)),
                                 rng.below(2) ? "true" : "false"});
    case 2:
      return tmpl("bias_act",
                  {rng.pick(kAllTypes), rng.pick(kActivations), rng.below(2) ? "true" : "false"});
    case 3:
      return tmpl("fused_chain", {rng.pick(kAllTypes), rng.pick(kBinaryOps), rng.pick(kBinaryOps),
                                  rng.pick(kActivations)});
    default: {
      std::string in = rng.pick(kAllTypes), out = rng.pick(kAllTypes);
      return tmpl("cast_clamp", {in, out});
    }
  }
}

std::string random_reduction(PlanRng& rng) {
  const std::string block = num(128 << rng.below(3));
  switch (rng.below(4)) {
    case 0:
      return tmpl("row_reduce",
                  {rng.pick(kAllTypes), rng.below(2) ? "corpus::SumReduce" : "corpus::MaxReduce",
                   block, num(1 << rng.below(4))});
    case 1:
      return tmpl("col_sum", {rng.pick(kAllTypes), "32", num(4 << rng.below(3))});
    case 2:
      return tmpl("global_sum_pass1", {rng.pick(kAllTypes), block, num(1 << rng.below(4))});
    default:
      return tmpl("row_argmax", {rng.pick(kFloatTypes), block});
  }
}

std::string random_softmax(PlanRng& rng) {
  const std::string type = rng.pick(kFloatTypes);
  switch (rng.below(4)) {
    case 0:
      return tmpl("softmax_warp_rows",
                  {type, num(1 << rng.below(6)), rng.below(3) ? "false" : "true"});
    case 1:
      return tmpl("softmax_block_rows", {type, num(128 << rng.below(3)), num(1 << rng.below(4))});
    case 2:
      return tmpl("softmax_backward", {type, num(128 << rng.below(3))});
    default:
      return tmpl("causal_softmax", {type, num(1 << rng.below(6))});
  }
}

// A norm module is what a JIT makes for one model width: forward, and for
// training also the two backward kernels.
std::vector<std::string> random_norm_module(PlanRng& rng) {
  static const std::vector<long> kHidden = {512, 768, 1024, 1536, 2048, 2560, 4096, 5120, 8192};
  const std::string type = rng.pick(kFloatTypes);
  const std::string hidden = num(rng.pick(kHidden));
  const std::string block = num(128 << rng.below(3));
  const bool rms = rng.below(2);
  std::vector<std::string> exprs = {
      tmpl("norm_forward", {type, hidden, block, rms ? "true" : "false"})};
  if (!rms && rng.below(2)) {
    exprs.push_back(tmpl("layernorm_backward_input", {type, hidden, block}));
    exprs.push_back(tmpl("layernorm_backward_params", {type, "32", num(32 << rng.below(3))}));
  }
  return exprs;
}

std::string random_transpose(PlanRng& rng) {
  const std::string type = rng.pick(kAllTypes);
  const long tile = rng.below(2) ? 32 : 64;
  switch (rng.below(4)) {
    case 0:
      return tmpl("transpose_2d", {type, num(tile), num(tile / (4 << rng.below(2)))});
    case 1:
      return tmpl("transpose_batched", {type, num(tile), num(tile / (4 << rng.below(2)))});
    case 2:
      return tmpl("nchw_to_nhwc", {type, rng.pick(kFloatTypes), "32"});
    default: {
      static const std::vector<std::string> kPerms = {"0, 2, 1, 3", "0, 3, 1, 2", "0, 2, 3, 1",
                                                      "1, 0, 2, 3", "3, 2, 1, 0"};
      return tmpl("permute_4d", {type, rng.pick(kPerms)});
    }
  }
}

std::string random_stencil(PlanRng& rng) {
  const std::string type = rng.pick(kFloatTypes);
  switch (rng.below(4)) {
    case 0:
      return tmpl("stencil_2d", {type, num(rng.between(1, 6)), "32", num(4 << rng.below(2))});
    case 1:
      return tmpl("jacobi_3d", {rng.pick(kAllTypes), "32", num(4 << rng.below(2))});
    case 2: {
      static const std::vector<long> kFilter = {1, 3, 3, 5, 7};
      const long k = rng.pick(kFilter);
      return tmpl("conv2d_direct",
                  {type, num(k), num(k), num(4 << rng.below(3)), rng.pick(kActivations)});
    }
    default:
      return tmpl("depthwise_conv2d", {type, num(3 + 2 * rng.below(3)), num(1 + rng.below(2))});
  }
}

std::string random_attention(PlanRng& rng) {
  // (head_dim, block_q, block_k) that fit in 48 KB of static shared memory.
  static const std::vector<std::vector<std::string>> kShapes = {
      {"64", "64", "32"},   {"64", "128", "64"}, {"64", "128", "32"}, {"128", "64", "32"},
      {"128", "128", "32"}, {"96", "64", "32"},  {"32", "128", "64"}, {"80", "64", "32"}};
  const std::string type = rng.pick(kFloatTypes);
  if (rng.below(4) == 0) {
    return tmpl("rotary_embedding",
                {type, num(64 << rng.below(2)), rng.below(2) ? "true" : "false"});
  }
  std::vector<std::string> args = {type};
  for (const std::string& dim : rng.pick(kShapes)) args.push_back(dim);
  args.push_back(rng.below(2) ? "true" : "false");
  return tmpl("attention_fwd", args);
}

// GEMM tile configs (BM, BN, BK, TM, TN); the first ones are small and cheap.
const std::vector<std::vector<long>> kSmallGemmTiles = {{32, 32, 8, 2, 2},
                                                        {64, 64, 8, 4, 4},
                                                        {64, 32, 8, 4, 2},
                                                        {32, 64, 16, 2, 4},
                                                        {64, 64, 16, 4, 4}};
const std::vector<std::vector<long>> kLargeGemmTiles = {{128, 128, 8, 8, 8}, {128, 64, 8, 8, 4},
                                                        {64, 128, 16, 4, 8}, {128, 128, 16, 8, 8},
                                                        {256, 128, 8, 8, 8}, {64, 64, 16, 8, 8}};

std::string gemm_expr(PlanRng& rng, const std::vector<long>& tile) {
  std::vector<std::string> args = {rng.pick(kFloatTypes)};
  for (long t : tile) args.push_back(num(t));
  args.push_back(rng.pick(kActivations));
  args.push_back(rng.below(2) ? "true" : "false");
  return tmpl("gemm_tiled", args);
}

std::string random_gemm(PlanRng& rng) {
  if (rng.below(3) == 0) {
    return tmpl("batched_gemv", {rng.pick(kFloatTypes), num(1 << rng.below(4)), "4"});
  }
  return gemm_expr(rng, rng.below(3) ? rng.pick(kSmallGemmTiles) : rng.pick(kLargeGemmTiles));
}

std::string random_cub(PlanRng& rng) {
  const std::string block = rng.below(2) ? "128" : "256";
  const std::string items = num(4 << rng.below(2));
  switch (rng.below(5)) {
    case 0:
      return tmpl("cub_block_reduce", {rng.below(2) ? "float" : "int", block, items,
                                       rng.below(2) ? "cub::BLOCK_REDUCE_WARP_REDUCTIONS"
                                                    : "cub::BLOCK_REDUCE_RAKING"});
    case 1:
      return tmpl("cub_select_if",
                  {rng.below(2) ? "float" : "int", block, items,
                   rng.below(2) ? "cub::BLOCK_SCAN_RAKING" : "cub::BLOCK_SCAN_WARP_SCANS"});
    case 2: {
      static const std::vector<std::string> kKeys = {"unsigned int", "int", "float",
                                                     "unsigned long long"};
      return tmpl("cub_sort_keys",
                  {rng.pick(kKeys), block, items, rng.below(2) ? "true" : "false"});
    }
    case 3:
      return tmpl("cub_block_topk", {rng.below(2) ? "float" : "unsigned int", block, items});
    default:
      return tmpl("cub_histogram", {block, items, rng.below(2) ? "64" : "256"});
  }
}

std::vector<std::string> random_options(PlanRng& rng) {
  std::vector<std::string> options;
  if (rng.below(3) == 0) options.push_back("--use_fast_math");
  if (rng.below(5) == 0) options.push_back("-lineinfo");
  if (rng.below(8) == 0) options.push_back("-DNDEBUG");
  return options;
}

// The whole corpus. Counts per family are chosen so that the size
// distribution resembles a JIT cache: mostly small fused kernels, a tail of
// large GEMM/CUB modules, averaging about 64 KB.
std::vector<ModuleSpec> plan_corpus() {
  PlanRng rng(20240611);
  std::vector<ModuleSpec> plan;
  std::set<std::string> seen;  // no two identical compilations
  size_t arch_cursor = 0;
  auto add = [&](const std::string& family, const std::string& source,
                 std::vector<std::string> exprs, std::vector<std::string> options) {
    std::sort(exprs.begin(), exprs.end());
    exprs.erase(std::unique(exprs.begin(), exprs.end()), exprs.end());
    const std::string arch = kArchs[arch_cursor++ % kArchs.size()];
    const std::string identity =
        source + "|" + arch + "|" + join(exprs, ";") + "|" + join(options, " ");
    if (!seen.insert(identity).second) return;
    plan.push_back({family, source, arch, std::move(exprs), std::move(options)});
  };
  auto add_family = [&](const std::string& family, const std::string& source, int modules,
                        size_t min_kernels, size_t max_kernels, auto&& make_expr) {
    for (int m = 0; m < modules; ++m) {
      std::vector<std::string> exprs;
      const size_t kernels = rng.between(min_kernels, max_kernels);
      for (size_t k = 0; k < kernels; ++k) exprs.push_back(make_expr(rng));
      // A lone dtype cast is under 4 KB; real fusers emit it next to its consumer.
      if (exprs.size() == 1 && exprs[0].starts_with("cast_clamp")) exprs.push_back(make_expr(rng));
      add(family, source, exprs, random_options(rng));
    }
  };

  add_family("elementwise", "elementwise.cu", 70, 1, 3, random_elementwise);
  add_family("reduce", "reduce.cu", 25, 1, 2, random_reduction);
  add_family("softmax", "softmax.cu", 20, 1, 4, random_softmax);
  for (int m = 0; m < 20; ++m) {
    // Two statements: argument evaluation order is unspecified, the plan must not be.
    std::vector<std::string> exprs = random_norm_module(rng);
    add("norm", "layernorm.cu", std::move(exprs), random_options(rng));
  }
  add_family("transpose", "transpose.cu", 15, 1, 3, random_transpose);
  add_family("stencil", "stencil.cu", 20, 1, 3, random_stencil);
  add_family("attention", "attention.cu", 15, 1, 3, random_attention);
  add_family("gemm", "gemm.cu", 30, 1, 3, random_gemm);
  add_family("cub", "cub_block.cu", 20, 1, 3, random_cub);
  // Libraries: many large tile configs in one module (the biggest entries).
  for (int m = 0; m < 8; ++m) {
    std::vector<std::string> exprs;
    // Compile time grows faster than linearly with the configs per module.
    const size_t configs = rng.between(4, 6);
    for (size_t k = 0; k < configs; ++k) exprs.push_back(gemm_expr(rng, rng.pick(kLargeGemmTiles)));
    add("gemm_library", "gemm.cu", exprs, {});
  }
  return plan;
}

// --- compilation ---------------------------------------------------------------

// Compiles `exprs` of `spec`; on success fills *cubin.
bool compile_once(const ModuleSpec& spec, const std::vector<std::string>& exprs,
                  const std::string& source_text, const fs::path& kernel_dir, std::string* cubin,
                  std::string* error) {
  nvrtcProgram program = nullptr;
  nvrtcResult rc =
      nvrtcCreateProgram(&program, source_text.c_str(), spec.source.c_str(), 0, nullptr, nullptr);
  if (rc != NVRTC_SUCCESS) {
    *error = nvrtcGetErrorString(rc);
    return false;
  }
  for (const std::string& expr : exprs) nvrtcAddNameExpression(program, expr.c_str());
  std::vector<std::string> options = bundled::nvrtc_options(kernel_dir.string());
  options.insert(options.begin(), "-arch=" + spec.arch);
  options.insert(options.end(), spec.extra_options.begin(), spec.extra_options.end());
  std::vector<const char*> option_ptrs;
  for (const std::string& option : options) option_ptrs.push_back(option.c_str());
  rc = nvrtcCompileProgram(program, static_cast<int>(option_ptrs.size()), option_ptrs.data());
  bool ok = rc == NVRTC_SUCCESS;
  if (ok) {
    size_t size = 0;
    ok = nvrtcGetCUBINSize(program, &size) == NVRTC_SUCCESS && size > 0;
    cubin->assign(size, '\0');
    ok = ok && nvrtcGetCUBIN(program, cubin->data()) == NVRTC_SUCCESS;
    if (!ok) *error = "no cubin produced";
  } else {
    size_t log_size = 0;
    nvrtcGetProgramLogSize(program, &log_size);
    std::string log(log_size, '\0');
    nvrtcGetProgramLog(program, log.data());
    *error = std::string(nvrtcGetErrorString(rc)) + ": " + log.substr(0, 600);
  }
  nvrtcDestroyProgram(&program);
  return ok;
}

CompiledModule compile_module(const ModuleSpec& spec, size_t index, const fs::path& kernel_dir,
                              const fs::path& out_dir) {
  CompiledModule result;
  const auto start = Clock::now();
  const std::string source_text = bundled::read_file((kernel_dir / spec.source).string());
  std::vector<std::string> exprs = spec.name_expressions;
  std::string cubin;
  // Drop kernels from the end until the cubin fits the size cap.
  while (true) {
    if (!compile_once(spec, exprs, source_text, kernel_dir, &cubin, &result.error)) break;
    if (cubin.size() <= kMaxCubinBytes || exprs.size() == 1) {
      result.ok = cubin.size() <= kMaxCubinBytes;
      if (!result.ok) result.error = "single kernel exceeds the size cap";
      break;
    }
    exprs.pop_back();
  }
  result.seconds = seconds_since(start);
  if (!result.ok) return result;
  char name[128];
  std::snprintf(name, sizeof(name), "%03zu_%s_%s.cubin", index, spec.family.c_str(),
                spec.arch.c_str());
  result.file_name = name;
  result.bytes = cubin.size();
  result.kernels = exprs.size();
  std::ofstream(out_dir / result.file_name, std::ios::binary | std::ios::trunc)
      .write(cubin.data(), static_cast<std::streamsize>(cubin.size()));
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string kernel_dir = bundled::kKernelDir;
  fs::path out_dir = "build/bench-corpus";
  unsigned jobs = 2;
  bool force = false;
  CLI::App app(
      "Compiles the benchmark corpus: a few hundred real NVRTC cubins of the bundled "
      "kernels.",
      "make_corpus");
  bundled::add_kernel_options(app, &kernel_dir, &jobs);
  app.add_option("--out", out_dir, "Directory the cubins and MANIFEST.tsv go to")
      ->type_name("DIR")
      ->capture_default_str();
  app.add_flag("--force", force, "Rebuild even when the corpus exists");
  if (const std::optional<int> exit_status = bundled::parse_command_line(app, argc, argv))
    return *exit_status;
  const fs::path manifest_path = out_dir / "MANIFEST.tsv";
  if (fs::exists(manifest_path) && !force) {
    std::printf("corpus exists: %s (delete it or pass --force to rebuild)\n",
                manifest_path.c_str());
    return 0;
  }
  fs::create_directories(out_dir);
  for (const auto& entry : fs::directory_iterator(out_dir))
    if (entry.path().extension() == ".cubin") fs::remove(entry.path());

  const std::vector<ModuleSpec> plan = plan_corpus();
  std::vector<CompiledModule> results(plan.size());
  std::atomic<size_t> next{0};
  std::mutex print_mutex;
  const auto start = Clock::now();
  // Largest modules (planned last) start first, so two workers finish together.
  auto worker = [&] {
    for (size_t taken = next++; taken < plan.size(); taken = next++) {
      const size_t i = plan.size() - 1 - taken;
      results[i] = compile_module(plan[i], i, kernel_dir, out_dir);
      if (!results[i].ok) {
        std::lock_guard<std::mutex> lock(print_mutex);
        std::fprintf(stderr, "skipped module %zu (%s %s): %s\n", i, plan[i].source.c_str(),
                     plan[i].arch.c_str(), results[i].error.c_str());
      }
    }
  };
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < jobs; ++t) workers.emplace_back(worker);
  for (std::thread& t : workers) t.join();
  const double seconds = seconds_since(start);

  // The manifest is written last (temp + rename): its presence means "complete".
  size_t count = 0, total = 0, smallest = SIZE_MAX, largest = 0;
  const fs::path temp_manifest = out_dir / "MANIFEST.tsv.tmp";
  {
    std::ofstream manifest(temp_manifest, std::ios::trunc);
    manifest << "file\tbytes\tarch\tsource\tkernels\tseconds\toptions\tname_expressions\n";
    for (size_t i = 0; i < plan.size(); ++i) {
      const CompiledModule& r = results[i];
      if (!r.ok) continue;
      ++count;
      total += r.bytes;
      smallest = std::min(smallest, r.bytes);
      largest = std::max(largest, r.bytes);
      const std::vector<std::string> used(plan[i].name_expressions.begin(),
                                          plan[i].name_expressions.begin() + r.kernels);
      manifest << r.file_name << '\t' << r.bytes << '\t' << plan[i].arch << '\t' << plan[i].source
               << '\t' << r.kernels << '\t' << r.seconds << '\t' << join(plan[i].extra_options, " ")
               << '\t' << join(used, "; ") << '\n';
    }
  }
  if (count < 100) {
    std::fprintf(stderr, "only %zu of %zu modules compiled; corpus not marked complete\n", count,
                 plan.size());
    return 1;
  }
  char summary[256];
  std::snprintf(summary, sizeof(summary),
                "%zu cubins, min %zu B, avg %zu B, max %zu B, total %.1f MB, generated in %.0f s "
                "with %u jobs",
                count, smallest, total / count, largest, total / 1e6, seconds, jobs);
  std::ofstream(out_dir / "SUMMARY.txt", std::ios::trunc) << summary << '\n';
  fs::rename(temp_manifest, manifest_path);
  std::printf("corpus in %s: %s\n", out_dir.c_str(), summary);
  return 0;
}
