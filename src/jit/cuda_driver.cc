// The CUDA driver API, loaded with dlopen (never linked).
#include <dlfcn.h>

#include <mutex>

#include "rtcache/cuda.h"

namespace rtcache {

// The subset of cuda.h used here, declared locally so that rtcache builds and
// runs without the driver.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;

struct CudaDriver::Api {
  CUresult (*Init)(unsigned) = nullptr;
  CUresult (*DeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*DeviceGetAttribute)(int*, int, CUdevice) = nullptr;
  CUresult (*DeviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*DevicePrimaryCtxRetain)(void**, CUdevice) = nullptr;
  CUresult (*CtxSetCurrent)(void*) = nullptr;
  CUresult (*CtxSynchronize)() = nullptr;
  CUresult (*ModuleLoadData)(void**, const void*) = nullptr;
  CUresult (*ModuleGetFunction)(void**, void*, const char*) = nullptr;
  CUresult (*LaunchKernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, void*, void**, void**) = nullptr;
  CUresult (*MemAlloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*MemFree)(CUdeviceptr) = nullptr;
  CUresult (*MemcpyHtoD)(CUdeviceptr, const void*, size_t) = nullptr;
  CUresult (*MemcpyDtoH)(void*, CUdeviceptr, size_t) = nullptr;
  CUresult (*GetErrorString)(CUresult, const char**) = nullptr;
};

namespace {

constexpr int kComputeCapabilityMajor = 75;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
constexpr int kComputeCapabilityMinor = 76;

template <typename Fn>
bool bind(void* handle, const char* name, Fn* fn) {
  *fn = reinterpret_cast<Fn>(dlsym(handle, name));
  return *fn != nullptr;
}

}  // namespace

static Status cuda_error(CudaDriver::Api* api, CUresult rc, const std::string& what) {
  const char* text = nullptr;
  if (api && api->GetErrorString) api->GetErrorString(rc, &text);
  return Status::IOError("CUDA driver: " + what + ": " +
                         (text ? text : "error " + std::to_string(rc)));
}

Status CudaDriver::get(CudaDriver** driver) {
  static std::once_flag once;
  static Status status;
  static CudaDriver* instance = nullptr;  // never destroyed: the context outlives static teardown
  std::call_once(once, [] {
    void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      status = Status::NotSupported(std::string("no CUDA driver (libcuda.so.1): ") +
                                    (why ? why : "not found") +
                                    "; kernels can be compiled and "
                                    "cached but not loaded on this machine");
      return;
    }
    auto* api = new Api();
    bool ok = bind(handle, "cuInit", &api->Init) && bind(handle, "cuDeviceGet", &api->DeviceGet) &&
              bind(handle, "cuDeviceGetAttribute", &api->DeviceGetAttribute) &&
              bind(handle, "cuDeviceGetName", &api->DeviceGetName) &&
              bind(handle, "cuDevicePrimaryCtxRetain", &api->DevicePrimaryCtxRetain) &&
              bind(handle, "cuCtxSetCurrent", &api->CtxSetCurrent) &&
              bind(handle, "cuCtxSynchronize", &api->CtxSynchronize) &&
              bind(handle, "cuModuleLoadData", &api->ModuleLoadData) &&
              bind(handle, "cuModuleGetFunction", &api->ModuleGetFunction) &&
              bind(handle, "cuLaunchKernel", &api->LaunchKernel) &&
              bind(handle, "cuMemAlloc_v2", &api->MemAlloc) &&
              bind(handle, "cuMemFree_v2", &api->MemFree) &&
              bind(handle, "cuMemcpyHtoD_v2", &api->MemcpyHtoD) &&
              bind(handle, "cuMemcpyDtoH_v2", &api->MemcpyDtoH) &&
              bind(handle, "cuGetErrorString", &api->GetErrorString);
    if (!ok) {
      status = Status::NotSupported("libcuda.so.1 lacks a driver API function rtcache needs");
      return;
    }
    CUresult rc = api->Init(0);
    if (rc != 0) {
      status = cuda_error(api, rc, "cuInit (no usable GPU?)");
      status = Status::NotSupported(status.message());
      return;
    }
    CUdevice device = 0;
    if ((rc = api->DeviceGet(&device, 0)) != 0) {
      status = Status::NotSupported(cuda_error(api, rc, "no device 0").message());
      return;
    }
    auto* d = new CudaDriver();
    d->api_ = api;
    int major = 0, minor = 0;
    api->DeviceGetAttribute(&major, kComputeCapabilityMajor, device);
    api->DeviceGetAttribute(&minor, kComputeCapabilityMinor, device);
    d->arch_ = "sm_" + std::to_string(major) + std::to_string(minor);
    char name[256] = {};
    api->DeviceGetName(name, sizeof name, device);
    d->name_ = name;
    if ((rc = api->DevicePrimaryCtxRetain(&d->context_, device)) != 0) {
      status = cuda_error(api, rc, "cuDevicePrimaryCtxRetain");
      return;
    }
    instance = d;
  });
  if (!status.ok()) return status;
  *driver = instance;
  return Status::OK();
}

Status CudaDriver::make_current() {
  CUresult rc = api_->CtxSetCurrent(context_);
  return rc == 0 ? Status::OK() : cuda_error(api_, rc, "cuCtxSetCurrent");
}

Status CudaDriver::load(const Kernel& kernel, CudaFunction* function) {
  Status s = make_current();
  if (!s.ok()) return s;
  if (kernel.binary.empty() || kernel.lowered_name.empty()) {
    return Status::InvalidArgument("CUDA driver: kernel has no binary or name");
  }
  // PTX must be NUL-terminated for cuModuleLoadData; a CUBIN is taken as is.
  std::string image = kernel.binary.str();
  image.push_back('\0');
  CUresult rc = api_->ModuleLoadData(&function->module, image.data());
  if (rc != 0) return cuda_error(api_, rc, "loading " + kernel.lowered_name);
  rc = api_->ModuleGetFunction(&function->function, function->module, kernel.lowered_name.c_str());
  if (rc != 0) return cuda_error(api_, rc, "finding " + kernel.lowered_name);
  return Status::OK();
}

Status CudaDriver::launch(const CudaFunction& f, Dim3 grid, Dim3 block, unsigned shared_bytes,
                          void** args) {
  Status s = make_current();
  if (!s.ok()) return s;
  CUresult rc = api_->LaunchKernel(f.function, grid.x, grid.y, grid.z, block.x, block.y, block.z,
                                   shared_bytes, nullptr, args, nullptr);
  return rc == 0 ? Status::OK() : cuda_error(api_, rc, "cuLaunchKernel");
}

Status CudaDriver::synchronize() {
  Status s = make_current();
  if (!s.ok()) return s;
  CUresult rc = api_->CtxSynchronize();
  return rc == 0 ? Status::OK() : cuda_error(api_, rc, "cuCtxSynchronize");
}

Status CudaDriver::allocate(size_t bytes, uint64_t* device_ptr) {
  Status s = make_current();
  if (!s.ok()) return s;
  CUdeviceptr p = 0;
  CUresult rc = api_->MemAlloc(&p, bytes);
  *device_ptr = p;
  return rc == 0 ? Status::OK() : cuda_error(api_, rc, "cuMemAlloc");
}

Status CudaDriver::free(uint64_t device_ptr) {
  Status s = make_current();
  if (!s.ok()) return s;
  CUresult rc = api_->MemFree(device_ptr);
  return rc == 0 ? Status::OK() : cuda_error(api_, rc, "cuMemFree");
}

Status CudaDriver::copy_to_device(uint64_t device_ptr, const void* host, size_t bytes) {
  Status s = make_current();
  if (!s.ok()) return s;
  CUresult rc = api_->MemcpyHtoD(device_ptr, host, bytes);
  return rc == 0 ? Status::OK() : cuda_error(api_, rc, "cuMemcpyHtoD");
}

Status CudaDriver::copy_to_host(void* host, uint64_t device_ptr, size_t bytes) {
  Status s = make_current();
  if (!s.ok()) return s;
  CUresult rc = api_->MemcpyDtoH(host, device_ptr, bytes);
  return rc == 0 ? Status::OK() : cuda_error(api_, rc, "cuMemcpyDtoH");
}

}  // namespace rtcache
