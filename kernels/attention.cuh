// Causal attention over the fp16 KV cache, GQA-aware, split along the keys
// (flash-decoding): each block scores one chunk of keys for all query heads
// that share a KV head, and a second kernel merges the chunks with their
// softmax statistics. The same kernels serve prefill (every token of a chunk
// is a query that sees keys 0..pos) and batched decode.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace rewoo::kernels {

// Largest query heads per KV head, head size, and keys per chunk supported.
constexpr int kAttnMaxGroup = 8;
constexpr int kAttnMaxHeadDim = 256;
constexpr int kAttnMaxChunk = 256;

// Scratch floats attention_decode() needs for T tokens.
size_t attention_scratch_floats(int T, int n_heads, int hd, int n_splits);

// q: fp32 [T, n_heads, hd] (already roped); caches [n_slots, max_seq, n_kv, hd];
// token t attends to keys 0..pos[t] of slot slot[t]; out fp32 [T, n_heads, hd].
// n_splits * chunk must cover max(pos) + 1; chunk % 32 == 0, chunk <=
// kAttnMaxChunk; hd % 8 == 0, hd <= kAttnMaxHeadDim; n_heads / n_kv <=
// kAttnMaxGroup. scratch: attention_scratch_floats() floats. out may be null;
// out_h (optional) gets fp16 values at out_h[t * n_heads * hd + dest[h * hd + d]]
// (the staged input of the output projection's gptq_gemv()).
void attention_decode(cudaStream_t stream, const float* q, const half* k_cache,
                      const half* v_cache, const int32_t* pos, const int32_t* slot, float* out,
                      float* scratch, int T, int n_heads, int n_kv, int hd, int max_seq,
                      int chunk, int n_splits, float scale, half* out_h = nullptr,
                      const int32_t* dest = nullptr);

}  // namespace rewoo::kernels
