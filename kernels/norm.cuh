// RMSNorm over rows of the fp32 residual stream (Llama's input_layernorm and
// post_attention_layernorm), optionally zeroing the buffer the next
// quantized product accumulates into (saves a memset launch per layer).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace rewoo::kernels {

// out[t, i] = x[t, i] / sqrt(mean_i(x[t, :]^2) + eps) * w[i], t < T, i < dim.
// Also sets zero[0 .. zero_n) to 0 (zero may be null).
void rmsnorm(cudaStream_t stream, const float* x, const float* w, float* out, int T, int dim,
             float eps, float* zero = nullptr, size_t zero_n = 0);

}  // namespace rewoo::kernels
