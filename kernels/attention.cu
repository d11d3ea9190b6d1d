// Split-K decode attention. Block (split, kv head, token), 128 threads:
//  1. scores: hd/8 lanes share one key (16-byte loads of K), shuffles reduce;
//  2. softmax statistics of the chunk per query head (max m, sum l);
//  3. P·V: each thread owns 8 dims of V for a strided subset of keys, then a
//     shared-memory sum over the subsets; partial o (unnormalised), m, l go
//     to scratch.
// attention_combine_kernel merges the splits: o = sum_s e^{m_s - M} o_s / L.
#include "kernels/attention.cuh"

#include "kernels/common.cuh"
#include "kernels/gptq_gemv.cuh"

namespace rewoo::kernels {
namespace {

constexpr int kThreads = 128;

__device__ __forceinline__ void load8(const half* p, float* f) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const half2* h = reinterpret_cast<const half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __half22float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

__global__ void __launch_bounds__(kThreads)
    attention_split_kernel(const float* __restrict__ q, const half* __restrict__ k_cache,
                           const half* __restrict__ v_cache, const int32_t* __restrict__ pos,
                           const int32_t* __restrict__ slot, float* __restrict__ part_o,
                           float2* __restrict__ part_ml, int n_heads, int n_kv, int hd,
                           int max_seq, int chunk, int n_splits, float scale) {
  pdl_enter();
  const int split = blockIdx.x, kvh = blockIdx.y, t = blockIdx.z;
  const int L = pos[t] + 1;
  const int j0 = split * chunk;
  if (j0 >= L) return;  // the combine kernel ignores splits past the end
  const int nj = min(chunk, L - j0);
  const int G = n_heads / n_kv;
  const int lpk = hd / 8;       // lanes per key
  const int kpw = 32 / lpk;     // keys per warp pass (lpk divides 32 when hd <= 256)
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

  __shared__ float s_score[kAttnMaxGroup][kAttnMaxChunk];
  __shared__ float s_m[kAttnMaxGroup], s_l[kAttnMaxGroup];
  extern __shared__ float s_acc[];  // [kThreads / lpk][G][hd]

  const size_t kv_row = (size_t)n_kv * hd;
  const half* kbase = k_cache + ((size_t)slot[t] * max_seq + j0) * kv_row + (size_t)kvh * hd;
  const half* vbase = v_cache + ((size_t)slot[t] * max_seq + j0) * kv_row + (size_t)kvh * hd;
  const float* qt = q + ((size_t)t * n_heads + (size_t)kvh * G) * hd;

  // 1. scores
  {
    const int sub = lane % lpk, kl = lane / lpk;
    float qr[kAttnMaxGroup][8];
#pragma unroll
    for (int g = 0; g < kAttnMaxGroup; ++g)
#pragma unroll
      for (int i = 0; i < 8; ++i) qr[g][i] = g < G ? qt[g * hd + sub * 8 + i] * scale : 0.0f;
    // Four keys per lane in flight before their dot products (latency-bound
    // otherwise: one dependent global load per key).
    constexpr int kUnroll = 4;
    for (int jb = warp * kpw; jb < nj; jb += 4 * kpw * kUnroll) {
      float kf[kUnroll][8];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int j = jb + u * 4 * kpw + kl;
        if (j < nj) load8(kbase + (size_t)j * kv_row + sub * 8, kf[u]);
        else
#pragma unroll
          for (int i = 0; i < 8; ++i) kf[u][i] = 0.0f;
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int j = jb + u * 4 * kpw + kl;
        const bool ok = j < nj;
#pragma unroll
        for (int g = 0; g < kAttnMaxGroup; ++g) {
          if (g >= G) break;
          float d = 0.0f;
#pragma unroll
          for (int i = 0; i < 8; ++i) d += qr[g][i] * kf[u][i];
          for (int o = lpk / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
          if (ok && sub == 0) s_score[g][j] = d;
        }
      }
    }
  }
  __syncthreads();
  // 2. per-head max and sum over the chunk
  for (int g = warp; g < G; g += kThreads / 32) {
    float m = -INFINITY;
    for (int j = lane; j < nj; j += 32) m = fmaxf(m, s_score[g][j]);
    m = warp_max(m);
    float l = 0.0f;
    for (int j = lane; j < nj; j += 32) {
      const float p = __expf(s_score[g][j] - m);
      s_score[g][j] = p;
      l += p;
    }
    l = warp_sum(l);
    if (lane == 0) {
      s_m[g] = m;
      s_l[g] = l;
    }
  }
  __syncthreads();
  // 3. P·V
  const int dg = threadIdx.x % lpk, kg = threadIdx.x / lpk, nkg = kThreads / lpk;
  float acc[kAttnMaxGroup][8];
#pragma unroll
  for (int g = 0; g < kAttnMaxGroup; ++g)
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[g][i] = 0.0f;
  constexpr int kUnrollV = 4;
  for (int jb = kg; jb < nj; jb += nkg * kUnrollV) {
    float vf[kUnrollV][8];
#pragma unroll
    for (int u = 0; u < kUnrollV; ++u) {
      const int j = jb + u * nkg;
      if (j < nj) load8(vbase + (size_t)j * kv_row + dg * 8, vf[u]);
    }
#pragma unroll
    for (int u = 0; u < kUnrollV; ++u) {
      const int j = jb + u * nkg;
      if (j >= nj) break;
#pragma unroll
      for (int g = 0; g < kAttnMaxGroup; ++g) {
        if (g >= G) break;
        const float p = s_score[g][j];
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] += p * vf[u][i];
      }
    }
  }
#pragma unroll
  for (int g = 0; g < kAttnMaxGroup; ++g) {
    if (g >= G) break;
#pragma unroll
    for (int i = 0; i < 8; ++i) s_acc[((size_t)kg * G + g) * hd + dg * 8 + i] = acc[g][i];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < G * hd; i += kThreads) {
    float s = 0.0f;
    for (int k = 0; k < nkg; ++k) s += s_acc[(size_t)k * G * hd + i];
    const int g = i / hd, d = i % hd;
    const size_t head = (size_t)t * n_heads + (size_t)kvh * G + g;
    part_o[(head * n_splits + split) * hd + d] = s;
    if (d == 0) part_ml[head * n_splits + split] = make_float2(s_m[g], s_l[g]);
  }
}

__global__ void attention_combine_kernel(const float* __restrict__ part_o,
                                         const float2* __restrict__ part_ml,
                                         const int32_t* __restrict__ pos, float* __restrict__ out,
                                         int n_heads, int hd, int chunk, int n_splits,
                                         half* __restrict__ out_h, const int32_t* __restrict__ dest) {
  pdl_enter();
  const int h = blockIdx.x, t = blockIdx.y;
  const int used = min(n_splits, ceil_div(pos[t] + 1, chunk));
  const size_t head = (size_t)t * n_heads + h;
  float m = -INFINITY;
  for (int s = 0; s < used; ++s) m = fmaxf(m, part_ml[head * n_splits + s].x);
  float l = 0.0f;
  for (int s = 0; s < used; ++s) {
    const float2 ml = part_ml[head * n_splits + s];
    l += ml.y * __expf(ml.x - m);
  }
  const float inv = 1.0f / l;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int s = 0; s < used; ++s)
      o += part_o[(head * n_splits + s) * hd + d] * __expf(part_ml[head * n_splits + s].x - m);
    if (out) out[head * hd + d] = o * inv;
    if (out_h) gptq_store_staged(out_h + (size_t)t * n_heads * hd, dest[h * hd + d], o * inv);
  }
}

}  // namespace

size_t attention_scratch_floats(int T, int n_heads, int hd, int n_splits) {
  return (size_t)T * n_heads * n_splits * (hd + 2);
}

void attention_decode(cudaStream_t stream, const float* q, const half* k_cache,
                      const half* v_cache, const int32_t* pos, const int32_t* slot, float* out,
                      float* scratch, int T, int n_heads, int n_kv, int hd, int max_seq,
                      int chunk, int n_splits, float scale, half* out_h, const int32_t* dest) {
  if (T <= 0) return;
  float* part_o = scratch;
  float2* part_ml =
      reinterpret_cast<float2*>(scratch + (size_t)T * n_heads * n_splits * hd);
  const int G = n_heads / n_kv;
  const size_t smem = (size_t)(kThreads / (hd / 8)) * G * hd * sizeof(float);
  dim3 grid(n_splits, n_kv, T);
  launch_kernel(attention_split_kernel, grid, dim3(kThreads), smem, stream, q, k_cache, v_cache, pos,
                slot, part_o, part_ml, n_heads, n_kv, hd, max_seq, chunk, n_splits, scale);
  launch_kernel(attention_combine_kernel, dim3(n_heads, T), dim3(min(hd, 256)), 0, stream,
                (const float*)part_o, (const float2*)part_ml, pos, out, n_heads, hd, chunk,
                n_splits, out_h, dest);
}

}  // namespace rewoo::kernels
