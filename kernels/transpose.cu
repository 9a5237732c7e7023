// Tiled transposes and permutes through padded shared memory (no bank
// conflicts), plus a NCHW <-> NHWC layout conversion.
#include "common.cuh"

template <typename T, int TILE, int ROWS>
__global__ void transpose_2d(const T* __restrict__ in, T* __restrict__ out, int rows, int cols) {
  __shared__ T tile[TILE][TILE + 1];
  int x = blockIdx.x * TILE + threadIdx.x;
  int y = blockIdx.y * TILE + threadIdx.y;
#pragma unroll
  for (int j = 0; j < TILE; j += ROWS)
    if (x < cols && y + j < rows)
      tile[threadIdx.y + j][threadIdx.x] = in[(long long)(y + j) * cols + x];
  __syncthreads();
  x = blockIdx.y * TILE + threadIdx.x;
  y = blockIdx.x * TILE + threadIdx.y;
#pragma unroll
  for (int j = 0; j < TILE; j += ROWS)
    if (x < rows && y + j < cols)
      out[(long long)(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
}

// Batched transpose of the last two dims of [B, R, C].
template <typename T, int TILE, int ROWS>
__global__ void transpose_batched(const T* __restrict__ in, T* __restrict__ out, int rows,
                                  int cols) {
  __shared__ T tile[TILE][TILE + 1];
  const long long batch_off = (long long)blockIdx.z * rows * cols;
  int x = blockIdx.x * TILE + threadIdx.x;
  int y = blockIdx.y * TILE + threadIdx.y;
#pragma unroll
  for (int j = 0; j < TILE; j += ROWS)
    if (x < cols && y + j < rows)
      tile[threadIdx.y + j][threadIdx.x] = in[batch_off + (long long)(y + j) * cols + x];
  __syncthreads();
  x = blockIdx.y * TILE + threadIdx.x;
  y = blockIdx.x * TILE + threadIdx.y;
#pragma unroll
  for (int j = 0; j < TILE; j += ROWS)
    if (x < rows && y + j < cols)
      out[batch_off + (long long)(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
}

// NCHW -> NHWC with an optional dtype conversion and scale.
template <typename In, typename Out, int TILE>
__global__ void nchw_to_nhwc(const In* __restrict__ in, Out* __restrict__ out, int channels, int hw,
                             float scale) {
  __shared__ float tile[TILE][TILE + 1];
  const long long n_off = (long long)blockIdx.z * channels * hw;
  const int p = blockIdx.x * TILE + threadIdx.x;
  const int c0 = blockIdx.y * TILE;
  for (int c = threadIdx.y; c < TILE; c += blockDim.y)
    if (c0 + c < channels && p < hw)
      tile[c][threadIdx.x] = corpus::to_float(in[n_off + (long long)(c0 + c) * hw + p]) * scale;
  __syncthreads();
  const int c = c0 + threadIdx.x;
  for (int pp = threadIdx.y; pp < TILE; pp += blockDim.y) {
    const int pos = blockIdx.x * TILE + pp;
    if (c < channels && pos < hw)
      out[n_off + (long long)pos * channels + c] = corpus::from_float<Out>(tile[threadIdx.x][pp]);
  }
}

// General 4-D permute by index arithmetic (no tiling), as a fallback kernel.
template <typename T, int P0, int P1, int P2, int P3>
__global__ void permute_4d(const T* __restrict__ in, T* __restrict__ out, int d0, int d1, int d2,
                           int d3) {
  const int dims[4] = {d0, d1, d2, d3};
  const int perm[4] = {P0, P1, P2, P3};
  const long long total = (long long)d0 * d1 * d2 * d3;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
       i += (long long)gridDim.x * blockDim.x) {
    long long rem = i;
    int idx[4];
#pragma unroll
    for (int k = 3; k >= 0; --k) {
      idx[k] = rem % dims[k];
      rem /= dims[k];
    }
    long long o = 0;
#pragma unroll
    for (int k = 0; k < 4; ++k) o = o * dims[perm[k]] + idx[perm[k]];
    out[o] = in[i];
  }
}
