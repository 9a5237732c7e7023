// Normalization layers: LayerNorm and RMSNorm forward (row held in registers,
// HIDDEN known at compile time, as a JIT specializes on the model's width)
// and the LayerNorm backward for the input gradient.
#include "common.cuh"

template <typename T, int HIDDEN, int BLOCK, bool RMS>
__global__ void __launch_bounds__(BLOCK)
    norm_forward(const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                 T* __restrict__ y, float* __restrict__ mean_out, float* __restrict__ rstd_out,
                 float eps) {
  constexpr int PER_THREAD = (HIDDEN + BLOCK - 1) / BLOCK;
  const long long off = (long long)blockIdx.x * HIDDEN;
  float vals[PER_THREAD];
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < PER_THREAD; ++k) {
    const int c = threadIdx.x + k * BLOCK;
    vals[k] = c < HIDDEN ? corpus::to_float(x[off + c]) : 0.f;
    sum += vals[k];
  }
  float mean = 0.f;
  if (!RMS) mean = corpus::block_sum<float, BLOCK>(sum) / HIDDEN;
  float var = 0.f;
#pragma unroll
  for (int k = 0; k < PER_THREAD; ++k) {
    const int c = threadIdx.x + k * BLOCK;
    const float d = c < HIDDEN ? vals[k] - mean : 0.f;
    var += d * d;
  }
  var = corpus::block_sum<float, BLOCK>(var) / HIDDEN;
  const float rstd = rsqrtf(var + eps);
#pragma unroll
  for (int k = 0; k < PER_THREAD; ++k) {
    const int c = threadIdx.x + k * BLOCK;
    if (c < HIDDEN) {
      float v = (vals[k] - mean) * rstd * corpus::to_float(gamma[c]);
      if (!RMS) v += corpus::to_float(beta[c]);
      y[off + c] = corpus::from_float<T>(v);
    }
  }
  if (threadIdx.x == 0) {
    if (mean_out) mean_out[blockIdx.x] = mean;
    rstd_out[blockIdx.x] = rstd;
  }
}

template <typename T, int HIDDEN, int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    layernorm_backward_input(const T* __restrict__ dy, const T* __restrict__ x,
                             const T* __restrict__ gamma, const float* __restrict__ mean,
                             const float* __restrict__ rstd, T* __restrict__ dx) {
  constexpr int PER_THREAD = (HIDDEN + BLOCK - 1) / BLOCK;
  const long long off = (long long)blockIdx.x * HIDDEN;
  const float mu = mean[blockIdx.x];
  const float rs = rstd[blockIdx.x];
  float xhat[PER_THREAD], g[PER_THREAD];
  float sum_g = 0.f, sum_gx = 0.f;
#pragma unroll
  for (int k = 0; k < PER_THREAD; ++k) {
    const int c = threadIdx.x + k * BLOCK;
    if (c < HIDDEN) {
      xhat[k] = (corpus::to_float(x[off + c]) - mu) * rs;
      g[k] = corpus::to_float(dy[off + c]) * corpus::to_float(gamma[c]);
    } else {
      xhat[k] = 0.f;
      g[k] = 0.f;
    }
    sum_g += g[k];
    sum_gx += g[k] * xhat[k];
  }
  sum_g = corpus::block_sum<float, BLOCK>(sum_g);
  sum_gx = corpus::block_sum<float, BLOCK>(sum_gx);
#pragma unroll
  for (int k = 0; k < PER_THREAD; ++k) {
    const int c = threadIdx.x + k * BLOCK;
    if (c < HIDDEN)
      dx[off + c] = corpus::from_float<T>(rs * (g[k] - (sum_g + xhat[k] * sum_gx) / HIDDEN));
  }
}

// Parameter gradients: column sums over rows of dy*xhat and dy.
template <typename T, int BLOCK_X, int ROWS_PER_BLOCK>
__global__ void layernorm_backward_params(const T* __restrict__ dy, const T* __restrict__ x,
                                          const float* __restrict__ mean,
                                          const float* __restrict__ rstd,
                                          float* __restrict__ dgamma_partial,
                                          float* __restrict__ dbeta_partial, int rows, int hidden) {
  const int c = blockIdx.x * BLOCK_X + threadIdx.x;
  if (c >= hidden) return;
  float dg = 0.f, db = 0.f;
  const int r0 = blockIdx.y * ROWS_PER_BLOCK;
#pragma unroll 4
  for (int r = r0; r < r0 + ROWS_PER_BLOCK && r < rows; ++r) {
    const long long i = (long long)r * hidden + c;
    const float d = corpus::to_float(dy[i]);
    dg += d * (corpus::to_float(x[i]) - mean[r]) * rstd[r];
    db += d;
  }
  dgamma_partial[(long long)blockIdx.y * hidden + c] = dg;
  dbeta_partial[(long long)blockIdx.y * hidden + c] = db;
}
