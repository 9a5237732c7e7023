// rtcache::CudaDriver -- loading and launching compiled kernels on a GPU
// through the CUDA driver API.
//
// The driver (libcuda.so.1) exists only on machines with an NVIDIA GPU, so it
// is loaded at run time and never linked: on other machines everything else
// in rtcache works, and CudaDriver::get() says clearly why it cannot load.
// The driver uses device 0's primary context, made current on each calling
// thread by the functions here.
//
// Thread safety: CudaDriver::get() and every member may be called from many
// threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "rtcache/engine.h"
#include "rtcache/export.h"
#include "rtcache/status.h"

namespace rtcache {

struct CudaFunction {
  void* function = nullptr;  // CUfunction
  void* module = nullptr;    // CUmodule (kept loaded for the process)
};

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

class RTCACHE_EXPORT CudaDriver {
 public:
  // The process-wide driver, loaded and initialised on first use.
  // NotSupported naming the reason when there is no driver or no GPU.
  static Status get(CudaDriver** driver);

  // "sm_90" for the device in use: the architecture to compile for.
  const std::string& device_arch() const { return arch_; }
  const std::string& device_name() const { return name_; }

  // Loads a CUBIN or PTX image and finds the kernel's function in it.
  Status load(const Kernel& kernel, CudaFunction* function);
  Status launch(const CudaFunction& function, Dim3 grid, Dim3 block, unsigned shared_bytes,
                void** args);
  Status synchronize();

  Status allocate(size_t bytes, uint64_t* device_ptr);
  Status free(uint64_t device_ptr);
  Status copy_to_device(uint64_t device_ptr, const void* host, size_t bytes);
  Status copy_to_host(void* host, uint64_t device_ptr, size_t bytes);

  struct Api;

 private:
  CudaDriver() = default;
  Status make_current();
  Api* api_ = nullptr;
  void* context_ = nullptr;
  std::string arch_;
  std::string name_;
};

}  // namespace rtcache
