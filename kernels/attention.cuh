// Causal attention over the fp16 KV cache, GQA-aware, split along the keys
// (flash-decoding): each block scores a range of keys for a group of the
// query heads that share a KV head (all of them in prefill, a few in decode),
// with an online softmax over sub-chunks of the range; the last block of a
// (token, head group) to finish merges the ranges with their softmax
// statistics. The same kernel serves prefill (every token of a chunk
// is a query that sees keys 0..pos) and batched decode, where it also applies
// RoPE to q and to the new key and writes the new key and value to the cache.
// Decode with head size 128 scores all query heads of a KV head in one block
// on tensor cores (see the .cu).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace rewoo::kernels {

// Largest query heads per KV head, head size, and keys scored at once.
constexpr int kAttnMaxGroup = 8;
constexpr int kAttnMaxHeadDim = 256;
constexpr int kAttnMaxChunk = 256;

struct AttentionArgs {
  // Queries, one of:
  //  q:   fp32 [T, n_heads, hd], already roped, keys 0..pos[t] already cached;
  //  qkv: fp32 [T, (n_heads + 2 n_kv) hd] fresh projections of one token per
  //       sequence (decode): q and the new key are roped here with cos_sin
  //       ([max_seq, hd/2, 2], see rope.cuh; `interleaved` likewise), and the
  //       new key and value go to the cache at pos[t]. Tokens must be in
  //       distinct slots. Positions, slots and the cached keys and values
  //       below pos[t] are read before waiting for the previous kernel
  //       (programmatic launch): no kernel of the same step may write them.
  const float* q = nullptr;
  const float* qkv = nullptr;
  // qkv only: qkv_ss [T] sums of squares of the rows that q, k, v were
  // projected from without their RMSNorm factor (gptq_gemv_normed()); the
  // factor 1 / sqrt(qkv_ss[t] / norm_dim + norm_eps) is applied here. Null:
  // qkv is already normalised.
  const float* qkv_ss = nullptr;
  int norm_dim = 0;
  float norm_eps = 0.0f;
  // Set to zero after the previous kernel has finished (may be null): the
  // accumulator of a later product.
  float* zero = nullptr;
  size_t zero_n = 0;
  const float* cos_sin = nullptr;
  bool interleaved = false;
  // Caches [n_slots, max_seq, n_kv, hd]; token t attends to keys 0..pos[t]
  // of slot slot[t].
  half* k_cache = nullptr;
  half* v_cache = nullptr;
  const int32_t* pos = nullptr;
  const int32_t* slot = nullptr;
  // Outputs (either may be null): out fp32 [T, n_heads, hd]; out_h fp16 at
  // out_h[t * n_heads * hd + dest[h * hd + d]] (the staged input of the
  // output projection's gptq_gemv()).
  float* out = nullptr;
  half* out_h = nullptr;
  const int32_t* dest = nullptr;
  // Decode mode: `out` holds zeros before the call (out_h null), so key
  // ranges that share no SM with another block (solo launches, see the .cu)
  // may each add their weighted share to it instead of merging through
  // scratch; other launches merge and store as usual.
  bool accumulate = false;
  // attention_scratch_floats() floats, and attention_counters() ints that are
  // zero before the first call (every call leaves their low 16 bits zero).
  float* scratch = nullptr;
  int32_t* counters = nullptr;
  int T = 0, n_heads = 0, n_kv = 0, hd = 0, max_seq = 0;
  // Each (token, head group) is cut into n_splits ranges of
  // span = max(min_chunk, ceil(L / n_splits) rounded up to 32) keys, L = pos + 1
  // (decode mode with hd 128, the tensor-core body: min_chunk at least 64).
  // min_chunk % 32 == 0; hd a power of two, 8 <= hd <= kAttnMaxHeadDim; n_heads / n_kv
  // <= kAttnMaxGroup.
  int min_chunk = 32, n_splits = 1;
  float scale = 1.0f;
};

size_t attention_scratch_floats(int T, int n_heads, int hd, int n_splits);
size_t attention_counters(int T, int n_heads);
// Head groups (blocks per key range and token) of a decode-mode call.
int attention_decode_groups(int n_heads, int n_kv, int hd);
// The split (n_splits) for a decode-mode call of T tokens on the current
// device: as many key ranges as fill one wave of blocks, at least 1, at most
// max_splits.
int attention_decode_splits(int T, int n_heads, int n_kv, int hd, int max_splits);

void attention_decode(cudaStream_t stream, const AttentionArgs& a);
// Whether attention_decode(a) on the current device adds into `out` from
// each key range (AttentionArgs::accumulate honoured).
bool attention_decode_accumulates(const AttentionArgs& a);

}  // namespace rewoo::kernels
