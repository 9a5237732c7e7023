// Block-wide primitives from CUB, the way JIT'd sort/scan/top-k kernels use
// them: block reduce, exclusive scan with a running prefix (stream
// compaction), block radix sort of keys and key-value pairs, and histogram.
#include <cub/block/block_histogram.cuh>
#include <cub/block/block_load.cuh>
#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/block/block_store.cuh>

template <typename T, int BLOCK, int ITEMS, cub::BlockReduceAlgorithm ALGO>
__global__ void __launch_bounds__(BLOCK)
    cub_block_reduce(const T* __restrict__ in, T* __restrict__ out, int n) {
  using Load = cub::BlockLoad<T, BLOCK, ITEMS, cub::BLOCK_LOAD_WARP_TRANSPOSE>;
  using Reduce = cub::BlockReduce<T, BLOCK, ALGO>;
  __shared__ union {
    typename Load::TempStorage load;
    typename Reduce::TempStorage reduce;
  } tmp;
  T items[ITEMS];
  const int tile = blockIdx.x * BLOCK * ITEMS;
  Load(tmp.load).Load(in + tile, items, n - tile, T(0));
  __syncthreads();
  T total = Reduce(tmp.reduce).Sum(items);
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

// Stream compaction: keep elements above a threshold, order preserved.
template <typename T, int BLOCK, int ITEMS, cub::BlockScanAlgorithm ALGO>
__global__ void __launch_bounds__(BLOCK)
    cub_select_if(const T* __restrict__ in, T* __restrict__ out, int* __restrict__ block_counts,
                  int n, T threshold) {
  using Load = cub::BlockLoad<T, BLOCK, ITEMS, cub::BLOCK_LOAD_TRANSPOSE>;
  using Scan = cub::BlockScan<int, BLOCK, ALGO>;
  __shared__ union {
    typename Load::TempStorage load;
    typename Scan::TempStorage scan;
  } tmp;
  T items[ITEMS];
  int flags[ITEMS], positions[ITEMS];
  const int tile = blockIdx.x * BLOCK * ITEMS;
  Load(tmp.load).Load(in + tile, items, n - tile, threshold);
  __syncthreads();
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) flags[i] = items[i] > threshold ? 1 : 0;
  int selected = 0;
  Scan(tmp.scan).ExclusiveSum(flags, positions, selected);
#pragma unroll
  for (int i = 0; i < ITEMS; ++i)
    if (flags[i]) out[tile + positions[i]] = items[i];
  if (threadIdx.x == 0) block_counts[blockIdx.x] = selected;
}

template <typename K, int BLOCK, int ITEMS, bool DESCENDING>
__global__ void __launch_bounds__(BLOCK) cub_sort_keys(K* __restrict__ keys, int n) {
  using Load = cub::BlockLoad<K, BLOCK, ITEMS, cub::BLOCK_LOAD_WARP_TRANSPOSE>;
  using Sort = cub::BlockRadixSort<K, BLOCK, ITEMS>;
  using Store = cub::BlockStore<K, BLOCK, ITEMS, cub::BLOCK_STORE_WARP_TRANSPOSE>;
  __shared__ union {
    typename Load::TempStorage load;
    typename Sort::TempStorage sort;
    typename Store::TempStorage store;
  } tmp;
  K items[ITEMS];
  const int tile = blockIdx.x * BLOCK * ITEMS;
  Load(tmp.load).Load(keys + tile, items, n - tile);
  __syncthreads();
  if (DESCENDING)
    Sort(tmp.sort).SortDescending(items);
  else
    Sort(tmp.sort).Sort(items);
  __syncthreads();
  Store(tmp.store).Store(keys + tile, items, n - tile);
}

// Per-block top-k by sorting (key, index) pairs descending.
template <typename K, int BLOCK, int ITEMS>
__global__ void __launch_bounds__(BLOCK)
    cub_block_topk(const K* __restrict__ scores, K* __restrict__ top_scores,
                   int* __restrict__ top_index, int n, int k) {
  using Sort = cub::BlockRadixSort<K, BLOCK, ITEMS, int>;
  __shared__ typename Sort::TempStorage tmp;
  K keys[ITEMS];
  int vals[ITEMS];
  const int tile = blockIdx.x * BLOCK * ITEMS;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int idx = tile + threadIdx.x * ITEMS + i;
    keys[i] = idx < n ? scores[idx] : K(0);
    vals[i] = idx;
  }
  Sort(tmp).SortDescendingBlockedToStriped(keys, vals);
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int rank = i * BLOCK + threadIdx.x;
    if (rank < k) {
      top_scores[blockIdx.x * k + rank] = keys[i];
      top_index[blockIdx.x * k + rank] = vals[i];
    }
  }
}

template <int BLOCK, int ITEMS, int BINS>
__global__ void __launch_bounds__(BLOCK)
    cub_histogram(const unsigned char* __restrict__ in, unsigned int* __restrict__ bins, int n) {
  using Hist = cub::BlockHistogram<unsigned char, BLOCK, ITEMS, BINS, cub::BLOCK_HISTO_SORT>;
  __shared__ typename Hist::TempStorage tmp;
  __shared__ unsigned int smem_bins[BINS];
  unsigned char items[ITEMS];
  const int tile = blockIdx.x * BLOCK * ITEMS;
#pragma unroll
  for (int i = 0; i < ITEMS; ++i) {
    const int idx = tile + threadIdx.x * ITEMS + i;
    items[i] = idx < n ? in[idx] : 0;
  }
  Hist(tmp).Histogram(items, smem_bins);
  __syncthreads();
  for (int b = threadIdx.x; b < BINS; b += BLOCK) atomicAdd(&bins[b], smem_bins[b]);
}
