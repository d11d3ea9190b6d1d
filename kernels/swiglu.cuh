// SwiGLU activation of Llama's FFN: silu(gate) * up.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace rewoo::kernels {

// out[t * hidden + j] = silu(gu[t * ld + j]) * gu[t * ld + up_offset + j].
// Also zeroes zero[0 .. zero_n) (may be null).
void swiglu(cudaStream_t stream, const float* gu, int ld, int up_offset, float* out, int T,
            int hidden, float* zero = nullptr, size_t zero_n = 0);

}  // namespace rewoo::kernels
