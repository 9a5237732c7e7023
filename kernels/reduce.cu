// Reductions: row-wise sum/max/mean with a block per row, and a two-pass
// global reduction with a grid-stride first pass.
#include "common.cuh"

namespace corpus {
struct SumReduce {
  template <typename A>
  __device__ A identity() const {
    return A(0);
  }
  template <typename A>
  __device__ A combine(A a, A b) const {
    return a + b;
  }
};
struct MaxReduce {
  template <typename A>
  __device__ A identity() const {
    return A(-1e30);
  }
  template <typename A>
  __device__ A combine(A a, A b) const {
    return a > b ? a : b;
  }
};
struct SumSquares {
  template <typename A>
  __device__ A identity() const {
    return A(0);
  }
  template <typename A>
  __device__ A combine(A a, A b) const {
    return a + b;
  }
  template <typename A>
  __device__ A map(A x) const {
    return x * x;
  }
};

template <typename A, typename R, int BLOCK>
__device__ __forceinline__ A block_reduce(A v, R r) {
  __shared__ A partial[BLOCK / 32];
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = r.template combine<A>(v, __shfl_xor_sync(0xffffffffu, v, offset));
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < BLOCK / 32 ? partial[threadIdx.x] : r.template identity<A>();
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1)
      v = r.template combine<A>(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}
}  // namespace corpus

// One block per row; ITEMS elements per thread per pass, loads unrolled.
template <typename T, typename R, int BLOCK, int ITEMS>
__global__ void __launch_bounds__(BLOCK)
    row_reduce(const T* __restrict__ in, T* __restrict__ out, int cols, float post_scale) {
  using A = typename corpus::Acc<T>::type;
  R r;
  const T* row = in + (long long)blockIdx.x * cols;
  A acc = r.template identity<A>();
  for (int base = threadIdx.x * ITEMS; base < cols; base += BLOCK * ITEMS) {
    A vals[ITEMS];
#pragma unroll
    for (int k = 0; k < ITEMS; ++k)
      vals[k] = base + k < cols ? (A)corpus::to_float(row[base + k]) : r.template identity<A>();
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) acc = r.template combine<A>(acc, vals[k]);
  }
  acc = corpus::block_reduce<A, R, BLOCK>(acc, r);
  if (threadIdx.x == 0) out[blockIdx.x] = corpus::from_float<T>((float)acc * post_scale);
}

// Column reduction: each thread owns a column, the block strides over rows.
template <typename T, int BLOCK_X, int BLOCK_Y>
__global__ void col_sum(const T* __restrict__ in, T* __restrict__ out, int rows, int cols) {
  using A = typename corpus::Acc<T>::type;
  __shared__ A tile[BLOCK_Y][BLOCK_X + 1];
  const int col = blockIdx.x * BLOCK_X + threadIdx.x;
  A acc = 0;
  if (col < cols)
    for (int r = threadIdx.y; r < rows; r += BLOCK_Y)
      acc += corpus::to_float(in[(long long)r * cols + col]);
  tile[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
#pragma unroll
  for (int s = BLOCK_Y / 2; s > 0; s >>= 1) {
    if (threadIdx.y < s) tile[threadIdx.y][threadIdx.x] += tile[threadIdx.y + s][threadIdx.x];
    __syncthreads();
  }
  if (threadIdx.y == 0 && col < cols) out[col] = corpus::from_float<T>((float)tile[0][threadIdx.x]);
}

// First pass of a global sum: grid-stride accumulate, one partial per block.
template <typename T, int BLOCK, int VEC>
__global__ void __launch_bounds__(BLOCK)
    global_sum_pass1(const T* __restrict__ in, float* __restrict__ partials, long long n) {
  float acc = 0.f;
  for (long long i = ((long long)blockIdx.x * BLOCK + threadIdx.x) * VEC; i < n;
       i += (long long)gridDim.x * BLOCK * VEC) {
#pragma unroll
    for (int v = 0; v < VEC; ++v)
      if (i + v < n) acc += corpus::to_float(in[i + v]);
  }
  acc = corpus::block_reduce<float, corpus::SumReduce, BLOCK>(acc, corpus::SumReduce());
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Arg-max per row (value and index), used by greedy sampling.
template <typename T, int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    row_argmax(const T* __restrict__ in, int* __restrict__ idx, float* __restrict__ val, int cols) {
  __shared__ float best_val[BLOCK];
  __shared__ int best_idx[BLOCK];
  const T* row = in + (long long)blockIdx.x * cols;
  float bv = -1e30f;
  int bi = 0;
  for (int c = threadIdx.x; c < cols; c += BLOCK) {
    float v = corpus::to_float(row[c]);
    if (v > bv) {
      bv = v;
      bi = c;
    }
  }
  best_val[threadIdx.x] = bv;
  best_idx[threadIdx.x] = bi;
  __syncthreads();
#pragma unroll
  for (int s = BLOCK / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s && best_val[threadIdx.x + s] > best_val[threadIdx.x]) {
      best_val[threadIdx.x] = best_val[threadIdx.x + s];
      best_idx[threadIdx.x] = best_idx[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    idx[blockIdx.x] = best_idx[0];
    val[blockIdx.x] = best_val[0];
  }
}
