// Model files -> Weights. Hugging Face folders (safetensors + config.json
// [+ quantize_config.json]) with GPTQ (AutoGPTQ packing) or fp16/bf16/fp32
// linear layers, and llama2.c checkpoints (.bin). Every error names the file,
// the tensor and what was expected.
#pragma once

#include <filesystem>
#include <memory>

#include "engine/base/result.h"
#include "engine/config.h"
#include "engine/weights.h"

namespace rewoo::engine {

// A folder, a .safetensors file (config.json beside it) or a llama2.c .bin.
Result<std::shared_ptr<Weights>> load_weights(const std::filesystem::path& path);

// config.json / quantize_config.json parsers (exposed for tests and `model info`).
Result<ModelConfig> parse_config_json(const std::filesystem::path& file);
Result<QuantConfig> parse_quantize_config_json(const std::filesystem::path& file);

// llama2.c checkpoint (legacy format; see shared/data README). wq/wk rows are
// permuted to rotate-half RoPE order.
Result<std::shared_ptr<Weights>> load_llama2c(const std::filesystem::path& file);

// Builds a QuantLinear from AutoGPTQ tensors (already-typed host copies):
// qweight [in*bits/32, out], qzeros [n_groups, out*bits/32], scales fp32
// [n_groups, out], g_idx [in] (empty: row/group_size). Reorders rows so groups
// are contiguous. `where` prefixes error messages.
Result<std::unique_ptr<QuantLinear>> make_quant_linear(int in, int out, int bits, int group_size,
                                                       const uint32_t* qweight, const uint32_t* qzeros,
                                                       const float* scales, const int32_t* g_idx,
                                                       const std::string& where);

}  // namespace rewoo::engine
