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
  for (const std::string& path : request.sources) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      std::fprintf(stderr, "rtcache warm: %s: cannot read\n", path.c_str());
      return 2;
    }
    EngineConfig config;
    config.name = std::filesystem::path(path).filename().string();
    config.source = text.str();
    config.arch = request.arch;
    // Exactly the application's options: they are part of every key.
    config.options = request.compile_options;
    engines.push_back(std::make_unique<Engine>(config, RuntimeSettings::shared(cache)));
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
    for (const std::string& name : names) jobs.push_back({engines.back().get(), config.name, name});
  }
  if (jobs.empty()) {
    std::fprintf(stderr, "rtcache warm: no kernels found (templates need --name-expr)\n");
    return 2;
  }

  ProgressBar progress(jobs.size());
  std::atomic<size_t> next{0}, compiled{0}, cached{0}, failed{0};
  std::mutex errors_mu;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
      Kernel kernel;
      Status ks = jobs[i].engine->kernel(jobs[i].name_expression, &kernel);
      if (!ks.ok()) {
        ++failed;
        std::lock_guard<std::mutex> lock(errors_mu);
        // One line: the failure, and the compiler's first error from its log.
        const std::string& message = ks.message();
        std::string first_line = message.substr(0, message.find('\n'));
        if (size_t error = message.find("error", first_line.size()); error != std::string::npos) {
          size_t from = message.rfind('\n', error) + 1;
          first_line += " " + message.substr(from, message.find('\n', error) - from);
        }
        // The message names the source (the engine's module name) already.
        std::fprintf(stderr, "%srtcache warm: %s\n", isatty(2) ? "\r" : "", first_line.c_str());
      } else if (kernel.from_cache) {
        ++cached;
      } else {
        ++compiled;
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

  s = cache->save();
  if (!s.ok()) {
    std::fprintf(stderr, "rtcache warm: %s\n", s.message().c_str());
    return 2;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("warm: %zu compiled, %zu already cached, %zu failed, %.1f s\n", compiled.load(),
              cached.load(), failed.load(), seconds);
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace rtcache::cli
