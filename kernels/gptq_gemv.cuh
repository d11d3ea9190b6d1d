// GPTQ quantized matrix products for small batches (decode) and the
// dequantize-to-fp16 step of the prefill path.
//
// Weight layout on the GPU (one linear layer, K inputs, N outputs):
//  - qweight: the AutoGPTQ words uint32 [K * bits / 32, N], rows already
//    reordered so that each group is a contiguous run of `group_size` rows
//    (act-order becomes a permutation `perm` of the activation,
//    x_r[k] = x[perm[k]]), then rearranged at upload by gptq_pack() into
//    tiles in the order the GEMV reads them: per 128 columns, k-block after
//    k-block (32 rows for 4-bit, 128 for 3-bit), each one contiguous 2 KB
//    (6 KB) run. A block of the GEMV thus streams one contiguous range.
//    4-bit words keep AutoGPTQ's packing (8 rows, low nibble first); 3-bit
//    units of 32 rows in 3 words are repacked so that values sit where fp16
//    tricks can reach them (see the .cu).
//  - sz: half2 [n_groups, N] = (scale, zero) with the real zero point (AutoGPTQ
//    stores zero-1; the +1 is applied at upload). No groups: n_groups = 1 and
//    group_size = K.
// The GEMV reads fp16 activations staged in the kernel's pair order
// (gptq_input_order); products accumulate in fp32 on tensor cores with the
// weights dequantized to fp16 in registers. The prefill path dequantizes to
// fp16 and calls cuBLAS.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

namespace rewoo::kernels {

// Largest batch gptq_gemv() takes; larger batches use gptq_dequant() + a GEMM.
constexpr int kGptqGemvMaxRows = 32;

// A staged position with this bit set holds x / 16 (4-bit layers only, see
// gptq_gemv.cu): as exact as x itself for |x| >= 2^-10, where x / 16 is still
// a normal fp16; smaller values keep an absolute precision of 2^-21.
constexpr int32_t kStagedDiv16 = 1 << 30;

// The activation order gptq_gemv() reads: x[m][i] goes to xh[m][dest[i]],
// dest = gptq_input_order(perm, K, bits) (the act-order permutation plus the
// register pairing of the kernel; computed once per layer at upload). Any
// kernel that writes a GEMV input can scatter through dest itself.
std::vector<int32_t> gptq_input_order(const int32_t* perm, int K, int bits);
#ifdef __CUDACC__
// Writes activation v to its staged position d = dest[i] of row `row`.
__device__ __forceinline__ void gptq_store_staged(half* row, int32_t d, float v) {
  row[d & (kStagedDiv16 - 1)] = __float2half_rn(d & kStagedDiv16 ? v * 0.0625f : v);
}
#endif
void gptq_stage_input(cudaStream_t stream, const float* x, const int32_t* dest, half* xh, int M,
                      int K);

// out[m * ldo + n] += sum_k x[m][perm[k]] * W[k][n] (+ bias[n]) for
// m < M <= kGptqGemvMaxRows, with x given staged (xh, see above). `out` must
// be initialised (zero, or a residual to add to): blocks add their partial
// sums atomically. bias may be null. Requires K % 32 == 0, N % 4 == 0,
// group_size a power of two >= 32, or >= K (no groups).
void gptq_gemv(cudaStream_t stream, const half* xh, const uint32_t* qweight, const half2* sz,
               const float* bias, float* out, int M, int K, int N, int ldo, int bits,
               int group_size);

// RMSNorm folded into the product (decode): the GEMV stages its input itself
// from the raw fp32 rows x [M, K] times the norm weights g [K], and the
// blocks of the first column tile add each row's sum of squares of x to
// sumsq [M] (zeroed beforehand). Since the norm's factor
// 1 / sqrt(sumsq / K + eps) is one number per row, it commutes with the
// product: whoever reads `out` applies it. src: null when the layer has no
// act-order permutation, else gptq_staged_sources(dest) on the device.
struct GemvNorm {
  const float* x = nullptr;
  const float* g = nullptr;
  const int32_t* src = nullptr;
  float* sumsq = nullptr;
};
// Largest batch gptq_gemv_normed() takes (the kernels that stage x in
// shared memory).
constexpr int kGptqGemvNormedMaxRows = 8;
// Staged position -> source row | kStagedDiv16, the inverse of dest.
std::vector<int32_t> gptq_staged_sources(const std::vector<int32_t>& dest);
// out[m * ldo + n] += sum_k x[m][k] g[k] W[k][n], M <= kGptqGemvNormedMaxRows,
// and sumsq[m] += sum_k x[m][k]^2; the requirements of gptq_gemv(), no bias.
// A larger M launches nothing (the callers check kGptqGemvNormedMaxRows).
void gptq_gemv_normed(cudaStream_t stream, const GemvNorm& nrm, const uint32_t* qweight,
                      const half2* sz, float* out, int M, int K, int N, int ldo, int bits,
                      int group_size);

// w[k * N + n] = dequantized weight of reordered row k (fp16), for the GEMM
// path: multiply by gptq_permute_half(x) to get the same product. The same
// requirements as gptq_gemv() (N % 4 == 0).
void gptq_dequant(cudaStream_t stream, const uint32_t* qweight, const half2* sz, half* w, int K,
                  int N, int bits, int group_size);

// xh[m * K + k] = half(x[m * K + perm[k]]) (perm may be null).
void gptq_permute_half(cudaStream_t stream, const float* x, const int32_t* perm, half* xh, int M,
                       int K);

// Words of the packed layout of a K x N matrix: N rounded up to 128 columns
// and K up to a whole k-block (the padding holds zeros).
size_t gptq_packed_words(int K, int N, int bits);
// AutoGPTQ words [K * bits / 32, N] (device memory) -> the packed layout in
// dst, gptq_packed_words(K, N, bits) words; src != dst.
void gptq_pack(cudaStream_t stream, const uint32_t* src, uint32_t* dst, int K, int N, int bits);

namespace detail {
// Tile-shape variants of the batch <= 8 kernels, for bench_cuda_gemv only.
extern const int kGemvVariantCount;
// "4b U4 WK2 B2 x:true": bits, k-blocks per buffer, K-warps, blocks per SM,
// x staged in shared memory.
const char* gemv_variant_name(int v);
void gptq_gemv_variant(int variant, cudaStream_t stream, const half* xh, const uint32_t* qweight,
                       const half2* sz, float* out, int M, int K, int N, int group_size);
}  // namespace detail

}  // namespace rewoo::kernels
