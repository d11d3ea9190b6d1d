// Sampler fast paths against the full-sort definition: the same seed and
// logits must give the same token, draw after draw, for every option mix.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/sampler.h"

using namespace rewoo::engine;

namespace {

// Logits of a few shapes a model (or a grammar mask) produces.
std::vector<float> make_logits(std::mt19937_64& g, int vocab, float sigma, int shape) {
  std::normal_distribution<float> nd(0.0f, sigma);
  std::vector<float> l(static_cast<size_t>(vocab));
  for (auto& x : l) x = nd(g);
  auto any = [&] { return static_cast<size_t>(g() % static_cast<uint64_t>(vocab)); };
  switch (shape) {
    case 1: for (auto& x : l) x = std::round(x); break;  // many equal logits
    case 2: for (size_t i = 0; i < l.size(); i += 2) l[i] = -INFINITY; break;  // grammar mask
    case 3: l[any()] += 40.0f; break;  // one dominant token
    case 4: for (auto& x : l) x = (g() % 3 == 0) ? 0.0f : -0.0f; break;  // signed zeros only
    case 5: l[any()] = NAN; l[any()] = -INFINITY; l[any()] = INFINITY; break;
    case 6: for (auto& x : l) x *= 1e-30f; break;  // nearly flat, tiny values
    case 7: for (int k = 0; k < 8; ++k) l[any()] += 10.0f; break;  // a trained model's few likely tokens
    default: break;
  }
  return l;
}

}  // namespace

TEST_CASE("sampler: the fast paths pick exactly the full-sort reference's tokens") {
  std::mt19937_64 g(20261128);
  const float sigmas[] = {0.05f, 0.5f, 1.0f, 3.0f, 8.0f, 30.0f};
  const float temps[] = {0.1f, 0.7f, 1.0f, 1.5f, 1e-3f};
  const float top_ps[] = {1.0f, 0.95f, 0.9f, 0.5f, 0.0f, 0.999999f, 2.0f};
  const int top_ks[] = {0, 0, 0, 1, 40, 5000, 40000};
  const float penalties[] = {1.0f, 1.15f, 1.3f};
  long mismatches = 0;
  Sampler::PathCounts paths;
  for (int c = 0; c < 90; ++c) {
    const int vocab = c % 6 == 0 ? 1 + static_cast<int>(g() % 700) : 32000;
    SamplerOptions o;
    o.temperature = temps[g() % 5];
    o.top_p = top_ps[g() % 7];
    o.top_k = top_ks[g() % 7];
    o.repetition_penalty = penalties[g() % 3];
    o.seed = g();
    const float sigma = sigmas[g() % 6];
    Sampler fast(o), ref(o);
    std::vector<int32_t> history;
    for (int i = 0; i < 40; ++i) history.push_back(static_cast<int32_t>(g() % static_cast<uint64_t>(vocab)));
    for (int step = 0; step < 12; ++step) {
      auto a = make_logits(g, vocab, sigma, static_cast<int>(g() % 9));
      auto b = a;
      int32_t x = fast.sample(a, history), y = ref.sample_reference(b, history);
      if (x != y) {
        ++mismatches;
        MESSAGE("case " << c << " step " << step << ": fast " << x << ", reference " << y << " (T "
                        << o.temperature << ", top_p " << o.top_p << ", top_k " << o.top_k << ")");
      }
      history.push_back(y);
    }
    paths.bucketed += fast.path_counts().bucketed;
    paths.sorted += fast.path_counts().sorted;
    paths.reference += fast.path_counts().reference;
  }
  CHECK(mismatches == 0);
  // Every path was taken, the bucketed one (no sort) most of the time it may be.
  CHECK(paths.bucketed > 200);
  CHECK(paths.sorted > 50);
  CHECK(paths.reference > 0);
}

TEST_CASE("sampler: without top-k, typical logits are drawn without sorting") {
  // The path the agent's settings take (temperature 0.7, top-p 0.95 or off):
  // fallbacks to the sort are rare, and the tokens still match.
  for (float top_p : {1.0f, 0.95f}) {
    SamplerOptions o{0.7f, top_p, 0, 1.15f, 7};
    Sampler fast(o), ref(o);
    std::mt19937_64 g(3);
    for (int step = 0; step < 60; ++step) {
      auto a = make_logits(g, 32000, step % 2 ? 1.0f : 3.0f, 7);
      auto b = a;
      REQUIRE(fast.sample(a, {}) == ref.sample_reference(b, {}));
    }
    CHECK(fast.path_counts().bucketed >= 55);
  }
}

TEST_CASE("sampler: expf is within one float ulp of e^x, as the bucketed draw's bounds assume") {
  std::mt19937_64 g(1);
  std::uniform_real_distribution<float> d(-45.0f, 0.0f);
  double worst = 0;
  for (int i = 0; i < 200000; ++i) {
    float x = d(g);
    double e = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(static_cast<double>(std::exp(x)) - e) / e);
  }
  CHECK(worst <= 0x1p-23);
}

TEST_CASE("sampler: a temperature so small that logits / T overflow picks the most likely token") {
  // 40 / 1e-38 is past FLT_MAX: the scaled logits are +inf (and, for
  // negative logits, -inf); the limit of the softmax is the argmax, never
  // the least likely token.
  for (bool reference : {false, true}) {
    SamplerOptions o{1e-38f, 1.0f, 0, 1.0f, 5};
    Sampler s(o);
    std::vector<float> l = {1.0f, -3.0f, 40.0f, 39.0f, -2.0f};
    auto pick = [&](std::vector<float> x) { return reference ? s.sample_reference(x, {}) : s.sample(x, {}); };
    CHECK(pick(l) == 2);
    o.top_p = 0.9f;
    Sampler s2(o);
    std::vector<float> l2 = l;
    CHECK((reference ? s2.sample_reference(l2, {}) : s2.sample(l2, {})) == 2);
    // Every scaled logit -inf: still the largest logit.
    std::vector<float> neg = {-5.0f, -1.0f, -3.0f};
    SamplerOptions tiny{1e-45f, 1.0f, 0, 1.0f, 5};
    Sampler s3(tiny);
    CHECK((reference ? s3.sample_reference(neg, {}) : s3.sample(neg, {})) == 1);
  }
}

TEST_CASE("sampler: argmax against entry-by-entry comparison") {
  // The first index of the largest non-NaN logit, 0 when there is none; the
  // blocked search must agree on every size (whole blocks and tails), with
  // NaN, infinities and ties anywhere.
  auto reference = [](const std::vector<float>& l) {
    int32_t best = -1;
    for (size_t i = 0; i < l.size(); ++i)
      if (!std::isnan(l[i]) && (best < 0 || l[i] > l[best])) best = static_cast<int32_t>(i);
    return std::max(best, 0);
  };
  std::mt19937 rng(91);
  std::uniform_int_distribution<int> kind(0, 19), small(-3, 3);
  int checked = 0, bad = 0;
  for (size_t n : {0, 1, 5, 63, 64, 65, 127, 128, 129, 200, 1000, 32000}) {
    for (int rep = 0; rep < 40; ++rep) {
      std::vector<float> l(n);
      for (float& x : l) {
        const int k = kind(rng);
        x = k == 0 ? NAN : k == 1 ? -INFINITY : k == 2 && rep % 5 == 0 ? INFINITY : (float)small(rng);
      }
      if (rep % 7 == 3) std::fill(l.begin(), l.end(), NAN);
      if (rep % 7 == 4) std::fill(l.begin(), l.end(), -INFINITY);
      if (rep % 7 == 5 && n > 0) {
        std::fill(l.begin(), l.end(), NAN);
        l[n - 1] = -INFINITY;
      }
      ++checked;
      if (Sampler::argmax(l) != reference(l)) ++bad;
    }
  }
  CHECK(checked == 480);
  CHECK(bad == 0);
}

TEST_CASE("sampler: greedy skips NaN logits") {
  Sampler s(SamplerOptions{});
  std::vector<float> l = {NAN, 1.0f, 3.0f, 2.0f};
  CHECK(s.sample(l, {}) == 2);
  CHECK(Sampler::argmax(l) == 2);
  std::vector<float> m = {-INFINITY, NAN, -INFINITY, 0.5f};
  CHECK(Sampler::argmax(m) == 3);
  // A NaN temperature is no temperature: greedy, not a draw over NaNs.
  Sampler n(SamplerOptions{NAN, 1.0f, 0, 1.0f, 1});
  std::vector<float> k = {0.0f, 5.0f, 1.0f};
  CHECK(n.sample(k, {}) == 1);
}
