// A tiled attention forward (flash-attention style: online softmax over key
// blocks, O accumulated in registers). HEAD_DIM and the tile sizes are
// template parameters, as a JIT specializes them per model.
#include "common.cuh"

template <typename T, int HEAD_DIM, int BLOCK_Q, int BLOCK_K, bool CAUSAL>
__global__ void __launch_bounds__(BLOCK_Q)
    attention_fwd(const T* __restrict__ Q, const T* __restrict__ K, const T* __restrict__ V,
                  T* __restrict__ O, int seq_len, float scale) {
  __shared__ float k_tile[BLOCK_K][HEAD_DIM + 1];
  __shared__ float v_tile[BLOCK_K][HEAD_DIM + 1];
  const long long head_off = (long long)blockIdx.y * seq_len * HEAD_DIM;
  const int q_row = blockIdx.x * BLOCK_Q + threadIdx.x;
  float q[HEAD_DIM], o[HEAD_DIM];
#pragma unroll
  for (int d = 0; d < HEAD_DIM; ++d) {
    q[d] = q_row < seq_len ? corpus::to_float(Q[head_off + (long long)q_row * HEAD_DIM + d]) * scale
                           : 0.f;
    o[d] = 0.f;
  }
  float m = -1e30f, l = 0.f;
  const int k_end = CAUSAL ? min(seq_len, (int)(blockIdx.x + 1) * BLOCK_Q) : seq_len;
  for (int k0 = 0; k0 < k_end; k0 += BLOCK_K) {
    for (int i = threadIdx.x; i < BLOCK_K * HEAD_DIM; i += BLOCK_Q) {
      const int r = i / HEAD_DIM, d = i % HEAD_DIM;
      const bool in_range = k0 + r < seq_len;
      k_tile[r][d] =
          in_range ? corpus::to_float(K[head_off + (long long)(k0 + r) * HEAD_DIM + d]) : 0.f;
      v_tile[r][d] =
          in_range ? corpus::to_float(V[head_off + (long long)(k0 + r) * HEAD_DIM + d]) : 0.f;
    }
    __syncthreads();
#pragma unroll 2
    for (int j = 0; j < BLOCK_K; ++j) {
      const int key = k0 + j;
      float s = 0.f;
#pragma unroll
      for (int d = 0; d < HEAD_DIM; ++d) s = fmaf(q[d], k_tile[j][d], s);
      const bool masked = key >= seq_len || (CAUSAL && key > q_row);
      if (!masked) {
        const float new_m = fmaxf(m, s);
        const float correction = __expf(m - new_m);
        const float p = __expf(s - new_m);
        l = l * correction + p;
#pragma unroll
        for (int d = 0; d < HEAD_DIM; ++d) o[d] = fmaf(p, v_tile[j][d], o[d] * correction);
        m = new_m;
      }
    }
    __syncthreads();
  }
  if (q_row < seq_len) {
    const float inv = 1.f / l;
#pragma unroll
    for (int d = 0; d < HEAD_DIM; ++d)
      O[head_off + (long long)q_row * HEAD_DIM + d] = corpus::from_float<T>(o[d] * inv);
  }
}

// Rotary position embedding applied in place to Q or K.
template <typename T, int HEAD_DIM, bool INTERLEAVED>
__global__ void rotary_embedding(T* __restrict__ x, const float* __restrict__ cos_table,
                                 const float* __restrict__ sin_table, int seq_len, int heads) {
  const int pos = blockIdx.x;
  const int head = blockIdx.y;
  T* row = x + ((long long)pos * heads + head) * HEAD_DIM;
  for (int i = threadIdx.x; i < HEAD_DIM / 2; i += blockDim.x) {
    const int a = INTERLEAVED ? 2 * i : i;
    const int b = INTERLEAVED ? 2 * i + 1 : i + HEAD_DIM / 2;
    const float c = cos_table[pos * (HEAD_DIM / 2) + i], s = sin_table[pos * (HEAD_DIM / 2) + i];
    const float xa = corpus::to_float(row[a]), xb = corpus::to_float(row[b]);
    row[a] = corpus::from_float<T>(xa * c - xb * s);
    row[b] = corpus::from_float<T>(xa * s + xb * c);
  }
}
