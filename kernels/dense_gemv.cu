// One warp per output column: lanes stream the weight row 16 bytes at a
// time (kUnroll loads in flight), activations come in 16-byte loads from L2,
// up to 8 batch rows per pass.
#include "kernels/dense_gemv.cuh"

#include "kernels/common.cuh"

namespace rewoo::kernels {
namespace {

constexpr int kRows = 8;
constexpr int kUnroll = 4;  // 16-byte weight loads in flight per lane

template <typename W>
struct Vec;
template <>
struct Vec<half> {
  static constexpr int n = 8;
  __device__ static void load(const half* p, float* f) {
    const uint4 u = ld_stream(reinterpret_cast<const uint4*>(p));
    const half2* h = reinterpret_cast<const half2*>(&u);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 v = __half22float2(h[i]);
      f[2 * i] = v.x;
      f[2 * i + 1] = v.y;
    }
  }
};
template <>
struct Vec<float> {
  static constexpr int n = 4;
  __device__ static void load(const float* p, float* f) {
    const uint4 u = ld_stream(reinterpret_cast<const uint4*>(p));
    f[0] = __uint_as_float(u.x);
    f[1] = __uint_as_float(u.y);
    f[2] = __uint_as_float(u.z);
    f[3] = __uint_as_float(u.w);
  }
};

// N consecutive activations (16-byte aligned) in 16-byte loads through L2:
// the previous kernel wrote them, and under programmatic dependent launch the
// non-coherent path could serve stale lines.
template <int N>
__device__ __forceinline__ void load_x(const float* p, float* f) {
#pragma unroll
  for (int i = 0; i < N / 4; ++i) {
    const float4 v = __ldcg(reinterpret_cast<const float4*>(p) + i);
    f[4 * i] = v.x;
    f[4 * i + 1] = v.y;
    f[4 * i + 2] = v.z;
    f[4 * i + 3] = v.w;
  }
}

template <typename W>
__global__ void dense_gemv_kernel(const float* __restrict__ x, const W* __restrict__ w,
                                  const float* __restrict__ bias, float* __restrict__ out, int M,
                                  int K, int N, int ldo, bool accumulate) {
  pdl_enter();
  constexpr int VN = Vec<W>::n;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * (blockDim.x >> 5) + warp;
  if (n >= N) return;
  const W* wr = w + (size_t)n * K;
  // Vector loads need 16-byte alignment of each row.
  const bool vec = (K % VN) == 0;
  const int kv = vec ? K : 0;
  for (int m0 = 0; m0 < M; m0 += kRows) {
    const int rows = min(kRows, M - m0);
    float acc[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    // kUnroll row pieces in flight per lane, then the remainder one by one.
    int k = lane * VN;
    for (; k + (kUnroll - 1) * 32 * VN < kv; k += kUnroll * 32 * VN) {
      float wf[kUnroll][VN];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) Vec<W>::load(wr + k + u * 32 * VN, wf[u]);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r < rows) {
          const float* xr = x + (size_t)(m0 + r) * K + k;
#pragma unroll
          for (int u = 0; u < kUnroll; ++u) {
            float xf[VN];
            load_x<VN>(xr + u * 32 * VN, xf);
#pragma unroll
            for (int i = 0; i < VN; ++i) acc[r] += wf[u][i] * xf[i];
          }
        }
      }
    }
    for (; k < kv; k += 32 * VN) {
      float wf[VN];
      Vec<W>::load(wr + k, wf);
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r < rows) {
          float xf[VN];
          load_x<VN>(x + (size_t)(m0 + r) * K + k, xf);
#pragma unroll
          for (int i = 0; i < VN; ++i) acc[r] += wf[i] * xf[i];
        }
      }
    }
    for (int k = kv + lane; k < K; k += 32) {
      const float wk = static_cast<float>(wr[k]);
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        if (r < rows) acc[r] += wk * __ldcg(x + (size_t)(m0 + r) * K + k);
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float v = warp_sum(acc[r]);
      if (lane == 0 && r < rows) {
        float* o = out + (size_t)(m0 + r) * ldo + n;
        *o = (accumulate ? *o : 0.0f) + v + (bias ? bias[n] : 0.0f);
      }
    }
  }
}

template <typename W>
void launch(cudaStream_t stream, const float* x, const W* w, const float* bias, float* out, int M,
            int K, int N, int ldo, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  constexpr int kWarps = 8;
  launch_kernel(dense_gemv_kernel<W>, dim3(ceil_div(N, kWarps)), dim3(32 * kWarps), 0, stream, x, w,
                bias, out, M, K, N, ldo, accumulate);
}

}  // namespace

void dense_gemv(cudaStream_t stream, const float* x, const half* W, const float* bias, float* out,
                int M, int K, int N, int ldo, bool accumulate) {
  launch(stream, x, W, bias, out, M, K, N, ldo, accumulate);
}
void dense_gemv(cudaStream_t stream, const float* x, const float* W, const float* bias, float* out,
                int M, int K, int N, int ldo, bool accumulate) {
  launch(stream, x, W, bias, out, M, K, N, ldo, accumulate);
}

}  // namespace rewoo::kernels
