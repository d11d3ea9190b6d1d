// One warp per output column: lanes stream the weight row 16 bytes at a
// time (kUnroll loads in flight), activations come in 16-byte loads from L2,
// up to 8 batch rows per pass.
#include "kernels/dense_gemv.cuh"

#include "kernels/common.cuh"

#include <type_traits>

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
    unpack_half8(ld_stream(reinterpret_cast<const uint4*>(p)), f);
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
            ldcg_floats<VN>(xr + u * 32 * VN, xf);
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
          ldcg_floats<VN>(x + (size_t)(m0 + r) * K + k, xf);
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

// fp16 weights, batches small enough to hold the activations in shared
// memory (M * K floats <= kStagedBytes, K % 8 == 0): the output layer of
// batch-1 decode. Each warp owns kCols columns; lanes stream 16 bytes of each
// per step, two steps in flight, and the first weights load before waiting
// for the kernel that writes x.
constexpr int kCols = 4;
constexpr int kStagedWarps = 8;
constexpr size_t kStagedBytes = 48 * 1024;

__global__ void __launch_bounds__(32 * kStagedWarps)
    dense_gemv_staged_kernel(const float* __restrict__ x, const half* __restrict__ w,
                             const float* __restrict__ bias, float* __restrict__ out, int M, int K,
                             int N, int ldo, bool accumulate) {
  extern __shared__ float4 xs4[];  // [M][K / 4]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n0 = (blockIdx.x * kStagedWarps + warp) * kCols;
  const int K8 = K / 8, steps = ceil_div(K8, 32);
  const uint4* wr[kCols];
#pragma unroll
  for (int c = 0; c < kCols; ++c)  // columns past N read column N - 1, never stored
    wr[c] = reinterpret_cast<const uint4*>(w + (size_t)min(n0 + c, N - 1) * K);
  uint4 wa[2][kCols];
  auto load = [&](int buf, int s) {
    const int k8 = s * 32 + lane;
#pragma unroll
    for (int c = 0; c < kCols; ++c)
      wa[buf][c] = s < steps && k8 < K8 ? ld_stream(wr[c] + k8) : make_uint4(0, 0, 0, 0);
  };
  float acc[kCols][kRows];
#pragma unroll
  for (int c = 0; c < kCols; ++c)
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[c][r] = 0.0f;
  auto compute = [&](int buf, int s) {
    const int k8 = s * 32 + lane;
    if (k8 >= K8) return;
    float wf[kCols][8];
#pragma unroll
    for (int c = 0; c < kCols; ++c) unpack_half8(wa[buf][c], wf[c]);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= M) break;
      const float4 a = xs4[(size_t)r * (K / 4) + 2 * k8], b = xs4[(size_t)r * (K / 4) + 2 * k8 + 1];
      const float xf[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
      for (int c = 0; c < kCols; ++c)
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[c][r] += wf[c][i] * xf[i];
    }
  };
  pdl_trigger();
  load(0, 0);
  pdl_wait();
  // x was written by the previous kernel: through L2 (see gptq_gemv.cu).
  for (int i = threadIdx.x; i < M * K / 4; i += blockDim.x)
    xs4[i] = __ldcg(reinterpret_cast<const float4*>(x) + i);
  __syncthreads();
  for (int s = 0; s < steps; s += 2) {
    load(1, s + 1);
    compute(0, s);
    if (s + 1 >= steps) break;
    load(0, s + 2);
    compute(1, s + 1);
  }
#pragma unroll
  for (int c = 0; c < kCols; ++c)
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= M) break;
      const float v = warp_sum(acc[c][r]);
      const int n = n0 + c;
      if (lane == 0 && n < N) {
        float* o = out + (size_t)r * ldo + n;
        *o = (accumulate ? *o : 0.0f) + v + (bias ? bias[n] : 0.0f);
      }
    }
}

template <typename W>
void launch(cudaStream_t stream, const float* x, const W* w, const float* bias, float* out, int M,
            int K, int N, int ldo, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  constexpr int kWarps = 8;
  if constexpr (std::is_same_v<W, half>) {
    const size_t staged = (size_t)M * K * sizeof(float);
    if (M <= kRows && K % 8 == 0 && staged <= kStagedBytes) {
      launch_kernel(dense_gemv_staged_kernel, dim3(ceil_div(N, kStagedWarps * kCols)),
                    dim3(32 * kStagedWarps), staged, stream, x, w, bias, out, M, K, N, ldo,
                    accumulate);
      return;
    }
  }
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
