#include "kernels/norm.cuh"

#include "kernels/common.cuh"
#include "kernels/gptq_gemv.cuh"

#include <algorithm>

namespace rewoo::kernels {
namespace {

constexpr int kPerThread = 8;  // row elements a thread keeps in registers

__global__ void rmsnorm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                               float* __restrict__ out, int T, int dim, float eps, float* zero,
                               size_t zero_n, half* __restrict__ out_h,
                               const int32_t* __restrict__ dest, const int32_t* __restrict__ rows) {
  // The norm weights and staging positions never change: fetched before
  // waiting for the kernel that writes x. x comes through L2 (written by the
  // previous kernel; see gptq_gemv.cu on programmatic launch).
  pdl_trigger();
  const bool held = dim <= kPerThread * (int)blockDim.x;
  float wv[kPerThread];
  int32_t dv[kPerThread];
  if (held && (int)blockIdx.x < T) {
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int i = threadIdx.x + k * blockDim.x;
      wv[k] = i < dim ? w[i] : 0.0f;
      dv[k] = i < dim && dest ? dest[i] : 0;
    }
  }
  pdl_wait();
  __shared__ float partial[32];
  if (zero) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < zero_n;
         i += (size_t)gridDim.x * blockDim.x)
      zero[i] = 0.0f;
  }
  if ((int)blockIdx.x >= T) return;  // extra blocks only zero
  const float* xr = x + (size_t)(rows ? rows[blockIdx.x] : blockIdx.x) * dim;
  float ss = 0.0f;
  float xv[kPerThread];
  if (held) {
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int i = threadIdx.x + k * blockDim.x;
      xv[k] = i < dim ? __ldcg(xr + i) : 0.0f;
      ss += xv[k] * xv[k];
    }
  } else if ((dim & 3) == 0) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    for (int i = threadIdx.x; i < dim / 4; i += blockDim.x) {
      const float4 v = __ldcg(x4 + i);
      ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
      const float v = __ldcg(xr + i);
      ss += v * v;
    }
  }
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
    v = warp_sum(v);
    if (threadIdx.x == 0) partial[0] = v;
  }
  __syncthreads();
  const float inv = rsqrtf(partial[0] / dim + eps);
  if (held) {
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int i = threadIdx.x + k * blockDim.x;
      if (i >= dim) break;
      const float v = xv[k] * inv * wv[k];
      if (out) out[(size_t)blockIdx.x * dim + i] = v;
      if (out_h) gptq_store_staged(out_h + (size_t)blockIdx.x * dim, dv[k], v);
    }
  } else {
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
      const float v = __ldcg(xr + i) * inv * w[i];
      if (out) out[(size_t)blockIdx.x * dim + i] = v;
      if (out_h) gptq_store_staged(out_h + (size_t)blockIdx.x * dim, dest[i], v);
    }
  }
}

}  // namespace

void rmsnorm(cudaStream_t stream, const float* x, const float* w, float* out, int T, int dim,
             float eps, float* zero, size_t zero_n, half* out_h, const int32_t* dest,
             const int32_t* rows) {
  if (T <= 0) return;
  // Blocks past T only help zero the next accumulator.
  const int zero_blocks = (int)std::min<size_t>((zero_n + 1023) / 1024, 264);
  // Few rows (decode): wide blocks, the row is a latency-bound reduction.
  const int threads = T <= 64 ? 1024 : 256;
  launch_kernel(rmsnorm_kernel, dim3(std::max(T, zero_blocks)), dim3(threads), 0, stream, x, w, out,
                T, dim, eps, zero, zero_n, out_h, dest, rows);
}

}  // namespace rewoo::kernels
