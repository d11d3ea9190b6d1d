// CPU matmul kernels for the CPU backend: GPTQ-packed weights with fp32
// activations and fp32 accumulation, and plain fp32 weights. Each kernel has
// a portable version (cpu_kernels.cpp) and an AVX2/FMA version
// (cpu_kernels_avx2.cpp), picked at run time by cpu_has_avx2().
#pragma once

#include <cstdint>
#include <vector>

#include "engine/weights.h"

namespace rewoo::engine::cpu {

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
  std::vector<uint32_t> blocks;
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

bool cpu_has_avx2();

}  // namespace rewoo::engine::cpu
