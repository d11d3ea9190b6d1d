// GPTQ GEMV for decode batches on tensor cores (mma.sync m16n8k16), with
// the operands swapped: the dequantized weights are the mma's A operand (16
// output columns x 16 k) and the activations its B operand (16 k x 8 batch
// rows), so a batch of one wastes 7/8 of each mma rather than 15/16.
//
// Each warp owns 32 output columns. Thread (g = lane / 4, t = lane % 4) loads
// 16 bytes per packed row: the 4 adjacent columns col0 + 4g + c, laid out by
// gptq_pack() so that the 128 loads of a block's k-block are one contiguous
// 2 KB (3-bit: three of them). Tile 0 holds
// columns c = 0 (A rows g) and c = 1 (A rows g + 8), tile 1 columns 2 and 3.
// Along K a thread owns V consecutive reordered rows (8 for 4-bit, 32 for
// 3-bit) of each k-block of 4V rows; its V values are cut into fp16 pairs
// P[0], P[1], ... and mma step s takes P[2s] as A columns (2t, 2t+1) and
// P[2s+1] as (2t+8, 2t+9). A dot product does not care in which order its
// terms come, so the activations are staged in that same pair order
// (pair_row(), gptq_input_order()) and the B fragment of thread t is simply
// the staged x at its own V rows: one 16-byte load per 8 rows.
//
// Dequantization in registers, fp16 magic-number form (0x6400 = 1024.0):
//  4-bit (Marlin's trick): (w & 0x000F000F) | 0x64006400 is the half2
//   (1024 + q0, 1024 + q4); with mask 0x00F000F0 it is (1024 + 16 q1, ...).
//   The activations meeting the "16 q" pairs are staged divided by 16
//   (kStagedDiv16), so these raw values need no arithmetic. Without groups
//   a second mma per step subtracts (1024 + z, 1024 + 16 z) times the same
//   activations (exact in fp16, summed in fp32) and the scale is applied once
//   per output; with groups each pair is (raw - offset) * scale in registers.
//  3-bit, kernel layout (gptq_pack): word j of a 32-row unit holds rows
//   10j+i at bits 3i (i < 5) and rows 10j+5+i at bits 16 + 3i; bit 15 / 31 of
//   word j is bit j of row 30 / 31. Pairs (10j+i, 10j+5+i) come out with one
//   mask each (after a shift by 6 for i = 3, 4), then an exact fma or
//   subtraction removes the magic number and the zero point.
//
// Blocks split K (whole waves of resident blocks) and add their partial sums
// to `out` atomically; activations past the warp's K range are loaded as
// zero, which keeps the inner loop free of checks.
#include "kernels/gptq_gemv.cuh"

#include "kernels/common.cuh"

#include <algorithm>

namespace rewoo::kernels {
namespace {

constexpr int kWarpsN = 4;  // warps along N of the packed layout's 128-column tiles

// Reordered row (within a thread's chunk of V rows) held at pair position p.
template <int BITS>
__host__ __device__ __forceinline__ int pair_row(int p) {
  if constexpr (BITS == 4) {
    return (p & 1) * 4 + (p >> 1);  // pairs (0,4) (1,5) (2,6) (3,7)
  } else {
    if (p >= 30) return p;  // pair (30, 31)
    const int i = p >> 1;   // pair index 0..14
    return (i / 5) * 10 + (i % 5) + (p & 1) * 5;
  }
}

// (a & MASK) | MAGIC in one instruction (the compiler splits it in two).
template <uint32_t MASK, uint32_t MAGIC>
__device__ __forceinline__ uint32_t and_or(uint32_t a) {
  uint32_t r;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(a), "n"(MASK), "n"(MAGIC));
  return r;
}

// The 4-bit word q -> raw pairs (1024 + q0, 1024 + q4), (1024 + 16 q1, ...),
// (1024 + q2, ...), (1024 + 16 q3, ...).
__device__ __forceinline__ void dequant4_raw(uint32_t q, uint32_t* p) {
  const uint32_t q8 = q >> 8;
  p[0] = and_or<0x000F000Fu, 0x64006400u>(q);
  p[1] = and_or<0x00F000F0u, 0x64006400u>(q);
  p[2] = and_or<0x000F000Fu, 0x64006400u>(q8);
  p[3] = and_or<0x00F000F0u, 0x64006400u>(q8);
}

// Pair I (0..15) of the three 3-bit words of one column, minus the zero point
// (z0 = 1024 + z, z3 = -(128 + z), z6 = -(16 + z)), times s when SCALE.
template <int I, bool SCALE>
__device__ __forceinline__ uint32_t dequant3_pair(const uint32_t* q, const uint32_t* q6, half2 s,
                                                  half2 z0, half2 z3, half2 z6) {
  half2 v;
  if constexpr (I == 15) {
    const uint32_t hi =
        ((q[0] >> 15) & 0x00010001u) | ((q[1] >> 14) & 0x00020002u) | ((q[2] >> 13) & 0x00040004u);
    v = __hsub2(as_h2(hi | 0x64006400u), z0);
  } else {
    constexpr int j = I / 5, i = I % 5;
    const uint32_t a = i >= 3 ? q6[j] : q[j];
    constexpr int pos = i >= 3 ? i - 2 : i;  // 0, 1 (bits 3..), 2 (bits 6..)
    if constexpr (pos == 0) {
      v = __hsub2(as_h2(and_or<0x00070007u, 0x64006400u>(a)), z0);
    } else if constexpr (pos == 1) {
      v = __hfma2(as_h2(and_or<0x00380038u, 0x64006400u>(a)), __float2half2_rn(0.125f), z3);
    } else {
      v = __hfma2(as_h2(and_or<0x01C001C0u, 0x64006400u>(a)), __float2half2_rn(1.0f / 64.0f), z6);
    }
  }
  return as_u32(SCALE ? __hmul2(v, s) : v);
}

template <int... I>
struct Seq {};

// All 16 pairs of one 3-bit column.
template <bool SCALE, int... I>
__device__ __forceinline__ void dequant3(const uint32_t* q, half2 s, half2 z0, half2 z3, half2 z6,
                                         uint32_t* p, Seq<I...>) {
  const uint32_t q6[3] = {q[0] >> 6, q[1] >> 6, q[2] >> 6};
  ((p[I] = dequant3_pair<I, SCALE>(q, q6, s, z0, z3, z6)), ...);
}

// Zero-point terms of one column. 4-bit: (1024 + z, 1024 + 16 z), what the
// raw pairs of dequant4_raw() lose; 3-bit: those of dequant3_pair().
struct ZeroTerms {
  half2 z0, z3, z6;
};
template <int BITS>
__device__ __forceinline__ ZeroTerms zero_terms(half zero) {
  ZeroTerms z;
  z.z0 = __half2half2(__hadd(zero, __float2half(1024.0f)));
  if constexpr (BITS == 4) {
    z.z3 = __half2half2(__hfma(zero, __float2half(16.0f), __float2half(1024.0f)));
  } else {
    z.z3 = __half2half2(__hneg(__hadd(zero, __float2half(128.0f))));
    z.z6 = __half2half2(__hneg(__hadd(zero, __float2half(16.0f))));
  }
  return z;
}

// Word index, in the tiled layout, of packed word row `wr` (AutoGPTQ
// numbering; the kernel layout for 3-bit) and column n of a K-row matrix.
// A k-block holds 4 * WPT word rows: row t * WPT + j is load j of lane t
// (mod 4) of each warp; the 4 columns of one 16-byte load are consecutive.
__host__ __device__ __forceinline__ size_t tiled_word(int wr, int n, int K, int bits) {
  const int wpt = bits == 4 ? 1 : 3;
  const int kb = wr / (4 * wpt), r = wr % (4 * wpt), t = r / wpt, j = r % wpt;
  const int n_kb = ceil_div(K, bits == 4 ? 32 : 128);
  const size_t tile = ((size_t)(n / 128) * n_kb + kb) * wpt + j;  // 128 columns x 4 lanes
  return ((tile * kWarpsN + (n / 32) % kWarpsN) * 32 + 4 * ((n / 4) % 8) + t) * 4 + n % 4;
}

// Stages x * g (GemvNorm) for staged positions k0 .. k1 of `rows` rows
// into xs (cw 16-byte words a row), in the pair order of gptq_input_order()
// and with its 1/16 factors; with add_ss, also writes each word's sum of x^2
// over its source rows to s_part (same index as the word). One flat loop,
// unrolled, so that a thread's loads for several words (and rows) are in
// flight together. Without nrm.src (no act-order permutation) a word's 8
// positions come from 8 consecutive source rows of one k-block unit (4-bit)
// or from its 32-row unit (3-bit).
template <int BITS>
__device__ __forceinline__ void stage_normed(uint4* xs, float* s_part, const GemvNorm& nrm,
                                             int rows, int K, int k0, int k1, int cw,
                                             bool add_ss) {
  constexpr int V = BITS == 4 ? 8 : 32;
#pragma unroll 2
  for (int e = threadIdx.x; e < rows * cw; e += blockDim.x) {
    const int m = e / cw, c = e - m * cw;
    const float* x = nrm.x + (size_t)m * K;
    float ss = 0.0f;
    const int p0 = k0 + 8 * c;
    uint4 word = make_uint4(0, 0, 0, 0);
    if (p0 < k1) {
      float v[8];
      if (nrm.src) {
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const int32_t s = __ldg(nrm.src + p0 + i);
          const int r = s & (kStagedDiv16 - 1);
          const float xv = __ldcg(x + r);
          ss += xv * xv;
          v[i] = xv * __ldg(nrm.g + r) * (s & kStagedDiv16 ? 0.0625f : 1.0f);
        }
      } else if constexpr (BITS == 4) {
        float xv[8], gv[8];
        ldcg_floats<8>(x + p0, xv);
        const float4 g0 = __ldg(reinterpret_cast<const float4*>(nrm.g + p0));
        const float4 g1 = __ldg(reinterpret_cast<const float4*>(nrm.g + p0) + 1);
        gv[0] = g0.x, gv[1] = g0.y, gv[2] = g0.z, gv[3] = g0.w;
        gv[4] = g1.x, gv[5] = g1.y, gv[6] = g1.z, gv[7] = g1.w;
#pragma unroll
        for (int i = 0; i < 8; ++i) ss += xv[i] * xv[i];
#pragma unroll
        for (int s = 0; s < 8; ++s) {
          const int r = pair_row<4>(s);
          v[s] = xv[r] * gv[r] * ((s >> 1) % 2 ? 0.0625f : 1.0f);
        }
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const int sl = (p0 + i) % V, r = p0 + i - sl + pair_row<BITS>(sl);
          const float xv = __ldcg(x + r);
          ss += xv * xv;
          v[i] = xv * __ldg(nrm.g + r);
        }
      }
      half2* h = reinterpret_cast<half2*>(&word);
#pragma unroll
      for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
    }
    xs[e] = word;
    if (add_ss) s_part[e] = ss;
  }
}

// WN warps side by side along N (32 columns each): 4 is one packed tile a
// block, 8 two, which halves the x that each SM stages per product.
template <int BITS, int NT, int U, bool GROUPED, int WK, int MINB, bool XS, int WN>
__global__ void __launch_bounds__(32 * WN * WK, MINB)
    gptq_gemv_kernel(const half* __restrict__ xh, const uint32_t* __restrict__ qweight,
                     const half2* __restrict__ sz, const float* __restrict__ bias,
                     float* __restrict__ out, int M, int K, int N, int ldo, int group_shift,
                     int kchunk, const GemvNorm nrm) {
  constexpr int V = BITS == 4 ? 8 : 32;   // reordered rows per thread per k-block
  constexpr int KB = 4 * V;               // rows per k-block
  constexpr int WPT = BITS == 4 ? 1 : 3;  // 16-byte weight loads per thread per k-block
  constexpr int XPT = V / 8;              // 16-byte activation loads per batch tile
  constexpr int NP = V / 2;               // fp16 pairs per column per k-block
  __shared__ float red[WK > 1 ? (WK - 1) * WN * 32 * 8 * NT : 1];
  extern __shared__ uint4 xs[];  // XS: the block's batch rows of x, k0 .. k0 + kchunk
  const int k0 = blockIdx.y * kchunk;
  const int k1 = min(K, k0 + kchunk);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wn = warp % WN, wk = warp / WN;
  const int g = lane >> 2, t = lane & 3;
  const int gw = blockIdx.x * WN + wn;  // 32-column group of this warp
  const int col0 = gw * 32;
  // Columns past N (N % 128 != 0) read zero padding and the scales of
  // columns 0..3, and are never stored.
  const int colt = col0 + 4 * g < N ? col0 + 4 * g : 0;
  const int nkb = ceil_div(k1 - k0, KB);
  // k-blocks of this warp (none where all its columns are past N: with WN = 8
  // the second packed tile of the last block may not exist)
  const int n_my =
      nkb > wk && (WN == kWarpsN || col0 < N) ? (nkb - wk + WK - 1) / WK : 0;
  const int r0 = k0 + wk * KB + V * t;                       // thread's first row
  // Tiled weights (gptq_pack): load j of k-block kb of this warp is uint4
  // ((bx * k-blocks + kb) * WPT + j) * 128 + 32 * wn + lane.
  const uint4* wp =
      reinterpret_cast<const uint4*>(qweight) +
      ((size_t)((WN == kWarpsN ? (int)blockIdx.x : gw / kWarpsN) * ceil_div(K, KB) +
                (k0 + wk * KB) / KB) * WPT * kWarpsN +
       (WN == kWarpsN ? wn : gw % kWarpsN)) * 32 +
      lane;
  constexpr int kJStep = kWarpsN * 32;       // uint4 between the loads of one k-block
  constexpr int kWStep = WK * WPT * kJStep;  // between a warp's k-blocks
  constexpr int kXStep = WK * KB / 8;        // uint4 of x between them
  const uint4* xp[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int row = min(nt * 8 + g, M - 1);
    xp[nt] = XS ? xs + (size_t)row * (kchunk / 8) + (r0 - k0) / 8
                : reinterpret_cast<const uint4*>(xh + (size_t)row * K + r0);
  }

  float acc[2][NT][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][nt][e] = 0.0f;

  // Without groups, a batch tile of one subtracts the 4-bit offsets with a
  // second mma (cheaper than 4 subtractions per column word); larger batches
  // and 3-bit subtract in registers. Per-column constants: the negated
  // offsets as mma A fragments, or the zero-point terms.
  constexpr bool kConstMma = BITS == 4 && !GROUPED && NT == 1;
  uint32_t cneg[2][4];
  ZeroTerms zc[4];
  if constexpr (!GROUPED) {
    const uint4 g0 = __ldg(reinterpret_cast<const uint4*>(sz + colt));
    const uint32_t* gw = reinterpret_cast<const uint32_t*>(&g0);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      zc[c] = zero_terms<BITS>(__high2half(as_h2(gw[c])));
      if constexpr (kConstMma) {
        cneg[c / 2][c % 2] = as_u32(__hneg2(zc[c].z0));
        cneg[c / 2][2 + c % 2] = as_u32(__hneg2(zc[c].z3));
      }
    }
  }

  // Register buffers; k-blocks past the warp's range keep stale weights
  // (finite raw values) and get zero activations and zero scales.
  uint4 w[2][U][WPT], xv[2][U][NT][XPT], gs[2][U];
#pragma unroll
  for (int b = 0; b < 2; ++b)
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int j = 0; j < WPT; ++j) w[b][u][j] = make_uint4(0, 0, 0, 0);
  // k-blocks of this warp that hold rows of this thread: a 3-bit k-block
  // (128 rows) can end past K, and the thread's 32-row unit is then either
  // whole or absent (K % 32 == 0).
  const int n_thr = BITS == 4 ? n_my : max(0, min(n_my, ceil_div(k1 - r0, WK * KB)));
  auto load_w = [&](int buf, int i) {
    const int rem = n_thr - i;
    const uint4* q = wp + (size_t)i * kWStep;
#pragma unroll
    for (int u = 0; u < U; ++u, q += kWStep) {
      if (u < rem) {
#pragma unroll
        for (int j = 0; j < WPT; ++j) w[buf][u][j] = ld_stream(q + j * kJStep);
      }
      if constexpr (GROUPED) {
        const int r = r0 + (i + u) * WK * KB;
        gs[buf][u] =
            u < rem
                ? __ldg(reinterpret_cast<const uint4*>(sz + (size_t)(r >> group_shift) * N + colt))
                : make_uint4(0, 0, 0, 0);
      }
    }
  };
  // Activations from shared memory (XS), or through L2 (ld.global.cg):
  // under programmatic dependent launch this kernel starts before the one
  // writing them has finished, and the non-coherent path could serve stale
  // lines.
  auto load_x = [&](int buf, int i) {
    const int rem = n_thr - i;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const uint4* xq = xp[nt] + i * kXStep;
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int j = 0; j < XPT; ++j)
          xv[buf][u][nt][j] = u >= rem ? make_uint4(0, 0, 0, 0)
                              : XS     ? xq[u * kXStep + j]
                                       : __ldcg(xq + u * kXStep + j);
    }
  };
  auto compute = [&](int buf) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      uint32_t p[4][NP];
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        half2 s2;
        ZeroTerms z;
        if constexpr (GROUPED) {
          const half2 sc = as_h2(reinterpret_cast<const uint32_t*>(&gs[buf][u])[c]);
          s2 = __low2half2(sc);
          z = zero_terms<BITS>(__high2half(sc));
        } else {
          z = zc[c];
        }
        if constexpr (BITS == 4) {
          dequant4_raw(reinterpret_cast<const uint32_t*>(&w[buf][u][0])[c], p[c]);
          if constexpr (!kConstMma) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              const half2 v = __hsub2(as_h2(p[c][i]), i & 1 ? z.z3 : z.z0);
              p[c][i] = as_u32(GROUPED ? __hmul2(v, s2) : v);
            }
          }
        } else {
          const uint32_t q[3] = {reinterpret_cast<const uint32_t*>(&w[buf][u][0])[c],
                                 reinterpret_cast<const uint32_t*>(&w[buf][u][1])[c],
                                 reinterpret_cast<const uint32_t*>(&w[buf][u][2])[c]};
          dequant3<GROUPED>(q, s2, z.z0, z.z3, z.z6, p[c],
                            Seq<0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15>{});
        }
      }
#pragma unroll
      for (int s = 0; s < NP / 2; ++s)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint32_t* xb =
              reinterpret_cast<const uint32_t*>(&xv[buf][u][nt][s / 2]) + 2 * (s % 2);
#pragma unroll
          for (int tile = 0; tile < 2; ++tile) {
            const uint32_t a[4] = {p[2 * tile][2 * s], p[2 * tile + 1][2 * s],
                                   p[2 * tile][2 * s + 1], p[2 * tile + 1][2 * s + 1]};
            mma_16816(acc[tile][nt], a, xb[0], xb[1]);
            if constexpr (kConstMma) mma_16816(acc[tile][nt], cneg[tile], xb[0], xb[1]);
          }
        }
    }
  };
  // Weights never change: the first ones load before waiting for the
  // previous kernel; activations are read only after it.
  TRACE_BEGIN;
  pdl_trigger();
  load_w(0, 0);
  pdl_wait();
  TRACE_RELEASED;
  if constexpr (XS) {
    // The block's rows of x, read once: its four column warps share them, and
    // reading them from L2 in every warp costs as much traffic as the weights.
    const int rows = min(M, NT * 8), cw = kchunk / 8;
    // (folded norm, first column tile) the words' sums of squares, after x
    float* s_part = reinterpret_cast<float*>(xs + rows * cw);
    const bool add_ss = nrm.x && nrm.sumsq && blockIdx.x == 0;
    if (nrm.x) {
      stage_normed<BITS>(xs, s_part, nrm, rows, K, k0, k1, cw, add_ss);
    } else {
      for (int e = threadIdx.x; e < rows * cw; e += blockDim.x) {
        const int m = e / cw, c = e - m * cw;
        xs[e] = k0 + 8 * c < k1
                    ? __ldcg(reinterpret_cast<const uint4*>(xh + (size_t)m * K + k0) + c)
                    : make_uint4(0, 0, 0, 0);
      }
    }
    __syncthreads();
    if (add_ss) {
      // The blocks of the first column tile add the rows' sums of squares
      // over their K chunk, a warp a row.
      for (int m = warp; m < rows; m += WK * WN) {
        float ss = 0.0f;
        for (int c = lane; c < cw; c += 32) ss += s_part[m * cw + c];
        ss = warp_sum(ss);
        if (lane == 0) atomicAdd(nrm.sumsq + m, ss);
      }
    }
  }
  TRACE_MARK(0);
  load_x(0, 0);
  for (int i = 0; i < n_my; i += 2 * U) {
    load_w(1, i + U);
    load_x(1, i + U);
    compute(0);
    if (i + U >= n_my) break;
    load_w(0, i + 2 * U);
    load_x(0, i + 2 * U);
    compute(1);
  }
  TRACE_MARK(1);

  // Sum the WK partial tiles of each column group, then add to out.
  if constexpr (WK > 1) {
    constexpr int kVals = 2 * NT * 4;
    if (wk > 0) {
      float* dst = red + ((wk - 1) * WN + wn) * 32 * kVals + lane;
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) dst[((i * NT + nt) * 4 + e) * 32] = acc[i][nt][e];
    }
    __syncthreads();
    if (wk != 0) return;  // (thread 0, the trace's, has wk == 0)
#pragma unroll
    for (int o = 1; o < WK; ++o) {
      const float* src = red + ((o - 1) * WN + wn) * 32 * kVals + lane;
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[i][nt][e] += src[((i * NT + nt) * 4 + e) * 32];
    }
  }
  if (2 * t >= M) return;  // holds no stored batch column (never thread 0)
  const bool add_bias = bias != nullptr && blockIdx.y == 0;
#pragma unroll
  for (int tile = 0; tile < 2; ++tile)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int n = col0 + 4 * g + 2 * tile + h;
      if (n >= N) continue;
      const float scale = GROUPED ? 1.0f : __low2float(sz[n]);
      const float b = add_bias ? bias[n] : 0.0f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int m = nt * 8 + 2 * t + e;
          if (m < M) atomicAdd(out + (size_t)m * ldo + n, acc[tile][nt][2 * h + e] * scale + b);
        }
    }
  TRACE_END(kTraceGemv);
}

int sm_count() {
  static int n = [] {
    int dev = 0, v = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev);
    return v > 0 ? v : 100;
  }();
  return n;
}

// Splits K so that the block count is close to whole waves of the resident
// slots, keeping >= 2 k-blocks of `kb` rows per K-warp and chunks of at most
// max_chunk rows (a multiple of kb * wk * u); returns kchunk, a whole number
// of `u` k-blocks per warp where that keeps the split. waves > 0 asks for
// about that many waves of blocks instead (REWOO_GEMV_WAVES, for measuring:
// later waves take the slots that free first, evening out SMs that stream
// at different rates).
int choose_kchunk(int K, int nb_n, int slots, int kb, int wk, int u, int max_chunk,
                  int waves = 0) {
  const int min_split = ceil_div(K, max_chunk);
  const int max_split = std::max(min_split, K / (2 * kb * wk));
  int best = min_split;
  if (waves > 0) {
    best = std::clamp(waves * slots / nb_n, min_split, max_split);
  } else {
    double best_eff = 0;
    for (int ks = min_split; ks <= std::max(min_split, std::min(max_split, 64)); ++ks) {
      const int blocks = nb_n * ks;
      const int w = ceil_div(blocks, slots);
      // busy fraction of the last wave, discounted per extra split
      const double eff = (double)blocks / (w * slots) * (1.0 - 0.01 * ks);
      if (eff > best_eff + 1e-9) {
        best_eff = eff;
        best = ks;
      }
    }
  }
  const int fine = ceil_div(ceil_div(K, best), kb * wk) * kb * wk;
  const int coarse = ceil_div(ceil_div(K, best), kb * wk * u) * kb * wk * u;
  return ceil_div(K, coarse) == ceil_div(K, fine) && coarse <= max_chunk ? coarse : fine;
}

// Shared memory for the staged x of one block (XS kernels), at most.
constexpr int kXsBytes = 16384;

template <int BITS, int NT, bool GROUPED, int U, int WK, int MINB, bool XS, int WN = kWarpsN>
void launch_gemv(cudaStream_t stream, const half* xh, const uint32_t* qweight, const half2* sz,
                 const float* bias, float* out, int M, int K, int N, int ldo, int group_size,
                 const GemvNorm& nrm) {
  auto kernel = gptq_gemv_kernel<BITS, NT, U, GROUPED, WK, MINB, XS, WN>;
  static const int per_sm = [&] {
    int b = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel, 32 * WN * WK, 0);
    return b > 0 ? b : 1;
  }();
  int shift = 0;
  while ((1 << shift) < group_size) ++shift;
  const int nb_n = ceil_div(N, 32 * WN);
  constexpr int kb = 4 * (BITS == 4 ? 8 : 32), step = kb * WK * 2 * U;
  const int rows = std::min(M, NT * 8);
  const int max_chunk = XS ? std::max(step, kXsBytes / (2 * rows) / step * step) : 1 << 30;
  static const int waves = [] {
    const char* e = std::getenv("REWOO_GEMV_WAVES");
    return e ? std::max(0, std::atoi(e)) : 0;
  }();
  const int kchunk =
      choose_kchunk(K, nb_n, per_sm * sm_count(), kb, WK, 2 * U, max_chunk, waves);
  dim3 grid(nb_n, ceil_div(K, kchunk));
  // XS: x staged, then (folded norm) the words' sums of squares.
  const size_t smem = XS ? (size_t)rows * kchunk * 2 + (nrm.x ? (size_t)rows * kchunk / 2 : 0) : 0;
  launch_kernel(kernel, grid, dim3(32 * WN * WK), smem, stream,
                xh, qweight, sz, bias, out, M, K, N, ldo, shift, kchunk, nrm);
}

__global__ void gptq_stage_input_kernel(const float* __restrict__ x,
                                        const int32_t* __restrict__ dest, half* __restrict__ xh,
                                        int M, int K) {
  pdl_enter();
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (size_t)M * K) return;
  const size_t m = i / K;
  gptq_store_staged(xh + m * K, dest[i % K], x[i]);
}

// Block (128-column tile, k-block) of the packed layout; each thread reads
// its 16-byte loads as the GEMV does (contiguous per block) and writes its 4
// columns x V rows as 8-byte stores.
template <int BITS>
__global__ void __launch_bounds__(32 * kWarpsN)
    gptq_dequant_kernel(const uint32_t* __restrict__ qweight, const half2* __restrict__ sz,
                        half* __restrict__ w, int K, int N, int group_size) {
  constexpr int V = BITS == 4 ? 8 : 32, KB = 4 * V, WPT = BITS == 4 ? 1 : 3;
  pdl_enter();
  const int lane = threadIdx.x & 31, t = lane & 3;
  const int n0 = blockIdx.x * 128 + (threadIdx.x >> 5) * 32 + 4 * (lane >> 2);
  const int r0 = blockIdx.y * KB + V * t;
  if (n0 >= N || r0 >= K) return;
  const uint4* src = reinterpret_cast<const uint4*>(qweight) +
                     ((size_t)blockIdx.x * ceil_div(K, KB) + blockIdx.y) * WPT * 128 + threadIdx.x;
  uint32_t wd[WPT][4];
#pragma unroll
  for (int j = 0; j < WPT; ++j) {
    const uint4 v = ld_stream(src + j * 128);
    wd[j][0] = v.x, wd[j][1] = v.y, wd[j][2] = v.z, wd[j][3] = v.w;
  }
  const uint4 g = __ldg(reinterpret_cast<const uint4*>(sz + (size_t)(r0 / group_size) * N + n0));
  const half2* gh = reinterpret_cast<const half2*>(&g);
  float s[4], z[4];
#pragma unroll
  for (int c = 0; c < 4; ++c) s[c] = __low2float(gh[c]), z[c] = __high2float(gh[c]);
  // value of row i (0..V-1) of column c
  auto q = [&](int c, int i) -> uint32_t {
    if constexpr (BITS == 4) {
      return (wd[0][c] >> (4 * i)) & 15u;
    } else {
      if (i < 30) {
        const int j = i / 10, r = i % 10;
        return (wd[j][c] >> (r < 5 ? 3 * r : 16 + 3 * (r - 5))) & 7u;
      }
      const int b = i == 30 ? 15 : 31;
      return ((wd[0][c] >> b) & 1u) | (((wd[1][c] >> b) & 1u) << 1) | (((wd[2][c] >> b) & 1u) << 2);
    }
  };
#pragma unroll
  for (int i = 0; i < V; ++i) {
    if (r0 + i >= K) break;
    uint2 out;
    half2* oh = reinterpret_cast<half2*>(&out);
#pragma unroll
    for (int c = 0; c < 2; ++c)
      oh[c] = __floats2half2_rn(s[2 * c] * ((float)q(2 * c, i) - z[2 * c]),
                                s[2 * c + 1] * ((float)q(2 * c + 1, i) - z[2 * c + 1]));
    *reinterpret_cast<uint2*>(w + (size_t)(r0 + i) * N + n0) = out;
  }
}

__global__ void gptq_permute_half_kernel(const float* __restrict__ x,
                                         const int32_t* __restrict__ perm, half* __restrict__ xh,
                                         int M, int K) {
  pdl_enter();
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (size_t)M * K) return;
  const int m = (int)(i / K), k = (int)(i % K);
  xh[i] = __float2half_rn(x[(size_t)m * K + (perm ? perm[k] : k)]);
}

// AutoGPTQ 3-bit unit (32 rows, 3 words) -> kernel layout.
__device__ void gptq3_repack_unit(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t* o) {
  uint32_t q[32];
  for (int i = 0; i < 10; ++i) q[i] = (w0 >> (3 * i)) & 7u;
  q[10] = ((w0 >> 30) & 3u) | ((w1 & 1u) << 2);
  for (int i = 0; i < 10; ++i) q[11 + i] = (w1 >> (3 * i + 1)) & 7u;
  q[21] = ((w1 >> 31) & 1u) | ((w2 & 3u) << 1);
  for (int i = 0; i < 10; ++i) q[22 + i] = (w2 >> (3 * i + 2)) & 7u;
  o[0] = o[1] = o[2] = 0;
  for (int j = 0; j < 3; ++j) {
    for (int i = 0; i < 5; ++i) {
      o[j] |= q[10 * j + i] << (3 * i);
      o[j] |= q[10 * j + 5 + i] << (16 + 3 * i);
    }
    o[j] |= ((q[30] >> j) & 1u) << 15;
    o[j] |= ((q[31] >> j) & 1u) << 31;
  }
}

// One 32-row unit of one column, AutoGPTQ layout -> tiled kernel layout;
// the padding (columns up to a multiple of 128, rows up to a whole k-block)
// is written as zeros.
__global__ void gptq_pack_kernel(const uint32_t* __restrict__ src, uint32_t* __restrict__ dst,
                                 int K, int N, int bits) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  const int unit = blockIdx.y;
  const bool in = n < N && unit * 32 < K;
  uint32_t w[4] = {0, 0, 0, 0};
  for (int j = 0; j < bits; ++j)
    if (in) w[j] = src[(size_t)(unit * bits + j) * N + n];
  if (bits == 3 && in) {
    uint32_t o[3];
    gptq3_repack_unit(w[0], w[1], w[2], o);
    for (int j = 0; j < 3; ++j) w[j] = o[j];
  }
  for (int j = 0; j < bits; ++j) dst[tiled_word(unit * bits + j, n, K, bits)] = w[j];
}

}  // namespace

namespace {

void gemv_dispatch(cudaStream_t stream, const half* xh, const uint32_t* qweight, const half2* sz,
                   const float* bias, float* out, int M, int K, int N, int ldo, int bits,
                   int group_size, const GemvNorm& nrm) {
  if (M <= 0) return;
  const bool grouped = group_size < K;
  // Tile shapes measured on an H200 (bench_cuda_gemv --variants): batches
  // up to 8 stage x in shared memory and run one K-warp per column group;
  // larger batches read x through L2 and run two K-warps per block.
#define REWOO_GEMV(G, B, NT, U, WK, MINB, XS, WN)                                          \
  launch_gemv<B, NT, G, U, WK, MINB, XS, WN>(stream, xh, qweight, sz, bias, out, M, K, N, ldo, \
                                             group_size, nrm)
  // 4-bit without groups, batches up to 8: blocks of 256 columns (8 column
  // warps) for products of at least 8192 x 8192, which halves the x each SM
  // stages; 128 below. Measured on an H200 (decode @512, same runs, every
  // product one way or the other): 34B (all four products that large) +0.6%,
  // 7B (none) -1.4% with 256. REWOO_GEMV_WN=4 or 8 forces one width.
  static const int force_wn = [] {
    const char* e = std::getenv("REWOO_GEMV_WN");
    const int v = e ? std::atoi(e) : 0;
    return v == 4 || v == 8 ? v : 0;
  }();
  const int wn = force_wn ? force_wn : K >= 8192 && N >= 8192 ? 8 : 4;
  if (bits == 4) {
    if (M <= 8 && !grouped && wn == 8)
      REWOO_GEMV(false, 4, 1, 2, 1, 4, true, 8);
    else if (M <= 8)
      grouped ? REWOO_GEMV(true, 4, 1, 8, 1, 2, true, 4) : REWOO_GEMV(false, 4, 1, 2, 1, 8, true, 4);
    else if (M <= 16)
      grouped ? REWOO_GEMV(true, 4, 2, 4, 2, 2, false, 4) : REWOO_GEMV(false, 4, 2, 4, 2, 2, false, 4);
    else
      grouped ? REWOO_GEMV(true, 4, 4, 2, 2, 1, false, 4) : REWOO_GEMV(false, 4, 4, 2, 2, 1, false, 4);
  } else {
    if (M <= 8)
      grouped ? REWOO_GEMV(true, 3, 1, 1, 1, 4, true, 4) : REWOO_GEMV(false, 3, 1, 1, 1, 4, true, 4);
    else if (M <= 16)
      grouped ? REWOO_GEMV(true, 3, 2, 1, 2, 1, false, 4) : REWOO_GEMV(false, 3, 2, 1, 2, 1, false, 4);
    else
      grouped ? REWOO_GEMV(true, 3, 4, 1, 2, 1, false, 4) : REWOO_GEMV(false, 3, 4, 1, 2, 1, false, 4);
  }
#undef REWOO_GEMV
}

}  // namespace

void gptq_gemv(cudaStream_t stream, const half* xh, const uint32_t* qweight, const half2* sz,
               const float* bias, float* out, int M, int K, int N, int ldo, int bits,
               int group_size) {
  gemv_dispatch(stream, xh, qweight, sz, bias, out, M, K, N, ldo, bits, group_size, GemvNorm{});
}

void gptq_gemv_normed(cudaStream_t stream, const GemvNorm& nrm, const uint32_t* qweight,
                      const half2* sz, float* out, int M, int K, int N, int ldo, int bits,
                      int group_size) {
  if (M > kGptqGemvNormedMaxRows) return;
  gemv_dispatch(stream, nullptr, qweight, sz, nullptr, out, M, K, N, ldo, bits, group_size, nrm);
}

namespace detail {
namespace {

using VariantFn = void (*)(cudaStream_t, const half*, const uint32_t*, const half2*, const float*,
                           float*, int, int, int, int, int, const GemvNorm&);
struct Variant {
  const char* name;  // bits, k-blocks per buffer, K-warps, blocks per SM, x source
  VariantFn grouped, plain;
};
// clang-format off
#define REWOO_V(B, U, WK, MINB, XS) \
  {#B "b U" #U " WK" #WK " B" #MINB " x:" #XS, launch_gemv<B, 1, true, U, WK, MINB, XS>, \
   launch_gemv<B, 1, false, U, WK, MINB, XS>}
// clang-format on
const Variant kVariants[] = {
    REWOO_V(4, 2, 1, 4, true),  REWOO_V(4, 4, 1, 4, true),  REWOO_V(4, 8, 1, 2, true),
    REWOO_V(4, 4, 2, 2, true),  REWOO_V(4, 2, 1, 4, false), REWOO_V(4, 4, 1, 4, false),
    REWOO_V(3, 1, 1, 4, true),  REWOO_V(3, 1, 2, 2, true),  REWOO_V(3, 2, 1, 2, true),
    REWOO_V(3, 1, 1, 4, false), REWOO_V(3, 1, 2, 2, false),
    {"4b U2 WK1 B4 x:true N256", launch_gemv<4, 1, true, 2, 1, 4, true, 8>,
     launch_gemv<4, 1, false, 2, 1, 4, true, 8>},
    {"4b U2 WK1 B8 x:true N128", launch_gemv<4, 1, true, 2, 1, 8, true, 4>,
     launch_gemv<4, 1, false, 2, 1, 8, true, 4>},
    {"3b U1 WK1 B2 x:true N256", launch_gemv<3, 1, true, 1, 1, 2, true, 8>,
     launch_gemv<3, 1, false, 1, 1, 2, true, 8>}};
#undef REWOO_V

}  // namespace

const int kGemvVariantCount = sizeof(kVariants) / sizeof(kVariants[0]);

const char* gemv_variant_name(int v) {
  return v >= 0 && v < kGemvVariantCount ? kVariants[v].name : "";
}

void gptq_gemv_variant(int v, cudaStream_t stream, const half* xh, const uint32_t* qweight,
                       const half2* sz, float* out, int M, int K, int N, int group_size) {
  if (v < 0 || v >= kGemvVariantCount || M > 8) return;
  const Variant& var = kVariants[v];
  (group_size < K ? var.grouped : var.plain)(stream, xh, qweight, sz, nullptr, out, M, K, N, N,
                                             group_size, GemvNorm{});
}

}  // namespace detail

std::vector<int32_t> gptq_input_order(const int32_t* perm, int K, int bits) {
  const int V = bits == 4 ? 8 : 32;
  std::vector<int32_t> slot_of_row(V);
  for (int p = 0; p < V; ++p) slot_of_row[bits == 4 ? pair_row<4>(p) : pair_row<3>(p)] = p;
  std::vector<int32_t> dest(K);
  for (int k = 0; k < K; ++k) {
    const int slot = slot_of_row[k % V];
    // 4-bit: pairs 1 and 3 of each 8 (slots 2, 3, 6, 7) meet "1024 + 16 q".
    const bool div16 = bits == 4 && (slot >> 1) % 2 == 1;
    dest[perm ? perm[k] : k] = (k / V * V + slot) | (div16 ? kStagedDiv16 : 0);
  }
  return dest;
}

std::vector<int32_t> gptq_staged_sources(const std::vector<int32_t>& dest) {
  std::vector<int32_t> src(dest.size());
  for (size_t i = 0; i < dest.size(); ++i)
    src[dest[i] & (kStagedDiv16 - 1)] = (int32_t)i | (dest[i] & kStagedDiv16);
  return src;
}

void gptq_stage_input(cudaStream_t stream, const float* x, const int32_t* dest, half* xh, int M,
                      int K) {
  const size_t n = (size_t)M * K;
  if (n == 0) return;
  launch_kernel(gptq_stage_input_kernel, dim3((unsigned)((n + 255) / 256)), dim3(256), 0, stream, x,
                dest, xh, M, K);
}

void gptq_dequant(cudaStream_t stream, const uint32_t* qweight, const half2* sz, half* w, int K,
                  int N, int bits, int group_size) {
  const int kb = bits == 4 ? 32 : 128;
  dim3 grid(ceil_div(N, 128), ceil_div(K, kb));
  launch_kernel(bits == 4 ? gptq_dequant_kernel<4> : gptq_dequant_kernel<3>, grid, dim3(128), 0,
                stream, qweight, sz, w, K, N, group_size);
}

void gptq_permute_half(cudaStream_t stream, const float* x, const int32_t* perm, half* xh, int M,
                       int K) {
  const size_t n = (size_t)M * K;
  if (n == 0) return;
  launch_kernel(gptq_permute_half_kernel, dim3((unsigned)ceil_div((int)n, 256)), dim3(256), 0,
                stream, x, perm, xh, M, K);
}

size_t gptq_packed_words(int K, int N, int bits) {
  const int kb = bits == 4 ? 32 : 128;
  return (size_t)ceil_div(N, 128) * 128 * ((size_t)ceil_div(K, kb) * kb * bits / 32);
}

void gptq_pack(cudaStream_t stream, const uint32_t* src, uint32_t* dst, int K, int N, int bits) {
  const int kb = bits == 4 ? 32 : 128;
  dim3 grid(ceil_div(N, 128), ceil_div(K, kb) * kb / 32);
  gptq_pack_kernel<<<grid, 128, 0, stream>>>(src, dst, K, N, bits);
}

REWOO_TRACE_SETTER(gemv)

}  // namespace rewoo::kernels
