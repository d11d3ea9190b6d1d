// Sampler: picks the next token from logits. Greedy when temperature <= 0
// (or NaN; NaN logits never win);
// otherwise Hugging Face's order: repetition penalty, temperature, top-k,
// top-p, then a draw from a seeded generator.
//
// sample() runs once per generated token per sequence, so its CPU time adds
// to every decode step of a batch. It gives exactly the tokens of
// sample_reference() (the readable full-sort definition) for the same seed
// and inputs, without sorting the whole vocabulary by comparison: see
// sampler.cpp for why dropping the far tail and radix-sorting the rest
// changes no bit of the arithmetic.
#pragma once

#include <cstddef>
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
  // The definition sample() must match token for token: every finite logit
  // scaled by 1/temperature, sorted (larger first, then lower id), top-k,
  // softmax in that order with a double running sum, top-p prefix, draw.
  // When the largest scaled logit overflows (T near 0): the argmax, no draw.
  // O(V log V); for tests and for inputs the fast path does not take
  // (infinite scaled logits).
  int32_t sample_reference(std::span<float> logits, std::span<const int32_t> history);

  // Hugging Face RepetitionPenaltyLogitsProcessor: each distinct seen token's
  // logit is divided by p if positive, multiplied by p if negative.
  static void apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history, float penalty);
  static int32_t argmax(std::span<const float> logits);
  // True when sample() is argmax(logits) whatever the history: greedy
  // (temperature <= 0 or NaN) and no repetition penalty.
  bool picks_argmax() const { return !(o_.temperature > 0.0f) && o_.repetition_penalty == 1.0f; }

  // Which path decided each draw of sample() (for tests and benchmarks).
  struct PathCounts {
    uint64_t bucketed = 0;   // no sort: bounds decided
    uint64_t sorted = 0;     // radix sort (top-k, or bounds too close to call)
    uint64_t reference = 0;  // infinite scaled logits
  };
  const PathCounts& path_counts() const { return paths_; }

 private:
  // The draw after the penalty, temperature > 0.
  int32_t sample_scaled(std::span<const float> logits);
  int32_t sample_scaled_reference(std::span<const float> logits);
  // Exact: radix sort of the candidates, the reference's arithmetic.
  int32_t sample_sorted(std::span<const float> logits, float mx, size_t ref_size, double u);
  // Usually exact without sorting: candidates in buckets of their scaled
  // logit, bounds on the reference's sums; -1 when they cannot decide.
  int32_t sample_bucketed(size_t n, float mx, double u);

  SamplerOptions o_;
  std::mt19937_64 rng_;
  PathCounts paths_;
  std::vector<std::pair<float, int32_t>> cand_;  // reference path
  std::vector<float> scaled_;                    // logit / temperature, by id
  std::vector<uint64_t> keys_, keys_tmp_;        // sort keys of the candidates
  std::vector<float> probs_;                     // exp(scaled - max), in sorted order
  std::vector<uint32_t> radix_count_;            // digit histograms of keys_
  std::vector<uint32_t> bucket_;                 // bucketed draw: bucket of each id
  std::vector<float> scratch_;
  std::vector<double> approx_;                   // e^(scaled - max) of each id, approximately
  std::vector<double> bucket_mass_, before_;     // per bucket; mass of the buckets ahead
  std::vector<uint64_t> found_;                  // sorted keys of one bucket
  std::vector<double> found_run_;                // their running sum of exact probabilities
};

}  // namespace rewoo::engine
