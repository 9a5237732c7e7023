// Softmax variants: a warp per row with the row held in registers (small
// rows), a block per row with an online max/sum pass (large rows), and the
// backward pass. COLS_PER_THREAD is unrolled, so each size is its own kernel.
#include "common.cuh"

template <typename T, int COLS_PER_THREAD, bool LOG_SOFTMAX>
__global__ void softmax_warp_rows(const T* __restrict__ in, T* __restrict__ out, int rows, int cols,
                                  float scale) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const T* src = in + (long long)row * cols;
  T* dst = out + (long long)row * cols;
  float vals[COLS_PER_THREAD];
  float row_max = -1e30f;
#pragma unroll
  for (int k = 0; k < COLS_PER_THREAD; ++k) {
    const int c = lane + k * 32;
    vals[k] = c < cols ? corpus::to_float(src[c]) * scale : -1e30f;
    row_max = fmaxf(row_max, vals[k]);
  }
  row_max = corpus::warp_max(row_max);
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < COLS_PER_THREAD; ++k) {
    vals[k] = __expf(vals[k] - row_max);
    sum += vals[k];
  }
  sum = corpus::warp_sum(sum);
  const float inv = 1.f / sum;
  const float log_sum = __logf(sum);
#pragma unroll
  for (int k = 0; k < COLS_PER_THREAD; ++k) {
    const int c = lane + k * 32;
    if (c < cols) {
      const float y = LOG_SOFTMAX ? __logf(vals[k]) - log_sum : vals[k] * inv;
      dst[c] = corpus::from_float<T>(y);
    }
  }
}

// Online softmax (one pass for max and sum), a block per row.
template <typename T, int BLOCK, int VEC>
__global__ void __launch_bounds__(BLOCK)
    softmax_block_rows(const T* __restrict__ in, T* __restrict__ out, int cols, float scale) {
  const T* src = in + (long long)blockIdx.x * cols;
  T* dst = out + (long long)blockIdx.x * cols;
  float m = -1e30f, s = 0.f;
  for (int base = threadIdx.x * VEC; base < cols; base += BLOCK * VEC) {
#pragma unroll
    for (int v = 0; v < VEC; ++v) {
      if (base + v < cols) {
        const float x = corpus::to_float(src[base + v]) * scale;
        const float new_m = fmaxf(m, x);
        s = s * __expf(m - new_m) + __expf(x - new_m);
        m = new_m;
      }
    }
  }
  const float block_m = corpus::block_max<float, BLOCK>(m);
  s *= __expf(m - block_m);
  const float block_s = corpus::block_sum<float, BLOCK>(s);
  const float inv = 1.f / block_s;
  for (int base = threadIdx.x * VEC; base < cols; base += BLOCK * VEC) {
#pragma unroll
    for (int v = 0; v < VEC; ++v)
      if (base + v < cols)
        dst[base + v] =
            corpus::from_float<T>(__expf(corpus::to_float(src[base + v]) * scale - block_m) * inv);
  }
}

// dx = y * (dy - sum(dy * y)), a block per row.
template <typename T, int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    softmax_backward(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx,
                     int cols) {
  const long long off = (long long)blockIdx.x * cols;
  float dot = 0.f;
  for (int c = threadIdx.x; c < cols; c += BLOCK)
    dot += corpus::to_float(y[off + c]) * corpus::to_float(dy[off + c]);
  dot = corpus::block_sum<float, BLOCK>(dot);
  for (int c = threadIdx.x; c < cols; c += BLOCK) {
    const float yv = corpus::to_float(y[off + c]);
    dx[off + c] = corpus::from_float<T>(yv * (corpus::to_float(dy[off + c]) - dot));
  }
}

// Causal masked softmax over attention scores [batch*heads, q, k].
template <typename T, int COLS_PER_THREAD>
__global__ void causal_softmax(const T* __restrict__ scores, T* __restrict__ probs, int q_len,
                               int k_len, float scale) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  const int q = row % q_len;
  const long long off = (long long)row * k_len;
  float vals[COLS_PER_THREAD];
  float m = -1e30f;
#pragma unroll
  for (int k = 0; k < COLS_PER_THREAD; ++k) {
    const int c = lane + 32 * k;
    const bool visible = c < k_len && c <= q + (k_len - q_len);
    vals[k] = visible ? corpus::to_float(scores[off + c]) * scale : -1e30f;
    m = fmaxf(m, vals[k]);
  }
  m = corpus::warp_max(m);
  float s = 0.f;
#pragma unroll
  for (int k = 0; k < COLS_PER_THREAD; ++k) {
    vals[k] = vals[k] <= -1e29f ? 0.f : __expf(vals[k] - m);
    s += vals[k];
  }
  s = corpus::warp_sum(s);
#pragma unroll
  for (int k = 0; k < COLS_PER_THREAD; ++k) {
    const int c = lane + 32 * k;
    if (c < k_len) probs[off + c] = corpus::from_float<T>(vals[k] / s);
  }
}
