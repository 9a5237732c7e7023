#include "warm.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
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

// The identifier a name expression names ("ns::scale<float>" -> "scale").
std::string identifier_of(const std::string& name_expression) {
  std::string name = name_expression.substr(0, name_expression.find('<'));
  const size_t colon = name.rfind("::");
  if (colon != std::string::npos) name.erase(0, colon + 2);
  const size_t cast = name.rfind(')');  // "(void(*)(int*))k"
  if (cast != std::string::npos) name.erase(0, cast + 1);
  return name;
}

// Whether `source` has `word` as a whole identifier (it may name that kernel).
bool mentions(const std::string& source, const std::string& word) {
  auto is_ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t at = source.find(word); at != std::string::npos; at = source.find(word, at + 1)) {
    const bool starts = at == 0 || !is_ident(source[at - 1]);
    const size_t end = at + word.size();
    if (starts && (end == source.size() || !is_ident(source[end]))) return true;
  }
  return false;
}

// Progress: on a terminal, one line that redraws itself; elsewhere (CI, an
// image build's log), one line per kernel as it finishes.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(isatty(2) != 0) {}
  void step(const Job& job, const char* outcome, double ms) {
    std::lock_guard<std::mutex> lock(mu_);
    ++done_;
    if (!tty_) {
      std::fprintf(stderr, "warm: [%zu/%zu] %-8s %8.1f ms  %s: %s\n", done_, total_, outcome, ms,
                   job.source_name.c_str(), job.name_expression.c_str());
      return;
    }
    constexpr size_t kWidth = 30;
    const size_t filled = total_ ? kWidth * done_ / total_ : kWidth;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu %-50.50s", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, '.').c_str(), done_, total_,
                 job.name_expression.c_str());
    if (done_ == total_) std::fprintf(stderr, "\r%*s\r", 100, "");
    std::fflush(stderr);
  }
  // A message printed between progress lines.
  void say(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(stderr, "%srtcache warm: %s\n", tty_ ? "\r" : "", text.c_str());
  }

 private:
  std::mutex mu_;
  size_t total_, done_ = 0;
  bool tty_;
};

bool read_whole(const std::string& path, std::string* text) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in) return false;
  *text = buffer.str();
  return true;
}

// The --header NAME=FILE values as EngineConfig::headers; false (after
// saying why) on a malformed value or an unreadable file.
bool read_headers(const std::vector<std::string>& specs,
                  std::vector<std::pair<std::string, std::string>>* headers) {
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      std::fprintf(stderr, "rtcache warm: --header %s: expected NAME=FILE\n", spec.c_str());
      return false;
    }
    std::string text;
    if (!read_whole(spec.substr(eq + 1), &text)) {
      std::fprintf(stderr, "rtcache warm: --header %s: cannot read %s\n", spec.c_str(),
                   spec.substr(eq + 1).c_str());
      return false;
    }
    headers->emplace_back(spec.substr(0, eq), std::move(text));
  }
  return true;
}

struct Plan {
  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<Job> jobs;
  size_t failed = 0;  // modules whose kernels could not be listed, expressions no source names
};

// The kernels of one engine: the name expressions that name one of its
// identifiers (all of them when there is one source), else every kernel
// NVRTC finds in it. Each (source, expression) once.
void plan_engine(const WarmRequest& request, bool only_source, Engine* engine,
                 std::vector<bool>* expression_used, Plan* plan) {
  std::vector<std::string> names;
  if (request.name_expressions.empty()) {
    Status s = engine->kernel_names(&names);
    if (!s.ok()) {
      ++plan->failed;
      std::fprintf(stderr, "rtcache warm: %s\n", s.message().c_str());
      return;
    }
    if (names.empty()) {
      std::fprintf(stderr, "rtcache warm: %s: defines no kernel\n", engine->config().name.c_str());
    }
  } else {
    for (size_t i = 0; i < request.name_expressions.size(); ++i) {
      const std::string& expression = request.name_expressions[i];
      if (only_source || mentions(engine->config().source, identifier_of(expression))) {
        names.push_back(expression);
        (*expression_used)[i] = true;
      }
    }
  }
  for (const std::string& name : names) {
    const bool seen = std::any_of(plan->jobs.begin(), plan->jobs.end(), [&](const Job& job) {
      return job.engine == engine && job.name_expression == name;
    });
    if (!seen) plan->jobs.push_back({engine, engine->config().name, name});
  }
}

// One engine per source, and the kernels to compile with each. False (after
// saying why) when a source or header cannot be read.
bool plan_jobs(const WarmRequest& request, const std::shared_ptr<RuntimeCache>& cache, Plan* plan) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!read_headers(request.headers, &headers)) return false;
  std::vector<bool> expression_used(request.name_expressions.size(), false);
  std::vector<std::string> planned;
  for (const std::string& path : request.sources) {
    if (std::find(planned.begin(), planned.end(), path) != planned.end()) continue;  // once
    planned.push_back(path);
    EngineConfig config;
    if (!read_whole(path, &config.source)) {
      std::fprintf(stderr, "rtcache warm: %s: cannot read\n", path.c_str());
      return false;
    }
    config.name = std::filesystem::path(path).filename().string();
    config.arch = request.arch;
    // Exactly the application's options and headers: they are part of every key.
    config.options = request.compile_options;
    config.headers = headers;
    plan->engines.push_back(std::make_unique<Engine>(config, RuntimeSettings::shared(cache)));
    plan_engine(request, planned.size() == 1 && request.sources.size() == 1,
                plan->engines.back().get(), &expression_used, plan);
  }
  for (size_t i = 0; i < expression_used.size(); ++i) {
    if (expression_used[i]) continue;
    ++plan->failed;
    std::fprintf(stderr, "rtcache warm: --name-expr %s: no source names %s\n",
                 request.name_expressions[i].c_str(),
                 identifier_of(request.name_expressions[i]).c_str());
  }
  return true;
}

struct Counts {
  std::atomic<size_t> compiled{0}, cached{0}, failed{0};
};

// Compiles every job through the cache on `threads` threads, with progress.
void compile_jobs(const std::vector<Job>& jobs, unsigned threads, Counts* counts) {
  Progress progress(jobs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
      Kernel kernel;
      const auto start = std::chrono::steady_clock::now();
      Status ks = jobs[i].engine->kernel(jobs[i].name_expression, &kernel);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      const char* outcome = "compiled";
      if (!ks.ok()) {
        ++counts->failed;
        outcome = "FAILED";
        // The whole message: it names the source (the engine's module name)
        // and the name expression, and carries NVRTC's full log.
        progress.say(ks.message());
      } else if (kernel.from_cache) {
        ++counts->cached;
        outcome = "cached";
      } else {
        ++counts->compiled;
      }
      progress.step(jobs[i], outcome, ms);
    }
  };
  std::vector<std::thread> pool;
  const size_t count = std::min<size_t>(threads, jobs.size());
  for (size_t t = 1; t < count; ++t) pool.emplace_back(work);
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
  Plan plan;
  if (!plan_jobs(request, cache, &plan)) return 2;
  if (plan.jobs.empty() && plan.failed == 0) {
    std::fprintf(stderr, "rtcache warm: no kernels found in the sources\n");
    return 2;
  }

  Counts counts;
  counts.failed = plan.failed;
  const unsigned threads =
      request.jobs != 0 ? request.jobs : std::max(1u, std::thread::hardware_concurrency());
  compile_jobs(plan.jobs, threads, &counts);

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
