// A small CUDA C++ module used by the engine tests and their child process.
#pragma once

namespace rtcache::testing {

inline constexpr const char* kTestModule = R"CUDA(
template <typename T>
__global__ void scale(T* x, T factor, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= factor;
}

template <typename T, int kUnroll>
__global__ void axpy(const T* x, T* y, T a, int n) {
  int base = (blockIdx.x * blockDim.x + threadIdx.x) * kUnroll;
#pragma unroll
  for (int k = 0; k < kUnroll; ++k) {
    if (base + k < n) y[base + k] += a * x[base + k];
  }
}

extern "C" __global__ void vector_add(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) c[i] = a[i] + b[i];
}
)CUDA";

inline constexpr const char* kTestKernels[] = {
    "scale<float>",   "scale<double>",   "scale<int>", "axpy<float, 1>",
    "axpy<float, 4>", "axpy<double, 2>", "vector_add",
};

// A module that reads a header file through an include path (-I DIR):
// "params.h" there defines NUM_STEPS (the cuda-samples binomialOptions case,
// where an edited NUM_STEPS must give a new binary).
inline constexpr const char* kIncludingModule = R"CUDA(
#include "params.h"
extern "C" __global__ void steps(int* out) { out[0] = NUM_STEPS; }
)CUDA";

}  // namespace rtcache::testing
