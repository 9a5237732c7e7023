// Elementwise kernels as a JIT fuser emits them: unary/binary maps, fused
// bias + activation, and a vectorized grid-stride loop.
#include "common.cuh"

namespace corpus {

struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MulOp {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct SubOp {
  __device__ float operator()(float a, float b) const { return a - b; }
};
struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct PowOp {
  __device__ float operator()(float a, float b) const { return powf(fabsf(a), b); }
};

}  // namespace corpus

// Unary map with VEC elements per thread per iteration (grid-stride).
template <typename T, typename Op, int VEC>
__global__ void unary_map(const T* __restrict__ in, T* __restrict__ out, long long n) {
  Op op;
  const long long stride = (long long)gridDim.x * blockDim.x * VEC;
  for (long long base = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * VEC; base < n;
       base += stride) {
    if (base + VEC <= n) {
      T vals[VEC];
#pragma unroll
      for (int v = 0; v < VEC; ++v) vals[v] = in[base + v];
#pragma unroll
      for (int v = 0; v < VEC; ++v) vals[v] = corpus::from_float<T>(op(corpus::to_float(vals[v])));
#pragma unroll
      for (int v = 0; v < VEC; ++v) out[base + v] = vals[v];
    } else {
      for (long long i = base; i < n; ++i)
        out[i] = corpus::from_float<T>(op(corpus::to_float(in[i])));
    }
  }
}

// Binary map with broadcasting of b along the inner dimension.
template <typename T, typename Op, int VEC, bool BROADCAST_B>
__global__ void binary_map(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ out,
                           long long n, int inner) {
  Op op;
  const long long stride = (long long)gridDim.x * blockDim.x * VEC;
  for (long long base = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * VEC; base < n;
       base += stride) {
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      const long long i = base + v;
      if (i < n) {
        const long long j = BROADCAST_B ? i % inner : i;
        out[i] = corpus::from_float<T>(op(corpus::to_float(a[i]), corpus::to_float(b[j])));
      }
    }
  }
}

// out = act(x * scale + bias[col]) + residual, the epilogue of a linear layer.
template <typename T, typename Act, bool HAS_RESIDUAL>
__global__ void bias_act(const T* __restrict__ x, const T* __restrict__ bias,
                         const T* __restrict__ residual, T* __restrict__ out, int rows, int cols,
                         float scale) {
  Act act;
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
      const long long i = (long long)r * cols + c;
      float v = act(corpus::to_float(x[i]) * scale + corpus::to_float(bias[c]));
      if (HAS_RESIDUAL) v += corpus::to_float(residual[i]);
      out[i] = corpus::from_float<T>(v);
    }
  }
}

// A fused chain of four ops, the kind of kernel a graph fuser produces.
template <typename T, typename Op1, typename Op2, typename Act>
__global__ void fused_chain(const T* __restrict__ a, const T* __restrict__ b,
                            const T* __restrict__ c, T* __restrict__ out, long long n,
                            float alpha) {
  Op1 op1;
  Op2 op2;
  Act act;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    float t = op1(corpus::to_float(a[i]), corpus::to_float(b[i]));
    t = op2(t, corpus::to_float(c[i]) * alpha);
    out[i] = corpus::from_float<T>(act(t));
  }
}

// Dtype cast with clamping, used at graph boundaries.
template <typename In, typename Out>
__global__ void cast_clamp(const In* __restrict__ in, Out* __restrict__ out, long long n, float lo,
                           float hi) {
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    out[i] = corpus::from_float<Out>(fminf(fmaxf(corpus::to_float(in[i]), lo), hi));
  }
}
