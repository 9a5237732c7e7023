#include "jit/nvrtc.h"

#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
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
