// bench_generate_overhead: the CPU cost of generation outside the forward
// pass. Runs the real EngineLanguageModel -> Generator -> Sampler path on a
// fake engine::Backend whose forward() returns precomputed pseudo-random
// logits over a 32000-token vocabulary at once, so everything measured is
// sampling, logits handling, detokenization, stop strings and the agent's
// batching. On a GPU a 1B model's decode step takes about 1 ms; this overhead
// is paid per sequence on top of it, so it decides whether three batched
// KnowledgeModel steps cost about as much as one.
//
//   build/tests/bench/bench_generate_overhead --tokens 128 --reps 5
//   build/tests/bench/bench_generate_overhead --sampling bench --sigma 1
//
// --sampling knowledge: the agent's KnowledgeModel settings (temperature 0.7,
// top-p 0.95, repetition penalty 1.15, stop "USER:"); --sampling bench: what
// bench_knowledge sets (temperature 0.7 only). --sigma: spread of the fake
// logits (a few tokens per row also get a large boost, as a trained model's
// do). Prints CPU microseconds per generated token per sequence for batch 1
// and batch 3 (process CPU time minus the fake forward's own; wall time
// beside it, which a busy machine inflates), and a hash of
// the generated text: the same options must give the same hash before and
// after any change that claims to keep seeded output identical.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "agent/engine_llm.h"
#include "engine/model.h"

using namespace rewoo;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kVocab = 32000;

double cpu_seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Logits from a pool of precomputed rows, picked by a hash of the slot's
// position and last token: deterministic, and as cheap as a logits download.
class FakeBackend final : public engine::Backend {
 public:
  FakeBackend(int n_slots, float sigma) : n_slots_(n_slots), pos_(n_slots, 0) {
    std::mt19937_64 rng(12345);
    std::normal_distribution<float> nd(0.0f, sigma);
    std::uniform_int_distribution<int> tok(0, kVocab - 1);
    std::uniform_real_distribution<float> boost(4.0f, 14.0f);
    pool_.resize(kRows * static_cast<size_t>(kVocab));
    for (size_t r = 0; r < kRows; ++r) {
      float* row = pool_.data() + r * kVocab;
      for (int i = 0; i < kVocab; ++i) row[i] = nd(rng);
      for (int k = 0; k < 8; ++k) row[tok(rng)] += boost(rng);
    }
  }
  std::string name() const override { return "fake (precomputed logits)"; }
  Status forward(std::span<const engine::SeqBatchEntry> batch, engine::Logits& out) override {
    double t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    out.resize_for(batch, kVocab);
    for (size_t e = 0; e < batch.size(); ++e) {
      const auto& b = batch[e];
      if (b.slot < 0 || b.slot >= n_slots_) return Error("bad slot", "fake forward");
      pos_[b.slot] = b.pos + static_cast<int>(b.tokens.size());
      uint64_t h = static_cast<uint64_t>(pos_[b.slot]) * 0x9E3779B97F4A7C15ull ^
                   static_cast<uint64_t>(b.tokens.empty() ? 0 : b.tokens.back()) * 0xC2B2AE3D27D4EB4Full;
      h ^= h >> 29;
      const float* src = pool_.data() + (h % kRows) * kVocab;
      for (size_t r = out.offsets[e]; r < out.offsets[e + 1]; ++r)
        std::copy(src, src + kVocab, out.data.begin() + static_cast<long>(r * kVocab));
    }
    forward_s_ += cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t0;
    return {};
  }
  int n_slots() const override { return n_slots_; }
  int max_seq_len() const override { return 4096; }
  void clear_slot(int slot) override { pos_[slot] = 0; }
  Status copy_slot(int, int, int) override { return {}; }

  double forward_seconds() const { return forward_s_; }

 private:
  static constexpr size_t kRows = 61;
  int n_slots_;
  std::vector<int> pos_;
  std::vector<float> pool_;
  double forward_s_ = 0;
};

uint64_t fnv1a(const std::string& s, uint64_t h) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer = std::string(REWOO_DATA_DIR) + "/tokenizers/llama2/tokenizer.model";
  std::string sampling = "knowledge";
  int tokens = 128, reps = 5;
  float sigma = 3.0f;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--tokens") tokens = std::atoi(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--sigma") sigma = std::strtof(argv[i + 1], nullptr);
    else if (a == "--sampling") sampling = argv[i + 1];
    else if (a == "--tokenizer") tokenizer = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (sampling != "knowledge" && sampling != "bench") {
    std::fprintf(stderr, "--sampling must be knowledge or bench\n");
    return 2;
  }
  auto tok = engine::Tokenizer::load(tokenizer);
  if (!tok) {
    std::fprintf(stderr, "%s\n", tok.error().to_string().c_str());
    return 1;
  }
  auto weights = std::make_shared<engine::Weights>();
  weights->config.vocab_size = kVocab;
  weights->config.max_seq_len = 4096;
  auto fake = std::make_unique<FakeBackend>(4, sigma);
  FakeBackend* be = fake.get();
  agent::EngineLanguageModel lm(engine::Model::from_backend(weights, std::move(*tok), std::move(fake)),
                                {"fake", true, 2000});

  // A KnowledgeModel-sized prompt (~400 tokens of closed-context input).
  std::string prompt = "A chat. USER: BEGININPUT\nBEGINCONTEXT\nstep: 0\nENDCONTEXT\n";
  for (int i = 0; i < 20; ++i)
    prompt += "The river rose in March of year " + std::to_string(1900 + i) +
              " and the gauge at the old mill measured it twice a day. ";
  prompt += "\nENDINPUT\nBEGININSTRUCTION\nWho measured the floods?\nENDINSTRUCTION ASSISTANT:";

  auto request = [&](int i) {
    agent::CompletionRequest r;
    r.prompt = prompt + std::string(static_cast<size_t>(i), ' ');
    auto& o = r.options;
    o.max_tokens = tokens;
    o.temperature = 0.7f;
    o.stop_at_eos = false;  // every answer is exactly `tokens` long ...
    if (sampling == "knowledge") {
      o.top_p = 0.95f;
      o.repetition_penalty = 1.15f;
      o.stop = {"USER:"};  // ... unless the noise happens to spell this
    }
    o.seed = 1000003ull * static_cast<uint64_t>(i + 1);
    return r;
  };

  uint64_t hash = 0xcbf29ce484222325ull;
  // CPU seconds (and wall seconds) of one batch, the fake forward's excluded.
  auto run = [&](int batch, int& generated, double& wall) {
    std::vector<agent::CompletionRequest> reqs;
    for (int i = 0; i < batch; ++i) reqs.push_back(request(i));
    double f0 = be->forward_seconds();
    double c0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    auto t0 = Clock::now();
    auto res = lm.complete_batch(reqs);
    wall = std::chrono::duration<double>(Clock::now() - t0).count();
    double cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    generated = 0;
    for (auto& r : res) {
      if (!r) {
        std::fprintf(stderr, "generation failed: %s\n", r.error().to_string().c_str());
        std::exit(1);
      }
      generated += r->completion_tokens;
      hash = fnv1a(r->text, hash);
    }
    double fwd = be->forward_seconds() - f0;
    wall -= fwd;
    return cpu - fwd;
  };

  std::printf("bench_generate_overhead: vocab %d, %d tokens per answer, sampling %s, sigma %.1f, median of %d\n",
              kVocab, tokens, sampling.c_str(), sigma, reps);
  for (int batch : {1, 3}) {
    int generated = 0;
    double wall = 0;
    run(batch, generated, wall);  // warm-up
    std::vector<double> us, wall_us;
    for (int i = 0; i < reps; ++i) {
      us.push_back(run(batch, generated, wall) * 1e6 / std::max(1, generated));
      wall_us.push_back(wall * 1e6 / std::max(1, generated));
    }
    std::sort(us.begin(), us.end());
    std::sort(wall_us.begin(), wall_us.end());
    std::printf("  batch %d: %8.1f us CPU per generated token per sequence (min %.1f, max %.1f; wall %.1f)\n",
                batch, us[us.size() / 2], us.front(), us.back(), wall_us[wall_us.size() / 2]);
  }
  std::printf("  largest batch %d; output hash %016llx\n", lm.largest_batch(), static_cast<unsigned long long>(hash));
  return 0;
}
