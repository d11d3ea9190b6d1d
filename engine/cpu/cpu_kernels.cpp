#include "engine/cpu/cpu_kernels.h"

#include "engine/cpu/attend_generic.h"

#include "engine/half.h"

#include <sys/mman.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <new>
#include <cmath>
#include <cstring>

namespace rewoo::engine::cpu {

template <class T>
void HugeArray<T>::assign(size_t n) {
  release();
  if (n == 0) return;
  bytes_ = (n * sizeof(T) + 4095) / 4096 * 4096;
  void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (bytes_ >= (2u << 20)) madvise(p, bytes_, MADV_HUGEPAGE);
  p_ = static_cast<T*>(p);
  n_ = n;
}

template <class T>
void HugeArray<T>::release() {
  if (p_) munmap(p_, bytes_);
  p_ = nullptr;
  n_ = bytes_ = 0;
}

template class HugeArray<uint8_t>;
template class HugeArray<uint16_t>;
template class HugeArray<uint32_t>;

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // F16C straight from CPUID (leaf 1, ECX): clang before 16 has no
  // __builtin_cpu_supports("f16c").
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#else
  return false;
#endif
}

bool cpu_has_avx512vnni() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

bool can_pack(const QuantLinear& q) {
  if (q.in % 32 != 0) return false;
  for (int b : q.group_bounds)
    if (b % 32 != 0) return false;
  return true;
}

PackedQuant pack_quant(const QuantLinear& q) {
  PackedQuant p;
  p.in = q.in;
  p.out = q.out;
  p.out_pad = (q.out + 7) / 8 * 8;
  p.bits = q.bits;
  p.n_groups = q.n_groups;
  p.bounds = q.group_bounds;
  p.perm = q.perm;
  const int rb = q.in / 32, ncb = p.out_pad / 8;
  p.blocks.assign(static_cast<size_t>(ncb) * rb * q.bits * 8);
  // The source packs rows as a per-column bit stream too, with the same bit
  // positions inside each 32-row block, so words copy across unchanged.
  const size_t src_words_per_block = static_cast<size_t>(q.bits);  // 32 rows * bits / 32
  for (int c = 0; c < ncb; ++c)
    for (int r = 0; r < rb; ++r)
      for (int b = 0; b < q.bits; ++b)
        for (int l = 0; l < 8; ++l) {
          int col = c * 8 + l;
          if (col >= q.out) continue;
          p.blocks[((static_cast<size_t>(c) * rb + r) * q.bits + b) * 8 + l] =
              q.qweight[(r * src_words_per_block + b) * q.out + col];
        }
  p.scales.assign(static_cast<size_t>(q.n_groups) * p.out_pad, 0.0f);
  p.szeros.assign(static_cast<size_t>(q.n_groups) * p.out_pad, 0.0f);
  for (int g = 0; g < q.n_groups; ++g)
    for (int j = 0; j < q.out; ++j) {
      float s = q.scales[static_cast<size_t>(g) * q.out + j];
      p.scales[static_cast<size_t>(g) * p.out_pad + j] = s;
      p.szeros[static_cast<size_t>(g) * p.out_pad + j] = s * static_cast<float>(q.zeros[static_cast<size_t>(g) * q.out + j]);
    }
  return p;
}

void qgemm_ref(const PackedQuant& w, const float* x, int n, float* y, int ldy, int cb0, int cb1) {
  const int rb = w.in / 32, bits = w.bits;
  const uint32_t mask = (1u << bits) - 1;
  for (int c = cb0; c < cb1; ++c) {
    const uint32_t* blk = w.blocks.data() + static_cast<size_t>(c) * rb * bits * 8;
    for (int t = 0; t < n; ++t) {
      const float* xt = x + static_cast<size_t>(t) * w.in;
      float acc[8] = {0};
      for (int g = 0; g < w.n_groups; ++g) {
        const float* sc = w.scales.data() + static_cast<size_t>(g) * w.out_pad + c * 8;
        const float* sz = w.szeros.data() + static_cast<size_t>(g) * w.out_pad + c * 8;
        for (int r = w.bounds[g] / 32; r < w.bounds[g + 1] / 32; ++r) {
          const uint32_t* wb = blk + static_cast<size_t>(r) * bits * 8;
          for (int i = 0; i < 32; ++i) {
            int bit = i * bits, word = bit / 32, sh = bit % 32;
            float xv = xt[r * 32 + i];
            for (int l = 0; l < 8; ++l) {
              uint64_t v = wb[word * 8 + l] >> sh;
              if (sh + bits > 32) v |= static_cast<uint64_t>(wb[(word + 1) * 8 + l]) << (32 - sh);
              float q = static_cast<float>(static_cast<uint32_t>(v) & mask);
              acc[l] += xv * fp16_round(q * sc[l] - sz[l]);
            }
          }
        }
      }
      for (int l = 0; l < 8 && c * 8 + l < w.out; ++l) y[static_cast<size_t>(t) * ldy + c * 8 + l] = acc[l];
    }
  }
}

void sgemm_ref(const float* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1) {
  for (int t = 0; t < n; ++t) {
    const float* xt = x + static_cast<size_t>(t) * in;
    for (int o = o0; o < o1; ++o) {
      const float* wo = w + static_cast<size_t>(o) * in;
      float s = 0.0f;
      for (int i = 0; i < in; ++i) s += wo[i] * xt[i];
      y[static_cast<size_t>(t) * ldy + o] = s;
    }
  }
}

PackedQ4x8 pack_q4x8(const QuantLinear& q) {
  PackedQ4x8 p;
  p.in = q.in;
  p.out = q.out;
  p.out_pad = (q.out + 63) / 64 * 64;
  p.n_groups = q.n_groups;
  p.bounds = q.group_bounds;
  p.perm = q.perm;
  const int nb = q.in / 32, ns = p.n_super();
  p.q.assign(static_cast<size_t>(ns) * nb * 1024);
  // 4-bit: source word 4b+c of column j holds reordered rows 32b+8c .. +7,
  // row 8c+i in nibble i. 2- and 3-bit values are widened to nibbles.
  for (int s = 0; s < ns; ++s)
    for (int b = 0; b < nb; ++b)
      for (int tile = 0; tile < 4; ++tile)
        for (int c = 0; c < 4; ++c)
          for (int col = 0; col < 16; ++col) {
            const int j = 64 * s + 16 * tile + col;
            if (j >= q.out) continue;
            uint32_t v = 0;
            if (q.bits == 4) {
              v = q.qweight[static_cast<size_t>(4 * b + c) * q.out + j];
            } else {
              // 32 rows of `bits` bits in `bits` consecutive words: one stream.
              unsigned __int128 stream = 0;
              for (int wi = q.bits - 1; wi >= 0; --wi)
                stream = (stream << 32) | q.qweight[static_cast<size_t>(q.bits * b + wi) * q.out + j];
              const uint32_t mask = (1u << q.bits) - 1;
              for (int i = 0; i < 8; ++i)
                v |= (static_cast<uint32_t>(stream >> (q.bits * (8 * c + i))) & mask) << (4 * i);
            }
            uint8_t* dst = &p.q[(static_cast<size_t>(s) * nb + b) * 1024 + tile * 256 + c * 64 + col * 4];
            for (int i = 0; i < 4; ++i) dst[i] = static_cast<uint8_t>(((v >> (4 * i)) & 15) | (((v >> (4 * i + 16)) & 15) << 4));
          }
  p.sz.assign(static_cast<size_t>(ns) * q.n_groups * 192, 0);
  for (int j = 0; j < q.out; ++j)
    for (int g = 0; g < q.n_groups; ++g) {
      uint8_t* dst = &p.sz[(static_cast<size_t>(j / 64) * q.n_groups + g) * 192];
      const uint16_t h = fp32_to_fp16(q.scales[static_cast<size_t>(g) * q.out + j]);  // exact: scales are fp16
      std::memcpy(dst + 2 * (j % 64), &h, 2);
      dst[128 + j % 64] = q.zeros[static_cast<size_t>(g) * q.out + j];
    }
  return p;
}

void quantize_act_q8(const float* x, const int32_t* perm, int /*in*/, const std::vector<int32_t>& bounds, int8_t* xq,
                     float* d, float* gz) {
  const int ng = static_cast<int>(bounds.size()) - 1;
  for (int g = 0; g < ng; ++g) {
    float z = 0;
    for (int b = bounds[g] / 32; b < bounds[g + 1] / 32; ++b) {
      float xb[32];
      for (int i = 0; i < 32; ++i) xb[i] = x[perm ? perm[32 * b + i] : 32 * b + i];
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
      const float inv = amax > 0 ? 127.0f / amax : 0.0f;
      d[b] = amax / 127.0f;
      int sum = 0;
      for (int i = 0; i < 32; ++i) {
        const int v = static_cast<int>(std::nearbyint(xb[i] * inv));
        xq[32 * b + i] = static_cast<int8_t>(v);
        sum += v;
      }
      z = std::fma(d[b], static_cast<float>(sum), z);
    }
    gz[g] = z;
  }
}

void q4q8_gemm_ref(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, int n, float* y, int ldy,
                   int s0, int s1) {
  const int nb = w.in / 32;
  for (int s = s0; s < s1; ++s)
    for (int t = 0; t < n; ++t) {
      const int8_t* xt = xq + static_cast<size_t>(t) * w.in;
      const float* dt = d + static_cast<size_t>(t) * nb;
      float yv[64] = {0};
      for (int g = 0; g < w.n_groups; ++g) {
        float facc[64] = {0};
        for (int b = w.bounds[g] / 32; b < w.bounds[g + 1] / 32; ++b) {
          const uint8_t* blk = w.q.data() + (static_cast<size_t>(s) * nb + b) * 1024;
          for (int j = 0; j < 64; ++j) {
            int isum = 0;
            for (int c = 0; c < 4; ++c)
              for (int i = 0; i < 4; ++i) {
                const uint8_t v = blk[(j / 16) * 256 + c * 64 + (j % 16) * 4 + i];
                isum += (v & 15) * xt[32 * b + 8 * c + i] + (v >> 4) * xt[32 * b + 8 * c + 4 + i];
              }
            facc[j] = std::fma(static_cast<float>(isum), dt[b], facc[j]);
          }
        }
        const uint8_t* sz = w.sz.data() + (static_cast<size_t>(s) * w.n_groups + g) * 192;
        const float gzt = gz[static_cast<size_t>(t) * w.n_groups + g];
        for (int j = 0; j < 64; ++j) {
          uint16_t h;
          std::memcpy(&h, sz + 2 * j, 2);
          const float sc = fp16_to_fp32(h), zr = static_cast<float>(sz[128 + j]);
          yv[j] = std::fma(sc, std::fma(-zr, gzt, facc[j]), yv[j]);
        }
      }
      for (int j = 0; j < 64 && 64 * s + j < w.out; ++j) y[static_cast<size_t>(t) * ldy + 64 * s + j] = yv[j];
    }
}

PackedQ4Cols pack_q4_cols(const QuantLinear& q) {
  PackedQ4Cols p;
  p.in = q.in;
  p.out = q.out;
  p.n_groups = q.n_groups;
  p.bounds = q.group_bounds;
  p.perm = q.perm;
  p.q.assign(static_cast<size_t>(q.out) * q.in / 2);
  auto nib = [&](int r, int j) { return (q.qweight[static_cast<size_t>(r / 8) * q.out + j] >> (4 * (r % 8))) & 15; };
  for (int j = 0; j < q.out; ++j)
    for (int b = 0; b < q.in / 32; ++b)
      for (int i = 0; i < 16; ++i)
        p.q[static_cast<size_t>(j) * (q.in / 2) + 16 * b + i] =
            static_cast<uint8_t>(nib(32 * b + i, j) | (nib(32 * b + 16 + i, j) << 4));
  p.scales.resize(static_cast<size_t>(q.out) * q.n_groups);
  p.szeros.resize(p.scales.size());
  for (int j = 0; j < q.out; ++j)
    for (int g = 0; g < q.n_groups; ++g) {
      const float s = q.scales[static_cast<size_t>(g) * q.out + j];
      p.scales[static_cast<size_t>(j) * q.n_groups + g] = s;
      p.szeros[static_cast<size_t>(j) * q.n_groups + g] = s * static_cast<float>(q.zeros[static_cast<size_t>(g) * q.out + j]);
    }
  return p;
}

void q4_cols_gemm_ref(const PackedQ4Cols& w, const float* x, int n, float* y, int ldy, int c0, int c1) {
  for (int c = c0; c < c1; ++c) {
    const uint8_t* qc = w.q.data() + static_cast<size_t>(c) * (w.in / 2);
    for (int t = 0; t < n; ++t) {
      const float* xt = x + static_cast<size_t>(t) * w.in;
      float acc = 0;
      for (int g = 0; g < w.n_groups; ++g) {
        const float s = w.scales[static_cast<size_t>(c) * w.n_groups + g], sz = w.szeros[static_cast<size_t>(c) * w.n_groups + g];
        for (int b = w.bounds[g] / 32; b < w.bounds[g + 1] / 32; ++b)
          for (int i = 0; i < 16; ++i) {
            const uint8_t v = qc[16 * b + i];
            acc += xt[32 * b + i] * fp16_round(static_cast<float>(v & 15) * s - sz);
            acc += xt[32 * b + 16 + i] * fp16_round(static_cast<float>(v >> 4) * s - sz);
          }
      }
      y[static_cast<size_t>(t) * ldy + c] = acc;
    }
  }
}

void swiglu_ref(float* h1, const float* h3, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float v = h1[i];
    v *= (1.0f / (1.0f + expf(-v)));
    h1[i] = v * h3[i];
  }
}

float dot_ref(const float* a, const float* b, int n) {
  float s = 0.0f;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_ref(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

void attend_ref(const float* q, const float* K, const float* V, size_t stride, int n_ctx, int hd, float scale,
                float* att, float* out) {
  // Lambdas, not function pointers: each kernel file then gets its own
  // instantiation, compiled with its own target flags.
  attend_generic([](const float* a, const float* b, int n) { return dot_ref(a, b, n); },
                 [](float a, const float* x, float* y, int n) { axpy_ref(a, x, y, n); }, q, K, V, stride,
                 n_ctx, hd, scale, att, out);
}

void hgemm_ref(const uint16_t* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1) {
  for (int t = 0; t < n; ++t) {
    const float* xt = x + static_cast<size_t>(t) * in;
    for (int o = o0; o < o1; ++o) {
      const uint16_t* wo = w + static_cast<size_t>(o) * in;
      float s = 0.0f;
      for (int i = 0; i < in; ++i) s += fp16_to_fp32(wo[i]) * xt[i];
      y[static_cast<size_t>(t) * ldy + o] = s;
    }
  }
}

}  // namespace rewoo::engine::cpu
