// The default CPU path (int8 activations for 4-bit layers) against the exact
// path: its error must be well inside the error 4-bit quantization itself
// makes (the GPTQ model against the float model it came from), and
// teacher-forced perplexity must barely move.
#include <doctest/doctest.h>

#include <algorithm>

#include "engine/generator.h"
#include "engine/model.h"
#include "tests/engine/engine_test_util.h"

using namespace rewoo::engine;

namespace {
std::unique_ptr<Model> load(const std::filesystem::path& p, bool exact, const std::filesystem::path& tok = {}) {
  LoadOptions lo;
  lo.tokenizer_path = tok;
  lo.backend.device = Device::kCpu;
  lo.backend.threads = 2;
  lo.backend.exact = exact;
  auto m = Model::load(p, lo);
  REQUIRE_MESSAGE(m.ok(), (m.ok() ? "" : m.error().to_string()));
  return std::move(*m);
}

std::vector<float> score(Model& m, const std::vector<int32_t>& ids) {
  Generator g(m);
  auto lg = g.score(ids);
  REQUIRE(lg.ok());
  return *lg;
}
}  // namespace

TEST_CASE("int8 activations on stories260K 4-bit g128 and 3-bit: error well inside the quantization error") {
 for (std::string v : {"gptq-4bit-128g-actorder_True", "gptq-3bit-noneg-actorder_True"}) {
  CAPTURE(v);
  auto dir = rewoo::test::gptq_dir(v);
  auto fast = load(dir, false), exact = load(dir, true);
  auto fp = load(rewoo::test::stories_dir() / "stories260K.bin", true, rewoo::test::stories_dir() / "tok512.model");
  CHECK(fast->backend().name().find("int8") != std::string::npos);
  CHECK(exact->backend().name().find("exact") != std::string::npos);
  auto ids_npy = rewoo::test::read_npy(dir / "reference_input_ids.npy");
  std::vector<int32_t> ids(ids_npy.data.begin(), ids_npy.data.end());
  auto ref = rewoo::test::read_npy(dir / "reference_logits_f64.npy");
  auto lf = score(*fast, ids), le = score(*exact, ids), lp = score(*fp, ids);
  const double e_int8 = rewoo::test::rel_err(lf, le), e_quant = rewoo::test::rel_err(le, lp);
  const double e_ref = rewoo::test::rel_err(lf, ref.data);
  MESSAGE(v << ": logits relative error: int8 vs exact " << e_int8 << ", int8 vs float64 reference " << e_ref
          << "; GPTQ vs fp32 model (quantization) " << e_quant);
  CHECK(e_int8 > 0);
  CHECK(e_int8 < 0.25 * e_quant);
  // The argmax (greedy choice) agrees at nearly every position.
  const int vocab = fast->config().vocab_size;
  int agree = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    auto a = lf.begin() + static_cast<ptrdiff_t>(t * vocab), b = le.begin() + static_cast<ptrdiff_t>(t * vocab);
    agree += std::max_element(a, a + vocab) - a == std::max_element(b, b + vocab) - b;
  }
  MESSAGE(v << ": argmax agrees at " << agree << " of " << ids.size() << " positions");
  CHECK(agree >= static_cast<int>(ids.size()) * 95 / 100);

  auto text = rewoo::test::read_file(rewoo::test::stories_dir() / "golden_greedy_256.txt");
  auto toks = fp->tokenizer().encode(text, true);
  Generator gf(*fast), ge(*exact), gp(*fp);
  double pf = *gf.perplexity(toks), pe = *ge.perplexity(toks), pp = *gp.perplexity(toks);
  MESSAGE(v << ": golden-text perplexity: fp32 " << pp << ", GPTQ exact " << pe << ", GPTQ int8 activations " << pf);
  CHECK(std::abs(pf / pe - 1) < 0.25 * (pe / pp - 1));
 }
}

TEST_CASE("int8 activations on the trained demo model (4-bit g32): same greedy text, perplexity close to exact") {
  auto dir = rewoo::test::demo_model_dir();
  auto fast = load(dir, false), exact = load(dir, true);
  const std::string prompt = "A chat. USER: Who founded the Guild of Ink Makers of Zeimgous? ASSISTANT:";
  GenerateOptions o;
  o.max_tokens = 48;
  Generator gf(*fast), ge(*exact);
  auto rf = gf.generate(prompt, o), re = ge.generate(prompt, o);
  REQUIRE(rf.ok());
  REQUIRE(re.ok());
  CHECK(rf->text == re->text);
  // Scored on the model's own continuation, where it is confident.
  auto toks = exact->tokenizer().encode(prompt + re->text, true);
  REQUIRE(toks.size() > 40);
  auto lf = score(*fast, toks), le = score(*exact, toks);
  const double e = rewoo::test::rel_err(lf, le);
  double pf = *gf.perplexity(toks), pe = *ge.perplexity(toks);
  MESSAGE("demo model: logits relative error int8 vs exact " << e << "; perplexity exact " << pe << ", int8 " << pf);
  CHECK(e < 0.05);
  CHECK(std::abs(pf / pe - 1) < 0.02);
}
