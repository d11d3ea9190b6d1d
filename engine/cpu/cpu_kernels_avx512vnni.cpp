// AVX-512 VNNI version of the int8-activation 4-bit kernel; compiled with
// -mavx512vnni -mavx512vl and called only after cpu_has_avx512vnni().
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
}  // namespace

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

void q4q8_gemv_avx512vnni(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, float* y, int c0, int c1) {
  const int nb = w.in / 32;
  const __m256i zero = _mm256_setzero_si256();
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
        __m256i p0 = _mm256_dpbusd_epi32(zero, q4_unpack(p), xv);
        __m256i p1 = _mm256_dpbusd_epi32(zero, q4_unpack(p + cs), xv);
        __m256i p2 = _mm256_dpbusd_epi32(zero, q4_unpack(p + 2 * cs), xv);
        __m256i p3 = _mm256_dpbusd_epi32(zero, q4_unpack(p + 3 * cs), xv);
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
        __m256i p = _mm256_dpbusd_epi32(zero, q4_unpack(qc + 16 * b), xv);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d[b]), acc);
      }
      const float* sz = w.sz.data() + (static_cast<size_t>(c / 4) * w.n_groups + g) * 8 + c % 4;
      yc += sz[0] * (hsum(acc) - sz[4] * gz[g]);
    }
    y[c] = yc;
  }
}

}  // namespace rewoo::engine::cpu
