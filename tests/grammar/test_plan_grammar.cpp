// The plan grammar from a registry: hand-written plans in and out, and plans
// sampled token by token under the grammar always pass the real plan parser.
#include <doctest/doctest.h>

#include <random>

#include "agent/grammar/grammar.h"
#include "agent/grammar/plan_grammar.h"
#include "agent/plan_parser.h"
#include "tests/grammar/grammar_test_tools.h"
#include "tests/grammar/llama_vocab.h"
#include "tests/test_util.h"

using namespace rewoo::agent::grammar;

namespace {
Grammar plan_grammar(int max_steps = 10) {
  PlanGrammarOptions o;
  o.max_steps = max_steps;
  auto text = plan_grammar_gbnf(rewoo::test::plan_registry(), o);
  REQUIRE(text);
  auto g = Grammar::parse(*text);
  REQUIRE_MESSAGE(g, g.error().to_string() << "\n" << *text);
  return std::move(*g);
}
}  // namespace

TEST_CASE("plan grammar: well-formed plans in, malformed ones out") {
  Grammar g = plan_grammar(4);
  const char* good[] = {
      "Plan: Search for the winner.\n:evidence0: = DuckDuckGo[Nobel Prize in Literature 2020 winner]\n"
      "Plan: Ask the model.\n:evidence1: = KnowledgeModel[Who won, given :evidence0:?]\nAnswer: :evidence1:",
      " Plan: one step\n:evidence0: = Calculator[2 * (3 + [4])]\nAnswer: :evidence0:\n",
      "Plan: a\n:evidence0: = WikiSearch[x]\nPlan: b\n:evidence1: = TextScraper[:evidence0:]\nPlan: c uses :evidence1:\n"
      ":evidence2: = HyperlinkExtractor[:evidence1: and :evidence0:]\nAnswer: :evidence1:",
      "Plan: time: 5pm C#\n:evidence0: = DuckDuckGo[time: 5pm, C# 10]\nAnswer: :evidence0:"};
  for (const char* s : good) {
    CHECK_MESSAGE(g.matches(s), std::string(s));
    auto r = rewoo::agent::parse_plan(s, rewoo::test::plan_registry());
    CHECK_MESSAGE(r.ok(), std::string(s));
  }
  const char* bad[] = {
      "Plan: a\n:evidence1: = DuckDuckGo[x]\nAnswer: :evidence1:",                                   // starts at 1
      "Plan: a\n:evidence0: = Google[x]\nAnswer: :evidence0:",                                       // unknown tool
      "Plan: a\n:evidence0: = DuckDuckGo[:evidence0:]\nAnswer: :evidence0:",                         // self reference
      "Plan: a\n:evidence0: = DuckDuckGo[x]\nAnswer: :evidence1:",                                   // undefined answer
      "Plan: a\n:evidence0: = DuckDuckGo[x [y]\nAnswer: :evidence0:",                                // unbalanced
      "Plan: a\n:evidence0: = DuckDuckGo[x]\nPlan: b\n:evidence2: = DuckDuckGo[y]\nAnswer: :evidence0:",  // gap
      "Plan: a\n:evidence0: = DuckDuckGo[see #E1]\nAnswer: :evidence0:",                             // LangChain
      "Plan: a\n:evidence0: = DuckDuckGo[:evidence0]\nAnswer: :evidence0:",                          // incomplete ref
      "Plan: a\n:evidence0: = DuckDuckGo[x]\n",                                                      // no answer
      "Plan: a = b\n:evidence0: = DuckDuckGo[x]\nAnswer: :evidence0:",                               // '=' in thought
  };
  for (const char* s : bad) CHECK_MESSAGE(!g.matches(s), std::string(s));
  // max_steps: a fifth step is out with max_steps = 4
  std::string five;
  for (int i = 0; i < 5; ++i) five += "Plan: p\n:evidence" + std::to_string(i) + ": = DuckDuckGo[q]\n";
  CHECK_FALSE(g.matches(five + "Answer: :evidence4:"));
  CHECK(plan_grammar(5).matches(five + "Answer: :evidence4:"));
  CHECK_FALSE(plan_grammar_gbnf(std::vector<std::string>{}));
}

TEST_CASE("plan grammar: 200 plans sampled under the grammar all pass the plan parser") {
  auto vocab = rewoo::test::load_sentencepiece_vocab(
      rewoo::test::llama2_tokenizer().string());
  PlanGrammarOptions o;
  o.max_steps = 6;
  auto text = plan_grammar_gbnf(rewoo::test::plan_registry(), o);
  REQUIRE(text);
  auto tg = TokenGrammar::create(*Grammar::parse(*text), vocab);
  int finished = 0;
  for (int seed = 0; seed < 200; ++seed) {
    std::mt19937 rng(static_cast<unsigned>(seed));
    GrammarMatcher m(tg);
    auto out = rewoo::test::sample_from_grammar(m, *vocab, rng, 800, 0.4);
    if (!out) continue;
    ++finished;
    auto r = rewoo::agent::parse_plan(*out, rewoo::test::plan_registry());
    CHECK_MESSAGE(r.ok(), "seed " << seed << ":\n" << *out << "\n" << (r.ok() ? "" : r.errors[0].to_string()));
    CHECK(tg->grammar().matches(*out));
  }
  MESSAGE("finished plans: " << finished << "/200");
  CHECK(finished >= 150);
}
