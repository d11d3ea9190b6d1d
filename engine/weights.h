// Host-side weights of a Llama model, in one canonical form every backend
// reads (the CPU backend uses them in place or repacks; the CUDA backend
// uploads them). Produced by model_loader.h from any supported file format.
//
// Layouts (all little-endian, row-major):
//  - float tensors are fp32, converted at load from fp16 / bf16 / fp32;
//  - a float linear layer y = W x stores W as [out, in] (PyTorch nn.Linear);
//  - a GPTQ linear layer is stored *after act-order reordering* (see
//    QuantLinear): input rows are permuted so that each group is a contiguous
//    run of rows, and the activation is permuted instead (x_r[k] = x[perm[k]]).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/result.h"
#include "engine/config.h"

namespace rewoo::engine {

// A GPTQ-quantized linear layer y[j] = sum_i x[i] * W[i][j] (+ bias[j]),
// i over `in` input features, j over `out` outputs.
//
// Dequantized weight of reordered row k (original input row perm[k]), column j:
//   W[perm[k]][j] = fp16(scales[g][j] * (q(k, j) - zeros[g][j])),  g = group of row k
// rounded to fp16 as AutoGPTQ's (and exllama's) dequantization does; the
// product is exact in fp32, so compute it there and round once.
// where rows group_bounds[g] .. group_bounds[g+1]-1 form group g.
struct QuantLinear {
  int in = 0, out = 0, bits = 0;
  int n_groups = 0;

  // qweight: int32 [in * bits / 32, out], the reordered rows packed along the
  // input dimension exactly as AutoGPTQ packs them: for bits 2/4/8, 32/bits
  // consecutive rows per word, row r of a word in bits [r*bits, (r+1)*bits);
  // for 3 bits, 32 rows in 3 consecutive words, values crossing word
  // boundaries (row 10 uses bits 30-31 of word 0 and bit 0 of word 1; row 21
  // bits 31 of word 1 and 0-1 of word 2). `in` is a multiple of 32 (3-bit)
  // or of 32/bits. Read one value with quant_get().
  std::vector<uint32_t> qweight;
  // zeros: [n_groups, out], the real zero point (AutoGPTQ stores zero-1 in
  // packed qzeros; the +1 is already applied here).
  std::vector<uint8_t> zeros;
  // scales: fp32 [n_groups, out] (exact copies of the fp16 scales on disk).
  std::vector<float> scales;
  // perm: [in] or empty for the identity: reordered row k = input feature
  // perm[k]. Non-empty only for act-order layers whose g_idx is not sorted.
  std::vector<int32_t> perm;
  // group_bounds: [n_groups + 1], group_bounds[0] = 0, last = in.
  std::vector<int32_t> group_bounds;
  // g_idx as loaded (group of each original input row), for inspection/export.
  std::vector<int32_t> g_idx;
  // bias: fp32 [out], or empty.
  std::vector<float> bias;

  // Quantized value of reordered row k, column j (0 .. 2^bits - 1).
  uint32_t get(int k, int j) const;
  // Dequantized W as fp32 [in, out] in *original* input order (slow; tests,
  // quantizer and fallback paths).
  std::vector<float> dequantize() const;
};

// A linear layer: float or quantized. y = x W^T for float W [out, in].
struct Linear {
  int in = 0, out = 0;
  std::vector<float> w;     // fp32 [out, in]; empty when quantized
  std::vector<float> bias;  // fp32 [out] or empty (float layers)
  std::unique_ptr<QuantLinear> q;  // set when quantized

  bool quantized() const { return q != nullptr; }
};

struct LayerWeights {
  std::vector<float> attn_norm;  // [dim] input_layernorm
  std::vector<float> ffn_norm;   // [dim] post_attention_layernorm
  Linear wq;  // dim -> n_heads * head_dim   (q_proj; rows in rotate-half order)
  Linear wk;  // dim -> kv_dim               (k_proj; rotate-half order)
  Linear wv;  // dim -> kv_dim               (v_proj)
  Linear wo;  // n_heads * head_dim -> dim   (o_proj)
  Linear w1;  // dim -> hidden_dim           (gate_proj)
  Linear w2;  // hidden_dim -> dim           (down_proj)
  Linear w3;  // dim -> hidden_dim           (up_proj)
};

struct Weights {
  ModelConfig config;
  QuantConfig quant;
  std::vector<float> tok_embeddings;  // [vocab, dim]
  std::vector<LayerWeights> layers;   // [n_layers]
  std::vector<float> final_norm;      // [dim]
  // lm_head: float [vocab, dim]; empty w when config.tie_embeddings (use
  // tok_embeddings). Never quantized (AutoGPTQ keeps it in fp16).
  Linear lm_head;

  // Bytes of weights a decode step reads (quantized payload + scales + float
  // tensors except the embedding table); for GB/s figures.
  size_t decode_bytes() const;
  size_t n_params() const;
};

// Reads one value from a GPTQ-packed column-major-by-row buffer laid out as
// QuantLinear::qweight ([rows * bits / 32, cols]).
uint32_t quant_get(const uint32_t* packed, int bits, int cols, int row, int col);
// Writes one value into such a buffer (it must start zeroed for that slot).
void quant_put(uint32_t* packed, int bits, int cols, int row, int col, uint32_t v);

// Copies row srow of one such buffer into row drow of another whose slot for
// that row is zero (rows reordering in O(cols) per row).
void copy_packed_row(const uint32_t* src, int srow, uint32_t* dst, int drow, int bits, int cols);

}  // namespace rewoo::engine
