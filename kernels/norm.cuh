// RMSNorm over rows of the fp32 residual stream (Llama's input_layernorm and
// post_attention_layernorm), optionally zeroing the buffer the next
// quantized product accumulates into (saves a memset launch per layer).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cstdint>

#include <cstddef>

namespace rewoo::kernels {

// out[t, i] = x[r, i] / sqrt(mean_i(x[r, :]^2) + eps) * w[i], t < T, i < dim,
// with r = rows[t] (rows may be null: r = t).
// Also sets zero[0 .. zero_n) to 0 (zero may be null). out may be null;
// out_h (optional) gets the same values as fp16 scattered through dest
// (out_h[t * dim + dest[i]], the staged input of gptq_gemv()).
void rmsnorm(cudaStream_t stream, const float* x, const float* w, float* out, int T, int dim,
             float eps, float* zero = nullptr, size_t zero_n = 0, half* out_h = nullptr,
             const int32_t* dest = nullptr, const int32_t* rows = nullptr);

}  // namespace rewoo::kernels
