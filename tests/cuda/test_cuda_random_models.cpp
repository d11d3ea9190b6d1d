// CUDA vs CPU backend on random GPTQ models of several shapes and
// quantizations (engine/model_writer.h): teacher-forced prefill logits and
// decode steps, top-1 agreement and relative logit error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/backend.h"
#include "engine/model_writer.h"

using namespace rewoo::engine;
using rewoo::Status;

namespace {

struct Case {
  int dim, hidden, layers, heads, kv, vocab, bits, group;
  bool act_order;
};

ModelConfig config_of(const Case& c) {
  ModelConfig m;
  m.dim = c.dim;
  m.hidden_dim = c.hidden;
  m.n_layers = c.layers;
  m.n_heads = c.heads;
  m.n_kv_heads = c.kv;
  m.head_dim = c.dim / c.heads;
  m.vocab_size = c.vocab;
  m.max_seq_len = 256;
  m.norm_eps = 1e-5f;
  return m;
}

int argmax(std::span<const float> v) { return (int)(std::max_element(v.begin(), v.end()) - v.begin()); }

}  // namespace

TEST_CASE("cuda: random GPTQ models agree with the CPU backend (prefill and decode)") {
  const Case cases[] = {
      {256, 512, 2, 8, 2, 512, 4, 64, true},      // GQA 4, head 32, g64 act-order
      {384, 1024, 2, 6, 6, 1000, 3, 128, true},   // MHA, head 64, 3-bit g128
      {512, 1408, 2, 4, 1, 777, 4, -1, true},     // GQA 4, head 128, no groups
      {256, 768, 3, 16, 4, 512, 4, 32, false},    // head 16, g32, no act-order
      {256, 512, 2, 2, 2, 300, 3, -1, true},      // head 128, 3-bit no groups
  };
  uint64_t seed = 1;
  int same = 0, total = 0;  // top-1 agreement over every row of every model
  for (const Case& c : cases) {
    CAPTURE(c.dim);
    CAPTURE(c.bits);
    CAPTURE(c.group);
    RandomOptions ro;
    ro.bits = c.bits;
    ro.group_size = c.group;
    ro.act_order = c.act_order;
    ro.seed = seed++;
    auto w = random_weights(config_of(c), ro);
    REQUIRE_MESSAGE(w.ok(), (w.ok() ? "" : w.error().to_string()));
    std::shared_ptr<const Weights> weights = *w;
    BackendOptions bo;
    bo.n_slots = 2;
    bo.threads = 2;
    bo.exact = true;  // the CPU side is the reference
    auto gpu = make_cuda_backend(weights, bo);
    REQUIRE_MESSAGE(gpu.ok(), (gpu.ok() ? "" : gpu.error().to_string()));
    auto cpu = make_cpu_backend(weights, bo);
    REQUIRE(cpu.ok());

    std::mt19937 rng((uint32_t)seed * 7);
    std::uniform_int_distribution<int32_t> td(0, c.vocab - 1);
    std::vector<int32_t> ids(80);
    for (auto& t : ids) t = td(rng);
    // Prefill (48 tokens: the GEMM path) with every row's logits, then 32
    // single-token decode steps (the GEMV + graph path) on slot 1.
    double num = 0, den = 0;
    int near_tie_flips = 0, real_flips = 0;
    auto acc = [&](std::span<const float> g, std::span<const float> r) {
      ++total;
      const int ag = argmax(g), ar = argmax(r);
      same += ag == ar;
      // A disagreement is only acceptable where the CPU's own top two are
      // closer than fp16 activations can resolve (1% of the logit range).
      if (ag != ar) {
        float scale = 0.0f;
        for (float v : r) scale = std::max(scale, std::fabs(v));
        (r[ar] - r[ag] < 1e-2f * scale ? near_tie_flips : real_flips) += 1;
      }
      for (size_t i = 0; i < r.size(); ++i) {
        num = std::max(num, (double)std::fabs(g[i] - r[i]));
        den = std::max(den, (double)std::fabs(r[i]));
      }
    };
    SeqBatchEntry e;
    e.slot = 1;
    e.tokens = std::span<const int32_t>(ids).first(48);
    e.all_logits = true;
    Logits lg, lc;
    Status sg = (*gpu)->forward({&e, 1}, lg);
    REQUIRE_MESSAGE(sg.ok(), (sg.ok() ? "" : sg.error().to_string()));
    REQUIRE((*cpu)->forward({&e, 1}, lc).ok());
    for (size_t i = 0; i < 48; ++i) acc(lg.row(0, (long)i), lc.row(0, (long)i));
    for (int p = 48; p < 80; ++p) {
      e.tokens = std::span<const int32_t>(ids).subspan(p, 1);
      e.pos = p;
      e.all_logits = false;
      REQUIRE((*gpu)->forward({&e, 1}, lg).ok());
      REQUIRE((*cpu)->forward({&e, 1}, lc).ok());
      acc(lg.row(0), lc.row(0));
    }
    const double rel = num / den;
    CAPTURE(near_tie_flips);
    CAPTURE(rel);
    CHECK(real_flips == 0);
    CHECK(rel < 4e-2);
  }
  const double top1 = (double)same / total;
  CAPTURE(top1);
  CHECK(total == 400);
  CHECK(top1 >= 0.99);
}
