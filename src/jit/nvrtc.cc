#include "jit/nvrtc.h"

#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

namespace rtcache::nvrtc {
namespace {

// The subset of nvrtc.h used here, declared locally so that rtcache builds
// without the CUDA toolkit.
using nvrtcResult = int;
using nvrtcProgram = struct _nvrtcProgram*;

struct Library {
  void* handle = nullptr;
  nvrtcResult (*Version)(int*, int*) = nullptr;
  const char* (*GetErrorString)(nvrtcResult) = nullptr;
  nvrtcResult (*CreateProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*,
                               const char* const*) = nullptr;
  nvrtcResult (*DestroyProgram)(nvrtcProgram*) = nullptr;
  nvrtcResult (*CompileProgram)(nvrtcProgram, int, const char* const*) = nullptr;
  nvrtcResult (*GetProgramLogSize)(nvrtcProgram, size_t*) = nullptr;
  nvrtcResult (*GetProgramLog)(nvrtcProgram, char*) = nullptr;
  nvrtcResult (*GetCUBINSize)(nvrtcProgram, size_t*) = nullptr;
  nvrtcResult (*GetCUBIN)(nvrtcProgram, char*) = nullptr;
  nvrtcResult (*GetPTXSize)(nvrtcProgram, size_t*) = nullptr;
  nvrtcResult (*GetPTX)(nvrtcProgram, char*) = nullptr;
  nvrtcResult (*AddNameExpression)(nvrtcProgram, const char*) = nullptr;
  nvrtcResult (*GetLoweredName)(nvrtcProgram, const char*, const char**) = nullptr;
  std::string version;
  // Set when NVRTC refused -fdevice-time-trace (before 12.8): not asked again.
  mutable std::atomic<bool> trace_rejected{false};
};

template <typename Fn>
bool bind(void* handle, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(dlsym(handle, name));
  return *fn != nullptr;
}

Status load(const std::string& path, const Library** out) {
  static std::mutex mu;
  static auto* loaded = new std::map<std::string, std::unique_ptr<Library>>();  // never unloaded
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = (*loaded)[path];
  if (slot) {
    *out = slot.get();
    return Status::OK();
  }
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    loaded->erase(path);
    return Status::NotSupported("cannot load NVRTC from " + path + ": " + (why ? why : "?"));
  }
  auto lib = std::make_unique<Library>();
  lib->handle = handle;
  bool ok = bind(handle, "nvrtcVersion", &lib->Version) &&
            bind(handle, "nvrtcGetErrorString", &lib->GetErrorString) &&
            bind(handle, "nvrtcCreateProgram", &lib->CreateProgram) &&
            bind(handle, "nvrtcDestroyProgram", &lib->DestroyProgram) &&
            bind(handle, "nvrtcCompileProgram", &lib->CompileProgram) &&
            bind(handle, "nvrtcGetProgramLogSize", &lib->GetProgramLogSize) &&
            bind(handle, "nvrtcGetProgramLog", &lib->GetProgramLog) &&
            bind(handle, "nvrtcGetCUBINSize", &lib->GetCUBINSize) &&
            bind(handle, "nvrtcGetCUBIN", &lib->GetCUBIN) &&
            bind(handle, "nvrtcGetPTXSize", &lib->GetPTXSize) &&
            bind(handle, "nvrtcGetPTX", &lib->GetPTX) &&
            bind(handle, "nvrtcAddNameExpression", &lib->AddNameExpression) &&
            bind(handle, "nvrtcGetLoweredName", &lib->GetLoweredName);
  if (!ok) {
    dlclose(handle);
    loaded->erase(path);
    return Status::NotSupported(path + ": not an NVRTC library (missing symbols)");
  }
  int major = 0, minor = 0;
  lib->Version(&major, &minor);
  lib->version = std::to_string(major) + "." + std::to_string(minor);
  slot = std::move(lib);
  *out = slot.get();
  return Status::OK();
}

bool stat_file(const std::string& path, struct stat* st) {
  return ::stat(path.c_str(), st) == 0 && S_ISREG(st->st_mode);
}

// Oldest major the loader's search asks for by soname (CUDA 11).
constexpr int kOldestMajor = 11;
constexpr int kNewestMajor = 19;

void add_once(std::vector<std::string>* list, std::string item) {
  if (std::find(list->begin(), list->end(), item) == list->end()) list->push_back(std::move(item));
}

// The directories searched, each once: the toolkit's (CUDA_HOME, CUDA_PATH,
// /usr/local/cuda), then LD_LIBRARY_PATH's, then the system's library
// directories (where distributions and ldconfig put libnvrtc).
std::vector<std::string> search_dirs() {
  std::vector<std::string> dirs;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    if (const char* home = std::getenv(var); home && *home)
      add_once(&dirs, std::string(home) + "/lib64");
  }
  add_once(&dirs, "/usr/local/cuda/lib64");
  if (const char* paths = std::getenv("LD_LIBRARY_PATH"); paths && *paths) {
    std::string_view rest(paths);
    while (!rest.empty()) {
      const size_t colon = rest.find(':');
      const std::string_view dir = rest.substr(0, colon);
      if (!dir.empty()) add_once(&dirs, std::string(dir));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
  }
  for (const char* dir :
       {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"}) {
    add_once(&dirs, dir);
  }
  return dirs;
}

// libnvrtc.so.<major>[.minor...] -> major; -1 for any other name (libnvrtc.alt.so.13 too).
int versioned_major(const std::string& name) {
  static const std::string prefix = "libnvrtc.so.";
  if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size()) return -1;
  int major = 0;
  size_t i = prefix.size();
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) {
    major = major * 10 + (name[i] - '0');
    if (major > 1000) return -1;
  }
  if (i == prefix.size()) return -1;
  for (; i < name.size(); ++i) {
    if (name[i] != '.' && !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  }
  return major;
}

// In `dir`: libnvrtc.so (the development link), else the versioned soname
// with the newest major; "" when there is none.
std::string find_in(const std::string& dir) {
  struct stat st;
  if (stat_file(dir + "/libnvrtc.so", &st)) return dir + "/libnvrtc.so";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return "";
  std::string best;
  int best_major = -1;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const int major = versioned_major(name);
    if (major > best_major && stat_file(dir + "/" + name, &st)) {
      best_major = major;
      best = dir + "/" + name;
    }
  }
  ::closedir(d);
  return best;
}

// The dynamic loader's own search (ldconfig's cache, RUNPATH), by soname:
// this loads the library, so it comes last.
std::string find_by_loader() {
  std::vector<std::string> sonames = {"libnvrtc.so"};
  for (int major = kNewestMajor; major >= kOldestMajor; --major) {
    sonames.push_back("libnvrtc.so." + std::to_string(major));
  }
  for (const std::string& soname : sonames) {
    void* handle = dlopen(soname.c_str(), RTLD_LAZY | RTLD_LOCAL);
    if (handle == nullptr) continue;
    std::string path;
    link_map* map = nullptr;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr) {
      path = map->l_name;
    }
    dlclose(handle);
    if (!path.empty()) return path;
  }
  return "";
}

Status identify(const std::string& candidate, std::string* path, std::string* identity) {
  struct stat st;
  if (!stat_file(candidate, &st)) return Status::NotFound(candidate + ": no such file");
  char* real = ::realpath(candidate.c_str(), nullptr);
  std::string resolved = real ? real : candidate;
  std::free(real);
  *path = resolved;
  std::string file = resolved.substr(resolved.find_last_of('/') + 1);
  *identity = file + " " + std::to_string(st.st_size) + " " +
              std::to_string(static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000 +
                             st.st_mtim.tv_nsec);
  return Status::OK();
}

}  // namespace

Status locate(const std::string& configured, std::string* path, std::string* identity) {
  // Named explicitly: used, or an error naming it (never silently passed over).
  if (!configured.empty()) {
    Status s = identify(configured, path, identity);
    if (!s.ok()) return Status::NotSupported("NVRTC not found at " + configured + " (configured)");
    return s;
  }
  if (const char* env = std::getenv("RTCACHE_NVRTC"); env && *env) {
    Status s = identify(env, path, identity);
    if (!s.ok()) {
      return Status::NotSupported(std::string("NVRTC not found at RTCACHE_NVRTC=") + env);
    }
    return s;
  }
  const std::vector<std::string> dirs = search_dirs();
  for (const std::string& dir : dirs) {
    if (std::string found = find_in(dir); !found.empty()) return identify(found, path, identity);
  }
  if (std::string found = find_by_loader(); !found.empty()) return identify(found, path, identity);
  std::string looked;
  for (const std::string& dir : dirs) looked += (looked.empty() ? "" : ", ") + dir;
  return Status::NotSupported(
      "NVRTC not found (looked for libnvrtc.so and libnvrtc.so.<major> in " + looked +
      ", then asked the dynamic loader; set RTCACHE_NVRTC or " + "CUDA_HOME)");
}

namespace {

constexpr nvrtcResult kInvalidOption = 5;  // NVRTC_ERROR_INVALID_OPTION

// A private directory (mode 0700, so no other user can plant a link where
// NVRTC writes) for one compile's time trace; removed with everything in it.
class TraceDirectory {
 public:
  TraceDirectory() {
    const char* tmpdir = std::getenv("TMPDIR");
    for (const char* base : {tmpdir, "/tmp", "/dev/shm"}) {
      if (base == nullptr || *base == '\0') continue;
      std::string pattern = std::string(base) + "/rtcache-nvrtc-XXXXXX";
      if (::mkdtemp(pattern.data()) != nullptr) {
        dir_ = std::move(pattern);
        return;
      }
    }
  }
  ~TraceDirectory() {
    if (dir_.empty()) return;
    if (DIR* d = ::opendir(dir_.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") ::unlink((dir_ + "/" + name).c_str());
      }
      ::closedir(d);
    }
    ::rmdir(dir_.c_str());
  }
  TraceDirectory(const TraceDirectory&) = delete;
  TraceDirectory& operator=(const TraceDirectory&) = delete;

  bool made() const { return !dir_.empty(); }
  std::string option() const { return "--fdevice-time-trace=" + dir_ + "/trace"; }

  // The "Processing Header File" events of the trace, each file once.
  Status headers(std::vector<std::string>* out) const {
    std::ifstream in(dir_ + "/trace.json");  // NVRTC appends .json
    if (!in) in.open(dir_ + "/trace");
    if (!in) return Status::NotFound("NVRTC wrote no time trace");
    const nlohmann::json trace = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!trace.is_object() || !trace.contains("traceEvents") || !trace["traceEvents"].is_array()) {
      return Status::Corruption("NVRTC's time trace is not in the expected form");
    }
    std::set<std::string> seen;
    for (const nlohmann::json& event : trace["traceEvents"]) {
      if (!event.is_object() || event.value("name", "") != "Processing Header File") continue;
      const auto args = event.find("args");
      if (args == event.end() || !args->is_object()) continue;
      const std::string file = args->value("detail", "");
      if (!file.empty() && seen.insert(file).second) out->push_back(file);
    }
    return Status::OK();
  }

 private:
  std::string dir_;
};

// One NVRTC program, destroyed with this object.
class ProgramHandle {
 public:
  explicit ProgramHandle(const Library* lib) : lib_(lib) {}
  ~ProgramHandle() {
    if (prog_ != nullptr) lib_->DestroyProgram(&prog_);
  }
  ProgramHandle(const ProgramHandle&) = delete;
  ProgramHandle& operator=(const ProgramHandle&) = delete;

  // Creates and compiles `program` with `extra` options after its own; the
  // log is kept whatever the result. Returns NVRTC's result code.
  nvrtcResult compile(const Program& program, const std::vector<std::string>& extra,
                      std::string* log) {
    std::vector<const char*> header_sources, header_names, options;
    for (const auto& [name, text] : program.headers) {
      header_names.push_back(name.c_str());
      header_sources.push_back(text.c_str());
    }
    const std::string arch_option = "--gpu-architecture=" + program.arch;
    options.push_back(arch_option.c_str());
    for (const std::string& o : program.options) options.push_back(o.c_str());
    for (const std::string& o : extra) options.push_back(o.c_str());
    nvrtcResult rc = lib_->CreateProgram(&prog_, program.source.c_str(), program.name.c_str(),
                                         static_cast<int>(header_names.size()),
                                         header_sources.data(), header_names.data());
    if (rc != 0) return rc;
    if (!program.name_expression.empty()) {
      rc = lib_->AddNameExpression(prog_, program.name_expression.c_str());
      if (rc != 0) return rc;
    }
    rc = lib_->CompileProgram(prog_, static_cast<int>(options.size()), options.data());
    size_t log_size = 0;
    log->clear();
    if (lib_->GetProgramLogSize(prog_, &log_size) == 0 && log_size > 1) {
      log->resize(log_size);
      lib_->GetProgramLog(prog_, log->data());
      log->resize(log_size - 1);  // drop the terminating NUL
    }
    return rc;
  }

  // The PTX, or (for a real architecture) the CUBIN.
  Status binary(bool ptx, const std::string& module, std::string* out) const {
    size_t size = 0;
    nvrtcResult rc = ptx ? lib_->GetPTXSize(prog_, &size) : lib_->GetCUBINSize(prog_, &size);
    if (rc != 0) return Status::InvalidArgument(module + ": " + lib_->GetErrorString(rc));
    out->resize(size);
    rc = ptx ? lib_->GetPTX(prog_, out->data()) : lib_->GetCUBIN(prog_, out->data());
    if (rc != 0) return Status::InvalidArgument(module + ": " + lib_->GetErrorString(rc));
    return Status::OK();
  }

  nvrtcProgram get() const { return prog_; }

 private:
  const Library* lib_;
  nvrtcProgram prog_ = nullptr;
};

// Whether the source, an in-memory header or an option says "include": the
// only ways a compile can read a file from disk.
bool mentions_include(const Program& program) {
  auto says = [](const std::string& text) { return text.find("include") != std::string::npos; };
  if (says(program.source)) return true;
  for (const auto& [name, text] : program.headers) {
    if (says(text)) return true;
  }
  for (const std::string& option : program.options) {
    if (says(option)) return true;
  }
  return false;
}

Status compile_error(const Library& lib, const Program& program, nvrtcResult rc,
                     const std::string& log) {
  const std::string what =
      program.name_expression.empty() ? std::string("the module") : program.name_expression;
  return Status::CompileError(program.name + ": compiling " + what + " for " + program.arch +
                              " failed (" + lib.GetErrorString(rc) + ")" +
                              (log.empty() ? std::string() : ":\n" + log));
}

// The lowered name and the binary of a successful compile.
Status finish(const Library& lib, const ProgramHandle& prog, const Program& program, Output* out) {
  const char* lowered = nullptr;
  const nvrtcResult rc = lib.GetLoweredName(prog.get(), program.name_expression.c_str(), &lowered);
  if (rc != 0 || lowered == nullptr) {
    return Status::CompileError(program.name + ": no kernel named " + program.name_expression);
  }
  out->lowered_name = lowered;
  const bool ptx = program.arch.starts_with("compute_");
  return prog.binary(ptx, program.name, &out->binary);  // PTX keeps its NUL
}

}  // namespace

Status compile(const std::string& path, const Program& program, Output* out) {
  const Library* lib = nullptr;
  Status s = load(path, &lib);
  if (!s.ok()) return s;
  out->version = lib->version;

  // A module that mentions no include (no #include, __has_include or
  // pre-include option) reads nothing from disk: NVRTC's own headers are
  // built in. It needs no trace, which NVRTC 13.0 leaks ~20 KB per compile.
  if (!mentions_include(program)) {
    out->headers_known = true;
    ProgramHandle prog(lib);
    const nvrtcResult rc = prog.compile(program, {}, &out->log);
    if (rc != 0) return compile_error(*lib, program, rc, out->log);
    return finish(*lib, prog, program, out);
  }
  // With a time trace, NVRTC names every header file it read: they decide,
  // with the key, whether a later hit is still this binary.
  TraceDirectory trace;
  const bool tracing = trace.made() && !lib->trace_rejected.load();
  ProgramHandle prog(lib);
  nvrtcResult rc = prog.compile(
      program, tracing ? std::vector<std::string>{trace.option()} : std::vector<std::string>{},
      &out->log);
  if (tracing && rc == kInvalidOption) {
    lib->trace_rejected.store(true);  // NVRTC before 12.8: no time trace
    ProgramHandle plain(lib);
    rc = plain.compile(program, {}, &out->log);
    if (rc != 0) return compile_error(*lib, program, rc, out->log);
    return finish(*lib, plain, program, out);
  }
  if (rc != 0) return compile_error(*lib, program, rc, out->log);
  if (!tracing) {
    out->headers_unknown_reason = trace.made() ? "NVRTC " + lib->version +
                                                     " cannot report the headers a compile reads "
                                                     "(NVRTC 12.8 or later can)"
                                               : std::string(
                                                     "no temporary directory could be made for "
                                                     "NVRTC's time trace (TMPDIR, /tmp, /dev/shm)");
  } else {
    s = trace.headers(&out->headers_read);
    out->headers_known = s.ok();
    if (!s.ok()) out->headers_unknown_reason = s.message();
  }
  return finish(*lib, prog, program, out);
}

Status list_kernels(const std::string& path, const Program& program,
                    std::vector<std::string>* lowered_names) {
  const Library* lib = nullptr;
  Status s = load(path, &lib);
  if (!s.ok()) return s;
  // The PTX of the whole module, for the virtual architecture of the target.
  Program module = program;
  module.name_expression.clear();
  if (module.arch.starts_with("sm_")) module.arch = "compute_" + module.arch.substr(3);
  ProgramHandle prog(lib);
  std::string log;
  const nvrtcResult rc = prog.compile(module, {}, &log);
  if (rc != 0) return compile_error(*lib, module, rc, log);
  std::string ptx;
  s = prog.binary(/*ptx=*/true, module.name, &ptx);
  if (!s.ok()) return s;
  // Each kernel is one ".entry NAME(" line, written by the compiler.
  std::istringstream lines(ptx);
  for (std::string line; std::getline(lines, line);) {
    const size_t entry = line.find(".entry ");
    if (entry == std::string::npos) continue;
    const size_t begin = entry + 7;
    const size_t end = line.find_first_of("( \t", begin);
    std::string name = line.substr(begin, end == std::string::npos ? end : end - begin);
    if (!name.empty() &&
        std::find(lowered_names->begin(), lowered_names->end(), name) == lowered_names->end()) {
      lowered_names->push_back(std::move(name));
    }
  }
  return Status::OK();
}

}  // namespace rtcache::nvrtc
