// Token embedding lookup into the fp32 residual stream.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace rewoo::kernels {

// out[t, :] = table[tokens[t], :] (fp32 or fp16 table [vocab, dim]).
// Token ids outside [0, vocab) give a zero row.
void embedding(cudaStream_t stream, const int32_t* tokens, const float* table, float* out, int T,
               int dim, int vocab);
void embedding(cudaStream_t stream, const int32_t* tokens, const half* table, float* out, int T,
               int dim, int vocab);

}  // namespace rewoo::kernels
