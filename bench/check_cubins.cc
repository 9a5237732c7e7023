// check_cubins: loads corpus cubins into the CUDA driver, to show that the
// benchmark's values are real, loadable kernels: each cubin as compiled and
// as the benchmark stores it (with its 16-byte nonce appended). Only cubins
// for the GPU's own architecture can load (SASS is not portable across
// architectures); the others are counted as skipped. Needs a GPU and driver;
// libcuda is opened at run time, so building needs only cuda.h.
//
// Usage: check_cubins CORPUS_DIR

#include <cuda.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

namespace fs = std::filesystem;

struct Driver {
  CUresult (*init)(unsigned int);
  CUresult (*device_get)(CUdevice*, int);
  CUresult (*device_get_attribute)(int*, CUdevice_attribute, CUdevice);
  CUresult (*primary_ctx_retain)(CUcontext*, CUdevice);
  CUresult (*ctx_set_current)(CUcontext);
  CUresult (*module_load_data)(CUmodule*, const void*);
  CUresult (*module_get_function_count)(unsigned int*, CUmodule);
  CUresult (*module_unload)(CUmodule);
};

template <typename Fn>
bool resolve(void* library, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(library, name));
  if (*out == nullptr) std::fprintf(stderr, "check_cubins: %s not found in libcuda\n", name);
  return *out != nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  void* library = dlopen("libcuda.so.1", RTLD_NOW);
  if (library == nullptr) {
    std::fprintf(stderr, "check_cubins: cannot open libcuda.so.1: %s\n", dlerror());
    return 1;
  }
  Driver cu;
  if (!resolve(library, "cuInit", &cu.init) || !resolve(library, "cuDeviceGet", &cu.device_get) ||
      !resolve(library, "cuDeviceGetAttribute", &cu.device_get_attribute) ||
      !resolve(library, "cuDevicePrimaryCtxRetain", &cu.primary_ctx_retain) ||
      !resolve(library, "cuCtxSetCurrent", &cu.ctx_set_current) ||
      !resolve(library, "cuModuleLoadData", &cu.module_load_data) ||
      !resolve(library, "cuModuleGetFunctionCount", &cu.module_get_function_count) ||
      !resolve(library, "cuModuleUnload", &cu.module_unload)) {
    return 1;
  }
  CUdevice device;
  CUcontext context;
  int major = 0, minor = 0;
  if (cu.init(0) != CUDA_SUCCESS || cu.device_get(&device, 0) != CUDA_SUCCESS ||
      cu.device_get_attribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device) ||
      cu.device_get_attribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device) ||
      cu.primary_ctx_retain(&context, device) != CUDA_SUCCESS ||
      cu.ctx_set_current(context) != CUDA_SUCCESS) {
    std::fprintf(stderr, "check_cubins: no usable CUDA device\n");
    return 1;
  }
  const std::string own_arch = "_sm_" + std::to_string(major * 10 + minor) + ".cubin";

  const std::vector<fs::path> files = bench::corpus_files(argv[1]);
  size_t loaded = 0, failed = 0, skipped = 0, kernels = 0;
  for (const fs::path& file : files) {
    if (!file.filename().string().ends_with(own_arch)) {
      ++skipped;
      continue;
    }
    const std::string cubin = bundled::read_file(file.string());
    // As the benchmark stores it.
    const std::string with_nonce = cubin + std::string(bench::kNonceBytes, '\x5a');
    for (const std::string* image : {&cubin, &with_nonce}) {
      CUmodule module;
      const CUresult rc = cu.module_load_data(&module, image->data());
      if (rc != CUDA_SUCCESS) {
        ++failed;
        std::fprintf(stderr, "check_cubins: %s%s: load failed (CUresult %d)\n",
                     file.filename().c_str(), image == &cubin ? "" : " + nonce",
                     static_cast<int>(rc));
        continue;
      }
      unsigned int count = 0;
      cu.module_get_function_count(&count, module);
      if (image == &cubin) kernels += count;
      ++loaded;
      cu.module_unload(module);
    }
  }
  std::printf(
      "check_cubins: device sm_%d%d; %zu images loaded (%zu kernels), %zu failed; %zu "
      "cubins for other architectures skipped\n",
      major, minor, loaded, kernels, failed, skipped);
  return failed == 0 && loaded > 0 ? 0 : 1;
}
