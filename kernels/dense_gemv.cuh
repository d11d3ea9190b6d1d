// Products with unquantized weights (fp16 or fp32, PyTorch [out, in] layout)
// for small batches: lm_head, and every linear layer of float models.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace rewoo::kernels {

// out[m * ldo + n] = (accumulate ? out[...] : 0) + sum_k x[m * K + k] * W[n * K + k]
//                    (+ bias[n]), for any M (rows are taken 8 at a time; W is
// re-read per group of 8). K % 8 == 0 (fp16) / K % 4 == 0 (fp32) is fastest;
// any K works. bias may be null.
void dense_gemv(cudaStream_t stream, const float* x, const half* W, const float* bias,
                float* out, int M, int K, int N, int ldo, bool accumulate);
void dense_gemv(cudaStream_t stream, const float* x, const float* W, const float* bias,
                float* out, int M, int K, int N, int ldo, bool accumulate);

}  // namespace rewoo::kernels
