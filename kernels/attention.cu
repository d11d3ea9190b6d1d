// Split-K attention over the fp16 KV cache. Block (split, KV head x head
// group, token), 128 threads, one range of keys (see AttentionArgs::min_chunk), scored in
// sub-chunks of up to kAttnMaxChunk keys with an online softmax:
//  1. scores: hd/8 lanes share one key (16-byte loads of K), shuffles reduce;
//  2. per query head: the chunk's max, the running max m and sum l, and the
//     factor that rescales what was accumulated before;
//  3. P·V: each thread owns 8 dims of V for a strided subset of keys.
// The first loads of K are issued before the queries are read. A
// shared-memory sum over the key subsets gives the range's unnormalised o;
// with one range it is the answer, otherwise o, m, l go to scratch and the
// last block of the (token, head group) to finish (a counter per group) merges
// the ranges: o = sum_s e^{m_s - M} o_s / sum_s e^{m_s - M} l_s.
// In decode mode (AttentionArgs::qkv) each block holding the newest key also
// ropes it, rounds it and the value to fp16 and uses them from shared memory
// (never from the cache); the one of the first head group writes both to the
// cache. Every block ropes its own queries.
//
// Decode with head size 128 (decode_mma()) runs a tensor-core body instead:
// one block per (key range, KV head) scores all G <= 8 query heads of the KV
// head, each warp a 16-key tile at a time with its own online softmax, and
// the warps' results are combined in shared memory before the same merge.
// With mma.sync m16n8k16 the heads are the rows of A: row g holds head g's
// q (then its p) rounded to fp16 and row g + 8 the remainder of that
// rounding, itself in fp16; summing the two rows' results keeps about fp32
// precision in q and p at no cost (rows 8..15 would otherwise be padding). Scores use
// B = K^T (16 dims by 8 keys), P·V uses B = V (16 keys by 8 dims); both
// fragments come from 16-byte loads of the cache rows, with the dims (or the
// key pairs) in an order that makes each thread's load its own fragment.
#include "kernels/attention.cuh"

#include "kernels/common.cuh"
#include "kernels/gptq_gemv.cuh"

#include <algorithm>

namespace rewoo::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxSplits = kAttnMaxChunk;  // merge weights live in s_score
constexpr int kUnroll = 4;                 // K or V rows in flight per thread
constexpr int kMergeLoads = 16;            // ranges' partial sums in flight (merge)
constexpr uint32_t kCountMask = 0xFFFF;    // the count bits of a counter (ranges <= kMaxSplits)
// Query heads one decode block scores. A decode step has few (token, KV
// head) pairs; splitting their query heads over several blocks shortens each
// block's serial work (scores, P·V and the final sums all scale with it) at
// the price of reading the block's keys and values once per head group, from
// L2.
constexpr int kDecodeHeadsPerBlock = 2;

// Decode-mode calls with this head size use the tensor-core body (all G
// heads of a KV head a block); REWOO_ATTN_MMA=0 keeps the other one.
bool decode_mma(int hd) {
  static const bool on = [] {
    const char* e = std::getenv("REWOO_ATTN_MMA");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on && hd == 128;
}
// Keys a block of the tensor-core body scores at least: one 16-key tile per
// warp.
constexpr int kMmaMinChunk = 64;

// Heads per block: the largest divisor of G up to the decode limit (decode),
// all G (prefill, where tokens give enough blocks, and the tensor-core body).
int heads_per_block(int G, bool decode, int hd) {
  if (!decode || decode_mma(hd)) return G;
  for (int h = std::min(G, kDecodeHeadsPerBlock); h > 1; --h)
    if (G % h == 0) return h;
  return 1;
}

// Dims d0..d0+7 (d0 % 8 == 0) of one roped head vector x (cs: the position's
// (cos, sin) pairs), with exactly the arithmetic of rope_kv_kernel. x was
// written by the previous kernel: read through L2 (see gptq_gemv.cu on
// programmatic launch).
__device__ __forceinline__ void rope8(const float* x, const float* cs, int hd, int d0,
                                      bool interleaved, float* y) {
  const int h2 = hd / 2;
  float xv[8];
  ldcg_floats<8>(x + d0, xv);
  if (interleaved) {
    float c[8];
    ldcg_floats<8>(cs + d0, c);  // pairs j = d0/2 .. d0/2 + 3
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      y[2 * i] = xv[2 * i] * c[2 * i] - xv[2 * i + 1] * c[2 * i + 1];
      y[2 * i + 1] = xv[2 * i] * c[2 * i + 1] + xv[2 * i + 1] * c[2 * i];
    }
  } else if (h2 % 8 == 0) {  // the 8 dims sit in one half
    const bool lo = d0 < h2;
    const int j0 = lo ? d0 : d0 - h2;
    float xp[8], c[16];
    ldcg_floats<8>(x + (lo ? d0 + h2 : d0 - h2), xp);
    ldcg_floats<8>(cs + 2 * j0, c);
    ldcg_floats<8>(cs + 2 * j0 + 8, c + 8);
#pragma unroll
    for (int i = 0; i < 8; ++i)
      y[i] = lo ? xv[i] * c[2 * i] - xp[i] * c[2 * i + 1] : xp[i] * c[2 * i + 1] + xv[i] * c[2 * i];
  } else {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int d = d0 + i, j = d < h2 ? d : d - h2;
      const float c = cs[2 * j], s = cs[2 * j + 1];
      const float xp = __ldcg(x + (d < h2 ? d + h2 : d - h2));
      y[i] = d < h2 ? xv[i] * c - xp * s : xp * s + xv[i] * c;
    }
  }
}

// 8 halves (fp16-exact floats) as one 16-byte word.
__device__ __forceinline__ uint4 pack_half8(const float* f) {
  uint4 u;
  half2* h = reinterpret_cast<half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(f[2 * i], f[2 * i + 1]);
  return u;
}

// (x, y) rounded to fp16 as hi, and the remainders x - hi.x, y - hi.y as lo.
__device__ __forceinline__ void split_half2(float x, float y, uint32_t& hi, uint32_t& lo) {
  const half2 h = __floats2half2_rn(x, y);
  hi = as_u32(h);
  lo = as_u32(__floats2half2_rn(x - __low2float(h), y - __high2float(h)));
}

__device__ __forceinline__ uint32_t word(const uint4& u, int i) {
  return reinterpret_cast<const uint32_t*>(&u)[i];
}

// Over the (m, l) pairs of `used` key ranges at ml, a warp together (each
// lane reads its ranges once): the largest m, M, and the sum of l e^(m - M);
// w (may be null) gets each range's e^(m - M).
__device__ __forceinline__ float2 ranges_max_sum(const float2* ml, int used, int lane, float* w) {
  const float2 v0 = lane < used ? __ldcg(&ml[lane]) : make_float2(-INFINITY, 0.0f);
  float m = v0.x;
  for (int s = lane + 32; s < used; s += 32) m = fmaxf(m, __ldcg(&ml[s]).x);
  m = warp_max(m);
  float l = 0.0f;
  if (lane < used) {
    const float e = __expf(v0.x - m);
    if (w) w[lane] = e;
    l += v0.y * e;
  }
  for (int s = lane + 32; s < used; s += 32) {
    const float2 v = __ldcg(&ml[s]);
    const float e = __expf(v.x - m);
    if (w) w[s] = e;
    l += v.y * e;
  }
  return make_float2(m, warp_sum(l));
}

template <int MAXG, bool MMA>
__global__ void __launch_bounds__(kThreads, MMA ? 2 : MAXG > 2 ? 3 : 4)
    attention_kernel(const AttentionArgs a, int hpb) {
  // Decode mode: positions, slots and every key but the new one were written
  // before the previous kernel started (by the step's input copy and earlier
  // steps), so the first keys load while it drains; prefill mode reads keys
  // the previous kernel wrote.
  const bool early = a.qkv != nullptr;
  TRACE_BEGIN;
  pdl_trigger();
  if (!early) pdl_wait();
  const int G = a.n_heads / a.n_kv, n_sub = G / hpb;
  const int split = blockIdx.x, kvh = blockIdx.y / n_sub, t = blockIdx.z;
  const int hq0 = kvh * G + (blockIdx.y % n_sub) * hpb;  // first query head of the block
  const int L = a.pos[t] + 1;
  const int span = max(a.min_chunk, ceil_div(ceil_div(L, a.n_splits), 32) * 32);
  const int used = ceil_div(L, span);
  const int j0 = split * span;
  // a.zero, a share per block; only after the previous kernel has finished.
  auto zero_share = [&] {
    const size_t nb = (size_t)gridDim.x * gridDim.y * gridDim.z;
    const size_t b = blockIdx.x + (size_t)gridDim.x * (blockIdx.y + (size_t)gridDim.y * blockIdx.z);
    for (size_t i = b * kThreads + threadIdx.x; i < a.zero_n; i += nb * kThreads) a.zero[i] = 0.0f;
  };
  if (j0 >= L) {  // the merge counts only the `used` ranges
    if (a.zero) {
      pdl_wait();
      TRACE_RELEASED;
      zero_share();
    }
    TRACE_END(kTraceAttnNoKeys);
    return;
  }
  const int j1 = min(L, j0 + span);
  const int hd = a.hd;
  const int lpk = hd / 8;    // lanes per key
  const int kpw = 32 / lpk;  // keys per warp pass (lpk divides 32 when hd <= 256)
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int sub = lane % lpk, kl = lane / lpk;                                     // scores
  const int dg = threadIdx.x % lpk, kg = threadIdx.x / lpk, nkg = kThreads / lpk;  // P·V

  __shared__ float s_score[MAXG][kAttnMaxChunk];
  __shared__ float s_m[MAXG], s_l[MAXG], s_corr[MAXG];
  __shared__ float s_new[2][kAttnMaxHeadDim];  // the new token's key and value
  __shared__ int s_last;
  // [hpb][hd] scaled queries during the loop, then [nkg][hpb][hd] partial sums.
  extern __shared__ __align__(16) float s_dyn[];
  float* s_q = s_dyn;
  float* s_acc = s_dyn;

  const size_t kv_row = (size_t)a.n_kv * hd;
  const size_t cache0 = (size_t)a.slot[t] * a.max_seq * kv_row + (size_t)kvh * hd;
  const half* kbase = a.k_cache + cache0 + sub * 8;
  const half* vbase = a.v_cache + cache0 + dg * 8;
  const bool fresh = a.qkv != nullptr && j1 == L;  // holds the key written this step
  const int jnew = fresh ? L - 1 : -1;

  // First K rows of a sub-chunk starting at c0 (nj keys), raw.
  uint4 kpre[kUnroll];
  auto prefetch = [&](int c0, int nj) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int jk = warp * kpw + u * 4 * kpw + kl;
      kpre[u] = jk < nj && c0 + jk != jnew
                    ? __ldcg(reinterpret_cast<const uint4*>(kbase + (size_t)(c0 + jk) * kv_row))
                    : make_uint4(0, 0, 0, 0);
    }
  };
  // Tensor-core body: warp w's tiles start at keys j0 + 16 w + 64 i. Thread
  // (mg, mt) holds K of keys c + mg and c + 8 + mg, dims 8 (mt + 4p) .. + 7
  // (p < 4), and V of keys c + 2mt, c + 2mt + 1, c + 2mt + 8, c + 2mt + 9,
  // dims 8 mg .. + 7 and 64 + 8 mg .. + 7. Keys past the range, and the new
  // one (from s_new below), load as zero.
  const int mg = lane >> 2, mt = lane & 3;
  uint4 kt[2][4], vt[4][2];
  auto load_tile = [&](int c) {
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      const int key = c + 8 * n + mg;
      const bool ok = key < j1 && key != jnew;
      const uint4* src = reinterpret_cast<const uint4*>(a.k_cache + cache0 + (size_t)key * kv_row);
#pragma unroll
      for (int p = 0; p < 4; ++p) kt[n][p] = ok ? __ldcg(src + mt + 4 * p) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int key = c + (i >> 1) * 8 + 2 * mt + (i & 1);
      const bool ok = key < j1 && key != jnew;
      const uint4* src = reinterpret_cast<const uint4*>(a.v_cache + cache0 + (size_t)key * kv_row);
#pragma unroll
      for (int h = 0; h < 2; ++h) vt[i][h] = ok ? __ldcg(src + 8 * h + mg) : make_uint4(0, 0, 0, 0);
    }
  };
  if constexpr (MMA) {
    if (j0 + 16 * warp < j1) load_tile(j0 + 16 * warp);
  } else {
    prefetch(j0, min(kAttnMaxChunk, j1 - j0));
  }
  if (early) pdl_wait();
  TRACE_RELEASED;
  if (a.zero) zero_share();
  // The rows' RMSNorm factor, where the product left it out.
  const float inv = a.qkv_ss ? rsqrtf(__ldcg(a.qkv_ss + t) / a.norm_dim + a.norm_eps) : 1.0f;

  const size_t qkv_row = (size_t)(a.n_heads + 2 * a.n_kv) * hd;
  const float* cs = a.qkv ? a.cos_sin + (size_t)(L - 1) * hd : nullptr;
  if (fresh && (int)threadIdx.x < 2 * lpk) {
    // Threads 0..lpk-1 rope 8 dims of the key each, the next lpk copy the value.
    const bool is_v = (int)threadIdx.x >= lpk;
    const int d0 = (threadIdx.x % lpk) * 8;
    const float* src = a.qkv + t * qkv_row + (size_t)(a.n_heads + (is_v ? a.n_kv : 0) + kvh) * hd;
    float y[8];
    if (is_v) {
      ldcg_floats<8>(src + d0, y);
    } else {
      rope8(src, cs, hd, d0, a.interleaved, y);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) y[i] *= inv;
    uint4 packed;
    half2* h2 = reinterpret_cast<half2*>(&packed);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      h2[i] = __floats2half2_rn(y[2 * i], y[2 * i + 1]);
      const float2 r = __half22float2(h2[i]);
      s_new[is_v][d0 + 2 * i] = r.x;
      s_new[is_v][d0 + 2 * i + 1] = r.y;
    }
    // Every head group of the KV head computes the same values; one writes.
    if (hq0 == kvh * G) {
      half* dst = (is_v ? a.v_cache : a.k_cache) + cache0 + (size_t)(L - 1) * kv_row + d0;
      *reinterpret_cast<uint4*>(dst) = packed;
    }
  }
  // Queries of the block's heads, 8 dims per thread and pass.
  for (int i = threadIdx.x; i < hpb * lpk; i += kThreads) {
    const int h = hq0 + i / lpk, d0 = (i % lpk) * 8;
    float y[8];
    if (a.qkv)
      rope8(a.qkv + t * qkv_row + (size_t)h * hd, cs, hd, d0, a.interleaved, y);
    else
      ldcg_floats<8>(a.q + ((size_t)t * a.n_heads + h) * hd + d0, y);
#pragma unroll
    for (int e = 0; e < 8; ++e) s_q[(i / lpk) * hd + d0 + e] = y[e] * (inv * a.scale);
  }
  if ((int)threadIdx.x < hpb) {
    s_m[threadIdx.x] = -INFINITY;
    s_l[threadIdx.x] = 0.0f;
  }
  float acc[MAXG][8];
#pragma unroll
  for (int g = 0; g < MAXG; ++g)
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[g][i] = 0.0f;
  __syncthreads();
  TRACE_MARK(0);

  if constexpr (MMA) {
    // Queries as A fragments for the 8 k-steps of 16 dims: k-step 2p + q
    // takes dims 8 (mt + 4p) + 4q + (0, 1) as columns 2mt, 2mt + 1 and
    // + (2, 3) as columns 2mt + 8, 2mt + 9, the order of the K loads.
    uint32_t qa[8][4];
#pragma unroll
    for (int s = 0; s < 8; ++s) {
      const int d = 8 * (mt + 4 * (s >> 1)) + 4 * (s & 1);
      const float* qs = s_q + mg * hd + d;
      const bool real = mg < hpb;
      split_half2(real ? qs[0] : 0.0f, real ? qs[1] : 0.0f, qa[s][0], qa[s][1]);
      split_half2(real ? qs[2] : 0.0f, real ? qs[3] : 0.0f, qa[s][2], qa[s][3]);
    }
    float o[16][4];
#pragma unroll
    for (int r = 0; r < 16; ++r)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[r][e] = 0.0f;
    float m_run = -INFINITY, l_run = 0.0f;
    for (int c = j0 + 16 * warp; c < j1; c += 64) {
      if (c != j0 + 16 * warp) load_tile(c);
      if (jnew >= c && jnew < c + 16) {  // the new key and value, from s_new
#pragma unroll
        for (int n = 0; n < 2; ++n)
          if (c + 8 * n + mg == jnew)
#pragma unroll
            for (int p = 0; p < 4; ++p) kt[n][p] = pack_half8(s_new[0] + 8 * (mt + 4 * p));
#pragma unroll
        for (int i = 0; i < 4; ++i)
          if (c + (i >> 1) * 8 + 2 * mt + (i & 1) == jnew)
#pragma unroll
            for (int h = 0; h < 2; ++h) vt[i][h] = pack_half8(s_new[1] + 64 * h + 8 * mg);
      }
      // Scores: rows mg (q's fp16) plus rows mg + 8 (its remainder), for keys
      // c + 8n + 2mt and + 1.
      float sc[2][4] = {};
#pragma unroll
      for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int s = 0; s < 8; ++s)
          mma_16816(sc[n], qa[s], word(kt[n][s >> 1], 2 * (s & 1)),
                    word(kt[n][s >> 1], 2 * (s & 1) + 1));
      float sv[4] = {sc[0][0] + sc[0][2], sc[0][1] + sc[0][3], sc[1][0] + sc[1][2],
                     sc[1][1] + sc[1][3]};
#pragma unroll
      for (int i = 0; i < 4; ++i)
        if (c + (i >> 1) * 8 + 2 * mt + (i & 1) >= j1) sv[i] = -INFINITY;
      // Online softmax of head mg over the warp's keys (key c is in range,
      // so the tile's maximum is finite).
      float mx = fmaxf(fmaxf(sv[0], sv[1]), fmaxf(sv[2], sv[3]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m_run, mx);
      const float corr = __expf(m_run - m_new);
      float pv[4], ls = 0.0f;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        pv[i] = __expf(sv[i] - m_new);
        ls += pv[i];
      }
      ls += __shfl_xor_sync(0xffffffffu, ls, 1);
      ls += __shfl_xor_sync(0xffffffffu, ls, 2);
      l_run = l_run * corr + ls;
      m_run = m_new;
#pragma unroll
      for (int r = 0; r < 16; ++r)
#pragma unroll
        for (int e = 0; e < 4; ++e) o[r][e] *= corr;
      // P·V: A = p (rows mg) and its remainder (rows mg + 8) over keys 2mt,
      // 2mt + 1 | 2mt + 8, 2mt + 9; B = V, dims 64h + 8mg' + rr as column mg'
      // of step r = 8h + rr, the two keys of a pair packed together.
      uint32_t pa[4];
      split_half2(pv[0], pv[1], pa[0], pa[1]);
      split_half2(pv[2], pv[3], pa[2], pa[3]);
#pragma unroll
      for (int r = 0; r < 16; ++r) {
        const int h = r >> 3, w = (r & 7) >> 1;
        const uint32_t sel = r & 1 ? 0x7632u : 0x5410u;
        const uint32_t b0 = __byte_perm(word(vt[0][h], w), word(vt[1][h], w), sel);
        const uint32_t b1 = __byte_perm(word(vt[2][h], w), word(vt[3][h], w), sel);
        mma_16816(o[r], pa, b0, b1);
      }
    }
    // Combine the warps: head mg's o scaled to the block's maximum, into
    // s_acc [warp][head][dim] (after every warp has read its queries), and
    // the block's m and l.
    __shared__ float s_wm[kThreads / 32][kAttnMaxGroup], s_wl[kThreads / 32][kAttnMaxGroup];
    if (mt == 0) {
      s_wm[warp][mg] = m_run;
      s_wl[warp][mg] = l_run;
    }
    __syncthreads();
    TRACE_MARK(1);
    float mb = -INFINITY;
#pragma unroll
    for (int w = 0; w < kThreads / 32; ++w) mb = fmaxf(mb, s_wm[w][mg]);
    if (mg < hpb) {
      const float f = __expf(m_run - mb);  // 0 for a warp without keys
      float* dst = s_acc + ((size_t)warp * hpb + mg) * hd;
#pragma unroll
      for (int r = 0; r < 16; ++r) {
        const int d = 64 * (r >> 3) + 16 * mt + (r & 7);
        dst[d] = (o[r][0] + o[r][2]) * f;
        dst[d + 8] = (o[r][1] + o[r][3]) * f;
      }
      if (warp == 0 && mt == 0) {
        float l = 0.0f;
#pragma unroll
        for (int w = 0; w < kThreads / 32; ++w) l += s_wl[w][mg] * __expf(s_wm[w][mg] - mb);
        s_m[mg] = mb;
        s_l[mg] = l;
      }
    }
  } else {
    for (int c0 = j0; c0 < j1; c0 += kAttnMaxChunk) {
      const int nj = min(kAttnMaxChunk, j1 - c0);
      if (c0 != j0) prefetch(c0, nj);
      // 1. scores
      for (int jb = warp * kpw, it = 0; jb < nj; jb += 4 * kpw * kUnroll, ++it) {
        uint4 kr[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int j = jb + u * 4 * kpw + kl;
          kr[u] = it == 0 ? kpre[u]
                  : j < nj && c0 + j != jnew
                      ? __ldcg(reinterpret_cast<const uint4*>(kbase + (size_t)(c0 + j) * kv_row))
                      : make_uint4(0, 0, 0, 0);
        }
        float kf[kUnroll][8];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int j = jb + u * 4 * kpw + kl;
          if (c0 + j == jnew) {
#pragma unroll
            for (int i = 0; i < 8; ++i) kf[u][i] = s_new[0][sub * 8 + i];
          } else {
            unpack_half8(kr[u], kf[u]);
          }
        }
        // Each query head's 8 dims are read from shared memory once per
        // kUnroll keys.
#pragma unroll
        for (int g = 0; g < MAXG; ++g) {
          if (g >= hpb) break;
          const float4* qv = reinterpret_cast<const float4*>(s_q + g * hd + sub * 8);
          const float4 q0 = qv[0], q1 = qv[1];
#pragma unroll
          for (int u = 0; u < kUnroll; ++u) {
            const float* f = kf[u];
            float d = q0.x * f[0] + q0.y * f[1] + q0.z * f[2] + q0.w * f[3];
            d += q1.x * f[4] + q1.y * f[5] + q1.z * f[6] + q1.w * f[7];
            // Fixed trip count (lpk <= 32): the chains of all keys and heads
            // interleave.
#pragma unroll
            for (int o = 16; o > 0; o >>= 1)
              if (o < lpk) d += __shfl_xor_sync(0xffffffffu, d, o);
            const int j = jb + u * 4 * kpw + kl;
            if (j < nj && sub == 0) s_score[g][j] = d;
          }
        }
      }
      __syncthreads();
      // 2. softmax statistics, one warp per query head
      for (int g = warp; g < hpb; g += kThreads / 32) {
        float m = -INFINITY;
        for (int j = lane; j < nj; j += 32) m = fmaxf(m, s_score[g][j]);
        m = fmaxf(warp_max(m), s_m[g]);
        float l = 0.0f;
        for (int j = lane; j < nj; j += 32) {
          const float p = __expf(s_score[g][j] - m);
          s_score[g][j] = p;
          l += p;
        }
        l = warp_sum(l);
        __syncwarp();
        if (lane == 0) {
          const float corr = __expf(s_m[g] - m);  // 0 for the first sub-chunk
          s_corr[g] = corr;
          s_l[g] = s_l[g] * corr + l;
          s_m[g] = m;
        }
      }
      __syncthreads();
      // 3. P·V
#pragma unroll
      for (int g = 0; g < MAXG; ++g) {
        if (g >= hpb) break;
        const float corr = s_corr[g];
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] *= corr;
      }
      for (int jb = kg; jb < nj; jb += nkg * kUnroll) {
        uint4 vr[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int j = jb + u * nkg;
          vr[u] = j < nj && c0 + j != jnew
                      ? __ldcg(reinterpret_cast<const uint4*>(vbase + (size_t)(c0 + j) * kv_row))
                      : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          const int j = jb + u * nkg;
          if (j >= nj) break;
          float vf[8];
          if (c0 + j == jnew) {
#pragma unroll
            for (int i = 0; i < 8; ++i) vf[i] = s_new[1][dg * 8 + i];
          } else {
            unpack_half8(vr[u], vf);
          }
#pragma unroll
          for (int g = 0; g < MAXG; ++g) {
            if (g >= hpb) break;
            const float p = s_score[g][j];
#pragma unroll
            for (int i = 0; i < 8; ++i) acc[g][i] += p * vf[i];
          }
        }
      }
      __syncthreads();  // s_score is rewritten by the next sub-chunk
    }
  }
  // (s_acc now overwrites the queries.)

  if constexpr (!MMA) {
#pragma unroll
    for (int g = 0; g < MAXG; ++g) {
      if (g >= hpb) break;
#pragma unroll
      for (int i = 0; i < 8; ++i) s_acc[((size_t)kg * hpb + g) * hd + dg * 8 + i] = acc[g][i];
    }
  }
  __syncthreads();
  const int n_parts = MMA ? kThreads / 32 : nkg;  // partial sums in s_acc
  const size_t head0 = (size_t)t * a.n_heads + hq0;
  // Accumulate mode (AttentionArgs::accumulate; the host allows it only for
  // solo launches, where every block is resident at once): each range
  // publishes its (m, l), waits until all `used` ranges have, and adds its o
  // times e^{m - M} / L to `out` itself. No block merges, so the kernel ends
  // about when its last range is counted.
  const bool adds = a.accumulate && used > 1;
  auto emit = [&](int g, int d, float v) {
    if (a.out) a.out[(head0 + g) * hd + d] = v;
    if (a.out_h)
      gptq_store_staged(a.out_h + (size_t)t * a.n_heads * hd, a.dest[(hq0 + g) * hd + d], v);
  };
  float* part_o = a.scratch;
  float2* part_ml =
      reinterpret_cast<float2*>(a.scratch + (size_t)a.T * a.n_heads * a.n_splits * hd);
  for (int i = threadIdx.x; i < hpb * hd; i += kThreads) {
    float s = 0.0f;
    for (int k = 0; k < n_parts; ++k) s += s_acc[(size_t)k * hpb * hd + i];
    const int g = i / hd, d = i % hd;
    if (used == 1) {
      emit(g, d, s / s_l[g]);
    } else if (adds) {
      s_acc[i] = s;  // (read back below by this thread only)
      if (d == 0) part_ml[(head0 + g) * a.n_splits + split] = make_float2(s_m[g], s_l[g]);
    } else {
      part_o[((head0 + g) * a.n_splits + split) * hd + d] = s;
      if (d == 0) part_ml[(head0 + g) * a.n_splits + split] = make_float2(s_m[g], s_l[g]);
    }
  }
  if (used == 1) {
    TRACE_END(kTraceAttention);
    return;
  }
  if (adds) {
    // A sense-reversing count: the low bits (kCountMask) count the ranges
    // that have published, the bits above are a generation that the last
    // one bumps, clearing the count, and the others wait for. Release and
    // acquire at GPU scope order the published (m, l) (the barrier covers
    // the block's other threads).
    __syncthreads();
    uint32_t* cnt = reinterpret_cast<uint32_t*>(a.counters + head0);
    if (threadIdx.x == 0) {
      const uint32_t old = atom_add_acq_rel(cnt, 1u);
      if ((int)(old & kCountMask) == used - 1) {
        red_add_release(cnt, kCountMask + 1 - used);
      } else {
        while ((ld_acquire(cnt) & ~kCountMask) == (old & ~kCountMask)) {
        }
      }
    }
    __syncthreads();
    TRACE_MARK(2);
    // This range's weight for each head, a warp a head.
    for (int g = warp; g < hpb; g += kThreads / 32) {
      const float2 ml = ranges_max_sum(part_ml + (head0 + g) * a.n_splits, used, lane, nullptr);
      if (lane == 0) s_corr[g] = __expf(s_m[g] - ml.x) / ml.y;
    }
    __syncthreads();
    TRACE_MARK(3);
    for (int i = threadIdx.x; i < hpb * hd; i += kThreads) {
      const int g = i / hd;
      atomicAdd(a.out + (head0 + g) * hd + i % hd, s_acc[i] * s_corr[g]);
    }
    TRACE_END(kTraceAttention);
    return;
  }

  // Merge: the last range of this (token, head group) to finish does it.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t* counter = a.counters + head0;
    const int done = atomicAdd(counter, 1) & kCountMask;  // (see accumulate mode)
    s_last = done == used - 1;
    if (s_last) *counter = 0;  // ready for the next call
  }
  __syncthreads();
  TRACE_MARK(2);
  if (!s_last) {
    TRACE_END(kTraceAttention);
    return;
  }
  __threadfence();
  // Each merge step reads L2 once: (m, l) of up to 32 ranges stay in
  // registers, and the ranges' o come kMergeLoads at a time, all of them in
  // flight. The tensor-core body (registers to spare) asks for those of a
  // thread's first four dims before the weights are worked out, so that the
  // two reads overlap.
  const int hd4 = hd / 4;
  auto ranges_o = [&](int i) {
    return reinterpret_cast<const float4*>(part_o + (head0 + i / hd4) * a.n_splits * hd +
                                           (i % hd4) * 4);
  };
  auto load_o = [&](const float4* po, int s, float4* v) {
#pragma unroll
    for (int u = 0; u < kMergeLoads; ++u)
      v[u] =
          s + u < used ? __ldcg(po + (size_t)(s + u) * hd4) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  };
  float4 first[kMergeLoads];
  if (MMA && (int)threadIdx.x < hpb * hd4) load_o(ranges_o(threadIdx.x), 0, first);
  for (int g = warp; g < hpb; g += kThreads / 32) {
    const float l = ranges_max_sum(part_ml + (head0 + g) * a.n_splits, used, lane, s_score[g]).y;
    __syncwarp();
    const float inv = 1.0f / l;
    for (int s = lane; s < used; s += 32) s_score[g][s] *= inv;
  }
  __syncthreads();
  TRACE_MARK(3);
  // Four dims per thread and pass.
  for (int i = threadIdx.x; i < hpb * hd4; i += kThreads) {
    const int g = i / hd4, d = (i % hd4) * 4;
    const float* w = s_score[g];
    float4 o = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    for (int s = 0; s < used; s += kMergeLoads) {
      float4 v[kMergeLoads];
      if (MMA && i == (int)threadIdx.x && s == 0) {
#pragma unroll
        for (int u = 0; u < kMergeLoads; ++u) v[u] = first[u];
      } else {
        load_o(ranges_o(i), s, v);
      }
#pragma unroll
      for (int u = 0; u < kMergeLoads; ++u) {
        if (s + u >= used) break;
        const float ws = w[s + u];
        o.x += v[u].x * ws, o.y += v[u].y * ws, o.z += v[u].z * ws, o.w += v[u].w * ws;
      }
    }
    emit(g, d, o.x);
    emit(g, d + 1, o.y);
    emit(g, d + 2, o.z);
    emit(g, d + 3, o.w);
  }
  TRACE_END(kTraceAttnMerged);
}

}  // namespace

size_t attention_scratch_floats(int T, int n_heads, int hd, int n_splits) {
  n_splits = std::min(n_splits, kMaxSplits);
  return (size_t)T * n_heads * n_splits * (hd + 2);
}

size_t attention_counters(int T, int n_heads) {
  return (size_t)T * n_heads;
}

int attention_decode_groups(int n_heads, int n_kv, int hd) {
  return n_heads / heads_per_block(n_heads / n_kv, true, hd);
}

namespace {

size_t dyn_smem(int hpb, int hd) {
  return (size_t)(kThreads / (hd / 8)) * hpb * hd * sizeof(float);  // >= [hpb][hd]
}
// Decode attention is a chain of trips through memory, and a range of keys
// that shares its SM with another range scores 2 to 3 times slower than one
// alone. So where one block an SM still gives every (token, head group) at
// least two ranges, attention_decode_splits() sizes the split for one block
// an SM (16 ranges a KV head on a 132-SM H200 at one token, 33 otherwise)
// and the tensor-core body's launch pads its shared memory so that only one
// block fits. H200, 34B decode, same run: 191.7 against 189.3 tok/s @512,
// 183.4 against 177.9 @4096. REWOO_ATTN_SOLO=0 turns it off (for
// comparison), as does a device where the padding would not keep a second
// block out.
constexpr size_t kSoloSmem = 120 * 1024;
constexpr int kSoloMinSplits = 2;

// The instantiation whose register arrays hold hpb heads, or the
// tensor-core body.
using AttentionKernel = void (*)(const AttentionArgs, int);
AttentionKernel kernel_for(int hpb, bool mma) {
  if (mma) return attention_kernel<kAttnMaxGroup, true>;
  return hpb <= 1   ? attention_kernel<1, false>
         : hpb <= 2 ? attention_kernel<2, false>
         : hpb <= 4 ? attention_kernel<4, false>
                    : attention_kernel<8, false>;
}

int device_sms() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
    return 1;
  return std::max(sms, 1);
}

// Solo launches are on and work here: the kernel's shared-memory limit could
// be raised to the padding and exactly one padded block fits an SM (checked
// once).
bool solo_available() {
  static const bool ok = [] {
    const char* e = std::getenv("REWOO_ATTN_SOLO");
    if (e && std::strcmp(e, "0") == 0) return false;
    const auto kernel = attention_kernel<kAttnMaxGroup, true>;
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)kSoloSmem) != cudaSuccess)
      return false;
    int b = 0;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel, kThreads, kSoloSmem) ==
               cudaSuccess &&
           b == 1;
  }();
  return ok;
}

// Whether a decode launch of the tensor-core body with this grid runs solo.
bool solo(bool mma, long blocks, int n_splits) {
  return mma && n_splits >= kSoloMinSplits && blocks <= device_sms() && solo_available();
}

// The shared memory a launch asks for (solo: padded).
size_t launch_smem(int hpb, int hd, bool solo_launch) {
  return solo_launch ? std::max(kSoloSmem, dyn_smem(hpb, hd)) : dyn_smem(hpb, hd);
}

// Accumulate mode where AttentionArgs::accumulate asks for it and the launch
// is solo; REWOO_ATTN_ACC=0 keeps the merge (for comparison).
bool accumulate_on() {
  static const bool on = [] {
    const char* e = std::getenv("REWOO_ATTN_ACC");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  return on;
}

}  // namespace

bool attention_decode_accumulates(const AttentionArgs& args) {
  if (!args.accumulate || !args.qkv || args.T <= 0 || !accumulate_on()) return false;
  const int splits = std::clamp(args.n_splits, 1, kMaxSplits);
  const int G = args.n_heads / args.n_kv;
  const bool mma = decode_mma(args.hd);
  const long blocks = (long)splits * args.n_kv * (G / heads_per_block(G, true, args.hd)) * args.T;
  return solo(mma, blocks, splits);
}

int attention_decode_splits(int T, int n_heads, int n_kv, int hd, int max_splits) {
  const int per_split = attention_decode_groups(n_heads, n_kv, hd) * std::max(T, 1);
  const int sms = device_sms();
  const bool mma = decode_mma(hd);
  int want = sms / per_split;  // one block an SM
  if (!solo(mma, (long)per_split * want, want)) {
    int b = 0;
    const int hpb = heads_per_block(n_heads / n_kv, true, hd);
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel_for(hpb, mma), kThreads,
                                                      dyn_smem(hpb, hd)) != cudaSuccess)
      b = 1;
    // Rounded down: blocks past one wave would double the kernel's time.
    want = sms * std::max(b, 1) / per_split;
  }
  return std::clamp(want, 1, std::max(max_splits, 1));
}

void attention_decode(cudaStream_t stream, const AttentionArgs& args) {
  if (args.T <= 0) return;
  AttentionArgs a = args;
  a.n_splits = std::clamp(a.n_splits, 1, kMaxSplits);  // longer ranges instead
  a.min_chunk = std::max(32, a.min_chunk);
  const int G = a.n_heads / a.n_kv;
  const bool decode = a.qkv != nullptr, mma = decode && decode_mma(a.hd);
  if (mma) a.min_chunk = std::max(kMmaMinChunk, a.min_chunk);
  const int hpb = heads_per_block(G, decode, a.hd);
  const dim3 grid(a.n_splits, a.n_kv * (G / hpb), a.T);
  const bool solo_launch = solo(mma, (long)grid.x * grid.y * grid.z, a.n_splits);
  a.accumulate = a.accumulate && solo_launch && accumulate_on();
  launch_kernel(kernel_for(hpb, mma), grid, dim3(kThreads), launch_smem(hpb, a.hd, solo_launch),
                stream, a, hpb);
}

REWOO_TRACE_SETTER(attention)

}  // namespace rewoo::kernels
