// SwiGLU activation of Llama's FFN: silu(gate) * up.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cstdint>

#include <cstddef>

namespace rewoo::kernels {

// out[t * hidden + j] = silu(gu[t * ld + j]) * gu[t * ld + up_offset + j].
// Also zeroes zero[0 .. zero_n) (may be null). out may be null; out_h
// (optional) gets fp16 values at out_h[t * hidden + dest[j]] (gptq_gemv input).
// ss (optional, [T]): gate and up were projected without their rows' RMSNorm
// factor (gptq_gemv_normed(), sums of squares ss over norm_dim values); both
// are scaled by 1 / sqrt(ss[t] / norm_dim + eps) first.
void swiglu(cudaStream_t stream, const float* gu, int ld, int up_offset, float* out, int T,
            int hidden, float* zero = nullptr, size_t zero_n = 0, half* out_h = nullptr,
            const int32_t* dest = nullptr, const float* ss = nullptr, int norm_dim = 0,
            float eps = 0.0f);

}  // namespace rewoo::kernels
