// rtcache::Engine -- a module of CUDA C++ kernels compiled at run time with
// NVRTC, through a RuntimeCache.
//
// An Engine holds CUDA C++ source and compile options. kernel("softmax<float,256>")
// returns the compiled binary (CUBIN for a real architecture such as sm_90,
// PTX for a virtual one such as compute_90): from the runtime cache when it
// is there, else compiled by NVRTC and put into the cache. NVRTC is loaded
// (dlopen) on the first miss only, so a warm process never pays for loading
// it. It is EngineConfig::nvrtc_library or RTCACHE_NVRTC when set (one that
// is not there is an error naming it), else the first libnvrtc.so or newest
// libnvrtc.so.<major> in $CUDA_HOME/lib64, $CUDA_PATH/lib64,
// /usr/local/cuda/lib64, the LD_LIBRARY_PATH directories and the system
// library directories, else what the dynamic loader finds by soname.
//
// The cache key covers everything that makes the binary what it is: the
// source, extra headers, the name expression, the compile options, the target
// architecture, the identity of the NVRTC library (path, size and
// modification time, so a toolkit update misses) and rtcache's format
// version. The entry's metadata records them in words, for `rtcache ls`.
//
// Runtime settings (which cache an engine uses) follow the system rtcache
// reimplements:
//   - none: a private in-memory cache (nothing persists);
//   - a path: an engine-implicit handle, shared with every other engine on
//     that path in this process (RuntimeCache::implicit_for), loaded at once,
//     saved when the engine lets go of it (settings swap, destruction) and at
//     process exit;
//   - a shared handle: the owner of the handle decides when it is saved.
// The default (RuntimeSettings::from_environment) is the default cache path,
// or none when RTCACHE_DISABLE is set to a true switch (1, true, yes, on, in
// any case; a value that is not a switch is one warning and ignored).
//
// Letting go of an implicit handle (destruction, a settings swap) saves it
// once, through the handle's own once-only autosave:
//   - the engine held the last reference (the usual case): it drops it, and
//     the handle's destructor autosaves it (autosave_now(): autosave is turned
//     off first, so the exit hook does nothing more). A failure (another
//     process holds the lock, an unwritable path) waits for one lock timeout
//     and is logged once, never thrown;
//   - other holders remain (another engine on the same path, a caller of
//     runtime_cache() or implicit_for() keeping it): the engine saves it now,
//     on its own behalf, with save(); a failure is one warning. Autosave stays
//     on, because the others still add to it: the handle is saved once more,
//     when the last of them lets go or at exit. So each release is one save,
//     and a handle shared by N engines is saved at most N times, never twice
//     for one release;
//   - the handle's autosave already ran (the exit hook saved it, for an engine
//     destroyed after it) or was turned off: nothing is saved.
// Two threads releasing one shared handle at the same instant may both find
// it still shared; each release then saves (one attempt each).
//
// With RTCACHE_LOG=debug (or set_log_level(LogLevel::kDebug)) every kernel()
// logs why it was a hit or a miss: the cache it was found in, or that it was
// never compiled with this source, headers, options and architecture, or was
// compiled before by another NVRTC library.
//
// Thread safety: all member functions may be called from many threads.
// Concurrent kernel() calls for the same kernel compile it once; the others
// wait for that compile.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "rtcache/bytes.h"
#include "rtcache/export.h"
#include "rtcache/runtime_cache.h"
#include "rtcache/status.h"

namespace rtcache {

// Which cache an engine uses: a value. Equality compares paths by value and
// shared handles by identity (two handles on one path are different
// settings). path("") and shared(nullptr) are none(): no file, no handle.
class RTCACHE_EXPORT RuntimeSettings {
 public:
  static RuntimeSettings none() { return RuntimeSettings(); }
  static RuntimeSettings path(std::string path) {
    RuntimeSettings s;
    if (!path.empty()) s.target_ = std::move(path);
    return s;
  }
  static RuntimeSettings shared(std::shared_ptr<RuntimeCache> cache) {
    RuntimeSettings s;
    if (cache != nullptr) s.target_ = std::move(cache);
    return s;
  }
  // default_cache_path(), or none when RTCACHE_DISABLE is true (1, true, yes,
  // on) or no location works.
  static RuntimeSettings from_environment();

  bool is_none() const { return std::holds_alternative<std::monostate>(target_); }
  bool is_path() const { return std::holds_alternative<std::string>(target_); }  // never ""
  bool is_shared() const { return std::holds_alternative<std::shared_ptr<RuntimeCache>>(target_); }
  const std::string& cache_path() const { return std::get<std::string>(target_); }
  const std::shared_ptr<RuntimeCache>& shared_cache() const {
    return std::get<std::shared_ptr<RuntimeCache>>(target_);
  }
  friend bool operator==(const RuntimeSettings& a, const RuntimeSettings& b) {
    return a.target_ == b.target_;  // shared_ptr compares by identity
  }

 private:
  std::variant<std::monostate, std::string, std::shared_ptr<RuntimeCache>> target_;
};

struct EngineConfig {
  std::string name = "module";  // names the module in logs, errors and metadata
  std::string source;           // CUDA C++ source
  // Extra headers the source #includes, as (name, contents); their names and
  // contents are part of the key, in any order. Header files NVRTC reads from
  // disk (through -I paths or next to an included file) are part of what
  // decides a hit too, by content: each compile records the files it read
  // (NVRTC 12.8 or later reports them), and a hit is served only while every
  // one of them is unchanged; an edited header is a miss. With an older NVRTC,
  // which cannot report them, kernels are compiled but not cached (one
  // warning says so). A header edited while its kernel compiles, or in the
  // same clock tick just before, may have been read mid-edit: that kernel is
  // returned but not cached. Caveats: a new file that would now shadow a
  // recorded one (created earlier in the include path) is not noticed, as in
  // ccache's direct mode; NVRTC 13.0 keeps about 20 KB per compile that reads
  // headers (its time trace's buffers), so a process that compiles 10,000
  // such kernels holds ~200 MB more (a module that never says "include" is
  // compiled without the trace).
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> options;  // NVRTC options, e.g. "-std=c++17", "-DTILE=64"
  std::string arch = "sm_90";        // sm_XX: CUBIN; compute_XX: PTX
  std::string nvrtc_library;         // "" searches as described above
};

// A compiled kernel.
struct Kernel {
  Bytes binary;              // CUBIN or PTX (PTX is NUL-terminated text)
  std::string lowered_name;  // the mangled name to look the function up by
  bool from_cache = false;   // false when this call compiled it
  double compile_ms = 0;     // NVRTC time: of this call's compile, or, for a hit, of the
                             // compile that made the entry (recorded in its metadata)
  std::string key;           // the cache key
};

struct EngineStats {
  uint64_t hits = 0;      // kernels served by the runtime cache
  uint64_t compiles = 0;  // NVRTC compilations (successful or not)
  uint64_t compile_failures = 0;
  double compile_ms = 0;  // total NVRTC time
};

class RTCACHE_EXPORT Engine {
 public:
  // Uses RuntimeSettings::from_environment().
  explicit Engine(EngineConfig config);
  Engine(EngineConfig config, RuntimeSettings settings);
  ~Engine();  // lets go of an implicit handle it holds, saving it once (see above)
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The binary for one kernel, by NVRTC name expression ("scale<float>",
  // "vector_add"). A compile error returns CompileError with NVRTC's log,
  // and nothing is cached. Without NVRTC a miss returns NotSupported saying
  // why; hits still work.
  Status kernel(std::string_view name_expression, Kernel* out);

  // The key kernel() uses for a name expression (computed without NVRTC).
  // When the kernel's compile read header files from disk (through -I paths),
  // this key holds the list of those files and their content hashes, and the
  // binary is under a key that also covers those contents (Kernel::key).
  std::string key_for(std::string_view name_expression) const;

  // The name expressions of the kernels the module defines: every __global__
  // function that needs no template arguments, and each template instance the
  // source instantiates explicitly. NVRTC compiles the whole module once to
  // PTX and the names are read from it (demangled), so comments, attributes
  // and namespaces cannot mislead it: "ns::inner", "scale<float>". Overloads
  // of one name are told apart by their type: "(void(*)(int*))k". A compile
  // error is CompileError with NVRTC's log; without NVRTC, NotSupported.
  Status kernel_names(std::vector<std::string>* name_expressions);

  // Applies the swap rules described at the top of this header. Setting a
  // path loads that cache at once; swapping away from an implicit handle lets
  // go of it, which saves it now, once (a failure is one warning; see above).
  void set_runtime_settings(RuntimeSettings settings);
  RuntimeSettings runtime_settings() const;
  // The handle in use (a private in-memory one when the settings are none).
  std::shared_ptr<RuntimeCache> runtime_cache() const;

  const EngineConfig& config() const { return config_; }
  EngineStats stats() const;

  struct Impl;

 private:
  EngineConfig config_;
  std::unique_ptr<Impl> impl_;
};

// Where a scoped cache (below) reads its image from when it opens and writes
// it back to when it closes: a byte stream with a start position. open() calls
// read_all() once; close() (or destruction) calls write_at_start() and then
// truncate() once each, only when saving. A failure is a Status naming the
// reason; the scope passes it on (open, close) or logs it (destruction).
//
// Implemented for std::iostream by ScopedRuntimeCache::open(engines, stream,
// ...) and, in the Python bindings, for binary file-like objects. Calls come
// from the thread that opens, closes or destroys the scope; an implementation
// that needs a lock (Python's GIL) takes it in each call.
class RTCACHE_EXPORT StreamTarget {
 public:
  virtual ~StreamTarget() = default;
  // Everything from the current position to the end (the image, and perhaps
  // bytes after it, which are ignored because an image records its own length;
  // empty: a new stream). Remembers the position it started from.
  virtual Status read_all(std::string* bytes) = 0;
  // Writes `image` whole at the position read_all() started from (not appended
  // after the old bytes) and flushes it.
  virtual Status write_at_start(std::string_view image) = 0;
  // Cuts the stream right after what write_at_start() wrote, where the stream
  // can be cut. The default does nothing: when the new image is shorter than
  // the old, the old image's tail stays after it, and readers ignore it.
  virtual Status truncate() { return Status::OK(); }
};

// The shared, scoped cache (the original's `with runtime_cache(...)`): one
// handle with autosave off, loaded from `target`, attached to every engine
// (an engine listed twice is attached, and restored, once). On destruction
// each engine gets its previous settings back, then the handle is saved once
// to the target; a failure there is logged, never thrown. A file the handle
// found read-only (Options::read_only: a read-only mount, RTCACHE_READONLY) is
// not saved: what the block added stays in memory, and nothing is said. This
// is the one implementation: Python's rtcache.runtime_cache() and the cache
// part of rtcache.runtime_config() are bindings of it.
class RTCACHE_EXPORT ScopedRuntimeCache {
 public:
  // Target: a path, "" (memory only), or a stream read once now (from its
  // position) and written once, whole, at that same position on destruction.
  // An iostream cannot be truncated: if the new image is shorter than the old,
  // the old image's tail stays after it; readers ignore it, because an image
  // records its own length.
  static Status open(const std::vector<Engine*>& engines, const std::string& path, bool autosave,
                     std::unique_ptr<ScopedRuntimeCache>* out);
  static Status open(const std::vector<Engine*>& engines, std::iostream& stream, bool autosave,
                     std::unique_ptr<ScopedRuntimeCache>* out);
  // Any other stream: read through `target` now, written back through it
  // (write_at_start, then truncate) when saving. The scope shares ownership.
  static Status open(const std::vector<Engine*>& engines, std::shared_ptr<StreamTarget> target,
                     bool autosave, std::unique_ptr<ScopedRuntimeCache>* out);
  // An existing handle, attached as it is (not loaded: it holds what it
  // holds; its autosave flag is left alone). With `autosave` the scope saves
  // it once, to its own path, when it ends; without, its owner does.
  static Status open(const std::vector<Engine*>& engines, std::shared_ptr<RuntimeCache> cache,
                     bool autosave, std::unique_ptr<ScopedRuntimeCache>* out);
  ~ScopedRuntimeCache();
  ScopedRuntimeCache(const ScopedRuntimeCache&) = delete;
  ScopedRuntimeCache& operator=(const ScopedRuntimeCache&) = delete;

  const std::shared_ptr<RuntimeCache>& cache() const { return cache_; }
  // Restores the engines and saves now instead of at destruction; returns the
  // save's status. Destruction afterwards does nothing more.
  Status close();

 private:
  ScopedRuntimeCache() = default;
  // Attaches `cache` to each engine (once each), remembering its settings.
  static std::unique_ptr<ScopedRuntimeCache> attach(const std::vector<Engine*>& engines,
                                                    std::shared_ptr<RuntimeCache> cache,
                                                    bool autosave);
  Status save_to_stream();
  std::vector<std::pair<Engine*, RuntimeSettings>> previous_;
  std::shared_ptr<RuntimeCache> cache_;
  std::shared_ptr<StreamTarget> stream_;  // null: the target is the handle's path
  bool autosave_ = true;
  bool closed_ = false;
};

}  // namespace rtcache
