// Rotary position embedding for q and k, fused with the write of k and v into
// the fp16 KV cache.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace rewoo::kernels {

// qkv: fp32 [T, (n_heads + 2 n_kv) * hd] (q heads, then k heads, then v heads).
// For token t at position pos[t] in cache slot slot[t]:
//   q_out [T, n_heads * hd]      = rope(q)
//   k_cache[slot][pos][kvh][d]   = half(rope(k)),  v_cache likewise = half(v)
// (caches are [n_slots, max_seq, n_kv, hd] per layer).
// cos_sin: fp32 [max_seq, hd / 2, 2] = (cos, sin) of pos * theta_i.
// interleaved: rotate pairs (x[2i], x[2i+1]) (llama2.c, GGUF) instead of
// halves (x[i], x[i + hd/2]) (Hugging Face).
void rope_kv_write(cudaStream_t stream, const float* qkv, const int32_t* pos, const int32_t* slot,
                   const float* cos_sin, float* q_out, half* k_cache, half* v_cache, int T,
                   int n_heads, int n_kv, int hd, int max_seq, bool interleaved);

}  // namespace rewoo::kernels
