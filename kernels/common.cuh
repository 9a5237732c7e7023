// Shared helpers for the benchmark corpus kernels: type conversion through
// float, warp-level reductions and activation functors. Compiled by NVRTC only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace corpus {

template <typename T>
__device__ __forceinline__ float to_float(T v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ float to_float<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Accumulator type: reduced precision inputs accumulate in float.
template <typename T>
struct Acc {
  using type = float;
};
template <>
struct Acc<double> {
  using type = double;
};

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    T other = __shfl_xor_sync(0xffffffffu, v, offset);
    v = other > v ? other : v;
  }
  return v;
}

// Block-wide sum through shared memory; every thread gets the result.
template <typename T, int BLOCK>
__device__ __forceinline__ T block_sum(T v) {
  __shared__ T partial[BLOCK / 32];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = threadIdx.x < BLOCK / 32 ? partial[threadIdx.x] : T(0);
  if (warp == 0) v = warp_sum(v);
  if (threadIdx.x == 0) partial[0] = v;
  __syncthreads();
  v = partial[0];
  __syncthreads();
  return v;
}

template <typename T, int BLOCK>
__device__ __forceinline__ T block_max(T v) {
  __shared__ T partial[BLOCK / 32];
  v = warp_max(v);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = threadIdx.x < BLOCK / 32 ? partial[threadIdx.x] : T(-1e30);
  if (warp == 0) v = warp_max(v);
  if (threadIdx.x == 0) partial[0] = v;
  __syncthreads();
  v = partial[0];
  __syncthreads();
  return v;
}

// Activations, as used by fused epilogues.
struct Identity {
  __device__ float operator()(float x) const { return x; }
};
struct Relu {
  __device__ float operator()(float x) const { return x > 0.f ? x : 0.f; }
};
struct Gelu {
  __device__ float operator()(float x) const {
    return 0.5f * x * (1.f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
  }
};
struct Silu {
  __device__ float operator()(float x) const { return x / (1.f + __expf(-x)); }
};
struct Sigmoid {
  __device__ float operator()(float x) const { return 1.f / (1.f + __expf(-x)); }
};
struct Tanh {
  __device__ float operator()(float x) const { return tanhf(x); }
};
struct Erf {
  __device__ float operator()(float x) const { return erff(x); }
};
struct Softplus {
  __device__ float operator()(float x) const { return x > 20.f ? x : log1pf(__expf(x)); }
};

}  // namespace corpus
