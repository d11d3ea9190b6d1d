#include "kernels/rope.cuh"

#include "kernels/common.cuh"

#include <algorithm>

namespace rewoo::kernels {
namespace {

__global__ void rope_kv_kernel(const float* __restrict__ qkv, const int32_t* __restrict__ pos,
                               const int32_t* __restrict__ slot,
                               const float* __restrict__ cos_sin, float* __restrict__ q_out,
                               half* __restrict__ k_cache, half* __restrict__ v_cache,
                               int n_heads, int n_kv, int hd, int max_seq, bool interleaved) {
  pdl_enter();
  const int t = blockIdx.x;
  const int p = pos[t];
  const size_t row = (size_t)(n_heads + 2 * n_kv) * hd;
  const float* src = qkv + t * row;
  const int half_hd = hd / 2;
  const float* cs = cos_sin + (size_t)p * hd;  // [hd/2][2]
  const size_t cache_base = ((size_t)slot[t] * max_seq + p) * n_kv * hd;
  // rotations: (n_heads + n_kv) heads * hd/2 pairs
  const int n_rot = (n_heads + n_kv) * half_hd;
  const int stride = blockDim.x * gridDim.y, first = blockIdx.y * blockDim.x + threadIdx.x;
  for (int i = first; i < n_rot; i += stride) {
    const int h = i / half_hd, j = i % half_hd;
    const int a = interleaved ? 2 * j : j;
    const int b = interleaved ? 2 * j + 1 : j + half_hd;
    const float c = cs[2 * j], s = cs[2 * j + 1];
    const float x0 = src[h * hd + a], x1 = src[h * hd + b];
    const float y0 = x0 * c - x1 * s, y1 = x0 * s + x1 * c;
    if (h < n_heads) {
      q_out[(size_t)t * n_heads * hd + h * hd + a] = y0;
      q_out[(size_t)t * n_heads * hd + h * hd + b] = y1;
    } else {
      half* kc = k_cache + cache_base + (h - n_heads) * hd;
      kc[a] = __float2half_rn(y0);
      kc[b] = __float2half_rn(y1);
    }
  }
  const float* v = src + (size_t)(n_heads + n_kv) * hd;
  for (int i = first; i < n_kv * hd; i += stride) v_cache[cache_base + i] = __float2half_rn(v[i]);
}

}  // namespace

void rope_kv_write(cudaStream_t stream, const float* qkv, const int32_t* pos, const int32_t* slot,
                   const float* cos_sin, float* q_out, half* k_cache, half* v_cache, int T,
                   int n_heads, int n_kv, int hd, int max_seq, bool interleaved) {
  if (T <= 0) return;
  const int per_token = std::max(1, std::min(16, ((n_heads + n_kv) * hd / 2 + 255) / 256));
  launch_kernel(rope_kv_kernel, dim3(T, per_token), dim3(256), 0, stream, qkv, pos, slot, cos_sin,
                q_out, k_cache, v_cache, n_heads, n_kv, hd, max_seq, interleaved);
}

}  // namespace rewoo::kernels
