#include "jit/nvrtc.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

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

}  // namespace

Status locate(const std::string& configured, std::string* path, std::string* identity) {
  std::vector<std::string> candidates;
  if (!configured.empty()) candidates.push_back(configured);
  if (const char* env = std::getenv("RTCACHE_NVRTC"); env && *env) candidates.emplace_back(env);
  if (const char* home = std::getenv("CUDA_HOME"); home && *home) {
    candidates.push_back(std::string(home) + "/lib64/libnvrtc.so");
  }
  candidates.emplace_back("/usr/local/cuda/lib64/libnvrtc.so");
  for (const std::string& candidate : candidates) {
    struct stat st;
    if (!stat_file(candidate, &st)) {
      if (&candidate == &candidates.front() && !configured.empty()) {
        return Status::NotSupported("NVRTC not found at " + configured);
      }
      continue;
    }
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
  std::string looked;
  for (const std::string& c : candidates) looked += (looked.empty() ? "" : ", ") + c;
  return Status::NotSupported("NVRTC not found (looked at " + looked + ")");
}

Status compile(const std::string& path, const Program& program, Output* out) {
  const Library* lib = nullptr;
  Status s = load(path, &lib);
  if (!s.ok()) return s;
  out->version = lib->version;
  std::vector<const char*> header_sources, header_names, options;
  for (const auto& [name, text] : program.headers) {
    header_names.push_back(name.c_str());
    header_sources.push_back(text.c_str());
  }
  const std::string arch_option = "--gpu-architecture=" + program.arch;
  options.push_back(arch_option.c_str());
  for (const std::string& o : program.options) options.push_back(o.c_str());

  nvrtcProgram prog = nullptr;
  nvrtcResult rc = lib->CreateProgram(&prog, program.source.c_str(), program.name.c_str(),
                                      static_cast<int>(header_names.size()), header_sources.data(),
                                      header_names.data());
  if (rc != 0) return Status::CompileError(program.name + ": " + lib->GetErrorString(rc));
  struct Destroy {
    const Library* lib;
    nvrtcProgram* prog;
    ~Destroy() { lib->DestroyProgram(prog); }
  } destroy{lib, &prog};

  rc = lib->AddNameExpression(prog, program.name_expression.c_str());
  if (rc != 0) return Status::CompileError(program.name + ": " + lib->GetErrorString(rc));
  nvrtcResult compiled =
      lib->CompileProgram(prog, static_cast<int>(options.size()), options.data());
  size_t log_size = 0;
  if (lib->GetProgramLogSize(prog, &log_size) == 0 && log_size > 1) {
    out->log.resize(log_size);
    lib->GetProgramLog(prog, out->log.data());
    out->log.resize(log_size - 1);  // drop the terminating NUL
  }
  if (compiled != 0) {
    return Status::CompileError(program.name + ": compiling " + program.name_expression + " for " +
                                program.arch + " failed (" + lib->GetErrorString(compiled) +
                                "):\n" + out->log);
  }
  const char* lowered = nullptr;
  rc = lib->GetLoweredName(prog, program.name_expression.c_str(), &lowered);
  if (rc != 0 || lowered == nullptr) {
    return Status::CompileError(program.name + ": no kernel named " + program.name_expression);
  }
  out->lowered_name = lowered;
  const bool ptx = program.arch.starts_with("compute_");
  size_t size = 0;
  rc = ptx ? lib->GetPTXSize(prog, &size) : lib->GetCUBINSize(prog, &size);
  if (rc != 0) return Status::InvalidArgument(program.name + ": " + lib->GetErrorString(rc));
  out->binary.resize(size);
  rc = ptx ? lib->GetPTX(prog, out->binary.data()) : lib->GetCUBIN(prog, out->binary.data());
  if (rc != 0) return Status::InvalidArgument(program.name + ": " + lib->GetErrorString(rc));
  return Status::OK();
}

}  // namespace rtcache::nvrtc
