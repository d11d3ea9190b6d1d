// Sampler: picks the next token from logits. Greedy when temperature <= 0;
// otherwise Hugging Face's order: repetition penalty, temperature, top-k,
// top-p, then a draw from a seeded generator.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace rewoo::engine {

struct SamplerOptions {
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float repetition_penalty = 1.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& o);
  // Modifies logits in place (penalty); `history` are the tokens seen so far
  // (prompt + output) for the repetition penalty.
  int32_t sample(std::span<float> logits, std::span<const int32_t> history);

  // Hugging Face RepetitionPenaltyLogitsProcessor: each distinct seen token's
  // logit is divided by p if positive, multiplied by p if negative.
  static void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history, float penalty);
  static int32_t argmax(std::span<const float> logits);

 private:
  SamplerOptions o_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace rewoo::engine
