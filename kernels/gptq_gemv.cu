// GPTQ GEMV/GEMM for decode batches on tensor cores (mma.sync m16n8k16).
//
// Each warp owns 32 output columns. A thread (g = lane / 4, t = lane % 4)
// loads 16 bytes per packed row: 4 adjacent columns col0 + 4g + c. Those 4
// columns become 4 mma tiles (tile c holds columns col0 + 4n' + c, n' = 0..7),
// so the B fragment's column index is g, as mma.sync wants. Along K a thread
// owns V consecutive reordered rows (8 for 4-bit, 32 for 3-bit) of each
// k-block of 4V rows; its V values are cut into fp16 pairs (P[0], P[1], ...)
// and mma step s uses P[2s] as B rows (2t, 2t+1) and P[2s+1] as rows
// (2t+8, 2t+9). A dot product does not care in which order its terms come,
// so the activation tile in shared memory is stored in the same pair order
// (see pair_row()), and the A fragment is two plain 8-byte loads.
//
// Dequantization in registers, fp16 magic-number form (0x6400 = 1024.0):
//  4-bit (Marlin's trick): (w & 0x000F000F) | 0x64006400 is the half2
//   (1024 + q0, 1024 + q4); with mask 0x00F000F0 it is (1024 + 16 q1, ...),
//   which an exact fma by 1/16 brings back. Subtracting (1024 + zero) and
//   multiplying by the scale gives the weight.
//  3-bit, kernel layout (gptq3_repack): word j of a 32-row unit holds rows
//   10j+i at bits 3i (i < 5) and rows 10j+5+i at bits 16 + 3i; bit 15 / 31 of
//   word j is bit j of row 30 / 31. Pairs (10j+i, 10j+5+i) come out with one
//   mask each (after a shift by 6 for i = 3, 4).
#include "kernels/gptq_gemv.cuh"

#include "kernels/common.cuh"

#include <algorithm>

namespace rewoo::kernels {
namespace {

constexpr int kWarpsN = 4;  // warps side by side along N (128 columns a block)
constexpr int kWarpsK = 2;  // warps splitting the block's K range

__device__ __forceinline__ void mma_16816(float* c, const uint32_t* a, uint32_t b0,
                                          uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ half2 as_h2(uint32_t u) {
  return *reinterpret_cast<half2*>(&u);
}
__device__ __forceinline__ uint32_t as_u32(half2 h) {
  return *reinterpret_cast<uint32_t*>(&h);
}

// Reordered row (within a thread's chunk of V rows) held at pair position p.
template <int BITS>
__host__ __device__ __forceinline__ int pair_row(int p) {
  if constexpr (BITS == 4) {
    return (p & 1) * 4 + (p >> 1);  // pairs (0,4) (1,5) (2,6) (3,7)
  } else {
    if (p >= 30) return p;          // pair (30, 31)
    const int i = p >> 1;           // pair index 0..14
    return (i / 5) * 10 + (i % 5) + (p & 1) * 5;
  }
}

// The 4-bit word q of one column -> pairs P0..P3 = (k0,k4) (k1,k5) (k2,k6) (k3,k7),
// times the scale s when SCALE.
template <bool SCALE>
__device__ __forceinline__ void dequant4(uint32_t q, half2 s, half2 z_lo, half2 z_hi,
                                         uint32_t* p) {
  const half2 k16 = __float2half2_rn(1.0f / 16.0f);
  const uint32_t q8 = q >> 8;
  half2 v[4];
  v[0] = __hsub2(as_h2((q & 0x000F000Fu) | 0x64006400u), z_lo);
  v[1] = __hfma2(as_h2((q & 0x00F000F0u) | 0x64006400u), k16, z_hi);
  v[2] = __hsub2(as_h2((q8 & 0x000F000Fu) | 0x64006400u), z_lo);
  v[3] = __hfma2(as_h2((q8 & 0x00F000F0u) | 0x64006400u), k16, z_hi);
#pragma unroll
  for (int i = 0; i < 4; ++i) p[i] = as_u32(SCALE ? __hmul2(v[i], s) : v[i]);
}

// Pair i (0..15) of three 3-bit words of one column (see dequant3).
template <int I, bool SCALE>
__device__ __forceinline__ uint32_t dequant3_pair(uint32_t q0, uint32_t q1, uint32_t q2, half2 s,
                                                  half2 z0, half2 z3, half2 z6) {
  if constexpr (I == 15) {
    const uint32_t hi = ((q0 >> 15) & 0x00010001u) | ((q1 >> 14) & 0x00020002u) |
                        ((q2 >> 13) & 0x00040004u);
    return as_u32(SCALE ? __hmul2(__hsub2(as_h2(hi | 0x64006400u), z0), s)
                         : __hsub2(as_h2(hi | 0x64006400u), z0));
  } else {
    constexpr int j = I / 5, i = I % 5;
    const uint32_t w = j == 0 ? q0 : (j == 1 ? q1 : q2);
    const uint32_t a = i >= 3 ? (w >> 6) : w;
    constexpr int pos = i >= 3 ? i - 2 : i;  // 0, 1 (bits 3..), 2 (bits 6..)
    if constexpr (pos == 0) {
      const half2 v = __hsub2(as_h2((a & 0x00070007u) | 0x64006400u), z0);
      return as_u32(SCALE ? __hmul2(v, s) : v);
    } else if constexpr (pos == 1) {
      const half2 v = __hfma2(as_h2((a & 0x00380038u) | 0x64006400u), __float2half2_rn(0.125f), z3);
      return as_u32(SCALE ? __hmul2(v, s) : v);
    } else {
      const half2 v =
          __hfma2(as_h2((a & 0x01C001C0u) | 0x64006400u), __float2half2_rn(1.0f / 64.0f), z6);
      return as_u32(SCALE ? __hmul2(v, s) : v);
    }
  }
}

// GROUPED: scales change along K (applied in registers per k-block).
// Otherwise one scale per column: the mma sums (q - zero) * x exactly and the
// scale is applied once per output.
template <int BITS, int MT, int U, bool GROUPED>
__global__ void __launch_bounds__(32 * kWarpsN * kWarpsK, MT == 1 ? 2 : 1)
    gptq_gemv_kernel(const half* __restrict__ xh, const uint32_t* __restrict__ qweight,
                     const half2* __restrict__ sz, const float* __restrict__ bias,
                     float* __restrict__ out, int M, int K, int N, int ldo, int group_shift,
                     int kchunk) {
  constexpr int V = BITS == 4 ? 8 : 32;   // reordered rows per thread per k-block
  constexpr int KB = 4 * V;               // rows per k-block
  constexpr int WPT = BITS == 4 ? 1 : 3;  // 16-byte loads per thread per k-block
  constexpr int NP = V / 2;               // fp16 pairs per column per k-block
  constexpr int kRowStep = kWarpsK * KB;  // rows between a warp's k-blocks
  __shared__ float red[(kWarpsK - 1) * kWarpsN * 32 * 16 * MT];
  extern __shared__ __align__(16) half xs[];  // [min(M, 16 MT)][kchunk + 8]: x slice

  const int k0 = blockIdx.y * kchunk;
  const int k1 = min(K, k0 + kchunk);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int wn = warp % kWarpsN, wk = warp / kWarpsN;
  const int g = lane >> 2, t = lane & 3;
  const int col0 = (blockIdx.x * kWarpsN + wn) * 32;
  // Columns past N (N % 32 != 0) read column 0..3 and are never stored.
  const int colt = col0 + 4 * g < N ? col0 + 4 * g : 0;
  const size_t n4 = N / 4;

  float acc[MT][4][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int c = 0; c < 4; ++c)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][c][e] = 0.0f;

  const int nkb = ceil_div(k1 - k0, KB);
  const int n_my = nkb > wk ? ceil_div(nkb - wk, kWarpsK) : 0;  // k-blocks of this warp
  const int r0 = k0 + wk * KB + t * V;                           // thread's first row
  // Packed row of r0 (4-bit: r/8; 3-bit: r/32*3), advancing kRowStep*BITS/32 rows.
  const uint4* wp = reinterpret_cast<const uint4*>(qweight) + (size_t)(r0 * BITS / 32) * n4 +
                    colt / 4;
  constexpr int kWStep = kRowStep * BITS / 32;
  const int xs_stride = kchunk + 8;
  const half* xp = xs + (r0 - k0);

  uint4 w[2][U][WPT];
  uint4 gs[2][U];
  half2 zc[4][3];  // per-column constants when !GROUPED
  if constexpr (!GROUPED) {
    const uint4 g0 = __ldg(reinterpret_cast<const uint4*>(sz + colt));
    const uint32_t* gw = reinterpret_cast<const uint32_t*>(&g0);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const half zero = __high2half(as_h2(gw[c]));
      zc[c][0] = __half2half2(__hadd(zero, __float2half(1024.0f)));
      zc[c][1] = __half2half2(__hneg(__hadd(zero, __float2half(BITS == 4 ? 64.0f : 128.0f))));
      zc[c][2] = __half2half2(__hneg(__hadd(zero, __float2half(16.0f))));
    }
  }
  auto load = [&](int buf, int i) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int iu = i + u;
      const int r = r0 + iu * kRowStep;
      if (iu < n_my && r < k1) {
#pragma unroll
        for (int j = 0; j < WPT; ++j) w[buf][u][j] = ld_stream(wp + ((size_t)iu * kWStep + j) * n4);
        if constexpr (GROUPED)
          gs[buf][u] = __ldg(reinterpret_cast<const uint4*>(sz + (size_t)(r >> group_shift) * N + colt));
      } else {
#pragma unroll
        for (int j = 0; j < WPT; ++j) w[buf][u][j] = make_uint4(0, 0, 0, 0);
        if constexpr (GROUPED) gs[buf][u] = make_uint4(0, 0, 0, 0);
      }
    }
  };
  auto compute = [&](int buf, int i) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int iu = i + u;
      const bool ok = iu < n_my && r0 + iu * kRowStep < k1;
      const half* xa = xp + iu * kRowStep;
      // A fragments (rows g, g + 8 of each m-tile) straight from global / L1.
      auto load_a = [&](int mt, int s, uint32_t* af) {
        const int r_lo = mt * 16 + g, r_hi = r_lo + 8;
        uint2 lo = make_uint2(0, 0), hi = make_uint2(0, 0);
        if (ok && r_lo < M) lo = *reinterpret_cast<const uint2*>(xa + r_lo * xs_stride + 4 * s);
        if (ok && r_hi < M) hi = *reinterpret_cast<const uint2*>(xa + r_hi * xs_stride + 4 * s);
        af[0] = lo.x;
        af[1] = hi.x;
        af[2] = lo.y;
        af[3] = hi.y;
      };
      half2 s2[4], z0[4], z3[4], z6[4];
      if constexpr (GROUPED) {
        const uint32_t* gw = reinterpret_cast<const uint32_t*>(&gs[buf][u]);
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const half2 sc = as_h2(gw[c]);
          s2[c] = __low2half2(sc);
          const half zero = __high2half(sc);
          z0[c] = __half2half2(__hadd(zero, __float2half(1024.0f)));
          z3[c] = __half2half2(__hneg(__hadd(zero, __float2half(BITS == 4 ? 64.0f : 128.0f))));
          if constexpr (BITS == 3) z6[c] = __half2half2(__hneg(__hadd(zero, __float2half(16.0f))));
        }
      } else {
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          z0[c] = zc[c][0];
          z3[c] = zc[c][1];
          z6[c] = zc[c][2];
        }
      }
      if constexpr (BITS == 4) {
        uint32_t a[MT][2][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int s = 0; s < 2; ++s) load_a(mt, s, a[mt][s]);
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          uint32_t p[NP];
          dequant4<GROUPED>(reinterpret_cast<const uint32_t*>(&w[buf][u][0])[c], s2[c], z0[c],
                            z3[c], p);
#pragma unroll
          for (int s = 0; s < 2; ++s)
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
              mma_16816(acc[mt][c], a[mt][s], p[2 * s], p[2 * s + 1]);
        }
      } else {
        const uint32_t* w0 = reinterpret_cast<const uint32_t*>(&w[buf][u][0]);
        const uint32_t* w1 = reinterpret_cast<const uint32_t*>(&w[buf][u][1]);
        const uint32_t* w2 = reinterpret_cast<const uint32_t*>(&w[buf][u][2]);
#define REWOO_STEP3(S)                                                                       \
  {                                                                                          \
    uint32_t a[MT][4];                                                                       \
    _Pragma("unroll") for (int mt = 0; mt < MT; ++mt) load_a(mt, S, a[mt]);                  \
    _Pragma("unroll") for (int c = 0; c < 4; ++c) {                                          \
      const uint32_t b0 = dequant3_pair<2 * S, GROUPED>(w0[c], w1[c], w2[c], s2[c], z0[c], z3[c], z6[c]); \
      const uint32_t b1 = dequant3_pair<2 * S + 1, GROUPED>(w0[c], w1[c], w2[c], s2[c], z0[c], z3[c], z6[c]); \
      _Pragma("unroll") for (int mt = 0; mt < MT; ++mt) mma_16816(acc[mt][c], a[mt], b0, b1); \
    }                                                                                        \
  }
        REWOO_STEP3(0) REWOO_STEP3(1) REWOO_STEP3(2) REWOO_STEP3(3)
        REWOO_STEP3(4) REWOO_STEP3(5) REWOO_STEP3(6) REWOO_STEP3(7)
#undef REWOO_STEP3
      }
    }
  };
  // Two register buffers: the next U k-blocks load while these are computed.
  // The first weights (never written by any kernel) load before the wait for
  // the previous kernel; x and out are touched only after it.
  pdl_trigger();
  if (n_my > 0) load(0, 0);
  pdl_wait();
  {
    // Stage this block's slice of x (rows < M) while the first weights load.
    const int rows = min(M, 16 * MT);
    const int vecs = (k1 - k0) / 8;  // 16-byte pieces per row (K % 32 == 0)
    for (int i = threadIdx.x; i < rows * vecs; i += blockDim.x) {
      const int m = i / vecs, v = i - m * vecs;
      const unsigned dst = (unsigned)__cvta_generic_to_shared(xs + m * xs_stride + v * 8);
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst),
                   "l"(xh + (size_t)m * K + k0 + v * 8));
    }
    asm volatile("cp.async.wait_all;" ::: "memory");
    __syncthreads();
  }
  for (int i = 0; i < n_my; i += 2 * U) {
    if (i + U < n_my) load(1, i + U);
    compute(0, i);
    if (i + U >= n_my) break;
    if (i + 2 * U < n_my) load(0, i + 2 * U);
    compute(1, i + U);
  }

  // Sum the kWarpsK partial tiles of each column group, then add to out.
  constexpr int kTile = MT * 16;
  if (wk > 0) {
    float* dst = red + ((wk - 1) * kWarpsN + wn) * 32 * kTile + lane;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int c = 0; c < 4; ++c)
#pragma unroll
        for (int e = 0; e < 4; ++e) dst[((mt * 4 + c) * 4 + e) * 32] = acc[mt][c][e];
  }
  __syncthreads();
  if (wk != 0) return;
  for (int o = 1; o < kWarpsK; ++o) {
    const float* src = red + ((o - 1) * kWarpsN + wn) * 32 * kTile + lane;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int c = 0; c < 4; ++c)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mt][c][e] += src[((mt * 4 + c) * 4 + e) * 32];
  }
  const bool add_bias = bias != nullptr && blockIdx.y == 0;
#pragma unroll
  for (int c = 0; c < 4; ++c)
#pragma unroll
    for (int e2 = 0; e2 < 2; ++e2) {
      const int n = col0 + 4 * (2 * t + e2) + c;
      if (n >= N) continue;
      const float scale = GROUPED ? 1.0f : __low2float(sz[n]);
      const float b = add_bias ? bias[n] : 0.0f;
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int m = mt * 16 + g + 8 * h;
          if (m < M) atomicAdd(out + (size_t)m * ldo + n, acc[mt][c][2 * h + e2] * scale + b);
        }
    }
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

template <int BITS, int MT, bool GROUPED>
void launch_gemv(cudaStream_t stream, const half* xh, const uint32_t* qweight, const half2* sz,
                 const float* bias, float* out, int M, int K, int N, int ldo, int group_size) {
  constexpr int V = BITS == 4 ? 8 : 32;
  constexpr int KB = 4 * V;
  constexpr int U = BITS == 4 ? 4 : 2;
  auto kernel = gptq_gemv_kernel<BITS, MT, U, GROUPED>;
  static int per_sm = [&] {
    int b = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel, 32 * kWarpsN * kWarpsK, 0);
    return b > 0 ? b : 1;
  }();
  int shift = 0;
  while ((1 << shift) < group_size) ++shift;
  // The block's x slice lives in shared memory: rows * (kchunk + 8) halves.
  constexpr int kSmemMax = 64 * 1024;
  static bool attr = [&] {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemMax);
    return true;
  }();
  (void)attr;
  const int rows = std::min(M, 16 * MT);
  const int kmax = std::max(KB, (kSmemMax / (2 * rows) - 8) / KB * KB);
  // Whole waves of blocks: split K so that the block count is close to a
  // multiple of the resident slots, keeping >= 2 k-blocks per warp.
  const int nb_n = ceil_div(N, 32 * kWarpsN);
  const int slots = per_sm * sm_count();
  const int max_split = std::max(1, K / (2 * KB * kWarpsK));
  const int min_split = ceil_div(K, kmax);
  int best = min_split;
  double best_eff = 0;
  for (int ks = min_split; ks <= std::max(min_split, std::min(max_split, 64)); ++ks) {
    const int blocks = nb_n * ks;
    const int waves = ceil_div(blocks, slots);
    // efficiency: busy fraction of the last wave, discounted per extra split
    const double eff = (double)blocks / (waves * slots) * (1.0 - 0.01 * ks);
    if (eff > best_eff + 1e-9) {
      best_eff = eff;
      best = ks;
    }
  }
  const int kchunk = ceil_div(ceil_div(K, best), KB) * KB;
  const int ksplit = ceil_div(K, kchunk);
  dim3 grid(nb_n, ksplit);
  const size_t smem = (size_t)rows * (kchunk + 8) * sizeof(half);
  launch_kernel(kernel, grid, dim3(32 * kWarpsN * kWarpsK), smem, stream, xh, qweight, sz, bias, out,
                M, K, N, ldo, shift, kchunk);
}

__global__ void gptq_stage_input_kernel(const float* __restrict__ x,
                                        const int32_t* __restrict__ dest, half* __restrict__ xh,
                                        int M, int K) {
  pdl_enter();
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (size_t)M * K) return;
  const size_t m = i / K;
  xh[m * K + dest[i % K]] = __float2half_rn(x[i]);
}

__global__ void gptq_dequant_kernel(const uint32_t* __restrict__ qweight,
                                    const half2* __restrict__ sz, half* __restrict__ w, int K,
                                    int N, int bits, int group_size) {
  pdl_enter();
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  const int unit = blockIdx.y;  // 32 reordered rows
  if (n >= N) return;
  const int r0 = unit * 32;
  const half2 sc = sz[(size_t)(r0 / group_size) * N + n];
  const float s = __low2float(sc), z = __high2float(sc);
  uint32_t q[32];
  if (bits == 4) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t word = qweight[(size_t)(unit * 4 + j) * N + n];
#pragma unroll
      for (int i = 0; i < 8; ++i) q[j * 8 + i] = (word >> (4 * i)) & 15u;
    }
  } else {
    uint32_t wd[3];
#pragma unroll
    for (int j = 0; j < 3; ++j) wd[j] = qweight[(size_t)(unit * 3 + j) * N + n];
#pragma unroll
    for (int j = 0; j < 3; ++j)
#pragma unroll
      for (int i = 0; i < 5; ++i) {
        q[10 * j + i] = (wd[j] >> (3 * i)) & 7u;
        q[10 * j + 5 + i] = (wd[j] >> (16 + 3 * i)) & 7u;
      }
    q[30] = ((wd[0] >> 15) & 1u) | ((wd[1] >> 14) & 2u) | ((wd[2] >> 13) & 4u);
    q[31] = (wd[0] >> 31) | ((wd[1] >> 30) & 2u) | ((wd[2] >> 29) & 4u);
  }
#pragma unroll
  for (int i = 0; i < 32; ++i)
    if (r0 + i < K) w[(size_t)(r0 + i) * N + n] = __float2half_rn(s * ((float)q[i] - z));
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
__global__ void gptq3_repack_kernel(const uint32_t* __restrict__ src, uint32_t* __restrict__ dst,
                                    int K, int N) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  const int unit = blockIdx.y;
  if (n >= N) return;
  const uint32_t w0 = src[(size_t)(unit * 3 + 0) * N + n];
  const uint32_t w1 = src[(size_t)(unit * 3 + 1) * N + n];
  const uint32_t w2 = src[(size_t)(unit * 3 + 2) * N + n];
  uint32_t q[32];
  for (int i = 0; i < 10; ++i) q[i] = (w0 >> (3 * i)) & 7u;
  q[10] = ((w0 >> 30) & 3u) | ((w1 & 1u) << 2);
  for (int i = 0; i < 10; ++i) q[11 + i] = (w1 >> (3 * i + 1)) & 7u;
  q[21] = ((w1 >> 31) & 1u) | ((w2 & 3u) << 1);
  for (int i = 0; i < 10; ++i) q[22 + i] = (w2 >> (3 * i + 2)) & 7u;
  uint32_t o[3] = {0, 0, 0};
  for (int j = 0; j < 3; ++j) {
    for (int i = 0; i < 5; ++i) {
      o[j] |= q[10 * j + i] << (3 * i);
      o[j] |= q[10 * j + 5 + i] << (16 + 3 * i);
    }
    o[j] |= ((q[30] >> j) & 1u) << 15;
    o[j] |= ((q[31] >> j) & 1u) << 31;
  }
  for (int j = 0; j < 3; ++j) dst[(size_t)(unit * 3 + j) * N + n] = o[j];
}

}  // namespace

void gptq_gemv(cudaStream_t stream, const half* xh, const uint32_t* qweight, const half2* sz,
               const float* bias, float* out, int M, int K, int N, int ldo, int bits,
               int group_size) {
  if (M <= 0) return;
  const bool grouped = group_size < K;
#define REWOO_GEMV(B, MT, GR) \
  launch_gemv<B, MT, GR>(stream, xh, qweight, sz, bias, out, M, K, N, ldo, group_size)
  if (bits == 4) {
    if (M <= 16) {
      if (grouped) REWOO_GEMV(4, 1, true); else REWOO_GEMV(4, 1, false);
    } else {
      if (grouped) REWOO_GEMV(4, 2, true); else REWOO_GEMV(4, 2, false);
    }
  } else {
    if (M <= 16) {
      if (grouped) REWOO_GEMV(3, 1, true); else REWOO_GEMV(3, 1, false);
    } else {
      if (grouped) REWOO_GEMV(3, 2, true); else REWOO_GEMV(3, 2, false);
    }
  }
#undef REWOO_GEMV
}

std::vector<int32_t> gptq_input_order(const int32_t* perm, int K, int bits) {
  const int V = bits == 4 ? 8 : 32;
  std::vector<int32_t> slot_of_row(V);
  for (int p = 0; p < V; ++p) slot_of_row[bits == 4 ? pair_row<4>(p) : pair_row<3>(p)] = p;
  std::vector<int32_t> dest(K);
  for (int k = 0; k < K; ++k) {
    const int staged = k / V * V + slot_of_row[k % V];
    dest[perm ? perm[k] : k] = staged;
  }
  return dest;
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
  dim3 grid(ceil_div(N, 128), ceil_div(K, 32));
  launch_kernel(gptq_dequant_kernel, grid, dim3(128), 0, stream, qweight, sz, w, K, N, bits,
                group_size);
}

void gptq_permute_half(cudaStream_t stream, const float* x, const int32_t* perm, half* xh, int M,
                       int K) {
  const size_t n = (size_t)M * K;
  if (n == 0) return;
  launch_kernel(gptq_permute_half_kernel, dim3((unsigned)ceil_div((int)n, 256)), dim3(256), 0,
                stream, x, perm, xh, M, K);
}

void gptq3_repack(cudaStream_t stream, const uint32_t* src, uint32_t* dst, int K, int N) {
  dim3 grid(ceil_div(N, 128), K / 32);
  gptq3_repack_kernel<<<grid, 128, 0, stream>>>(src, dst, K, N);
}

}  // namespace rewoo::kernels
