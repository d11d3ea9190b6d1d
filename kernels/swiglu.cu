#include "kernels/swiglu.cuh"

#include "kernels/common.cuh"
#include "kernels/gptq_gemv.cuh"

#include <algorithm>

namespace rewoo::kernels {
namespace {

__global__ void swiglu_kernel(const float* __restrict__ gu, int ld, int up_offset,
                              float* __restrict__ out, int T, int hidden, float* zero,
                              size_t zero_n, half* __restrict__ out_h,
                              const int32_t* __restrict__ dest, const float* __restrict__ ss,
                              int norm_dim, float eps) {
  // The first staging position is fetched before waiting for the kernel that
  // writes gu; gu comes through L2 (see gptq_gemv.cu on programmatic launch).
  TRACE_BEGIN;
  pdl_trigger();
  const size_t n = (size_t)T * hidden;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  int32_t d = out_h && i < n ? dest[i % hidden] : 0;
  pdl_wait();
  TRACE_RELEASED;
  for (; i < n; i += stride) {
    const size_t t = i / hidden, j = i % hidden;
    // The RMSNorm factor of row t, where the product left it out.
    const float inv = ss ? rsqrtf(__ldcg(ss + t) / norm_dim + eps) : 1.0f;
    const float g = __ldcg(gu + t * ld + j) * inv, u = __ldcg(gu + t * ld + up_offset + j) * inv;
    const float v = g / (1.0f + expf(-g)) * u;
    if (out) out[i] = v;
    if (out_h) {
      gptq_store_staged(out_h + t * hidden, d, v);
      if (i + stride < n) d = dest[(i + stride) % hidden];
    }
  }
  if (zero)
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < zero_n; i += stride)
      zero[i] = 0.0f;
  TRACE_END(kTraceSwiglu);
}

}  // namespace

void swiglu(cudaStream_t stream, const float* gu, int ld, int up_offset, float* out, int T,
            int hidden, float* zero, size_t zero_n, half* out_h, const int32_t* dest,
            const float* ss, int norm_dim, float eps) {
  const size_t n = (size_t)T * hidden;
  if (n == 0) return;
  const int blocks = (int)std::min<size_t>((n + 255) / 256, 132 * 8);
  launch_kernel(swiglu_kernel, dim3(blocks), dim3(256), 0, stream, gu, ld, up_offset, out, T,
                hidden, zero, zero_n, out_h, dest, ss, norm_dim, eps);
}

REWOO_TRACE_SETTER(swiglu)

}  // namespace rewoo::kernels
