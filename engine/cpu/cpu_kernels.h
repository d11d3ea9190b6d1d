// CPU matmul kernels for the CPU backend: GPTQ-packed weights with fp32
// activations and fp32 accumulation, and plain fp32 weights. Each kernel has
// a portable version (cpu_kernels.cpp) and an AVX2/FMA version
// (cpu_kernels_avx2.cpp), picked at run time by cpu_has_avx2().
#pragma once

#include <cstdint>
#include <vector>

#include "engine/weights.h"

namespace rewoo::engine::cpu {

// A zero-initialised array for large weights: mapped with transparent huge
// pages requested (MADV_HUGEPAGE), which on this kind of machine reads
// 30-60% faster than 4 KiB pages; falls back to plain pages.
template <class T>
class HugeArray {
 public:
  HugeArray() = default;
  explicit HugeArray(size_t n) { assign(n); }
  ~HugeArray() { release(); }
  HugeArray(HugeArray&& o) noexcept : p_(o.p_), n_(o.n_), bytes_(o.bytes_) { o.p_ = nullptr; o.n_ = o.bytes_ = 0; }
  HugeArray& operator=(HugeArray&& o) noexcept {
    if (this != &o) {
      release();
      p_ = o.p_; n_ = o.n_; bytes_ = o.bytes_;
      o.p_ = nullptr; o.n_ = o.bytes_ = 0;
    }
    return *this;
  }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;
  void assign(size_t n);  // n zeroed elements
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }

 private:
  void release();
  T* p_ = nullptr;
  size_t n_ = 0, bytes_ = 0;
};

// A GPTQ layer repacked for SIMD over 8 output columns at a time:
//   blocks: uint32 [out_pad/8][in/32][bits][8] - for column block c and row
//           block r (32 reordered rows), `bits` words per column holding the
//           32 values as a little-endian bit stream (same bits as AutoGPTQ).
//   scales, szeros: fp32 [n_groups][out_pad]; szeros = scale * zero.
// Rows of group g: bounds[g] .. bounds[g+1]-1, every bound a multiple of 32.
// y[j] = sum_k x[k] * fp16(scale[g(k)][j] * q[k][j] - szeros[g(k)][j])
// (weights rounded to fp16 as AutoGPTQ's and exllama's dequantization does;
// scale*q and scale*zero are exact in fp32, so only that rounding happens).
struct PackedQuant {
  int in = 0, out = 0, out_pad = 0, bits = 0, n_groups = 0;
  HugeArray<uint32_t> blocks;
  std::vector<float> scales, szeros;
  std::vector<int32_t> bounds;
  std::vector<int32_t> perm;  // [in] or empty: x_r[k] = x[perm[k]]
};

// False when the layer cannot use the packed path (in % 32 or a group bound
// not a multiple of 32); the backend then dequantizes it to fp32.
bool can_pack(const QuantLinear& q);
PackedQuant pack_quant(const QuantLinear& q);

// Y[n, out] (row stride ldy) over column blocks [cb0, cb1) of 8 columns.
// x: [n, in] reordered activations.
using QGemmFn = void (*)(const PackedQuant& w, const float* x, int n, float* y, int ldy, int cb0, int cb1);
// Y[n, out] = X[n, in] W^T for W fp32 [out, in], over output rows [o0, o1).
using SGemmFn = void (*)(const float* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1);

// Same with W stored as fp16 [out, in] (float layers whose values are fp16).
using HGemmFn = void (*)(const uint16_t* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1);
void hgemm_ref(const uint16_t* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1);
void hgemm_avx2(const uint16_t* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1);

void qgemm_ref(const PackedQuant& w, const float* x, int n, float* y, int ldy, int cb0, int cb1);
void sgemm_ref(const float* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1);
void qgemm_avx2(const PackedQuant& w, const float* x, int n, float* y, int ldy, int cb0, int cb1);
void sgemm_avx2(const float* w, int in, const float* x, int n, float* y, int ldy, int o0, int o1);

// The approximate fast path for 4-bit layers (BackendOptions::int8_activations),
// llama.cpp-style: activations quantized to int8 per 32 rows, integer dot
// products (maddubs), scales applied per block and group.
//   q: uint8 [out][in/32][16], the 4 GPTQ words of a column's 32-row block:
//      byte B holds reordered rows 2B (low nibble) and 2B+1 (high nibble).
//   sz: fp32 [ceil(out/4)][n_groups][8]: for 4 columns and a group, their 4
//       scales then their 4 zero points (one cache line per column quad).
struct PackedQ4x8 {
  int in = 0, out = 0, n_groups = 0;
  HugeArray<uint8_t> q;
  std::vector<float> sz;
  std::vector<int32_t> bounds;
  std::vector<int32_t> perm;
};
PackedQ4x8 pack_q4x8(const QuantLinear& q);  // needs bits == 4 and can_pack()

// x (reordered, [in]) -> xq int8 [in] (per 32-block: even rows then odd rows),
// d [in/32] block scales, gz [n_groups] = sum over the group's blocks of
// d_b * sum(xq_b) (for the zero-point term).
void quantize_act_q8(const float* x, int in, const std::vector<int32_t>& bounds, int8_t* xq, float* d, float* gz);
using Q4Q8GemvFn = void (*)(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, float* y,
                            int c0, int c1);
void q4q8_gemv_ref(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, float* y, int c0, int c1);
void q4q8_gemv_avx2(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, float* y, int c0, int c1);

// Same with AVX-512 VNNI (vpdpbusd replaces maddubs + madd).
void q4q8_gemv_avx512vnni(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, float* y, int c0,
                          int c1);

bool cpu_has_avx2();
bool cpu_has_avx512vnni();

}  // namespace rewoo::engine::cpu
