// Prefix reuse: slot choice (PrefixCache::plan) and the Generator's use of
// it. Every generation with reuse is checked against the same request on a
// second model that prefills whole: the logits of every step must be
// bit-identical, not just the text.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/generator.h"
#include "engine/model.h"
#include "engine/prefix_cache.h"
#include "tests/engine/engine_test_util.h"

using namespace rewoo::engine;

namespace {

// gptq: the 4-bit model (int8 activations unless exact), else fp32.
std::unique_ptr<Model> load(bool gptq, int n_slots, bool exact = false) {
  LoadOptions lo;
  lo.backend.device = Device::kCpu;
  lo.backend.exact = exact;
  lo.backend.n_slots = n_slots;
  lo.backend.threads = 2;
  auto path = gptq ? rewoo::test::gptq_dir("gptq-4bit-128g-actorder_True")
                   : rewoo::test::stories_dir() / "stories260K.bin";
  if (!gptq) lo.tokenizer_path = rewoo::test::stories_dir() / "tok512.model";
  auto m = Model::load(path, lo);
  REQUIRE(m.ok());
  return std::move(*m);
}

// Keeps the logits of every step (what the sampler saw).
class LogitsRecorder : public LogitsProcessor {
 public:
  void apply(std::span<float> l) override { steps.emplace_back(l.begin(), l.end()); }
  void accept(int32_t) override {}
  std::vector<std::vector<float>> steps;
};

GenerateOptions sampling(uint64_t seed, int max_tokens = 24) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  o.temperature = 0.8f;
  o.top_p = 0.95f;
  o.repetition_penalty = 1.1f;
  o.seed = seed;
  return o;
}

size_t lcp(const std::vector<int32_t>& a, const std::vector<int32_t>& b) { return PrefixCache::common_prefix(a, b); }

const std::string kPreamble = "Once upon a time, there was a little girl named Lily. She loved to play";

// Runs `prompt` on `with` (reuse on) and `without` (reuse off) and requires
// the same logits at every step, the same tokens and text. Returns the
// reused count.
int same_both_ways(Generator& with, Generator& without, const std::string& prompt, uint64_t seed) {
  auto on_rec = std::make_shared<LogitsRecorder>(), off_rec = std::make_shared<LogitsRecorder>();
  GenerateOptions on = sampling(seed), off = sampling(seed);
  on.processor = on_rec;
  off.processor = off_rec;
  off.reuse_prefix = false;
  auto a = with.generate(prompt, on);
  auto b = without.generate(prompt, off);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(b->cached_tokens == 0);
  CHECK(a->prompt_tokens == b->prompt_tokens);
  CHECK(a->tokens == b->tokens);
  CHECK(a->text == b->text);
  REQUIRE(on_rec->steps.size() == off_rec->steps.size());
  for (size_t i = 0; i < on_rec->steps.size(); ++i) {
    INFO("prompt '" << prompt << "' step " << i);
    CHECK(on_rec->steps[i] == off_rec->steps[i]);
  }
  CHECK(a->cached_tokens < a->prompt_tokens);
  return a->cached_tokens;
}

}  // namespace

TEST_CASE("PrefixCache::plan: longest reuse, then fewest cached tokens destroyed, then in place") {
  PrefixCache pc;
  std::vector<int> free01 = {0, 1};
  auto p = pc.plan(std::vector<int32_t>{1, 2, 3}, free01, 2);
  CHECK(p.reuse == 0);
  CHECK((p.slot == 0 || p.slot == 1));

  pc.set(0, std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8});  // a long cached preamble
  // Sharing two tokens: copy them into the empty slot rather than overwrite the preamble.
  p = pc.plan(std::vector<int32_t>{1, 2, 9}, free01, 2);
  CHECK(p.slot == 1);
  CHECK(p.source == 0);
  CHECK(p.reuse == 2);
  // Extending the cached tokens: in place (nothing destroyed either way).
  p = pc.plan(std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}, free01, 8);
  CHECK(p.slot == 0);
  CHECK(p.source == 0);
  CHECK(p.reuse == 8);
  // The last prompt token always runs: an identical prompt reuses all but it.
  p = pc.plan(std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8}, free01, 7);
  CHECK(p.reuse == 7);
  // A busy slot (not free) is a source, never a destination.
  std::vector<int> free1 = {1};
  p = pc.plan(std::vector<int32_t>{1, 2, 3, 4, 0}, free1, 4);
  CHECK(p.slot == 1);
  CHECK(p.source == 0);
  CHECK(p.reuse == 4);
  // Both slots hold something: the one that loses less is overwritten.
  pc.set(1, std::vector<int32_t>{1, 7, 7});
  p = pc.plan(std::vector<int32_t>{1, 5}, free01, 1);
  CHECK(p.slot == 1);
  CHECK(p.reuse == 1);
  // A prefix other requests reused (the preamble) is spared before a longer
  // record nobody shared.
  PrefixCache hot;
  hot.set(0, std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 7});
  hot.take({0, 0, 6});  // a request reused 6 tokens in place...
  CHECK(hot.shared(0) == 6);
  hot.append(0, std::vector<int32_t>{8, 8});  // ...and added its own
  hot.set(1, std::vector<int32_t>{1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9});
  p = hot.plan(std::vector<int32_t>{1, 5}, free01, 1);
  CHECK(p.slot == 1);
  hot.take({1, 0, 3});  // a copy: both now share 3
  CHECK(hot.shared(1) == 3);
  CHECK(hot.tokens(1).size() == 3);
  CHECK(hot.shared(0) == 6);
  hot.truncate(0, 2);
  CHECK(hot.shared(0) == 2);

  pc.truncate(0, 3);
  CHECK(pc.tokens(0).size() == 3);
  pc.append(0, std::vector<int32_t>{9});
  CHECK(std::vector<int32_t>(pc.tokens(0).begin(), pc.tokens(0).end()) == std::vector<int32_t>{1, 2, 3, 9});
  pc.forget(0);
  CHECK(pc.tokens(0).empty());
  CHECK(pc.tokens(42).empty());
}

TEST_CASE("prefix reuse gives bit-identical logits and text over a sequence of prompts sharing a preamble") {
  for (int variant = 0; variant < 3; ++variant) {  // fp32, 4-bit int8 activations, 4-bit exact
    for (int slots : {1, 3}) {
      CAPTURE(variant);
      CAPTURE(slots);
      bool gptq = variant > 0, exact = variant == 2;
      auto m_on = load(gptq, slots, exact), m_off = load(gptq, slots, exact);
      Generator on(*m_on), off(*m_off);
      const Tokenizer& tok = m_on->tokenizer();
      auto enc = [&](const std::string& s) { return tok.encode(s, true); };
      const std::string p1 = kPreamble + " outside in the sun.", p2 = kPreamble + " with her dog Max.";
      CHECK(same_both_ways(on, off, p1, 1) == 0);
      // The preamble is reused; the different continuation is prefilled.
      int c2 = same_both_ways(on, off, p2, 2);
      CHECK(c2 >= static_cast<int>(lcp(enc(p1), enc(p2))));
      CHECK(c2 > 10);
      // The same prompt again: all but its last token.
      CHECK(same_both_ways(on, off, p2, 3) == static_cast<int>(enc(p2).size()) - 1);
      // A prompt that is a prefix of a cached one.
      CHECK(same_both_ways(on, off, kPreamble, 4) == static_cast<int>(enc(kPreamble).size()) - 1);
      // Something else overwrites the single slot; the preamble must not be
      // taken from it afterwards (with more slots it survives elsewhere).
      const std::string other = "Tom had a big red ball.";
      same_both_ways(on, off, other, 5);
      int c5 = same_both_ways(on, off, p1, 6);
      if (slots == 1) CHECK(c5 == static_cast<int>(lcp(enc(other), enc(p1))));
      else CHECK(c5 >= static_cast<int>(lcp(enc(p1), enc(p2))));
    }
  }
}

TEST_CASE("prefix reuse compares token ids, not text: a word that tokenizes differently is prefilled again") {
  auto m_on = load(true, 1), m_off = load(true, 1);
  Generator on(*m_on), off(*m_off);
  const Tokenizer& tok = m_on->tokenizer();
  // A text prefix whose token ids are not a prefix of the longer text's
  // ("...hap" vs "...happy" may split differently); found, not assumed.
  std::string a, b;
  std::vector<int32_t> ea, eb;
  for (std::string w : {"happy", "garden", "friends", "together", "wanted", "beautiful", "something", "flowers"}) {
    for (size_t k = 1; k < w.size() && a.empty(); ++k) {
      std::string x = "One day Lily saw a " + w.substr(0, k), y = "One day Lily saw a " + w;
      ea = tok.encode(x, true), eb = tok.encode(y, true);
      if (lcp(ea, eb) < ea.size()) a = x, b = y;
    }
    if (!a.empty()) break;
  }
  REQUIRE(!a.empty());
  MESSAGE("text prefix '" << a << "' of '" << b << "': " << lcp(ea, eb) << " of " << ea.size() << " token ids shared");
  same_both_ways(on, off, a, 1);
  int c = same_both_ways(on, off, b, 2);
  CHECK(c >= static_cast<int>(lcp(ea, eb)));
  CHECK(c < static_cast<int>(ea.size()));
}

TEST_CASE("a slot written by score() is not reused: the cache forgets it") {
  auto m_on = load(false, 1), m_off = load(false, 1);
  Generator on(*m_on), off(*m_off);
  const Tokenizer& tok = m_on->tokenizer();
  same_both_ways(on, off, kPreamble + " outside.", 1);
  // Longer than the preamble, so the slot's stale record would look usable.
  auto s = on.score(tok.encode("Tom had a big red ball. He liked to kick it to his friend Sam in the garden every day.", true));
  REQUIRE(s.ok());
  CHECK(m_on->prefix_cache().tokens(0).empty());
  CHECK(same_both_ways(on, off, kPreamble + " inside.", 2) == 0);
}

TEST_CASE("generate_batch with prefix reuse equals whole prefills, copying from busy slots") {
  for (bool gptq : {false, true}) {
    CAPTURE(gptq);
    auto m_on = load(gptq, 2), m_off = load(gptq, 2);
    Generator on(*m_on), off(*m_off);
    const Tokenizer& tok = m_on->tokenizer();
    const std::string q = kPreamble + " in the park with her friends";
    // r0 ends early, so r2 starts while r1 still runs; r2 shares most with r1.
    std::vector<std::string> prompts = {kPreamble + " outside.", q + " and her mom.", q + " and her dad.",
                                        kPreamble + " at home."};
    std::vector<int> max_tokens = {4, 40, 12, 12};
    auto requests = [&](bool reuse, std::vector<std::shared_ptr<LogitsRecorder>>& recs) {
      std::vector<GenerateRequest> reqs(prompts.size());
      for (size_t i = 0; i < prompts.size(); ++i) {
        reqs[i].prompt = prompts[i];
        reqs[i].options = sampling(10 + i, max_tokens[i]);
        reqs[i].options.stop_at_eos = false;
        reqs[i].options.reuse_prefix = reuse;
        recs.push_back(std::make_shared<LogitsRecorder>());
        reqs[i].options.processor = recs.back();
      }
      return reqs;
    };
    for (int round = 0; round < 2; ++round) {
      CAPTURE(round);
      std::vector<std::shared_ptr<LogitsRecorder>> rec_on, rec_off;
      auto ron = on.generate_batch(requests(true, rec_on));
      auto roff = off.generate_batch(requests(false, rec_off));
      for (size_t i = 0; i < prompts.size(); ++i) {
        CAPTURE(i);
        REQUIRE(ron[i].ok());
        REQUIRE(roff[i].ok());
        CHECK(ron[i]->tokens == roff[i]->tokens);
        CHECK(ron[i]->text == roff[i]->text);
        CHECK(rec_on[i]->steps == rec_off[i]->steps);
        CHECK(roff[i]->cached_tokens == 0);
      }
      auto e1 = tok.encode(prompts[1], true), e2 = tok.encode(prompts[2], true);
      if (round == 0) {
        CHECK(ron[0]->cached_tokens == 0);  // nothing cached yet
        CHECK(ron[1]->cached_tokens == 0);
      } else {
        CHECK(ron[0]->cached_tokens > 10);  // the preamble, from the first round
        CHECK(ron[1]->cached_tokens >= static_cast<int>(lcp(e1, e2)));
      }
      // r2 takes r1's longer prefix while r1 is still generating.
      CHECK(ron[2]->cached_tokens >= static_cast<int>(lcp(e1, e2)));
      CHECK(ron[3]->cached_tokens > 10);
    }
  }
}

TEST_CASE("generate_batch prefills a long prefix shared by new requests once") {
  auto m_on = load(true, 3), m_off = load(true, 3);
  Generator on(*m_on), off(*m_off);
  const Tokenizer& tok = m_on->tokenizer();
  const std::string shared = kPreamble + " in the park with her friends. They played tag and hide and seek";
  std::vector<std::string> prompts = {shared + " until dark.", shared + " all day.", shared + " and laughed.",
                                      "Tom had a big red ball."};
  REQUIRE(lcp(tok.encode(prompts[0], true), tok.encode(prompts[1], true)) >= 40);
  auto run = [&](Generator& g, bool reuse, std::vector<std::shared_ptr<LogitsRecorder>>& recs) {
    std::vector<GenerateRequest> reqs(prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      reqs[i].prompt = prompts[i];
      reqs[i].options = sampling(20 + i, 8);
      reqs[i].options.reuse_prefix = reuse;
      recs.push_back(std::make_shared<LogitsRecorder>());
      reqs[i].options.processor = recs.back();
    }
    return g.generate_batch(reqs);
  };
  std::vector<std::shared_ptr<LogitsRecorder>> rec_on, rec_off;
  auto ron = run(on, true, rec_on), roff = run(off, false, rec_off);
  auto e0 = tok.encode(prompts[0], true);
  for (size_t i = 0; i < prompts.size(); ++i) {
    CAPTURE(i);
    REQUIRE(ron[i].ok());
    REQUIRE(roff[i].ok());
    CHECK(ron[i]->tokens == roff[i]->tokens);
    CHECK(rec_on[i]->steps == rec_off[i]->steps);
    if (i == 1 || i == 2) CHECK(ron[i]->cached_tokens >= static_cast<int>(lcp(e0, tok.encode(prompts[i], true))));
  }
  CHECK(ron[0]->cached_tokens == 0);  // the first prefills the shared part
}
