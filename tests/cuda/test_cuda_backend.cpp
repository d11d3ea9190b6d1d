// The CUDA backend end to end, against the golden text and the CPU backend:
// stories260K (fp32, and the AutoGPTQ-packed 4-bit g128 / 3-bit checkpoints),
// batched decode with sequences joining and leaving, and batch errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/backend.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "engine/model_loader.h"
#include "engine/sampler.h"
#include "tests/test_util.h"

using namespace rewoo::engine;
using rewoo::Status;
using rewoo::test::data_dir;
using rewoo::test::read_file;

namespace {

std::filesystem::path stories_dir() { return data_dir() / "models" / "stories260K"; }
std::filesystem::path gptq_dir() { return data_dir() / "models" / "stories260K-gptq"; }

std::unique_ptr<Model> load(const std::filesystem::path& p, Device dev, int slots = 1,
                            const std::filesystem::path& tok = {}) {
  LoadOptions lo;
  lo.tokenizer_path = tok;
  lo.backend.device = dev;
  lo.backend.n_slots = slots;
  lo.backend.threads = 2;
  lo.backend.exact = true;  // the CPU side is the reference
  auto m = Model::load(p, lo);
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().to_string()));
  return std::move(*m);
}

// Teacher-forced logits [n, vocab] of a backend for ids (one prefill call).
std::vector<float> score(Backend& be, const std::vector<int32_t>& ids, int vocab) {
  SeqBatchEntry e;
  e.slot = 0;
  e.tokens = ids;
  e.pos = 0;
  e.all_logits = true;
  Logits out;
  be.clear_slot(0);
  Status st = be.forward({&e, 1}, out);
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
  REQUIRE(out.data.size() == ids.size() * (size_t)vocab);
  return out.data;
}

int argmax(const float* v, int n) { return (int)(std::max_element(v, v + n) - v); }

struct Agreement {
  double top1 = 0, rel = 0;
};
// Top-1 agreement and max |a - b| / max |b| over rows.
Agreement compare(const std::vector<float>& a, const std::vector<float>& b, int vocab) {
  const size_t rows = b.size() / vocab;
  size_t same = 0;
  double num = 0, den = 0;
  for (size_t r = 0; r < rows; ++r) {
    same += argmax(&a[r * vocab], vocab) == argmax(&b[r * vocab], vocab);
    for (int i = 0; i < vocab; ++i) {
      num = std::max(num, (double)std::fabs(a[r * vocab + i] - b[r * vocab + i]));
      den = std::max(den, (double)std::fabs(b[r * vocab + i]));
    }
  }
  return {(double)same / rows, num / den};
}

void check_agreement(const std::vector<float>& gpu, const std::vector<float>& cpu, int vocab) {
  const Agreement a = compare(gpu, cpu, vocab);
  CAPTURE(a.top1);
  CAPTURE(a.rel);
  CHECK(a.top1 >= 0.99);
  CHECK(a.rel < 2e-2);
}

const char* const kGptqVariants[] = {"gptq-4bit-128g-actorder_True",
                                     "gptq-3bit-noneg-actorder_True"};

// The CUDA and CPU models of one AutoGPTQ stories260K variant, or two nulls
// (with a message) where the shared data lacks it.
std::pair<std::unique_ptr<Model>, std::unique_ptr<Model>> load_gptq(const char* variant) {
  const auto dir = gptq_dir() / variant;
  if (!std::filesystem::exists(dir)) {
    MESSAGE("missing " << dir);
    return {};
  }
  return {load(dir, Device::kCuda), load(dir, Device::kCpu)};
}

// The first n tokens (BOS first) of the golden stories260K text.
std::vector<int32_t> golden_ids(const Model& m, size_t n) {
  auto ids = m.tokenizer().encode(read_file(stories_dir() / "golden_greedy_256.txt"), true);
  ids.resize(std::min(ids.size(), n));
  return ids;
}

}  // namespace

TEST_CASE("cuda: stories260K fp32 greedy from BOS reproduces the golden text") {
  auto m = load(stories_dir() / "stories260K.bin", Device::kCuda, 1, stories_dir() / "tok512.model");
  CHECK(m->backend().name().rfind("cuda", 0) == 0);
  Generator gen(*m);
  GenerateOptions o;
  o.max_tokens = 256;
  auto r = gen.generate("", o);
  REQUIRE(r.ok());
  CHECK(r->text == read_file(stories_dir() / "golden_greedy_256.txt"));
  CHECK(r->tokens.size() == 256);
}

TEST_CASE("cuda: AutoGPTQ stories260K logits match the CPU backend, greedy text matches") {
  for (const char* variant : kGptqVariants) {
    CAPTURE(variant);
    auto [gpu, cpu] = load_gptq(variant);
    if (!gpu) continue;
    const int vocab = gpu->weights()->config.vocab_size;
    const auto ids = golden_ids(*cpu, 200);
    check_agreement(score(gpu->backend(), ids, vocab), score(cpu->backend(), ids, vocab), vocab);
    const auto ref = gptq_dir() / variant / "reference_greedy_127.txt";
    const auto ref2 = gptq_dir() / (std::string(variant) + "_reference_greedy_127.txt");
    for (const auto& rp : {ref, ref2})
      if (std::filesystem::exists(rp)) {
        Generator gen(*gpu);
        GenerateOptions o;
        o.max_tokens = 127;
        auto r = gen.generate("", o);
        REQUIRE(r.ok());
        // fp16 activations may flip a near-tie late in the 3-bit run: the
        // 4-bit text must match exactly, the 3-bit one for 200 bytes.
        const std::string want = read_file(rp);
        if (std::string(variant).find("4bit") != std::string::npos) CHECK(r->text == want);
        else CHECK(r->text.substr(0, 200) == want.substr(0, 200));
      }
  }
}

TEST_CASE("cuda: AutoGPTQ stories260K one-token decode steps match the CPU backend") {
  // One token a step runs the captured decode graph (GEMVs, fused attention
  // with RoPE and the cache write); the prefill of `score` does not.
  for (const char* variant : kGptqVariants) {
    CAPTURE(variant);
    auto [gpu, cpu] = load_gptq(variant);
    if (!gpu) continue;
    const int vocab = gpu->weights()->config.vocab_size;
    const auto ids = golden_ids(*cpu, 48);
    std::vector<float> lg, lc;
    for (Model* m : {gpu.get(), cpu.get()}) {
      m->backend().clear_slot(0);
      for (size_t i = 0; i < ids.size(); ++i) {
        SeqBatchEntry e;
        e.slot = 0;
        e.pos = (int)i;
        e.tokens = std::span<const int32_t>(&ids[i], 1);
        Logits out;
        const Status st = m->backend().forward({&e, 1}, out);
        REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
        auto row = out.row(0);
        std::vector<float>& dst = m == gpu.get() ? lg : lc;
        dst.insert(dst.end(), row.begin(), row.end());
      }
    }
    check_agreement(lg, lc, vocab);
  }
}

TEST_CASE("cuda: batched decode with sequences joining and leaving matches one-at-a-time CPU") {
  auto gpu = load(stories_dir() / "stories260K.bin", Device::kCuda, 4, stories_dir() / "tok512.model");
  auto cpu = load(stories_dir() / "stories260K.bin", Device::kCpu, 4, stories_dir() / "tok512.model");
  const int vocab = gpu->weights()->config.vocab_size;
  struct Seq {
    int slot, join;
    std::vector<int32_t> ids;  // tokens fed so far
    int fed = 0;
  };
  std::vector<Seq> seqs = {{0, 0, {1, 400, 21, 93}}, {1, 2, {1, 300}}, {2, 3, {1, 77, 78, 79, 80, 81}},
                           {3, 6, {1}}};
  int compared = 0, agree = 0;
  double worst = 0;
  for (int step = 0; step < 14; ++step) {
    std::vector<SeqBatchEntry> batch;
    std::vector<Seq*> in;
    for (Seq& s : seqs) {
      if (step < s.join) continue;
      if (s.slot == 0 && step >= 9) continue;  // sequence 0 leaves
      SeqBatchEntry e;
      e.slot = s.slot;
      e.pos = s.fed;
      e.tokens = std::span<const int32_t>(s.ids).subspan(s.fed);
      batch.push_back(e);
      in.push_back(&s);
    }
    Logits lg, lc;
    Status a = gpu->backend().forward(batch, lg);
    REQUIRE_MESSAGE(a.ok(), (a.ok() ? "" : a.error().to_string()));
    Status b = cpu->backend().forward(batch, lc);
    REQUIRE(b.ok());
    for (size_t e = 0; e < batch.size(); ++e) {
      auto rg = lg.row(e), rc = lc.row(e);
      const int tg = argmax(rg.data(), vocab), tc = argmax(rc.data(), vocab);
      ++compared;
      agree += tg == tc;
      for (int i = 0; i < vocab; ++i) worst = std::max(worst, (double)std::fabs(rg[i] - rc[i]));
      in[e]->fed = (int)in[e]->ids.size();
      in[e]->ids.push_back(tc);  // continue with the CPU's greedy pick
    }
  }
  CAPTURE(worst);
  CHECK(compared > 30);
  CHECK(agree == compared);
  CHECK(worst < 5e-2);  // fp16 KV cache and activations
}

TEST_CASE("cuda: forward_greedy picks what the host argmax of forward's logits picks") {
  const auto dir = gptq_dir() / "gptq-4bit-128g-actorder_True";
  REQUIRE_MESSAGE(std::filesystem::exists(dir), "missing " << dir);
  auto gpu = load(dir, Device::kCuda, 3);
  Backend& be = gpu->backend();
  const int vocab = gpu->weights()->config.vocab_size;
  std::vector<std::vector<int32_t>> seqs = {{1, 400, 21, 93, 7}, {1, 300}, {1, 77, 78}};
  std::vector<int> pos(seqs.size(), 0);
  int compared = 0;
  for (int step = 0; step < 12; ++step) {
    // step 0: prefills of several tokens (the plain path); then one-token
    // decode steps (captured graphs, greedy and logits variants)
    std::vector<SeqBatchEntry> batch;
    for (size_t i = 0; i < seqs.size(); ++i) {
      SeqBatchEntry e;
      e.slot = (int)i;
      e.pos = pos[i];
      e.tokens = std::span<const int32_t>(seqs[i]).subspan(pos[i]);
      batch.push_back(e);
    }
    Logits out;
    Status st = be.forward(batch, out);
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
    std::vector<int32_t> picks = {-5};
    st = be.forward_greedy(batch, picks);  // the same positions again: same cache
    REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
    REQUIRE(picks.size() == seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) {
      CAPTURE(step);
      CAPTURE(i);
      // The two runs' logits may differ in the last bits (the products add
      // their split-K partial sums atomically): a different pick must be a
      // near-tie.
      const auto row = out.row(i);
      const int32_t want = Sampler::argmax(row);
      REQUIRE(picks[i] >= 0);
      REQUIRE(picks[i] < vocab);
      const float slack = 1e-4f * std::max(1.0f, std::fabs(row[want]));
      CHECK((picks[i] == want || row[picks[i]] >= row[want] - slack));
      ++compared;
      pos[i] = (int)seqs[i].size();
      seqs[i].push_back(picks[i]);
    }
  }
  CHECK(compared == 36);
}

TEST_CASE("cuda: bad batches are errors, not crashes") {
  auto gpu = load(stories_dir() / "stories260K.bin", Device::kCuda, 2, stories_dir() / "tok512.model");
  Backend& be = gpu->backend();
  std::vector<int32_t> ids = {1, 2, 3};
  Logits out;
  SeqBatchEntry e;
  e.tokens = ids;
  e.slot = 5;
  CHECK_FALSE(be.forward({&e, 1}, out).ok());
  e.slot = 0;
  e.pos = be.max_seq_len() - 1;
  CHECK_FALSE(be.forward({&e, 1}, out).ok());
  e.pos = 0;
  std::vector<int32_t> bad = {1, 100000};
  e.tokens = bad;
  CHECK_FALSE(be.forward({&e, 1}, out).ok());
  SeqBatchEntry two[2];
  two[0].tokens = ids;
  two[1].tokens = ids;
  CHECK_FALSE(be.forward({two, 2}, out).ok());
  e.tokens = ids;
  CHECK(be.forward({&e, 1}, out).ok());
}
