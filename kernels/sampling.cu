// One block per row. Top-k / top-p thresholds are found by bisection on the
// scaled logit value (probability is monotonic in it), which needs no sort:
// ~40 passes over the row in L1/L2, each a count or a sum of exp.
#include "kernels/sampling.cuh"

#include "kernels/common.cuh"

namespace rewoo::kernels {
namespace {

constexpr int kThreads = 1024;

__global__ void repetition_penalty_kernel(float* logits, const int32_t* __restrict__ ids,
                                          const int32_t* __restrict__ offsets,
                                          const float* __restrict__ penalty, int vocab) {
  extern __shared__ uint32_t seen[];  // one bit per vocabulary entry
  const int m = blockIdx.x;
  const int words = ceil_div(vocab, 32);
  for (int i = threadIdx.x; i < words; i += blockDim.x) seen[i] = 0;
  __syncthreads();
  const int b = offsets[m], e = offsets[m + 1];
  for (int i = b + threadIdx.x; i < e; i += blockDim.x) {
    const int id = ids[i];
    if (id >= 0 && id < vocab) atomicOr(&seen[id / 32], 1u << (id % 32));
  }
  __syncthreads();
  const float p = penalty[m];
  float* row = logits + (size_t)m * vocab;
  for (int i = b + threadIdx.x; i < e; i += blockDim.x) {
    const int id = ids[i];
    if (id < 0 || id >= vocab) continue;
    const uint32_t bit = 1u << (id % 32);
    if (atomicAnd(&seen[id / 32], ~bit) & bit) {  // first claimant applies it
      const float l = row[id];
      row[id] = l < 0.0f ? l * p : l / p;
    }
  }
}

__global__ void token_bitmask_kernel(float* logits, const uint32_t* __restrict__ bitmask,
                                     int vocab) {
  const int m = blockIdx.y;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= vocab) return;
  const uint32_t w = bitmask[(size_t)m * ceil_div(vocab, 32) + i / 32];
  if (!((w >> (i % 32)) & 1u)) logits[(size_t)m * vocab + i] = -INFINITY;
}

struct MaxIdx {
  float v;
  int i;
};

__device__ MaxIdx better(MaxIdx a, MaxIdx b) {
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) return b;
  return a;
}

__device__ float block_sum(float v, float* sh) {
  v = warp_sum(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  float s = 0.0f;
  for (int i = 0; i < (int)(blockDim.x >> 5); ++i) s += sh[i];
  return s;
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(const float* __restrict__ logits, const float* __restrict__ temperature,
                  const int32_t* __restrict__ top_k, const float* __restrict__ top_p,
                  const float* __restrict__ uniform, int32_t* __restrict__ tokens, int vocab) {
  __shared__ float sh[32];
  __shared__ MaxIdx shm[32];
  const int m = blockIdx.x;
  const float* row = logits + (size_t)m * vocab;
  // argmax
  MaxIdx best{-INFINITY, vocab};
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) best = better(best, MaxIdx{row[i], i});
  for (int o = 16; o > 0; o >>= 1) {
    MaxIdx other{__shfl_xor_sync(0xffffffffu, best.v, o), __shfl_xor_sync(0xffffffffu, best.i, o)};
    best = better(best, other);
  }
  if ((threadIdx.x & 31) == 0) shm[threadIdx.x >> 5] = best;
  __syncthreads();
  best = shm[0];
  for (int i = 1; i < (int)(blockDim.x >> 5); ++i) best = better(best, shm[i]);
  const float temp = temperature[m];
  if (temp <= 0.0f || best.i >= vocab) {
    if (threadIdx.x == 0) tokens[m] = best.i < vocab ? best.i : 0;
    return;
  }
  const float inv_t = 1.0f / temp, zmax = best.v * inv_t;
  // Each thread owns a contiguous segment (needed for the ordered scan).
  const int seg = ceil_div(vocab, blockDim.x);
  const int b = min(vocab, (int)threadIdx.x * seg), e = min(vocab, b + seg);
  auto count_ge = [&](float tau) {
    float c = 0.0f;
    for (int i = b; i < e; ++i) c += (row[i] * inv_t >= tau) ? 1.0f : 0.0f;
    return block_sum(c, sh);
  };
  auto mass_ge = [&](float tau) {
    float s = 0.0f;
    for (int i = b; i < e; ++i) {
      const float z = row[i] * inv_t;
      if (z >= tau) s += __expf(z - zmax);
    }
    return block_sum(s, sh);
  };
  // Candidates: logits within 30 nats of the max (the rest has mass < 1e-13).
  float tau = zmax - 30.0f;
  const int k = top_k[m];
  if (k > 0 && count_ge(tau) > (float)k) {
    float lo = tau, hi = zmax;  // count_ge(lo) > k >= ... ; find largest tau with count >= k
    for (int it = 0; it < 40; ++it) {
      const float mid = 0.5f * (lo + hi);
      if (count_ge(mid) >= (float)k) lo = mid;
      else hi = mid;
    }
    tau = lo;
  }
  const float p = top_p[m];
  if (p < 1.0f) {
    const float target = p * mass_ge(tau);
    float lo = tau, hi = zmax;
    for (int it = 0; it < 40; ++it) {
      const float mid = 0.5f * (lo + hi);
      if (mass_ge(mid) >= target) lo = mid;
      else hi = mid;
    }
    tau = lo;
  }
  // Ordered inverse-CDF draw over the kept tokens.
  float mine = 0.0f;
  for (int i = b; i < e; ++i) {
    const float z = row[i] * inv_t;
    if (z >= tau) mine += __expf(z - zmax);
  }
  __shared__ float seg_sum[kThreads];
  seg_sum[threadIdx.x] = mine;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int i = 0; i < (int)blockDim.x; ++i) total += seg_sum[i];
    const float target = uniform[m] * total;
    float acc = 0.0f;
    int pick = best.i;
    for (int s = 0; s < (int)blockDim.x; ++s) {
      if (acc + seg_sum[s] > target) {
        const int sb = min(vocab, s * seg), se = min(vocab, sb + seg);
        for (int i = sb; i < se; ++i) {
          const float z = row[i] * inv_t;
          if (z < tau) continue;
          acc += __expf(z - zmax);
          pick = i;
          if (acc > target) break;
        }
        break;
      }
      acc += seg_sum[s];
    }
    tokens[m] = pick;
  }
}

}  // namespace

void repetition_penalty(cudaStream_t stream, float* logits, const int32_t* ids,
                        const int32_t* offsets, const float* penalty, int M, int vocab) {
  if (M <= 0) return;
  const size_t smem = (size_t)ceil_div(vocab, 32) * sizeof(uint32_t);
  repetition_penalty_kernel<<<M, 256, smem, stream>>>(logits, ids, offsets, penalty, vocab);
}

void token_bitmask(cudaStream_t stream, float* logits, const uint32_t* bitmask, int M, int vocab) {
  if (M <= 0) return;
  token_bitmask_kernel<<<dim3(ceil_div(vocab, 256), M), 256, 0, stream>>>(logits, bitmask, vocab);
}

void sample(cudaStream_t stream, const float* logits, const float* temperature,
            const int32_t* top_k, const float* top_p, const float* uniform, int32_t* tokens,
            int M, int vocab) {
  if (M <= 0) return;
  sample_kernel<<<M, kThreads, 0, stream>>>(logits, temperature, top_k, top_p, uniform, tokens,
                                            vocab);
}

}  // namespace rewoo::kernels
