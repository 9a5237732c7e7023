// Engine: compiles kernels with NVRTC through a RuntimeCache, and the
// runtime-settings rules that decide which cache that is.
#include "rtcache/engine.h"

#include <cxxabi.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <istream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "common/environment.h"
#include "jit/header_manifest.h"
#include "jit/hex.h"
#include "jit/nvrtc.h"
#include "rtcache/log.h"
#include "storage/format.h"

namespace rtcache {
namespace {

// Hashes length-prefixed fields, so that ("ab","c") and ("a","bc") differ.
class KeyHasher {
 public:
  KeyHasher() { XXH3_128bits_reset(state_); }
  ~KeyHasher() { XXH3_freeState(state_); }
  void add(std::string_view field) {
    uint64_t n = field.size();
    XXH3_128bits_update(state_, &n, sizeof n);
    XXH3_128bits_update(state_, field.data(), field.size());
  }
  std::string hex() { return hex128(XXH3_128bits_digest(state_)); }

 private:
  XXH3_state_t* state_ = XXH3_createState();
};

// Everything that determines the binary except the compiler: the alias key.
// Everything about the module that determines its binaries except the
// compiler; computed once per engine, since hashing the source on every hit
// would cost more than the lookup.
std::string module_digest(const EngineConfig& c) {
  KeyHasher h;
  h.add("rtcache-kernel");
  h.add(std::to_string(format::kFormatVersion));
  h.add(c.arch);
  h.add(std::to_string(c.options.size()));
  for (const std::string& o : c.options) h.add(o);
  // By name, so that the order they are listed in (by the application, by
  // `rtcache warm --header`) does not change the key.
  std::vector<const std::pair<std::string, std::string>*> headers;
  for (const auto& header : c.headers) headers.push_back(&header);
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto* a, const auto* b) { return a->first < b->first; });
  h.add(std::to_string(headers.size()));
  for (const auto* header : headers) {
    h.add(header->first);
    h.add(header->second);
  }
  h.add(c.source);
  return h.hex();
}

// The alias key's part: the module and the kernel, without the compiler.
std::string source_key(const std::string& module_digest, std::string_view name_expression) {
  KeyHasher h;
  h.add(module_digest);
  h.add(name_expression);
  return h.hex();
}

std::string full_key(const std::string& source_key, const std::string& compiler_id) {
  KeyHasher h;
  h.add(source_key);
  h.add(compiler_id);
  return "k:" + h.hex();
}

std::string alias_key(const std::string& source_key) {
  return "a:" + source_key;
}

// Where the kernel of a compile that read header files is stored: the
// module's key and the contents of those files (header_manifest.h).
std::string variant_key(const std::string& key, const std::vector<headers::HeaderFile>& files) {
  KeyHasher h;
  h.add(key);
  h.add(std::to_string(files.size()));
  for (const headers::HeaderFile& file : files) {
    h.add(file.path);
    h.add(file.hash);
  }
  return "k:" + h.hex();
}

// Adds `variant` to the manifest under `key` (newest first, one per kernel
// key, at most kMaxVariants).
void record_variant(RuntimeCache& cache, const std::string& key, headers::Variant variant) {
  std::vector<headers::Variant> variants;
  Bytes old;
  std::string metadata;
  if (!cache.get(key, &old, &metadata).ok() || metadata != headers::kManifestMetadata ||
      !headers::decode(old.view(), &variants)) {
    variants.clear();  // none yet, or a kernel compiled before the headers were known
  }
  std::erase_if(variants,
                [&](const headers::Variant& v) { return v.kernel_key == variant.kernel_key; });
  variants.insert(variants.begin(), std::move(variant));
  if (variants.size() > headers::kMaxVariants) variants.resize(headers::kMaxVariants);
  cache.put(key, headers::encode(variants), std::string(headers::kManifestMetadata));
}

// At debug level, why a kernel was a hit or a miss (RTCACHE_LOG=debug): the
// question a user asks when a kernel recompiles. Callers check the level
// first, so a hit at the default level builds no string.
bool explaining() {
  return log_level() <= LogLevel::kDebug;
}

std::string where(const RuntimeCache& cache) {
  return cache.path().empty() ? std::string("the in-memory cache") : cache.path();
}

void explain_miss(const std::string& module, std::string_view name, const std::string& key,
                  const std::string& skey, const std::string& changed_header, RuntimeCache& cache) {
  Bytes other;
  const bool other_compiler =
      cache.get(alias_key(skey), &other).ok() && other.view() != std::string_view(key);
  std::string why;
  if (!changed_header.empty()) {
    why = "header " + changed_header + " changed since it was compiled";
  } else if (other_compiler) {
    why = "compiled before by another NVRTC library (key " + other.str() + ")";
  } else {
    why = "never compiled with this source, headers, options and architecture";
  }
  log(LogLevel::kDebug, module + ": " + std::string(name) + ": miss in " + where(cache) + " (key " +
                            key + "): " + why + "; compiling");
}

std::string field(const std::string& metadata, std::string_view name) {
  std::string prefix = std::string(name) + "=";
  size_t at = metadata.find(prefix);
  if (at == std::string::npos || (at != 0 && metadata.compare(at - 2, 2, "; ") != 0)) return {};
  at += prefix.size();
  size_t end = metadata.find("; ", at);
  return metadata.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// A manifest's variant found valid while every one of its files was watched
// (directory_watch.h): until the watch's epoch moves, it still is.
struct Validated {
  std::string kernel_key;
  uint64_t epoch = 0;  // 0: not all watched, so not remembered
};

struct InFlight {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
  Kernel kernel;
};

}  // namespace

RuntimeSettings RuntimeSettings::from_environment() {
  if (env_switch("RTCACHE_DISABLE", false)) return none();
  std::string path = default_cache_path();
  return path.empty() ? none() : RuntimeSettings::path(std::move(path));
}

struct Engine::Impl {
  mutable std::mutex mu;  // guards settings, cache, implicit, in_flight
  RuntimeSettings settings;
  std::shared_ptr<RuntimeCache> cache;
  bool implicit = false;
  std::unordered_map<std::string, std::shared_ptr<InFlight>> in_flight;

  std::once_flag located;
  Status locate_status;
  std::string nvrtc_path, compiler_id;
  std::string module_digest;  // set at construction, then read-only

  std::atomic<uint64_t> hits{0}, compiles{0}, compile_failures{0};

  // Module keys served through a manifest in this process: the variant found
  // valid, and the watch's epoch when all its headers were watched (served
  // without reading the manifest while nothing changed; 0: checked again).
  std::mutex validated_mu;
  std::unordered_map<std::string, Validated> validated;

  // *again: the key was served before in this process.
  bool still_valid(const std::string& key, Validated* out, bool* again) {
    {
      std::lock_guard<std::mutex> lock(validated_mu);
      if (validated.empty()) return false;  // the usual case: no header files
      auto it = validated.find(key);
      if (it == validated.end()) return false;
      *out = it->second;
      *again = true;
    }
    return out->epoch != 0 && out->epoch == headers::watch_epoch();
  }
  void remember_valid(const std::string& key, const Validated& v) {
    if (v.kernel_key.empty()) return;  // a kernel entry, not a manifest
    std::lock_guard<std::mutex> lock(validated_mu);
    validated[key] = v;
  }
  std::atomic<int64_t> compile_us{0};

  void locate(const std::string& configured) {
    std::call_once(located, [&] {
      locate_status = nvrtc::locate(configured, &nvrtc_path, &compiler_id);
      if (!locate_status.ok()) compiler_id = "unavailable";
    });
  }

  // The compile of `key` in progress; *owner when this caller must do it.
  std::shared_ptr<InFlight> join_flight(const std::string& key, bool* owner) {
    std::lock_guard<std::mutex> lock(mu);
    auto [it, inserted] = in_flight.try_emplace(key);
    if (inserted) it->second = std::make_shared<InFlight>();
    *owner = inserted;
    return it->second;
  }

  // Publishes the owner's result to the threads waiting on the same key.
  void finish_flight(const std::string& key, const std::shared_ptr<InFlight>& flight,
                     const Status& status, const Kernel& kernel) {
    {
      std::lock_guard<std::mutex> lock(flight->mu);
      flight->status = status;
      flight->kernel = kernel;
      flight->done = true;
    }
    flight->cv.notify_all();
    std::lock_guard<std::mutex> lock(mu);
    in_flight.erase(key);
  }

  // Compiles one kernel with NVRTC and puts it (and its alias) in `cache`,
  // with metadata that records what made it. A compile that read header
  // files is stored under a key covering their contents, and listed in the
  // module key's manifest; when those files cannot be known or were changed
  // during the compile, the kernel is returned but not cached.
  Status compile_into(const EngineConfig& config, std::string_view name_expression,
                      const std::string& key, const std::string& skey, RuntimeCache& cache,
                      Kernel* result) {
    nvrtc::Program program{config.name,    config.source, config.headers,
                           config.options, config.arch,   std::string(name_expression)};
    nvrtc::Output output;
    const timespec file_clock_start = headers::file_clock_now();
    auto start = std::chrono::steady_clock::now();
    Status status = nvrtc::compile(nvrtc_path, program, &output);
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    compiles.fetch_add(1, std::memory_order_relaxed);
    compile_us.fetch_add(us, std::memory_order_relaxed);
    if (!status.ok()) {
      compile_failures.fetch_add(1, std::memory_order_relaxed);
      return status;
    }
    result->binary = Bytes(std::move(output.binary));
    result->lowered_name = output.lowered_name;
    result->from_cache = false;
    result->compile_ms = us / 1000.0;
    result->key = key;

    std::vector<headers::HeaderFile> files;
    Status known = output.headers_known ? headers::snapshot(output.headers_read, config.headers,
                                                            file_clock_start, &files)
                                        : Status::NotSupported(output.headers_unknown_reason);
    if (!known.ok()) {
      const std::string why =
          config.name + ": " + std::string(name_expression) +
          ": not cached, since the header files it read are not known: " + known.message();
      if (known.code() == Status::Code::kNotSupported) {
        warn_once(("kernels are not cached: " + known.message()).c_str());
      }
      log(LogLevel::kDebug, why);
      return Status::OK();
    }
    std::string options;
    for (const std::string& o : config.options) options += (options.empty() ? "" : " ") + o;
    std::string metadata = "kernel=" + std::string(name_expression) +
                           "; lowered=" + output.lowered_name + "; module=" + config.name +
                           "; arch=" + config.arch + "; nvrtc=" + output.version +
                           "; options=" + options + "; compile_ms=" + std::to_string(us / 1000.0) +
                           "; compiler=" + compiler_id;
    if (files.empty()) {
      cache.put(key, result->binary, metadata);
    } else {
      result->key = variant_key(key, files);
      cache.put(result->key, result->binary,
                metadata + "; header_files=" + std::to_string(files.size()));
      record_variant(cache, key, {result->key, std::move(files)});
    }
    cache.put(alias_key(skey), std::string_view(key), "alias of " + key);
    return Status::OK();
  }
};

// The kernel under `key`: a kernel entry, or a manifest leading to the
// kernel of the first variant whose header files are unchanged (*validated
// says which). When a manifest matches no variant, *changed_header names a
// file that changed.
bool find_kernel(RuntimeCache& cache, const std::string& key, Kernel* out,
                 std::string* changed_header, Validated* validated, bool watch) {
  std::string metadata;
  if (!cache.get(key, &out->binary, &metadata).ok()) return false;
  if (metadata == headers::kManifestMetadata) {
    std::vector<headers::Variant> variants;
    if (!headers::decode(out->binary.view(), &variants)) return false;
    for (const headers::Variant& variant : variants) {
      uint64_t epoch = 0;
      const std::string changed = headers::first_changed(variant.files, watch ? &epoch : nullptr);
      if (changed.empty()) {
        std::string ignored;
        Validated unused;
        if (variant.kernel_key == key ||
            !find_kernel(cache, variant.kernel_key, out, &ignored, &unused, false)) {
          return false;
        }
        *validated = {variant.kernel_key, epoch};
        return true;
      }
      if (changed_header->empty()) *changed_header = changed;
    }
    return false;
  }
  out->lowered_name = field(metadata, "lowered");
  out->from_cache = true;
  out->compile_ms = std::strtod(field(metadata, "compile_ms").c_str(), nullptr);
  out->key = key;
  return !out->lowered_name.empty();
}

namespace {

// Lets go of an implicit handle, saving it once (the rule in engine.h). The
// last reference is dropped here: the handle's destructor autosaves it (once:
// autosave_now() turns autosave off first; a failure is one warning). When
// the handle outlives the drop, other holders still use it: it is saved now
// on this engine's behalf, and its autosave stays on for them; unless its
// autosave already ran (the exit hook) or was turned off.
void release_implicit(std::shared_ptr<RuntimeCache> cache, const std::string& engine_name) {
  std::weak_ptr<RuntimeCache> weak = cache;
  cache.reset();
  std::shared_ptr<RuntimeCache> still = weak.lock();
  if (still == nullptr || !still->autosave_on_del() || still->read_only()) return;
  Status s = still->save();
  if (!s.ok()) {
    log(LogLevel::kWarning,
        "saving the runtime cache of " + engine_name + " failed: " + s.to_string());
  }
}

}  // namespace

Engine::Engine(EngineConfig config)
    : Engine(std::move(config), RuntimeSettings::from_environment()) {}

Engine::Engine(EngineConfig config, RuntimeSettings settings)
    : config_(std::move(config)), impl_(std::make_unique<Impl>()) {
  impl_->module_digest = module_digest(config_);
  impl_->settings = RuntimeSettings::none();
  impl_->cache = RuntimeCache::create();
  set_runtime_settings(std::move(settings));
}

Engine::~Engine() {
  std::shared_ptr<RuntimeCache> cache;
  bool implicit = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    implicit = impl_->implicit;
    cache = std::move(impl_->cache);
  }
  if (implicit) release_implicit(std::move(cache), config_.name);
}

void Engine::set_runtime_settings(RuntimeSettings settings) {
  std::shared_ptr<RuntimeCache> released;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (settings == impl_->settings) return;  // same path: reuse; same handle: no-op
    std::shared_ptr<RuntimeCache> next;
    bool implicit = false;
    if (settings.is_path()) {
      next = RuntimeCache::implicit_for(settings.cache_path());  // loaded on creation
      implicit = true;
    } else if (settings.is_shared() && settings.shared_cache()) {
      next = settings.shared_cache();
    } else {
      next = RuntimeCache::create();
    }
    if (impl_->implicit && impl_->cache != next) released = impl_->cache;
    impl_->settings = std::move(settings);
    impl_->cache = std::move(next);
    impl_->implicit = implicit;
  }
  // Saved now, not when the process exits: the engine has let go of it.
  if (released) release_implicit(std::move(released), config_.name);
}

RuntimeSettings Engine::runtime_settings() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->settings;
}

std::shared_ptr<RuntimeCache> Engine::runtime_cache() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->cache;
}

EngineStats Engine::stats() const {
  EngineStats s;
  s.hits = impl_->hits.load();
  s.compiles = impl_->compiles.load();
  s.compile_failures = impl_->compile_failures.load();
  s.compile_ms = impl_->compile_us.load() / 1000.0;
  return s;
}

std::string Engine::key_for(std::string_view name_expression) const {
  impl_->locate(config_.nvrtc_library);
  return full_key(source_key(impl_->module_digest, name_expression), impl_->compiler_id);
}

namespace {

// The name expression for a kernel's lowered name: the demangled name without
// its parameters (and, for a template instance, without the return type that
// the mangling of a template function carries). extern "C": the name itself.
std::string name_expression_of(const std::string& lowered, std::string* parameters) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(lowered.c_str(), nullptr, nullptr, &status);
  if (status != 0 || demangled == nullptr) {
    std::free(demangled);
    return lowered;
  }
  std::string text = demangled;
  std::free(demangled);
  // The parameter list: from the '(' that matches the last ')'.
  size_t open = std::string::npos;
  int depth = 0;
  for (size_t i = text.size(); i-- > 0;) {
    if (text[i] == ')') ++depth;
    if (text[i] == '(' && --depth == 0) {
      open = i;
      break;
    }
  }
  if (open == std::string::npos) return text;
  *parameters = text.substr(open);
  text.resize(open);
  if (text.ends_with('>') && text.starts_with("void ")) text.erase(0, 5);
  return text;
}

}  // namespace

Status Engine::kernel_names(std::vector<std::string>* name_expressions) {
  impl_->locate(config_.nvrtc_library);
  if (!impl_->locate_status.ok()) {
    return impl_->locate_status.with_context(config_.name + ": cannot list its kernels");
  }
  nvrtc::Program program{config_.name,    config_.source, config_.headers,
                         config_.options, config_.arch,   ""};
  std::vector<std::string> lowered;
  Status s = nvrtc::list_kernels(impl_->nvrtc_path, program, &lowered);
  if (!s.ok()) return s;
  std::vector<std::pair<std::string, std::string>> named;  // (expression, parameters)
  for (const std::string& name : lowered) {
    std::string parameters;
    std::string expression = name_expression_of(name, &parameters);
    named.emplace_back(std::move(expression), std::move(parameters));
  }
  for (const auto& entry : named) {
    const std::string& expression = entry.first;
    const std::string& parameters = entry.second;
    const auto same = std::count_if(named.begin(), named.end(),
                                    [&](const auto& other) { return other.first == expression; });
    // Overloads share a name: the function pointer type picks one.
    name_expressions->push_back(
        same > 1 && !parameters.empty() ? "(void(*)" + parameters + ")" + expression : expression);
  }
  return Status::OK();
}

Status Engine::kernel(std::string_view name_expression, Kernel* out) {
  Impl& impl = *impl_;
  impl.locate(config_.nvrtc_library);
  const std::string skey = source_key(impl.module_digest, name_expression);
  std::string key = full_key(skey, impl.compiler_id);
  std::shared_ptr<RuntimeCache> cache = runtime_cache();

  std::string changed_header;
  auto serve = [&](const std::string& k) {
    std::string ignored;
    Validated validated;
    bool again = false;
    if (impl.still_valid(k, &validated, &again) &&
        find_kernel(*cache, validated.kernel_key, out, &ignored, &validated, false)) {
      impl.hits.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    validated = {};
    // A module key looked up again in this process watches its header files.
    if (!find_kernel(*cache, k, out, &changed_header, &validated, again)) return false;
    impl.remember_valid(k, validated);
    impl.hits.fetch_add(1, std::memory_order_relaxed);
    return true;
  };
  if (serve(key)) {
    if (explaining()) {
      log(LogLevel::kDebug, config_.name + ": " + std::string(name_expression) + ": hit in " +
                                where(*cache) + " (key " + out->key + ")");
    }
    return Status::OK();
  }
  if (!impl.locate_status.ok()) {
    // No compiler here: serve what another machine compiled for this exact
    // source, options and architecture, if the cache has it.
    Bytes target;
    if (cache->get(alias_key(skey), &target).ok() && serve(target.str())) return Status::OK();
    return impl.locate_status.with_context(config_.name + ": cannot compile " +
                                           std::string(name_expression));
  }

  // One compile per key, however many threads ask at once.
  bool owner = false;
  std::shared_ptr<InFlight> flight = impl.join_flight(key, &owner);
  if (!owner) {
    std::unique_lock<std::mutex> lock(flight->mu);
    flight->cv.wait(lock, [&] { return flight->done; });
    if (!flight->status.ok()) return flight->status;
    *out = flight->kernel;
    out->from_cache = true;
    return Status::OK();
  }
  // Another thread may have finished this compile between our miss and now.
  Status status;
  Kernel result;
  if (serve(key)) {
    result = *out;
  } else {
    if (explaining())
      explain_miss(config_.name, name_expression, key, skey, changed_header, *cache);
    status = impl.compile_into(config_, name_expression, key, skey, *cache, &result);
  }
  impl.finish_flight(key, flight, status, result);
  if (!status.ok()) return status;
  *out = std::move(result);
  return Status::OK();
}

// --- the scoped, shared cache --------------------------------------------------------

namespace {

Status check_engines(const std::vector<Engine*>& engines) {
  if (engines.empty()) return Status::InvalidArgument("runtime_cache: no engine given");
  for (Engine* e : engines) {
    if (e == nullptr) return Status::InvalidArgument("runtime_cache: a null engine was given");
  }
  return Status::OK();
}

// A std::iostream as a StreamTarget. It cannot be truncated (the default).
class IostreamTarget final : public StreamTarget {
 public:
  explicit IostreamTarget(std::iostream& stream) : stream_(stream) {}

  Status read_all(std::string* bytes) override {
    const std::streamoff start = stream_.tellg();
    start_ = start < 0 ? 0 : start;
    bytes->assign(std::istreambuf_iterator<char>(stream_), std::istreambuf_iterator<char>());
    if (stream_.bad()) return Status::IOError("stream: read failed");
    return Status::OK();
  }

  Status write_at_start(std::string_view image) override {
    stream_.clear();  // reading to the end set eofbit
    stream_.seekp(start_);
    stream_.write(image.data(), static_cast<std::streamsize>(image.size()));
    stream_.flush();
    if (!stream_.good()) return Status::IOError("stream: write failed");
    return Status::OK();
  }

 private:
  std::iostream& stream_;
  std::streamoff start_ = 0;
};

}  // namespace

std::unique_ptr<ScopedRuntimeCache> ScopedRuntimeCache::attach(const std::vector<Engine*>& engines,
                                                               std::shared_ptr<RuntimeCache> cache,
                                                               bool autosave) {
  std::unique_ptr<ScopedRuntimeCache> scope(new ScopedRuntimeCache());
  scope->cache_ = std::move(cache);
  scope->autosave_ = autosave;
  const RuntimeSettings shared = RuntimeSettings::shared(scope->cache_);
  for (Engine* e : engines) {
    bool seen = false;
    for (const auto& [engine, settings] : scope->previous_) seen = seen || engine == e;
    if (seen) continue;  // listed twice: attached and restored once
    scope->previous_.emplace_back(e, e->runtime_settings());
    e->set_runtime_settings(shared);
  }
  return scope;
}

Status ScopedRuntimeCache::open(const std::vector<Engine*>& engines, const std::string& path,
                                bool autosave, std::unique_ptr<ScopedRuntimeCache>* out) {
  Status s = check_engines(engines);
  if (!s.ok()) return s;
  Options options;
  options.path = path;
  auto cache = RuntimeCache::create(options);
  s = cache->load();
  if (!s.ok()) return s;
  *out = attach(engines, std::move(cache), autosave);
  return Status::OK();
}

Status ScopedRuntimeCache::open(const std::vector<Engine*>& engines, std::iostream& stream,
                                bool autosave, std::unique_ptr<ScopedRuntimeCache>* out) {
  // The caller keeps `stream` alive while the scope is open (as before).
  return open(engines, std::make_shared<IostreamTarget>(stream), autosave, out);
}

Status ScopedRuntimeCache::open(const std::vector<Engine*>& engines,
                                std::shared_ptr<StreamTarget> target, bool autosave,
                                std::unique_ptr<ScopedRuntimeCache>* out) {
  Status s = check_engines(engines);
  if (!s.ok()) return s;
  if (target == nullptr) return Status::InvalidArgument("runtime_cache: a null stream was given");
  std::string image;
  s = target->read_all(&image);
  if (!s.ok()) return s;
  auto cache = RuntimeCache::create();
  s = cache->deserialize(image);  // an empty stream is a new cache
  if (!s.ok()) return s;
  *out = attach(engines, std::move(cache), autosave);
  (*out)->stream_ = std::move(target);
  return Status::OK();
}

Status ScopedRuntimeCache::open(const std::vector<Engine*>& engines,
                                std::shared_ptr<RuntimeCache> cache, bool autosave,
                                std::unique_ptr<ScopedRuntimeCache>* out) {
  Status s = check_engines(engines);
  if (!s.ok()) return s;
  if (cache == nullptr) return Status::InvalidArgument("runtime_cache: a null handle was given");
  *out = attach(engines, std::move(cache), autosave);
  return Status::OK();
}

// Written once, whole, where it was read from (not appended after it), then
// cut there where the stream allows it.
Status ScopedRuntimeCache::save_to_stream() {
  std::ostringstream image;  // through save_to_stream, so the handle counts bytes_saved
  Status s = cache_->save_to_stream(image);
  if (!s.ok()) return s;
  s = stream_->write_at_start(image.view());
  if (!s.ok()) return s;
  return stream_->truncate();
}

Status ScopedRuntimeCache::close() {
  if (closed_) return Status::OK();
  closed_ = true;
  for (auto it = previous_.rbegin(); it != previous_.rend(); ++it) {
    it->first->set_runtime_settings(it->second);
  }
  if (!autosave_) return Status::OK();
  if (stream_ != nullptr) return save_to_stream();
  // A read-only cache (Options::read_only) keeps what the block added in
  // memory, as its autosave does: nothing to write, nothing to report.
  return cache_->read_only() ? Status::OK() : cache_->save();
}

ScopedRuntimeCache::~ScopedRuntimeCache() {
  try {
    Status s = close();
    if (!s.ok())
      log(LogLevel::kWarning, "saving the scoped runtime cache failed: " + s.to_string());
  } catch (...) {
    log(LogLevel::kWarning, "saving the scoped runtime cache failed");
  }
}

}  // namespace rtcache
