// stories260K end to end: llama2.c fp32 checkpoint (golden greedy text) and
// the AutoGPTQ-packed checkpoints (float64 reference logits, greedy text).
#include <doctest/doctest.h>

#include "engine/generator.h"
#include "engine/model.h"
#include "tests/engine/engine_test_util.h"

using namespace rewoo::engine;
using rewoo::test::data_dir;
using rewoo::test::read_file;

namespace {
std::unique_ptr<Model> load_stories(int threads = 1) {
  LoadOptions lo;
  lo.tokenizer_path = rewoo::test::stories_dir() / "tok512.model";
  lo.backend.device = Device::kCpu;
  lo.backend.threads = threads;
  auto m = Model::load(rewoo::test::stories_dir() / "stories260K.bin", lo);
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().to_string()));
  return std::move(*m);
}
}  // namespace

TEST_CASE("stories260K fp32 greedy from BOS reproduces llama2.c's golden text byte for byte") {
  for (int threads : {1, 2}) {
    auto m = load_stories(threads);
    Generator gen(*m);
    GenerateOptions o;
    o.max_tokens = 256;
    std::string streamed;
    auto r = gen.generate("", o, [&](std::string_view s) { streamed += s; return true; });
    REQUIRE(r.ok());
    std::string golden = read_file(rewoo::test::stories_dir() / "golden_greedy_256.txt");
    CHECK(golden.size() == 565);
    CHECK(r->text == golden);
    CHECK(streamed == golden);
    CHECK(r->tokens.size() == 256);
    CHECK(r->prompt_tokens == 1);
  }
}

TEST_CASE("stories260K with a prompt continues as the greedy run from BOS does") {
  // The golden text is the greedy continuation of BOS, so prompting with its
  // first words must continue with exactly the rest of it.
  auto m = load_stories();
  Generator gen(*m);
  std::string golden = read_file(rewoo::test::stories_dir() / "golden_greedy_256.txt");
  const std::string prompt = "Once upon a time, there was a little girl";
  auto ids = m->tokenizer().encode(prompt, true);
  GenerateOptions o;
  o.max_tokens = 100;
  auto r = gen.generate(prompt, o);
  REQUIRE(r.ok());
  REQUIRE(golden.rfind(prompt, 0) == 0);
  CHECK(golden.substr(prompt.size(), r->text.size()) == r->text);
  CHECK(r->text.size() > 200);
  CHECK(r->prompt_tokens == static_cast<int>(ids.size()));
}

TEST_CASE("AutoGPTQ-packed stories260K: logits match the float64 references, greedy text matches") {
  for (std::string v : {"gptq-4bit-128g-actorder_True", "gptq-3bit-noneg-actorder_True"}) {
    CAPTURE(v);
    auto dir = rewoo::test::gptq_dir(v);
    LoadOptions lo;
    lo.backend.device = Device::kCpu;
    lo.backend.exact = true;
    auto m = Model::load(dir, lo);
    REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().to_string()));
    CHECK((*m)->quant().bits == (v.find("3bit") != std::string::npos ? 3 : 4));
    auto ids = rewoo::test::read_npy(dir / "reference_input_ids.npy");
    auto ref = rewoo::test::read_npy(dir / "reference_logits_f64.npy");
    REQUIRE(ids.data.size() == 96);
    REQUIRE(ref.shape == std::vector<size_t>{96, 512});
    std::vector<int32_t> toks(ids.data.begin(), ids.data.end());
    Generator gen(**m);
    auto lg = gen.score(toks);
    REQUIRE(lg.ok());
    double err = rewoo::test::rel_err(*lg, ref.data);
    MESSAGE(v << ": logits relative error " << err);
    CHECK(err < 1e-4);
    GenerateOptions o;
    o.max_tokens = 127;
    auto r = gen.generate("", o);
    REQUIRE(r.ok());
    CHECK(r->text == read_file(dir / "reference_greedy_127.txt"));
  }
}
