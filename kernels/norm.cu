#include "kernels/norm.cuh"

#include "kernels/common.cuh"

namespace rewoo::kernels {
namespace {

__global__ void rmsnorm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                               float* __restrict__ out, int dim, float eps, float* zero,
                               size_t zero_n) {
  __shared__ float partial[32];
  const float* xr = x + (size_t)blockIdx.x * dim;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
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
  float* o = out + (size_t)blockIdx.x * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = xr[i] * inv * w[i];
  if (zero) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < zero_n;
         i += (size_t)gridDim.x * blockDim.x)
      zero[i] = 0.0f;
  }
}

}  // namespace

void rmsnorm(cudaStream_t stream, const float* x, const float* w, float* out, int T, int dim,
             float eps, float* zero, size_t zero_n) {
  if (T <= 0) return;
  rmsnorm_kernel<<<T, 256, 0, stream>>>(x, w, out, dim, eps, zero, zero_n);
}

}  // namespace rewoo::kernels
