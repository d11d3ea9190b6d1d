// AVX-512 VNNI version of the int8-activation 4-bit kernel; compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni and called only after
// cpu_has_avx512vnni().
// GCC 12 warns inside its own AVX-512 intrinsic headers (their deliberately
// undefined pass-through operands); nothing in this file is uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "engine/cpu/cpu_kernels.h"

namespace rewoo::engine::cpu {

namespace {
inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
}  // namespace

// One super tile (64 columns) is 4 registers of 16 columns, one int32 lane
// per column; row blocks are read in order, so the weights stream linearly.
// The high nibbles are multiplied in place (masked with 0xF0, i.e. 16x their
// value: vpdpbusd's int32 sums cannot overflow here) and shifted back once
// per block, which saves a shift per 64 bytes.
namespace {
// T tokens at once (prefill): a tile's weights are unpacked once per block
// and multiplied with every token's activations; the float operations per
// token and column are the same, in the same order, as the one-token path's.
template <int T>
void q4q8_tokens(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, int t0, float* y, int ldy,
                 int s) {
  const int nb = w.in / 32;
  const __m512i m_lo = _mm512_set1_epi8(0x0F);
  for (int tile = 0; tile < 4; ++tile) {
    __m512 yv[T];
    for (auto& v : yv) v = _mm512_setzero_ps();
    for (int g = 0; g < w.n_groups; ++g) {
      __m512 facc[T];
      for (auto& f : facc) f = _mm512_setzero_ps();
      for (int b = w.bounds[g] / 32; b < w.bounds[g + 1] / 32; ++b) {
        const uint8_t* p = w.q.data() + (static_cast<size_t>(s) * nb + b) * 1024 + tile * 256;
        __m512i lo[4], hi[4];
        for (int c = 0; c < 4; ++c) {
          __m512i v = _mm512_loadu_si512(p + c * 64);
          lo[c] = _mm512_and_si512(v, m_lo);
          hi[c] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m_lo);
        }
        for (int t = 0; t < T; ++t) {
          const int8_t* xb = xq + static_cast<size_t>(t0 + t) * w.in + 32 * b;
          __m512i acc = _mm512_setzero_si512();
          for (int c = 0; c < 4; ++c) {
            acc = _mm512_dpbusd_epi32(acc, lo[c], bcast4(xb + 8 * c));
            acc = _mm512_dpbusd_epi32(acc, hi[c], bcast4(xb + 8 * c + 4));
          }
          const __m512 db = _mm512_set1_ps(d[static_cast<size_t>(t0 + t) * nb + b]);
          facc[t] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, acc), db, facc[t]);
        }
      }
      const uint8_t* sz = w.sz.data() + (static_cast<size_t>(s) * w.n_groups + g) * 192;
      __m512 sc = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sz + 32 * tile)));
      __m512 zr = _mm512_maskz_cvtepi32_ps(
          0xFFFF, _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(sz + 128 + 16 * tile))));
      for (int t = 0; t < T; ++t) {
        const __m512 gzt = _mm512_set1_ps(gz[static_cast<size_t>(t0 + t) * w.n_groups + g]);
        yv[t] = _mm512_fmadd_ps(sc, _mm512_fnmadd_ps(zr, gzt, facc[t]), yv[t]);
      }
    }
    const int col = 64 * s + 16 * tile;
    for (int t = 0; t < T; ++t) {
      float* yt = y + static_cast<size_t>(t0 + t) * ldy + col;
      if (col + 16 <= w.out) {
        _mm512_storeu_ps(yt, yv[t]);
      } else if (col < w.out) {
        _mm512_mask_storeu_ps(yt, static_cast<__mmask16>((1u << (w.out - col)) - 1), yv[t]);
      }
    }
  }
}

// One token (decode) over super tile s: the activations' broadcasts are
// loaded once per block and reused by the 4 tiles.
void q4q8_one(const PackedQ4x8& w, const int8_t* xt, const float* dt, const float* gzt, float* yt, int s) {
  const int nb = w.in / 32;
  const __m512i m_lo = _mm512_set1_epi8(0x0F), m_hi = _mm512_set1_epi8(static_cast<char>(0xF0));
  __m512 yv[4];
  for (auto& v : yv) v = _mm512_setzero_ps();
  for (int g = 0; g < w.n_groups; ++g) {
    __m512 facc[4];
    for (auto& f : facc) f = _mm512_setzero_ps();
    for (int b = w.bounds[g] / 32; b < w.bounds[g + 1] / 32; ++b) {
      const uint8_t* blk = w.q.data() + (static_cast<size_t>(s) * nb + b) * 1024;
      __m512i xl[4], xh[4];
      for (int c = 0; c < 4; ++c) {
        xl[c] = bcast4(xt + 32 * b + 8 * c);
        xh[c] = bcast4(xt + 32 * b + 8 * c + 4);
      }
      const __m512 db = _mm512_set1_ps(dt[b]);
      for (int tile = 0; tile < 4; ++tile) {
        const uint8_t* p = blk + tile * 256;
        __m512i al = _mm512_setzero_si512(), ah = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c) {
          __m512i v = _mm512_loadu_si512(p + c * 64);
          al = _mm512_dpbusd_epi32(al, _mm512_and_si512(v, m_lo), xl[c]);
          ah = _mm512_dpbusd_epi32(ah, _mm512_and_si512(v, m_hi), xh[c]);
        }
        // maskz forms with a full mask: the plain ones trip GCC 12's
        // -Wmaybe-uninitialized inside the intrinsic headers.
        __m512i isum = _mm512_add_epi32(al, _mm512_maskz_srai_epi32(0xFFFF, ah, 4));
        facc[tile] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, isum), db, facc[tile]);
      }
    }
    const uint8_t* sz = w.sz.data() + (static_cast<size_t>(s) * w.n_groups + g) * 192;
    const __m512 gz = _mm512_set1_ps(gzt[g]);
    for (int tile = 0; tile < 4; ++tile) {
      __m512 sc = _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sz + 32 * tile)));
      __m512 zr = _mm512_maskz_cvtepi32_ps(
          0xFFFF, _mm512_maskz_cvtepu8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(sz + 128 + 16 * tile))));
      yv[tile] = _mm512_fmadd_ps(sc, _mm512_fnmadd_ps(zr, gz, facc[tile]), yv[tile]);
    }
  }
  if (64 * s + 64 <= w.out) {
    for (int tile = 0; tile < 4; ++tile) _mm512_storeu_ps(yt + 16 * tile, yv[tile]);
  } else {
    alignas(64) float tmp[64];
    for (int tile = 0; tile < 4; ++tile) _mm512_store_ps(tmp + 16 * tile, yv[tile]);
    for (int j = 0; 64 * s + j < w.out; ++j) yt[j] = tmp[j];
  }
}
}  // namespace

void q4q8_gemm_avx512vnni(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, int n, float* y,
                          int ldy, int s0, int s1) {
  const int nb = w.in / 32;
  for (int s = s0; s < s1; ++s) {
    int t = 0;
    for (; t + 4 <= n; t += 4) q4q8_tokens<4>(w, xq, d, gz, t, y, ldy, s);
    switch (n - t) {
      case 3: q4q8_tokens<3>(w, xq, d, gz, t, y, ldy, s); break;
      case 2: q4q8_tokens<2>(w, xq, d, gz, t, y, ldy, s); break;
      case 1:
        q4q8_one(w, xq + static_cast<size_t>(t) * w.in, d + static_cast<size_t>(t) * nb,
                 gz + static_cast<size_t>(t) * w.n_groups, y + static_cast<size_t>(t) * ldy + 64 * s, s);
        break;
      default: break;
    }
  }
}

namespace {
// C columns and T tokens: per group, each column's 16 possible weights
// fp16(scale * q - scale * zero) (as qgemm_ref computes them) in one
// register; per 32-row block, two vpermps dequantize the column's 32 weights
// and every token multiplies them. Two accumulators per column and token
// (rows 0-15 and 16-31 of each block) keep enough FMAs in flight.
template <int C, int T>
void q4_cols_tile(const PackedQ4Cols& w, const float* x, int t0, float* y, int ldy, int c0) {
  const int half = w.in / 2;
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512 acc[C][T][2];
  for (int c = 0; c < C; ++c)
    for (int t = 0; t < T; ++t) acc[c][t][0] = acc[c][t][1] = _mm512_setzero_ps();
  for (int g = 0; g < w.n_groups; ++g) {
    __m512 tb[C];
    for (int c = 0; c < C; ++c) {
      const size_t gi = static_cast<size_t>(c0 + c) * w.n_groups + g;
      __m512 v = _mm512_fmsub_ps(iota, _mm512_set1_ps(w.scales[gi]), _mm512_set1_ps(w.szeros[gi]));
      tb[c] = _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (int b = w.bounds[g] / 32; b < w.bounds[g + 1] / 32; ++b) {
      __m512 xl[T], xh[T];
      for (int t = 0; t < T; ++t) {
        const float* xt = x + static_cast<size_t>(t0 + t) * w.in + 32 * b;
        xl[t] = _mm512_loadu_ps(xt);
        xh[t] = _mm512_loadu_ps(xt + 16);
      }
      for (int c = 0; c < C; ++c) {
        const __m512i v = _mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.q.data() + static_cast<size_t>(c0 + c) * half + 16 * b)));
        const __m512 wl = _mm512_permutexvar_ps(v, tb[c]);  // uses the low 4 bits of each index
        const __m512 wh = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), tb[c]);
        for (int t = 0; t < T; ++t) {
          acc[c][t][0] = _mm512_fmadd_ps(wl, xl[t], acc[c][t][0]);
          acc[c][t][1] = _mm512_fmadd_ps(wh, xh[t], acc[c][t][1]);
        }
      }
    }
  }
  for (int c = 0; c < C; ++c)
    for (int t = 0; t < T; ++t)
      y[static_cast<size_t>(t0 + t) * ldy + c0 + c] = _mm512_reduce_add_ps(_mm512_add_ps(acc[c][t][0], acc[c][t][1]));
}

template <int C>
void q4_cols_tokens(const PackedQ4Cols& w, const float* x, int n, float* y, int ldy, int c) {
  int t = 0;
  for (; t + 4 <= n; t += 4) q4_cols_tile<C, 4>(w, x, t, y, ldy, c);
  for (; t < n; ++t) q4_cols_tile<C, 1>(w, x, t, y, ldy, c);
}
}  // namespace

void q4_cols_gemm_avx512(const PackedQ4Cols& w, const float* x, int n, float* y, int ldy, int c0, int c1) {
  int c = c0;
  if (n == 1) {
    for (; c + 4 <= c1; c += 4) q4_cols_tile<4, 1>(w, x, 0, y, ldy, c);
  } else {
    for (; c + 2 <= c1; c += 2) q4_cols_tokens<2>(w, x, n, y, ldy, c);
  }
  for (; c < c1; ++c) q4_cols_tokens<1>(w, x, n, y, ldy, c);
}

}  // namespace rewoo::engine::cpu
