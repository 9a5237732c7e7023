#include "warm.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "rtcache/engine.h"
#include "rtcache/runtime_cache.h"

namespace rtcache::cli {
namespace {

struct Job {
  Engine* engine;
  std::string source_name;
  std::string name_expression;
};

std::string base_name_of(const std::string& name_expression) {
  return name_expression.substr(0, name_expression.find('<'));
}

// One line that redraws itself on a terminal; nothing otherwise.
class ProgressBar {
 public:
  explicit ProgressBar(size_t total) : total_(total), enabled_(isatty(2) != 0) {}
  void step(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    if (!enabled_) return;
    constexpr size_t kWidth = 30;
    size_t filled = total_ ? kWidth * done_ / total_ : kWidth;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu %-50.50s", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, '.').c_str(), done_, total_, what.c_str());
    if (done_ == total_) std::fprintf(stderr, "\r%*s\r", 100, "");
    std::fflush(stderr);
  }

 private:
  std::mutex mu_;
  size_t total_, done_ = 0;
  bool enabled_;
};

}  // namespace

std::vector<std::string> plain_kernels(const std::string& source) {
  // __global__ [__launch_bounds__(...)] void name( -- skipping templates,
  // which need arguments (give those with --name-expr).
  static const std::regex kernel(
      R"(__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?([A-Za-z_]\w*)\s*\()");
  std::vector<std::string> names;
  for (auto it = std::sregex_iterator(source.begin(), source.end(), kernel);
       it != std::sregex_iterator(); ++it) {
    size_t at = static_cast<size_t>(it->position(0));
    size_t statement = source.find_last_of(";}", at);
    std::string before = source.substr(statement == std::string::npos ? 0 : statement + 1,
                                       at - (statement == std::string::npos ? 0 : statement + 1));
    if (before.find("template") != std::string::npos) continue;
    names.push_back((*it)[1]);
  }
  return names;
}

namespace {

// One engine per source, and the kernels to compile with each. False (after
// saying why) when a source cannot be read.
bool plan_jobs(const WarmRequest& request, const std::shared_ptr<RuntimeCache>& cache,
               std::vector<std::unique_ptr<Engine>>* engines, std::vector<Job>* jobs) {
  for (const std::string& path : request.sources) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      std::fprintf(stderr, "rtcache warm: %s: cannot read\n", path.c_str());
      return false;
    }
    EngineConfig config;
    config.name = std::filesystem::path(path).filename().string();
    config.source = text.str();
    config.arch = request.arch;
    // Exactly the application's options: they are part of every key.
    config.options = request.compile_options;
    engines->push_back(std::make_unique<Engine>(config, RuntimeSettings::shared(cache)));
    std::vector<std::string> names = plain_kernels(config.source);
    if (!request.name_expressions.empty()) {
      // Each expression goes to the sources that define a kernel of its name.
      std::vector<std::string> chosen;
      for (const std::string& expr : request.name_expressions) {
        std::regex defines("__global__[^;{]*\\b" + base_name_of(expr) + "\\s*\\(");
        if (std::regex_search(config.source, defines)) chosen.push_back(expr);
      }
      names = std::move(chosen);
    }
    for (const std::string& name : names) {
      jobs->push_back({engines->back().get(), config.name, name});
    }
  }
  return true;
}

struct Counts {
  std::atomic<size_t> compiled{0}, cached{0}, failed{0};
};

// Compiles every job through the cache on all cores, with progress.
void compile_jobs(const std::vector<Job>& jobs, Counts* counts) {
  ProgressBar progress(jobs.size());
  std::atomic<size_t> next{0};
  std::mutex errors_mu;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
      Kernel kernel;
      Status ks = jobs[i].engine->kernel(jobs[i].name_expression, &kernel);
      if (!ks.ok()) {
        ++counts->failed;
        std::lock_guard<std::mutex> lock(errors_mu);
        // The whole message: it names the source (the engine's module name)
        // and carries the compiler's full log, every line of which may matter.
        std::fprintf(stderr, "%srtcache warm: %s\n", isatty(2) ? "\r" : "", ks.message().c_str());
      } else if (kernel.from_cache) {
        ++counts->cached;
      } else {
        ++counts->compiled;
      }
      progress.step(jobs[i].name_expression);
    }
  };
  std::vector<std::thread> pool;
  const size_t threads =
      std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), jobs.size());
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace

int run_warm(const Options& base, const WarmRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  Options options = base;
  options.path = request.cache_path;
  options.autosave_on_del = false;
  std::shared_ptr<RuntimeCache> cache;
  Status s = RuntimeCache::open(options, &cache);
  if (!s.ok()) {
    std::fprintf(stderr, "rtcache warm: %s\n", s.message().c_str());
    return 2;
  }
  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<Job> jobs;
  if (!plan_jobs(request, cache, &engines, &jobs)) return 2;
  if (jobs.empty()) {
    std::fprintf(stderr, "rtcache warm: no kernels found (templates need --name-expr)\n");
    return 2;
  }

  Counts counts;
  compile_jobs(jobs, &counts);

  s = cache->save();
  if (!s.ok()) {
    std::fprintf(stderr, "rtcache warm: %s\n", s.message().c_str());
    return 2;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("warm: %zu compiled, %zu already cached, %zu failed, %.1f s\n",
              counts.compiled.load(), counts.cached.load(), counts.failed.load(), seconds);
  return counts.failed.load() == 0 ? 0 : 1;
}

}  // namespace rtcache::cli
