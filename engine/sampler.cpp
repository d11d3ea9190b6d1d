#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace rewoo::engine {

Sampler::Sampler(const SamplerOptions& o) : o_(o), rng_(o.seed) {}

void Sampler::apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history, float penalty) {
  if (penalty == 1.0f) return;
  std::unordered_set<int32_t> seen;
  for (int32_t t : history) {
    if (t < 0 || static_cast<size_t>(t) >= logits.size() || !seen.insert(t).second) continue;
    float& l = logits[t];
    l = l > 0 ? l / penalty : l * penalty;
  }
}

int32_t Sampler::argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  return best;
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  apply_repetition_penalty(logits, history, o_.repetition_penalty);
  if (o_.temperature <= 0.0f) return argmax(logits);
  cand_.clear();
  for (size_t i = 0; i < logits.size(); ++i)
    if (std::isfinite(logits[i])) cand_.emplace_back(logits[i] / o_.temperature, static_cast<int32_t>(i));
  if (cand_.empty()) return argmax(logits);
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = cand_.size();
  if (o_.top_k > 0 && static_cast<size_t>(o_.top_k) < keep) {
    keep = static_cast<size_t>(o_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(keep), cand_.end(), by_logit);
    cand_.resize(keep);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Softmax over the survivors (sorted, largest first).
  const float mx = cand_[0].first;
  double total = 0;
  for (auto& c : cand_) {
    c.first = std::exp(c.first - mx);
    total += c.first;
  }
  if (o_.top_p < 1.0f) {
    // Keep the smallest prefix whose mass reaches top_p (at least one token).
    double cum = 0;
    size_t n = 0;
    for (; n < cand_.size(); ++n) {
      cum += cand_[n].first / total;
      if (cum >= o_.top_p) { ++n; break; }
    }
    n = std::max<size_t>(1, std::min(n, cand_.size()));
    cand_.resize(n);
    total = 0;
    for (auto& c : cand_) total += c.first;
  }
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_), cum = 0;
  for (auto& c : cand_) {
    cum += c.first;
    if (r < cum) return c.second;
  }
  return cand_.back().second;
}

}  // namespace rewoo::engine
