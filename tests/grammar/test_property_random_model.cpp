// Property test: random-weight Llama models (the real 32000-token vocabulary)
// sampling at temperature 1 under the JSON-schema, function-call and plan
// grammars, 200 seeds each, through engine::Generator with GrammarProcessor
// (mask overlap and jump-forward on). Every output must end (EOS or the
// grammar's end) and be accepted by the grammar and by the runtime's own
// parsers: JSON + SchemaValidator, parse_function_call + check_function_call,
// parse_plan. The grammars are bounded (string lengths, steps) so that
// near-uniform sampling ends within the token budget.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "agent/function_call.h"
#include "agent/grammar/function_call_grammar.h"
#include "agent/grammar/grammar_processor.h"
#include "agent/grammar/json_schema.h"
#include "agent/grammar/plan_grammar.h"
#include "agent/plan_parser.h"
#include "agent/schema_validator.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "engine/model_writer.h"
#include "tests/grammar/grammar_test_tools.h"
#include "tests/test_util.h"

using namespace rewoo::agent::grammar;
using nlohmann::json;

namespace {

constexpr int kSeeds = 200;

std::unique_ptr<rewoo::engine::Model> random_model(uint64_t seed) {
  auto shape = rewoo::engine::shape_by_name("tiny");
  REQUIRE(shape);
  rewoo::engine::RandomOptions ro;
  ro.seed = seed;
  auto w = rewoo::engine::random_weights(*shape, ro);
  REQUIRE(w);
  auto tok = rewoo::engine::Tokenizer::load(rewoo::test::llama2_tokenizer());
  REQUIRE(tok);
  rewoo::engine::BackendOptions bo;
  bo.device = rewoo::engine::Device::kCpu;
  bo.threads = 1;
  auto m = rewoo::engine::Model::from_weights(*w, std::move(*tok), bo);
  REQUIRE_MESSAGE(m, m.error().to_string());
  return std::move(*m);
}

rewoo::tools::Registry bounded_call_registry() {
  rewoo::tools::Registry r;
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("search", json::parse(R"({"type":"object","properties":{
      "query":{"type":"string","maxLength":10},"limit":{"type":"integer","minimum":1,"maximum":50}},
      "required":["query"],"additionalProperties":false})")));
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("weather", json::parse(R"({"type":"object","properties":{
      "city":{"type":"string","minLength":1,"maxLength":8},"units":{"enum":["metric","imperial"]}},
      "required":["city","units"],"additionalProperties":false})")));
  return r;
}

struct Outcome {
  int ended = 0, valid = 0;
  long tokens = 0, forced = 0;
};

template <class Check>
Outcome run_property(const std::string& gbnf, Check check, int max_tokens) {
  auto g = Grammar::parse(gbnf);
  REQUIRE_MESSAGE(g, g.error().to_string());
  Outcome o;
  std::unique_ptr<rewoo::engine::Model> models[2] = {random_model(11), random_model(12)};
  std::shared_ptr<TokenGrammar> tg[2];
  for (int i = 0; i < 2; ++i) tg[i] = TokenGrammar::create(*g, vocabulary_from_tokenizer(models[i]->tokenizer()));
  for (int seed = 0; seed < kSeeds; ++seed) {
    int mi = seed % 2;
    rewoo::engine::Generator gen(*models[mi]);
    rewoo::engine::GenerateOptions opt;
    opt.temperature = 1.0f;
    opt.seed = static_cast<uint64_t>(seed) + 1;
    opt.max_tokens = max_tokens;
    auto proc = std::make_shared<GrammarProcessor>(tg[mi]);
    opt.processor = proc;
    auto r = gen.generate("A chat. USER: go ASSISTANT:", opt);
    REQUIRE_MESSAGE(r, r.error().to_string());
    o.tokens += static_cast<long>(r->tokens.size());
    o.forced += r->forced_tokens;
    CHECK(proc->rejected() == 0);
    bool ended = r->stop_reason != rewoo::engine::StopReason::kMaxTokens;
    CHECK_MESSAGE(ended, "seed " << seed << " hit max_tokens: " << r->text);
    if (!ended) continue;
    ++o.ended;
    bool in_grammar = tg[mi]->grammar().matches(r->text);
    std::string why = check(r->text);
    CHECK_MESSAGE(in_grammar, "seed " << seed << ": not in the grammar: " << r->text);
    CHECK_MESSAGE(why.empty(), "seed " << seed << ": " << why << "\n" << r->text);
    if (in_grammar && why.empty()) ++o.valid;
  }
  return o;
}

}  // namespace

TEST_CASE("property: random models under a JSON-schema grammar always end in valid JSON") {
  json schema = json::parse(R"({"type":"object","properties":{"name":{"type":"string","maxLength":8},
      "age":{"type":"integer","minimum":0,"maximum":130},"tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3},
      "ok":{"type":"boolean"}},"required":["name","age"],"additionalProperties":false})");
  auto gbnf = schema_to_gbnf(schema);
  REQUIRE(gbnf);
  auto validator = rewoo::agent::SchemaValidator::compile(schema);
  REQUIRE(validator);
  auto o = run_property(*gbnf, [&](const std::string& text) -> std::string {
    json j;
    try {
      j = json::parse(text);
    } catch (const std::exception& e) {
      return std::string("not JSON: ") + e.what();
    }
    auto v = validator->validate(j);
    return v.empty() ? "" : v[0].to_string();
  }, 120);
  MESSAGE("JSON: " << o.valid << "/" << kSeeds << " valid, " << o.tokens << " tokens, " << o.forced << " forced");
  CHECK(o.valid == kSeeds);
}

TEST_CASE("property: random models under the function-call grammars always end in valid calls") {
  auto reg = bounded_call_registry();
  for (auto f : {rewoo::agent::CallFormat::kJson, rewoo::agent::CallFormat::kYaml}) {
    auto gbnf = function_call_gbnf(reg, f);
    REQUIRE(gbnf);
    auto o = run_property(*gbnf, [&](const std::string& text) -> std::string {
      auto call = rewoo::agent::parse_function_call(text, f);
      if (!call) return call.error().to_string();
      auto st = rewoo::agent::check_function_call(*call, reg);
      return st ? "" : st.error().to_string();
    }, 120);
    MESSAGE((f == rewoo::agent::CallFormat::kJson ? "JSON" : "YAML") << " calls: " << o.valid << "/" << kSeeds
                                                                     << " valid, " << o.tokens << " tokens, " << o.forced
                                                                     << " forced");
    CHECK(o.valid == kSeeds);
  }
}

TEST_CASE("property: random models under the plan grammar always end in plans the parser accepts") {
  auto reg = rewoo::test::plan_registry();
  PlanGrammarOptions po;
  po.max_steps = 3;
  po.max_text_chars = 12;
  auto gbnf = plan_grammar_gbnf(reg, po);
  REQUIRE(gbnf);
  auto o = run_property(*gbnf, [&](const std::string& text) -> std::string {
    auto r = rewoo::agent::parse_plan(text, reg);
    return r.ok() ? "" : r.errors[0].to_string();
  }, 200);
  MESSAGE("plans: " << o.valid << "/" << kSeeds << " valid, " << o.tokens << " tokens, " << o.forced << " forced");
  CHECK(o.valid == kSeeds);
}
