// Model: a loaded model ready to run: config, weights, tokenizer, backend.
//
//   LoadOptions lo;  lo.backend.device = Device::kCpu;
//   auto m = Model::load("models/airoboros-c34b-gptq", lo);
//   if (!m) { print(m.error().to_string()); return 1; }
//   Generator gen(**m);
//
// PATH is either a directory with model.safetensors (or shards and
// model.safetensors.index.json), config.json, optional quantize_config.json
// and tokenizer.model; or a llama2.c checkpoint (.bin) with the tokenizer
// given by LoadOptions::tokenizer_path (or tokenizer.model / tok*.model
// beside it).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "engine/backend.h"
#include "engine/base/result.h"
#include "engine/config.h"
#include "engine/prefix_cache.h"
#include "engine/tokenizer.h"
#include "engine/weights.h"

namespace rewoo::engine {

struct LoadOptions {
  std::filesystem::path tokenizer_path;  // empty: look beside the weights
  BackendOptions backend;
  bool load_tokenizer = true;            // false: weights only (tests, quantizer)
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> load(const std::filesystem::path& path,
                                             const LoadOptions& opts = {});
  // Wraps weights that are already in memory (random models, tests).
  static Result<std::unique_ptr<Model>> from_weights(std::shared_ptr<const Weights> weights,
                                                     std::unique_ptr<Tokenizer> tokenizer,
                                                     const BackendOptions& opts);
  // Wraps a backend built elsewhere (test and benchmark fakes). The weights
  // may hold only the config (vocab size, EOS) when the backend needs none.
  static std::unique_ptr<Model> from_backend(std::shared_ptr<const Weights> weights,
                                             std::unique_ptr<Tokenizer> tokenizer,
                                             std::unique_ptr<Backend> backend);

  const ModelConfig& config() const { return weights_->config; }
  const QuantConfig& quant() const { return weights_->quant; }
  // Throws std::logic_error if loaded without a tokenizer.
  const Tokenizer& tokenizer() const;
  bool has_tokenizer() const { return tokenizer_ != nullptr; }
  Backend& backend() { return *backend_; }
  // Token ids each backend slot holds (the Generator reuses shared prompt
  // prefixes through it). Writing to backend() slots directly: forget() them.
  PrefixCache& prefix_cache() { return prefix_cache_; }
  std::shared_ptr<const Weights> weights() const { return weights_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  Model() = default;
  std::filesystem::path path_;
  std::shared_ptr<const Weights> weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Backend> backend_;
  PrefixCache prefix_cache_;
};

}  // namespace rewoo::engine
