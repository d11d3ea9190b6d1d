// AVX2/FMA versions of cpu_kernels.h; compiled with -mavx2 -mfma -mf16c and
// called only after cpu_has_avx2().
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/cpu/attend_generic.h"
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

// e^x for 8 floats (Cephes' expf: range reduction by ln 2 in two parts and a
// degree-5 polynomial; within 2 ulp of expf for |x| < 88, 0 below -88).
inline __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-88.3762626647949f), hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

// The sums of 4 vectors, as one 4-float vector.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
  __m256 abcd = _mm256_hadd_ps(ab, cd);
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
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

// Rows outer, tokens inner: a weight row is read from memory once and from
// L1 for the other tokens (scoring every position of a long text).
void sgemm_avx2(const float* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1) {
  for (int o = o0; o < o1; ++o) {
    const float* wo = w + static_cast<size_t>(o) * in;
    for (int t = 0; t < n; ++t) {
      const float* xt = x + static_cast<size_t>(t) * in;
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
inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}
}  // namespace

// One super tile (64 columns) is 8 registers of 8 columns; row blocks are
// read in order, so the weights stream linearly. maddubs pairs (<= 2*15*127)
// summed over a block's 4 chunks, low and high nibbles (8 terms), stay below
// 2^15, so int16 sums are exact before the one madd to int32.
// GCC's -O3 unroll-and-jam fuses the column loop below into the block loop
// and spills the accumulators: 3x slower, measured with GCC 12 (the exact
// kernel above gains from it, so this is per function, not per file).
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-loop-unroll-and-jam")))
#endif
void q4q8_gemm_avx2(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, int n, float* y, int ldy,
                    int s0, int s1) {
  const int nb = w.in / 32;
  const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  for (int s = s0; s < s1; ++s)
    for (int t = 0; t < n; ++t) {
      const int8_t* xt = xq + static_cast<size_t>(t) * w.in;
      const float* dt = d + static_cast<size_t>(t) * nb;
      alignas(32) float yv[64] = {0};
      for (int g = 0; g < w.n_groups; ++g) {
        __m256 facc[8];
        for (auto& f : facc) f = _mm256_setzero_ps();
        for (int b = w.bounds[g] / 32; b < w.bounds[g + 1] / 32; ++b) {
          const uint8_t* blk = w.q.data() + (static_cast<size_t>(s) * nb + b) * 1024;
          __m256i xl[4], xh[4];
          for (int c = 0; c < 4; ++c) {
            xl[c] = bcast4(xt + 32 * b + 8 * c);
            xh[c] = bcast4(xt + 32 * b + 8 * c + 4);
          }
          const __m256 db = _mm256_set1_ps(dt[b]);
          for (int h = 0; h < 8; ++h) {  // 8 columns: tile h/2, half h%2
            const uint8_t* p = blk + (h / 2) * 256 + (h % 2) * 32;
            __m256i acc = _mm256_setzero_si256();
            for (int c = 0; c < 4; ++c) {
              __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + c * 64));
              __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
              acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(lo, xl[c]));
              acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(hi, xh[c]));
            }
            facc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(acc, ones)), db, facc[h]);
          }
        }
        const uint8_t* sz = w.sz.data() + (static_cast<size_t>(s) * w.n_groups + g) * 192;
        const __m256 gzt = _mm256_set1_ps(gz[static_cast<size_t>(t) * w.n_groups + g]);
        for (int h = 0; h < 8; ++h) {
          __m256 sc = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sz + 16 * h)));
          __m256 zr = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sz + 128 + 8 * h))));
          _mm256_store_ps(yv + 8 * h, _mm256_fmadd_ps(sc, _mm256_fnmadd_ps(zr, gzt, facc[h]), _mm256_load_ps(yv + 8 * h)));
        }
      }
      float* yt = y + static_cast<size_t>(t) * ldy + 64 * s;
      if (64 * s + 64 <= w.out) std::memcpy(yt, yv, sizeof(yv));
      else
        for (int j = 0; 64 * s + j < w.out; ++j) yt[j] = yv[j];
    }
}

float dot_avx2(const float* a, const float* b, int n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float s = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_avx2(float a, const float* x, float* y, int n) {
  const __m256 av = _mm256_set1_ps(a);
  int i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

namespace {
template <int HD8>
void attend_fixed(const float* q, const float* K, const float* V, size_t stride, int n_ctx, float scale, float* att,
                  float* out) {
  __m256 qv[HD8];
  for (int i = 0; i < HD8; ++i) qv[i] = _mm256_loadu_ps(q + 8 * i);
  __m128 mx4 = _mm_set1_ps(-INFINITY);
  const __m128 sc4 = _mm_set1_ps(scale);
  int j = 0;
  for (; j + 4 <= n_ctx; j += 4) {
    const float* k = K + j * stride;
    __m256 a0 = _mm256_mul_ps(qv[0], _mm256_loadu_ps(k)), a1 = _mm256_mul_ps(qv[0], _mm256_loadu_ps(k + stride));
    __m256 a2 = _mm256_mul_ps(qv[0], _mm256_loadu_ps(k + 2 * stride));
    __m256 a3 = _mm256_mul_ps(qv[0], _mm256_loadu_ps(k + 3 * stride));
    for (int i = 1; i < HD8; ++i) {
      a0 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k + 8 * i), a0);
      a1 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k + stride + 8 * i), a1);
      a2 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k + 2 * stride + 8 * i), a2);
      a3 = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(k + 3 * stride + 8 * i), a3);
    }
    __m128 s = _mm_mul_ps(hsum4(a0, a1, a2, a3), sc4);
    _mm_storeu_ps(att + j, s);
    mx4 = _mm_max_ps(mx4, s);
  }
  mx4 = _mm_max_ps(mx4, _mm_movehl_ps(mx4, mx4));
  mx4 = _mm_max_ss(mx4, _mm_movehdup_ps(mx4));
  float mx = _mm_cvtss_f32(mx4);
  for (; j < n_ctx; ++j) {
    __m256 a = _mm256_mul_ps(qv[0], _mm256_loadu_ps(K + j * stride));
    for (int i = 1; i < HD8; ++i) a = _mm256_fmadd_ps(qv[i], _mm256_loadu_ps(K + j * stride + 8 * i), a);
    att[j] = hsum(a) * scale;
    mx = std::max(mx, att[j]);
  }
  const __m256 mx8 = _mm256_set1_ps(mx);
  __m256 sum8 = _mm256_setzero_ps();
  int t = 0;
  for (; t + 8 <= n_ctx; t += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(att + t), mx8));
    _mm256_storeu_ps(att + t, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  float sum = hsum(sum8);
  for (; t < n_ctx; ++t) {
    att[t] = expf(att[t] - mx);
    sum += att[t];
  }
  const float inv = 1.0f / sum;
  __m256 o[HD8];
  for (int i = 0; i < HD8; ++i) o[i] = _mm256_setzero_ps();
  for (int t = 0; t < n_ctx; ++t) {
    const __m256 a = _mm256_set1_ps(att[t] * inv);
    const float* v = V + t * stride;
    for (int i = 0; i < HD8; ++i) o[i] = _mm256_fmadd_ps(a, _mm256_loadu_ps(v + 8 * i), o[i]);
  }
  for (int i = 0; i < HD8; ++i) _mm256_storeu_ps(out + 8 * i, o[i]);
}
}  // namespace

void attend_avx2(const float* q, const float* K, const float* V, size_t stride, int n_ctx, int hd, float scale,
                 float* att, float* out) {
  if (hd == 64) return attend_fixed<8>(q, K, V, stride, n_ctx, scale, att, out);
  if (hd == 128) return attend_fixed<16>(q, K, V, stride, n_ctx, scale, att, out);
  attend_generic([](const float* a, const float* b, int n) { return dot_avx2(a, b, n); },
                 [](float a, const float* x, float* y, int n) { axpy_avx2(a, x, y, n); }, q, K, V, stride,
                 n_ctx, hd, scale, att, out);
}

void swiglu_avx2(float* h1, const float* h3, size_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(h1 + i);
    __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v))));
    _mm256_storeu_ps(h1 + i, _mm256_mul_ps(_mm256_mul_ps(v, sig), _mm256_loadu_ps(h3 + i)));
  }
  if (i < n) {  // the tail through the same vector code: a value's result must not depend on where it sits
    alignas(32) float a[8] = {0}, c[8] = {0};
    std::memcpy(a, h1 + i, (n - i) * sizeof(float));
    std::memcpy(c, h3 + i, (n - i) * sizeof(float));
    __m256 v = _mm256_load_ps(a);
    __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v))));
    _mm256_store_ps(a, _mm256_mul_ps(_mm256_mul_ps(v, sig), _mm256_load_ps(c)));
    std::memcpy(h1 + i, a, (n - i) * sizeof(float));
  }
}

void quantize_act_q8_avx2(const float* x, const int32_t* perm, int /*in*/, const std::vector<int32_t>& bounds,
                          int8_t* xq, float* d, float* gz) {
  const int ng = static_cast<int>(bounds.size()) - 1;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int g = 0; g < ng; ++g) {
    float z = 0;
    for (int b = bounds[g] / 32; b < bounds[g + 1] / 32; ++b) {
      __m256 v[4];
      for (int k = 0; k < 4; ++k) {
        if (perm) {
          __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(perm + 32 * b + 8 * k));
          v[k] = _mm256_i32gather_ps(x, idx, 4);
        } else {
          v[k] = _mm256_loadu_ps(x + 32 * b + 8 * k);
        }
      }
      __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                               _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      const float amax = _mm_cvtss_f32(m4);
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      d[b] = amax / 127.0f;
      const __m256 iv = _mm256_set1_ps(inv);
      __m256i q[4];
      for (int k = 0; k < 4; ++k) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], iv));  // round to nearest even
      __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
      s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
      const int sum = _mm_cvtsi128_si32(s4);
      // |q| <= 127: the saturating packs are exact; they interleave 128-bit
      // lanes, which the final permute undoes.
      __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
      __m256i p8 = _mm256_packs_epi16(p16a, p16b);
      p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(xq + 32 * b), p8);
      z = std::fma(d[b], static_cast<float>(sum), z);
    }
    gz[g] = z;
  }
}

void hgemm_avx2(const uint16_t* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1) {
  auto ld = [](const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); };
  for (int o = o0; o < o1; ++o) {  // rows outer, as in sgemm_avx2
    const uint16_t* wo = w + static_cast<size_t>(o) * in;
    for (int t = 0; t < n; ++t) {
      const float* xt = x + static_cast<size_t>(t) * in;
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
