// Writing models in the seed's format (Hugging Face folder as AutoGPTQ
// writes it: model.safetensors + config.json [+ quantize_config.json]), and
// random-weight models of real shapes for tests and benchmarks.
//
//   auto w = random_weights(*shape_by_name("7b"), {.bits = 4, .group_size = 128, .act_order = true, .seed = 1});
//   REWOO_TRY(save_model_dir(*w, "out/7b-gptq"));
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/result.h"
#include "engine/config.h"
#include "engine/weights.h"

namespace rewoo::engine {

// Writes weights as AutoGPTQ would: GPTQ layers as qweight/qzeros/scales/g_idx
// in the original input-row order (zero-1 in qzeros, fp16 scales), float
// tensors as fp16 (or fp32 with float32 = true).
Status save_model_dir(const Weights& w, const std::filesystem::path& dir, bool float32 = false);

// Named shapes: tiny, small, 1b (TinyLlama-1.1B), 7b, 13b, 34b (CodeLlama-34B), 70b.
Result<ModelConfig> shape_by_name(const std::string& name);
std::vector<std::string> shape_names();

struct RandomOptions {
  int bits = 4;           // 0: float model
  int group_size = 128;   // -1: no groups
  bool act_order = true;  // random g_idx permutation (desc_act)
  uint64_t seed = 0;
};
// A random model of that shape: uniform random quantized values, fp16-exact
// scales around 1/sqrt(in) so activations stay O(1), RMSNorm weights near 1.
Result<std::shared_ptr<Weights>> random_weights(const ModelConfig& shape, const RandomOptions& o);

}  // namespace rewoo::engine
