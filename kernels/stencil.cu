// Stencils and direct convolutions with compile-time radius / filter size:
// a 2-D star stencil with a shared-memory halo, a 3-D 7-point Jacobi step,
// a direct NCHW convolution and a depthwise convolution.
#include "common.cuh"

template <typename T, int RADIUS, int BX, int BY>
__global__ void stencil_2d(const T* __restrict__ in, T* __restrict__ out, int w, int h,
                           const float* __restrict__ coeffs) {
  __shared__ float tile[BY + 2 * RADIUS][BX + 2 * RADIUS];
  const int gx = blockIdx.x * BX + threadIdx.x;
  const int gy = blockIdx.y * BY + threadIdx.y;
  for (int y = threadIdx.y; y < BY + 2 * RADIUS; y += BY)
    for (int x = threadIdx.x; x < BX + 2 * RADIUS; x += BX) {
      const int sx = min(max((int)(blockIdx.x * BX) + x - RADIUS, 0), w - 1);
      const int sy = min(max((int)(blockIdx.y * BY) + y - RADIUS, 0), h - 1);
      tile[y][x] = corpus::to_float(in[(long long)sy * w + sx]);
    }
  __syncthreads();
  if (gx >= w || gy >= h) return;
  float v = coeffs[0] * tile[threadIdx.y + RADIUS][threadIdx.x + RADIUS];
#pragma unroll
  for (int r = 1; r <= RADIUS; ++r) {
    v += coeffs[r] * (tile[threadIdx.y + RADIUS][threadIdx.x + RADIUS - r] +
                      tile[threadIdx.y + RADIUS][threadIdx.x + RADIUS + r] +
                      tile[threadIdx.y + RADIUS - r][threadIdx.x + RADIUS] +
                      tile[threadIdx.y + RADIUS + r][threadIdx.x + RADIUS]);
  }
  out[(long long)gy * w + gx] = corpus::from_float<T>(v);
}

// 3-D 7-point Jacobi, marching along z with a register queue.
template <typename T, int BX, int BY>
__global__ void jacobi_3d(const T* __restrict__ in, T* __restrict__ out, int nx, int ny, int nz,
                          float c0, float c1) {
  const int x = blockIdx.x * BX + threadIdx.x;
  const int y = blockIdx.y * BY + threadIdx.y;
  if (x < 1 || y < 1 || x >= nx - 1 || y >= ny - 1) return;
  const long long plane = (long long)nx * ny;
  const long long base = (long long)y * nx + x;
  float below = corpus::to_float(in[base]);
  float here = corpus::to_float(in[base + plane]);
  for (int z = 1; z < nz - 1; ++z) {
    const long long i = base + z * plane;
    const float above = corpus::to_float(in[i + plane]);
    const float v = c0 * here + c1 * (below + above + corpus::to_float(in[i - 1]) +
                                      corpus::to_float(in[i + 1]) + corpus::to_float(in[i - nx]) +
                                      corpus::to_float(in[i + nx]));
    out[i] = corpus::from_float<T>(v);
    below = here;
    here = above;
  }
}

// Direct convolution, NCHW, stride 1, 'same' padding; each thread computes
// OC_PER_THREAD output channels for one pixel, filter loops fully unrolled.
template <typename T, int KH, int KW, int OC_PER_THREAD, typename Act>
__global__ void conv2d_direct(const T* __restrict__ in, const T* __restrict__ weight,
                              const T* __restrict__ bias, T* __restrict__ out, int in_c, int out_c,
                              int h, int w) {
  Act act;
  const int pix = blockIdx.x * blockDim.x + threadIdx.x;
  const int oc0 = blockIdx.y * OC_PER_THREAD;
  const int n = blockIdx.z;
  if (pix >= h * w) return;
  const int oy = pix / w, ox = pix % w;
  float acc[OC_PER_THREAD];
#pragma unroll
  for (int o = 0; o < OC_PER_THREAD; ++o)
    acc[o] = oc0 + o < out_c ? corpus::to_float(bias[oc0 + o]) : 0.f;
  for (int ic = 0; ic < in_c; ++ic) {
    const T* plane = in + ((long long)n * in_c + ic) * h * w;
#pragma unroll
    for (int ky = 0; ky < KH; ++ky) {
      const int iy = oy + ky - KH / 2;
      if (iy < 0 || iy >= h) continue;
#pragma unroll
      for (int kx = 0; kx < KW; ++kx) {
        const int ix = ox + kx - KW / 2;
        if (ix < 0 || ix >= w) continue;
        const float v = corpus::to_float(plane[iy * w + ix]);
#pragma unroll
        for (int o = 0; o < OC_PER_THREAD; ++o)
          if (oc0 + o < out_c)
            acc[o] += v * corpus::to_float(
                              weight[(((long long)(oc0 + o) * in_c + ic) * KH + ky) * KW + kx]);
      }
    }
  }
#pragma unroll
  for (int o = 0; o < OC_PER_THREAD; ++o)
    if (oc0 + o < out_c)
      out[(((long long)n * out_c + oc0 + o) * h + oy) * w + ox] =
          corpus::from_float<T>(act(acc[o]));
}

// Depthwise convolution with the filter in shared memory.
template <typename T, int K, int STRIDE>
__global__ void depthwise_conv2d(const T* __restrict__ in, const T* __restrict__ weight,
                                 T* __restrict__ out, int channels, int h, int w, int out_h,
                                 int out_w) {
  __shared__ float filt[K * K];
  const int c = blockIdx.y;
  const int n = blockIdx.z;
  if (threadIdx.x < K * K) filt[threadIdx.x] = corpus::to_float(weight[c * K * K + threadIdx.x]);
  __syncthreads();
  const int pix = blockIdx.x * blockDim.x + threadIdx.x;
  if (pix >= out_h * out_w) return;
  const int oy = pix / out_w, ox = pix % out_w;
  const T* plane = in + ((long long)n * channels + c) * h * w;
  float acc = 0.f;
#pragma unroll
  for (int ky = 0; ky < K; ++ky)
#pragma unroll
    for (int kx = 0; kx < K; ++kx) {
      const int iy = oy * STRIDE + ky - K / 2, ix = ox * STRIDE + kx - K / 2;
      if (iy >= 0 && iy < h && ix >= 0 && ix < w)
        acc += filt[ky * K + kx] * corpus::to_float(plane[iy * w + ix]);
    }
  out[((long long)n * channels + c) * out_h * out_w + pix] = corpus::from_float<T>(acc);
}
