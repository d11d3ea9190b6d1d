// The plan and function-call grammars the runtime decodes under
// (agent/grammar/runtime_constraints.h): they parse, accept the seed's
// shapes, and everything sampled under them through the processors the
// runtime gets (random walks over a small vocabulary, 200 seeds each) is a
// plan the parser accepts or a call that validates against its tool's schema.
#include <doctest/doctest.h>

#include <memory>
#include <random>

#include "agent/function_call.h"
#include "agent/grammar/function_call_grammar.h"
#include "agent/grammar/grammar.h"
#include "agent/grammar/plan_grammar.h"
#include "agent/grammar/runtime_constraints.h"
#include "agent/plan_parser.h"
#include "tests/agent/fake_tools.h"

using namespace rewoo;
using namespace rewoo::agent;
using nlohmann::json;
using rewoo::test::FakeTool;

namespace {

tools::Registry registry() {
  tools::Registry r;
  (void)r.add(std::make_shared<FakeTool>("DuckDuckGo", "Web search.", "a query"));
  (void)r.add(std::make_shared<FakeTool>("KnowledgeModel", "QA.", "a question"));
  (void)r.add(std::make_shared<FakeTool>("TextScraper", "Fetch pages.", "urls"));
  (void)r.add(std::make_shared<FakeTool>(
      "file_analytics", "File ops.", "text",
      json::parse(R"({"type": "object",
        "properties": {"action": {"type": "string", "enum": ["count", "find_line"]},
                       "limit": {"type": "integer"},
                       "ratio": {"type": "number"},
                       "exact": {"type": "boolean"},
                       "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 3},
                       "filters": {"type": "object", "properties": {"keyword": {"type": "string", "minLength": 1}},
                                   "required": ["keyword"]}},
        "required": ["action", "filters"]})")));
  (void)r.add(std::make_shared<FakeTool>(
      "opt_only", "All optional.", "text",
      json::parse(R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}})")));
  return r;
}

// A small vocabulary: every printable ASCII byte, newline, and multi-byte
// pieces the grammars use, so walks both split and join literals.
std::shared_ptr<grammar::Vocabulary> vocabulary() {
  auto v = std::make_shared<grammar::Vocabulary>();
  v->tokens.push_back("");  // 0: EOS
  v->eos = 0;
  for (int c = 32; c < 127; ++c) v->tokens.push_back(std::string(1, static_cast<char>(c)));
  v->tokens.push_back("\n");
  for (const char* p : {"Plan: ", "Plan", ":evidence", ":evidence0:", "Answer: ", " = ", "DuckDuckGo",
                        "Knowledge", "Model[", "]\n", "\"", "\": \"", "{\"function\": \"", "params",
                        "function: ", "\n  ", "  action: ", "true", "123", "é", "日本", "https://x.org/a"})
    v->tokens.push_back(p);
  return v;
}

// The grammars with the runtime's limits.
std::string registry_plan_gbnf(const tools::Registry& reg, int max_steps) {
  auto g = grammar::plan_grammar_gbnf(reg, grammar::runtime_plan_options(max_steps));
  REQUIRE_MESSAGE(g, g.error().to_string());
  return *g;
}

Result<std::string> function_call_gbnf(const tools::Registry& reg, CallFormat fmt) {
  return grammar::function_call_gbnf(reg, fmt, grammar::runtime_call_options());
}

// Samples uniformly among allowed tokens (EOS with probability 1/2 when
// allowed) until EOS or the processor is done.
std::string walk(engine::LogitsProcessor& proc, const grammar::Vocabulary& vocab, uint64_t seed,
                 int max_tokens = 4000) {
  std::mt19937_64 rng(seed);
  std::string out;
  bool ended = false;
  std::vector<float> logits(vocab.tokens.size());
  for (int i = 0; i < max_tokens && !proc.done(); ++i) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    proc.apply(logits);
    std::vector<int> allowed;
    for (size_t t = 0; t < logits.size(); ++t)
      if (logits[t] == 0.0f) allowed.push_back(static_cast<int>(t));
    REQUIRE_MESSAGE(!allowed.empty(), "dead end after: " << out);
    bool eos_ok = logits[vocab.eos] == 0.0f;
    if (eos_ok && (allowed.size() == 1 || rng() % 2 == 0)) {
      ended = true;
      break;
    }
    int t;
    do {
      t = allowed[rng() % allowed.size()];
    } while (t == vocab.eos);
    proc.accept(t);
    out += vocab.tokens[t];
  }
  ended = ended || proc.done();
  REQUIRE_MESSAGE(ended, "the walk did not end: " << out);
  return out;
}


}  // namespace

TEST_CASE("plan grammar: accepts the seed's shape, rejects what the parser rejects") {
  auto reg = registry();
  auto g = grammar::Grammar::parse(registry_plan_gbnf(reg, 4));
  REQUIRE(g);
  CHECK(g->matches("Plan: Search for the winner.\n"
                   ":evidence0: = DuckDuckGo[Nobel Prize in Literature 2020]\n"
                   "Plan: Read https://x.org at 10:30.\n"
                   ":evidence1: = TextScraper[https://nobel.org/a (main) :evidence0:]\n"
                   "Plan: Ask.\n"
                   ":evidence2: = KnowledgeModel[Who won, given :evidence1: and :evidence0:?]\n"
                   "Answer: :evidence2:"));
  CHECK(!g->matches("Plan: x\n:evidence0: = DuckDuckGo[a :evidence0:]\nAnswer: :evidence0:"));  // self
  CHECK(!g->matches("Plan: x\n:evidence0: = DuckDuckGo[a]\nAnswer: :evidence1:"));  // undefined
  CHECK(!g->matches("Plan: x\n:evidence1: = DuckDuckGo[a]\nAnswer: :evidence1:"));  // numbering
  CHECK(!g->matches("Plan: x\n:evidence0: = Google[a]\nAnswer: :evidence0:"));      // unknown tool
  CHECK(!g->matches("Plan: x\n:evidence0: = DuckDuckGo[a]]\nAnswer: :evidence0:"));
  CHECK(!g->matches("Plan: x\n#E1 = DuckDuckGo[a]\nAnswer: #E1"));
  // Stricter than the parser where it is cheap: no nested brackets, no
  // reference glued to text that could read as another reference.
  CHECK(!g->matches("Plan: x\n:evidence0: = DuckDuckGo[a [b]]\nAnswer: :evidence0:"));
  CHECK(!g->matches("Plan: x\n:evidence0: = DuckDuckGo[a]\nPlan: y\n:evidence1: = DuckDuckGo[:evidence0:evidence0: b]\nAnswer: :evidence1:"));
  CHECK(g->matches("Plan: x\n:evidence0: = DuckDuckGo[a]\nPlan: y\n:evidence1: = DuckDuckGo[:evidence0: and :evidence0:]\nAnswer: :evidence1:"));
  CHECK(!g->matches("Plan: x\n:evidence0: = DuckDuckGo[a]\nPlan: y\n:evidence1: = DuckDuckGo[:evidence0:evidence1: b]\nAnswer: :evidence1:"));
  // What it allows, the parser accepts: a colon inside text, and (with
  // nested brackets, which the runtime leaves off) balanced brackets.
  const std::string colon = "Plan: at 10:30 see :evidence0:\n:evidence0: = DuckDuckGo[a:b]\nAnswer: :evidence0:";
  CHECK(g->matches(colon));
  CHECK(parse_plan(colon, reg).plan.has_value());
  grammar::PlanGrammarOptions nested = grammar::runtime_plan_options(4);
  nested.nested_brackets = true;
  auto gn_text = grammar::plan_grammar_gbnf(reg, nested);
  REQUIRE(gn_text);
  auto gn = grammar::Grammar::parse(*gn_text);
  REQUIRE(gn);
  const std::string brackets = "Plan: x\n:evidence0: = DuckDuckGo[a [b]]\nAnswer: :evidence0:";
  CHECK(gn->matches(brackets));
  CHECK(parse_plan(brackets, reg).plan.has_value());
  // At most max_steps steps.
  std::string five;
  for (int i = 0; i < 5; ++i)
    five += "Plan: s\n:evidence" + std::to_string(i) + ": = DuckDuckGo[q]\n";
  CHECK(!g->matches(five + "Answer: :evidence4:"));
  CHECK(grammar::Grammar::parse(registry_plan_gbnf(reg, 5))->matches(five + "Answer: :evidence4:"));
}

TEST_CASE("plan grammar: 200 random walks through the runtime's processor all parse as plans") {
  auto reg = registry();
  auto vocab = vocabulary();
  auto constraints = grammar::make_runtime_constraints(vocab);
  int steps = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto proc = constraints->plan(reg, 6);
    REQUIRE(proc);
    std::string text = walk(**proc, *vocab, seed);
    auto r = parse_plan(text, reg);
    REQUIRE_MESSAGE(r.ok(), "seed " << seed << ": " << (r.ok() ? "" : r.errors[0].to_string()) << "\n" << text);
    steps += static_cast<int>(r.plan->steps.size());
  }
  CHECK(steps > 200);  // walks take more than one step on average
}

TEST_CASE("function-call grammars: 200 random walks per format through the runtime's processor all validate") {
  auto reg = registry();
  auto vocab = vocabulary();
  auto constraints = grammar::make_runtime_constraints(vocab);
  for (auto fmt : {CallFormat::kJson, CallFormat::kYaml}) {
    std::map<std::string, int> used;
    for (uint64_t seed = 0; seed < 200; ++seed) {
      auto proc = constraints->function_call(reg, fmt);
      REQUIRE_MESSAGE(proc, proc.error().to_string());
      std::string text = walk(**proc, *vocab, seed);
      auto call = parse_function_call(text, fmt);
      REQUIRE_MESSAGE(call, "seed " << seed << ": " << (call ? "" : call.error().to_string()) << "\n" << text);
      auto ok = check_function_call(*call, reg);
      REQUIRE_MESSAGE(ok, "seed " << seed << ": " << (ok ? "" : ok.error().to_string()) << "\n" << text);
      ++used[call->function];
    }
    CHECK(used.size() == reg.size());  // every tool is reachable
  }
}

TEST_CASE("function-call grammar: exact text for a single-input tool") {
  tools::Registry r;
  (void)r.add(std::make_shared<FakeTool>("DuckDuckGo", "Web search.", "a query"));
  auto j = grammar::Grammar::parse(*function_call_gbnf(r, CallFormat::kJson));
  REQUIRE(j);
  CHECK(j->matches(R"({"function": "DuckDuckGo", "params": {"input": "rust \"lang\""}})"));
  CHECK(!j->matches(R"({"function": "Google", "params": {"input": "x"}})"));
  CHECK(!j->matches(R"({"function": "DuckDuckGo", "params": {}})"));
  auto y = grammar::Grammar::parse(*function_call_gbnf(r, CallFormat::kYaml));
  REQUIRE(y);
  CHECK(y->matches("function: DuckDuckGo\nparams:\n  input: \"rust lang\"\n"));
  CHECK(y->matches("function: DuckDuckGo\nparams:\n  input: rust lang\n"));
  CHECK(!y->matches("function: DuckDuckGo\nparams:\n  query: \"rust\"\n"));
  // Strings the schema leaves unbounded are bounded by the runtime's limit.
  auto small = [&](CallFormat f) {
    grammar::RuntimeGrammarLimits limits;
    limits.string_chars = 5;
    auto g = grammar::function_call_gbnf(r, f, grammar::runtime_call_options(limits));
    REQUIRE(g);
    auto p = grammar::Grammar::parse(*g);
    REQUIRE(p);
    return std::move(*p);
  };
  CHECK(small(CallFormat::kJson).matches(R"({"function": "DuckDuckGo", "params": {"input": "rust!"}})"));
  CHECK(!small(CallFormat::kJson).matches(R"({"function": "DuckDuckGo", "params": {"input": "rust lang"}})"));
  CHECK(small(CallFormat::kYaml).matches("function: DuckDuckGo\nparams:\n  input: rusty\n"));
  CHECK(!small(CallFormat::kYaml).matches("function: DuckDuckGo\nparams:\n  input: rustlangisgreat\n"));
}

TEST_CASE("plan grammar: a plan may open with the space a Llama model writes after ASSISTANT:") {
  auto reg = registry();
  auto g = grammar::Grammar::parse(registry_plan_gbnf(reg, 4));
  REQUIRE(g);
  const std::string plan = " Plan: x\n:evidence0: = DuckDuckGo[a]\nAnswer: :evidence0:";
  CHECK(g->matches(plan));
  CHECK(!g->matches(" " + plan));  // one space, no more
  CHECK(parse_plan(plan, reg).plan.has_value());
}
