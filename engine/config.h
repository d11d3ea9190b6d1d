// Model and quantization configuration: the numbers a forward pass needs.
//
// Filled from Hugging Face `config.json` + `quantize_config.json`, or from a
// llama2.c checkpoint header. Every backend reads these; nothing here knows
// about files (see model_loader.h for that).
#pragma once

#include <cstdint>
#include <string>

namespace rewoo::engine {

// A Llama-family decoder (LlamaForCausalLM).
//
// RoPE convention: everything rewoo loads is converted to Hugging Face's
// rotate-half form (pairs (x[i], x[i + head_dim/2]) of each head); llama2.c's
// interleaved checkpoints get their wq/wk rows permuted at load, exactly as
// Hugging Face's conversion script does. Backends implement rotate-half only.
struct ModelConfig {
  int dim = 0;          // hidden_size
  int hidden_dim = 0;   // intermediate_size (FFN)
  int n_layers = 0;     // num_hidden_layers
  int n_heads = 0;      // num_attention_heads
  int n_kv_heads = 0;   // num_key_value_heads (GQA: n_heads % n_kv_heads == 0)
  int head_dim = 0;     // dim / n_heads
  int vocab_size = 0;
  int max_seq_len = 0;  // max_position_embeddings
  float rope_theta = 10000.0f;
  float rope_scaling_factor = 1.0f;  // rope_scaling {type: linear, factor}: positions divided by it
  float norm_eps = 1e-5f;            // rms_norm_eps
  bool tie_embeddings = false;       // lm_head shares tok_embeddings
  int32_t bos_id = 1;
  int32_t eos_id = 2;

  int kv_dim() const { return n_kv_heads * head_dim; }
  // One line for humans: "dim 4096, 32 layers, 32 heads (8 kv), ffn 11008, vocab 32000, ctx 4096".
  std::string summary() const;
};

// GPTQ quantization of the linear layers (quantize_config.json).
struct QuantConfig {
  int bits = 0;           // 0: unquantized (float); else 2, 3, 4 or 8
  int group_size = -1;    // -1: one group per column over all input rows
  bool desc_act = false;  // act-order: g_idx is a permutation of groups
  bool sym = true;
  float damp_percent = 0.01f;  // recorded for the quantizer; unused by inference

  bool quantized() const { return bits != 0; }
  std::string summary() const;  // "GPTQ 4-bit g128 act-order sym" or "float"
};

}  // namespace rewoo::engine
