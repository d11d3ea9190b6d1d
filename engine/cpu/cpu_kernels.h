// CPU matmul kernels for the CPU backend: GPTQ-packed weights with fp32
// activations (the exact path) or int8-quantized activations (the default,
// 4-bit only), and plain fp32 / fp16 weights. Each kernel has a portable
// version (cpu_kernels.cpp), an AVX2/FMA version (cpu_kernels_avx2.cpp) and
// for the int8 path an AVX-512 VNNI one, picked at run time by cpu_has_*().
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

// The int8-activation path for 2/3/4-bit layers (BackendOptions::exact off),
// llama.cpp-style: activations quantized to int8 per 32 reordered rows,
// integer dot products, and for column j of group g
//   y[j] += s[g][j] * (sum_b d_b * sum_k q_kj * xq_k  -  z[g][j] * gz[g]).
// Weights are repacked at load so that one pass streams them linearly and
// fills 16 output columns per SIMD register (no horizontal sums):
//   q: uint8 [out_pad/64][in/32][4 tiles][4 chunks][16 cols][4 bytes]: super
//      tile s holds columns 64s .. 64s+63 as 4 tiles of 16; chunk c of row
//      block b covers reordered rows 32b+8c .. 32b+8c+7; byte i (0..3) of a
//      column holds row 8c+i in its low nibble and row 8c+4+i in its high one
//      (so one 32-bit lane is one column's 4-row int8 dot product).
//   sz: [out_pad/64][n_groups][192 bytes]: the 64 columns' scales (fp16,
//       as stored by GPTQ), then their zero points (uint8); padding columns
//       0 and 0. 3 bytes per column and group, not 8: 7% fewer bytes to
//       stream at group size 128.
struct PackedQ4x8 {
  int in = 0, out = 0, out_pad = 0, n_groups = 0;  // out_pad: out rounded up to 64
  HugeArray<uint8_t> q;
  std::vector<uint8_t> sz;
  std::vector<int32_t> bounds;
  std::vector<int32_t> perm;
  int n_super() const { return out_pad / 64; }
};
// Needs bits 2, 3 or 4 and can_pack(); 2- and 3-bit values are stored as
// nibbles (more bytes than packed, but the same fast kernel).
PackedQ4x8 pack_q4x8(const QuantLinear& q);

// x [in] -> xq int8 [in] in reordered row order (x_r[k] = x[perm[k]], or x
// itself when perm is null), d [in/32] block scales (amax/127), gz [n_groups]
// = sum over the group's blocks of d_b * sum(xq_b) (for the zero-point term).
// The AVX2 version gives bit-identical results.
using QuantizeActFn = void (*)(const float* x, const int32_t* perm, int in, const std::vector<int32_t>& bounds,
                               int8_t* xq, float* d, float* gz);
void quantize_act_q8(const float* x, const int32_t* perm, int in, const std::vector<int32_t>& bounds, int8_t* xq,
                     float* d, float* gz);
void quantize_act_q8_avx2(const float* x, const int32_t* perm, int in, const std::vector<int32_t>& bounds, int8_t* xq,
                          float* d, float* gz);
// Y[t][j] for n tokens (xq [n][in], d [n][in/32], gz [n][n_groups], y row
// stride ldy) over super tiles [s0, s1). Every variant does the same integer
// sums and the same float operations in the same order (fused multiply-adds
// where noted), so all give bit-identical results.
using Q4Q8GemmFn = void (*)(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, int n, float* y,
                            int ldy, int s0, int s1);
void q4q8_gemm_ref(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, int n, float* y, int ldy,
                   int s0, int s1);
void q4q8_gemm_avx2(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, int n, float* y, int ldy,
                    int s0, int s1);
// Same with AVX-512 VNNI (vpdpbusd on 512-bit registers).
void q4q8_gemm_avx512vnni(const PackedQ4x8& w, const int8_t* xq, const float* d, const float* gz, int n, float* y,
                          int ldy, int s0, int s1);

// The exact path for 4-bit layers on AVX-512: the same fp16-rounded weights
// as qgemm_ref, looked up in a 16-entry table per column and group (one
// vpermps dequantizes 16 weights), summed in another order (agrees with
// qgemm_ref to float rounding).
//   q: uint8 [out][in/32][16]: byte i of a column's 32-row block holds
//      reordered row 32b+i (low nibble) and 32b+16+i (high nibble).
//   scales, szeros: fp32 [out][n_groups] (szeros = scale * zero).
struct PackedQ4Cols {
  int in = 0, out = 0, n_groups = 0;
  HugeArray<uint8_t> q;
  std::vector<float> scales, szeros;
  std::vector<int32_t> bounds;
  std::vector<int32_t> perm;
};
PackedQ4Cols pack_q4_cols(const QuantLinear& q);  // needs bits == 4 and can_pack()
// Y[n, out] (row stride ldy) for columns [c0, c1); x: [n, in] reordered.
void q4_cols_gemm_avx512(const PackedQ4Cols& w, const float* x, int n, float* y, int ldy, int c0, int c1);
// The same sums with the portable dequantization, for tests.
void q4_cols_gemm_ref(const PackedQ4Cols& w, const float* x, int n, float* y, int ldy, int c0, int c1);

// Attention's inner loops: sum a[i] * b[i], and y[i] += a * x[i], i < n.
// The AVX2 versions use 8-wide partial sums and fused multiply-adds, so they
// agree with the portable ones to float rounding (tested to 1e-6), not bit
// for bit.
float dot_ref(const float* a, const float* b, int n);
float dot_avx2(const float* a, const float* b, int n);
void axpy_ref(float a, const float* x, float* y, int n);
void axpy_avx2(float a, const float* x, float* y, int n);

// One query head's attention over n_ctx cached positions (n_ctx >= 1):
//   out[hd] = sum_j softmax_j(scale * q . k_j) v_j,  k_j = K + j * stride,
//   v_j = V + j * stride; att: scratch [n_ctx]. The AVX2 version scores four
// keys at a time and keeps out in registers (hd 64 or 128); it agrees with
// the portable one to float rounding.
using AttendFn = void (*)(const float* q, const float* K, const float* V, size_t stride, int n_ctx, int hd,
                          float scale, float* att, float* out);
void attend_ref(const float* q, const float* K, const float* V, size_t stride, int n_ctx, int hd, float scale,
                float* att, float* out);
void attend_avx2(const float* q, const float* K, const float* V, size_t stride, int n_ctx, int hd, float scale,
                 float* att, float* out);

// SwiGLU in place: h1[i] = silu(h1[i]) * h3[i]. The AVX2 version uses a
// polynomial exp (a few ulp), agreeing with the portable one to ~1e-6.
using SwigluFn = void (*)(float* h1, const float* h3, size_t n);
void swiglu_ref(float* h1, const float* h3, size_t n);
void swiglu_avx2(float* h1, const float* h3, size_t n);

bool cpu_has_avx2();
bool cpu_has_avx512vnni();

}  // namespace rewoo::engine::cpu
