// Tiled GEMM, C = epilogue(alpha * A * B + beta * C), with a shared-memory
// tile of BM x BN x BK and a TM x TN register micro-tile per thread (fully
// unrolled, which is what makes GEMM cubins large). Row-major A [M,K], B [K,N].
#include "common.cuh"

template <typename T, int BM, int BN, int BK, int TM, int TN, typename Act, bool TRANS_B>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    gemm_tiled(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
               const T* __restrict__ bias, int M, int N, int K, float alpha, float beta) {
  constexpr int THREADS = (BM / TM) * (BN / TN);
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  Act act;
  const int tid = threadIdx.x;
  const int tx = tid % (BN / TN);
  const int ty = tid / (BN / TN);
  const int block_row = blockIdx.y * BM;
  const int block_col = blockIdx.x * BN;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

  for (int k0 = 0; k0 < K; k0 += BK) {
    // Cooperative loads of the A and B tiles, transposing A into As.
#pragma unroll
    for (int i = tid; i < BM * BK; i += THREADS) {
      const int r = i / BK, c = i % BK;
      const int gr = block_row + r, gc = k0 + c;
      As[c][r] = (gr < M && gc < K) ? corpus::to_float(A[(long long)gr * K + gc]) : 0.f;
    }
#pragma unroll
    for (int i = tid; i < BK * BN; i += THREADS) {
      const int r = i / BN, c = i % BN;
      const int gr = k0 + r, gc = block_col + c;
      float v = 0.f;
      if (gr < K && gc < N)
        v = corpus::to_float(TRANS_B ? B[(long long)gc * K + gr] : B[(long long)gr * N + gc]);
      Bs[r][c] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a_frag[TM], b_frag[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a_frag[i] = As[kk][ty * TM + i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b_frag[j] = Bs[kk][tx * TN + j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a_frag[i], b_frag[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int r = block_row + ty * TM + i;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int c = block_col + tx * TN + j;
      if (r < M && c < N) {
        const long long idx = (long long)r * N + c;
        float v = alpha * acc[i][j];
        if (beta != 0.f) v += beta * corpus::to_float(C[idx]);
        if (bias) v += corpus::to_float(bias[c]);
        C[idx] = corpus::from_float<T>(act(v));
      }
    }
  }
}

// Batched GEMV (decode-time matmul): y[b] = A[b] x[b], a warp per output row.
template <typename T, int VEC, int ROWS_PER_BLOCK>
__global__ void batched_gemv(const T* __restrict__ A, const T* __restrict__ x, T* __restrict__ y,
                             int rows, int cols) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int row = blockIdx.x * ROWS_PER_BLOCK + warp;
  const long long batch = blockIdx.y;
  if (row >= rows) return;
  const T* a = A + (batch * rows + row) * (long long)cols;
  const T* xv = x + batch * cols;
  float acc = 0.f;
  for (int c = lane * VEC; c < cols; c += 32 * VEC) {
#pragma unroll
    for (int v = 0; v < VEC; ++v)
      if (c + v < cols) acc += corpus::to_float(a[c + v]) * corpus::to_float(xv[c + v]);
  }
  acc = corpus::warp_sum(acc);
  if (lane == 0) y[batch * rows + row] = corpus::from_float<T>(acc);
}
