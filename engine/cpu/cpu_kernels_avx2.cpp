// AVX2/FMA versions of cpu_kernels.h; compiled with -mavx2 -mfma -mf16c and
// called only after cpu_has_avx2().
#include <immintrin.h>

#include "engine/cpu/cpu_kernels.h"

namespace rewoo::engine::cpu {

namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// Weight i (0..31) of a 32-row block for 8 columns (words wv[0..BITS)),
// dequantized as AutoGPTQ does: fp16(scale * (q - zero)). scale*q and
// scale*zero are exact in fp32 (11-bit scale times a <= 8-bit integer), so the
// fmsub is exact and the only rounding is the fp16 one.
template <int BITS, int I>
inline __m256 dequant(const __m256i* wv, __m256 sc, __m256 sz) {
  constexpr int bit = I * BITS, word = bit / 32, sh = bit % 32;
  constexpr uint32_t mask = (1u << BITS) - 1;
  __m256i v = _mm256_srli_epi32(wv[word], sh);
  if constexpr (sh + BITS > 32) v = _mm256_or_si256(v, _mm256_slli_epi32(wv[word + 1], 32 - sh));
  v = _mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(mask)));
  __m256 w = _mm256_fmsub_ps(_mm256_cvtepi32_ps(v), sc, sz);
  return _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

template <int BITS, int T, int I = 0>
inline void block_fma(const __m256i* wv, __m256 sc, __m256 sz, const float* const* xr, __m256* acc) {
  if constexpr (I < 32) {
    __m256 w = dequant<BITS, I>(wv, sc, sz);
    for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(w, _mm256_broadcast_ss(xr[t] + I), acc[t]);
    block_fma<BITS, T, I + 1>(wv, sc, sz, xr, acc);
  }
}

template <int BITS, int T>
void qgemm_tile(const PackedQuant& w, const float* x, int t0, float* y, int ldy, int c) {
  const int rb = w.in / 32;
  const uint32_t* blk = w.blocks.data() + static_cast<size_t>(c) * rb * BITS * 8;
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int g = 0; g < w.n_groups; ++g) {
    __m256 sc = _mm256_loadu_ps(w.scales.data() + static_cast<size_t>(g) * w.out_pad + c * 8);
    __m256 sz = _mm256_loadu_ps(w.szeros.data() + static_cast<size_t>(g) * w.out_pad + c * 8);
    for (int r = w.bounds[g] / 32; r < w.bounds[g + 1] / 32; ++r) {
      const uint32_t* wb = blk + static_cast<size_t>(r) * BITS * 8;
      __m256i wv[BITS];
      for (int b = 0; b < BITS; ++b) wv[b] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + b * 8));
      const float* xr[T];
      for (int t = 0; t < T; ++t) xr[t] = x + static_cast<size_t>(t0 + t) * w.in + r * 32;
      block_fma<BITS, T>(wv, sc, sz, xr, acc);
    }
  }
  for (int t = 0; t < T; ++t) {
    float* yt = y + static_cast<size_t>(t0 + t) * ldy + c * 8;
    if (c * 8 + 8 <= w.out) {
      _mm256_storeu_ps(yt, acc[t]);
    } else {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, acc[t]);
      for (int l = 0; c * 8 + l < w.out; ++l) yt[l] = tmp[l];
    }
  }
}

template <int BITS>
void qgemm_bits(const PackedQuant& w, const float* x, int n, float* y, int ldy, int cb0, int cb1) {
  for (int c = cb0; c < cb1; ++c) {
    int t = 0;
    for (; t + 4 <= n; t += 4) qgemm_tile<BITS, 4>(w, x, t, y, ldy, c);
    for (; t < n; ++t) qgemm_tile<BITS, 1>(w, x, t, y, ldy, c);
  }
}

}  // namespace

void qgemm_avx2(const PackedQuant& w, const float* x, int n, float* y, int ldy, int cb0, int cb1) {
  switch (w.bits) {
    case 2: qgemm_bits<2>(w, x, n, y, ldy, cb0, cb1); break;
    case 3: qgemm_bits<3>(w, x, n, y, ldy, cb0, cb1); break;
    case 4: qgemm_bits<4>(w, x, n, y, ldy, cb0, cb1); break;
    case 8: qgemm_bits<8>(w, x, n, y, ldy, cb0, cb1); break;
    default: qgemm_ref(w, x, n, y, ldy, cb0, cb1);
  }
}

void sgemm_avx2(const float* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1) {
  for (int t = 0; t < n; ++t) {
    const float* xt = x + static_cast<size_t>(t) * in;
    for (int o = o0; o < o1; ++o) {
      const float* wo = w + static_cast<size_t>(o) * in;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      int i = 0;
      for (; i + 32 <= in; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wo + i), _mm256_loadu_ps(xt + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wo + i + 8), _mm256_loadu_ps(xt + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(wo + i + 16), _mm256_loadu_ps(xt + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(wo + i + 24), _mm256_loadu_ps(xt + i + 24), a3);
      }
      for (; i + 8 <= in; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wo + i), _mm256_loadu_ps(xt + i), a0);
      float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
      for (; i < in; ++i) s += wo[i] * xt[i];
      y[static_cast<size_t>(t) * ldy + o] = s;
    }
  }
}

namespace {
// Sums of 4 vectors, as one 4-float vector.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
  __m256 abcd = _mm256_hadd_ps(ab, cd);
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}
inline __m256i q4_unpack(const uint8_t* p) {
  __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
}
}  // namespace

void q4q8_gemv_avx2(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, float* y, int c0, int c1) {
  const int nb = w.in / 32;
  const __m256i ones = _mm256_set1_epi16(1);
  int c = c0;
  // Four columns at a time share the activation loads and give four
  // independent accumulation chains.
  for (; c + 4 <= c1; c += 4) {
    const uint8_t* q0 = w.q.data() + static_cast<size_t>(c) * nb * 16;
    const size_t cs = static_cast<size_t>(nb) * 16;
    __m128 yc = _mm_setzero_ps();
    for (int g = 0; g < w.n_groups; ++g) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int b = w.bounds[g] / 32; b < w.bounds[g + 1] / 32; ++b) {
        const uint8_t* p = q0 + 16 * b;
        __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 32 * b));
        __m256 db = _mm256_set1_ps(d[b]);
        __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q4_unpack(p), xv), ones);
        __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q4_unpack(p + cs), xv), ones);
        __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q4_unpack(p + 2 * cs), xv), ones);
        __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q4_unpack(p + 3 * cs), xv), ones);
        a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), db, a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), db, a1);
        a2 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p2), db, a2);
        a3 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p3), db, a3);
      }
      const float* sz = w.sz.data() + (static_cast<size_t>(c / 4) * w.n_groups + g) * 8;
      __m128 sc = _mm_loadu_ps(sz), zr = _mm_loadu_ps(sz + 4);
      __m128 acc = hsum4(a0, a1, a2, a3);
      yc = _mm_fmadd_ps(sc, _mm_fnmadd_ps(zr, _mm_set1_ps(gz[g]), acc), yc);
    }
    _mm_storeu_ps(y + c, yc);
  }
  for (; c < c1; ++c) {
    const uint8_t* qc = w.q.data() + static_cast<size_t>(c) * nb * 16;
    float yc = 0;
    for (int g = 0; g < w.n_groups; ++g) {
      __m256 acc = _mm256_setzero_ps();
      for (int b = w.bounds[g] / 32; b < w.bounds[g + 1] / 32; ++b) {
        __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 32 * b));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q4_unpack(qc + 16 * b), xv), ones);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d[b]), acc);
      }
      const float* sz = w.sz.data() + (static_cast<size_t>(c / 4) * w.n_groups + g) * 8 + c % 4;
      yc += sz[0] * (hsum(acc) - sz[4] * gz[g]);
    }
    y[c] = yc;
  }
}

void hgemm_avx2(const uint16_t* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1) {
  auto ld = [](const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); };
  for (int t = 0; t < n; ++t) {
    const float* xt = x + static_cast<size_t>(t) * in;
    for (int o = o0; o < o1; ++o) {
      const uint16_t* wo = w + static_cast<size_t>(o) * in;
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
      int i = 0;
      for (; i + 32 <= in; i += 32) {
        a0 = _mm256_fmadd_ps(ld(wo + i), _mm256_loadu_ps(xt + i), a0);
        a1 = _mm256_fmadd_ps(ld(wo + i + 8), _mm256_loadu_ps(xt + i + 8), a1);
        a2 = _mm256_fmadd_ps(ld(wo + i + 16), _mm256_loadu_ps(xt + i + 16), a2);
        a3 = _mm256_fmadd_ps(ld(wo + i + 24), _mm256_loadu_ps(xt + i + 24), a3);
      }
      for (; i + 8 <= in; i += 8) a0 = _mm256_fmadd_ps(ld(wo + i), _mm256_loadu_ps(xt + i), a0);
      float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
      for (; i < in; ++i) s += _cvtsh_ss(wo[i]) * xt[i];
      y[static_cast<size_t>(t) * ldy + o] = s;
    }
  }
}

}  // namespace rewoo::engine::cpu
