// Function-call grammars (JSON and block YAML) from tool schemas: hand-written
// calls in and out, and calls sampled under the grammar parse and validate.
#include <doctest/doctest.h>

#include <random>

#include "agent/function_call.h"
#include "agent/grammar/function_call_grammar.h"
#include "agent/grammar/grammar.h"
#include "tests/grammar/grammar_test_tools.h"
#include "tests/grammar/llama_vocab.h"
#include "tests/test_util.h"

using namespace rewoo::agent::grammar;
using rewoo::agent::CallFormat;

namespace {
Grammar call_grammar(CallFormat f,
                     const rewoo::tools::Registry& r = rewoo::test::call_registry()) {
  auto text = function_call_gbnf(r, f);
  REQUIRE_MESSAGE(text, text.error().to_string());
  auto g = Grammar::parse(*text);
  REQUIRE_MESSAGE(g, g.error().to_string() << "\n" << *text);
  return std::move(*g);
}
}  // namespace

TEST_CASE("function-call grammar (JSON)") {
  Grammar g = call_grammar(CallFormat::kJson);
  for (const char* s : {R"({"function": "search", "params": {"query": "rewoo grammar", "limit": 5}})",
                        R"({"function": "search", "params": {"limit":5,"query":"x"}})",
                        R"({"function": "weather", "params": {"city": "Paris", "units": "metric"}})",
                        R"({"function": "send_email", "params": {"to": ["a@b.c"], "subject": "Hi", "body": "Hello\nthere"}})",
                        R"({"function": "calendar_add", "params": {"title": "Standup", "start": "2024-05-01T09:30"}})",
                        R"({"function": "KnowledgeModel", "params": {"input": "What is GBNF?"}})"}) {
    CHECK_MESSAGE(g.matches(s), std::string(s));
    auto call = rewoo::agent::parse_function_call(s, CallFormat::kJson);
    REQUIRE(call);
    CHECK(rewoo::agent::check_function_call(*call, rewoo::test::call_registry()));
  }
  for (const char* s : {R"({"function": "search", "params": {"limit": 5}})",             // missing required
                        R"({"function": "search", "params": {"query": "x", "limit": 0}})",  // below minimum
                        R"({"function": "serch", "params": {"query": "x"}})",              // unknown tool
                        R"({"function": "weather", "params": {"city": "P", "units": "kelvin"}})",
                        R"({"function": "calendar_add", "params": {"title": "x", "start": "tomorrow"}})",
                        R"({"function": "send_email", "params": {"to": [], "subject": "s", "body": "b"}})"})
    CHECK_MESSAGE(!g.matches(s), std::string(s));
}

TEST_CASE("function-call grammar (YAML)") {
  Grammar g = call_grammar(CallFormat::kYaml);
  for (const char* s : {"function: search\nparams:\n  query: weather in Paris\n  limit: 5\n",
                        "function: weather\nparams:\n  city: \"Paris\"\n  units: \"metric\"",
                        "function: send_email\nparams:\n  to: [\"a@b.c\", \"d@e.f\"]\n  subject: \"Hi there\"\n  body: Hello",
                        "function: KnowledgeModel\nparams:\n  input: What is GBNF?"}) {
    CHECK_MESSAGE(g.matches(s), std::string(s));
    auto call = rewoo::agent::parse_function_call(s, CallFormat::kYaml);
    REQUIRE_MESSAGE(call, s << ": " << call.error().to_string());
    auto st = rewoo::agent::check_function_call(*call, rewoo::test::call_registry());
    CHECK_MESSAGE(st, s << ": " << (st ? "" : st.error().to_string()));
  }
  for (const char* s : {"function: search\nparams:\n  query: true\n",   // would read as a boolean
                        "function: search\nparams:\n  query: 12\n",     // would read as a number
                        "function: search\nparams:\n  limit: 5\n",      // missing required
                        "function: search\nparams:\n  query: a: b\n",
                        "function: search\nparams:\n  query: x\n  query: y\n",  // a key twice
                        "function: send_email\nparams:\n  to: [\"a@b.c\"]\n  subject: Hi\n  body: x"})  // maxLength: quoted only  // ': ' in a plain scalar
    CHECK_MESSAGE(!g.matches(s), std::string(s));
}

TEST_CASE("function calls sampled under the grammars parse and validate (200 seeds each)") {
  auto vocab = rewoo::test::load_sentencepiece_vocab(
      rewoo::test::llama2_tokenizer().string());
  for (CallFormat f : {CallFormat::kJson, CallFormat::kYaml}) {
    auto text = function_call_gbnf(rewoo::test::call_registry(), f);
    REQUIRE(text);
    auto tg = TokenGrammar::create(*Grammar::parse(*text), vocab);
    int finished = 0;
    for (int seed = 0; seed < 200; ++seed) {
      std::mt19937 rng(static_cast<unsigned>(seed) + 1000);
      GrammarMatcher m(tg);
      auto out = rewoo::test::sample_from_grammar(m, *vocab, rng, 400, 0.5);
      if (!out) continue;
      ++finished;
      auto call = rewoo::agent::parse_function_call(*out, f);
      REQUIRE_MESSAGE(call, "seed " << seed << ":\n" << *out << "\n" << call.error().to_string());
      auto st = rewoo::agent::check_function_call(*call, rewoo::test::call_registry());
      CHECK_MESSAGE(st, "seed " << seed << ":\n" << *out << "\n" << (st ? "" : st.error().to_string()));
    }
    MESSAGE((f == CallFormat::kJson ? "JSON" : "YAML") << " finished: " << finished << "/200");
    CHECK(finished >= 120);
  }
}

TEST_CASE("function-call grammar: closing declared objects keeps schemas whose properties are split over allOf callable") {
  // A valid call must still match: "properties" in allOf branches describe
  // one object together; closing each branch on its own forbids the other
  // branch's keys, and then nothing validates and the tool silently drops
  // out of the grammar.
  using nlohmann::json;
  rewoo::tools::Registry r;
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("move", json::parse(R"({"type":"object","allOf":[
      {"properties":{"from":{"type":"string"}},"required":["from"]},
      {"properties":{"to":{"type":"string"}},"required":["to"]}]})")));
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("open", json::parse(R"({"type":"object",
      "properties":{"path":{"type":"string"}},"required":["path","mode"]})")));
  const Grammar g = call_grammar(CallFormat::kJson, r);
  CHECK(g.matches(R"({"function": "move", "params": {"from": "a", "to": "b"}})"));
  CHECK(g.matches(R"({"function": "open", "params": {"path": "a", "mode": "r"}})"));
}

TEST_CASE("function-call grammar: calls through allOf over $defs and anyOf match; plain objects are closed") {
  using nlohmann::json;
  rewoo::tools::Registry r;
  // allOf over definitions, and an anyOf whose branches add keys to the parent's.
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("copy", json::parse(R"({"type":"object",
      "$defs":{"Src":{"type":"object","properties":{"src":{"type":"string"}},"required":["src"]},
               "Dst":{"type":"object","properties":{"dst":{"type":"string"}},"required":["dst"]}},
      "allOf":[{"$ref":"#/$defs/Src"},{"$ref":"#/$defs/Dst"}]})")));
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("pay", json::parse(R"({"type":"object",
      "properties":{"amount":{"type":"integer"}},"required":["amount"],
      "anyOf":[{"properties":{"iban":{"type":"string"}},"required":["iban"]},
               {"properties":{"card":{"type":"string"}},"required":["card"]}]})")));
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("find", json::parse(R"({"type":"object",
      "properties":{"q":{"type":"string"}},"required":["q"]})")));
  const Grammar g = call_grammar(CallFormat::kJson, r);
  CHECK(g.matches(R"({"function": "copy", "params": {"src": "a", "dst": "b"}})"));
  CHECK(g.matches(R"({"function": "pay", "params": {"amount": 5, "iban": "DE00"}})"));
  CHECK(g.matches(R"({"function": "find", "params": {"q": "x"}})"));
  CHECK_FALSE(g.matches(R"({"function": "find", "params": {"q": "x", "extra": 1}})"));  // plain: closed
}

TEST_CASE("function-call grammar: closing declared objects follows $ref chains and $ref branches") {
  // Objects are closed after the converter has merged allOf / anyOf / $ref,
  // so a definition reached through a chain of $refs, or an anyOf branch
  // given as a $ref, still meets its siblings' keys.
  using nlohmann::json;
  rewoo::tools::Registry r;
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("tag", json::parse(R"({"type":"object",
      "$defs":{"A":{"$ref":"#/$defs/B"},
               "B":{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}},
      "allOf":[{"$ref":"#/$defs/A"},{"properties":{"y":{"type":"string"}},"required":["y"]}]})")));
  (void)r.add(std::make_shared<rewoo::test::FakeTool>("ship", json::parse(R"({"type":"object",
      "$defs":{"Addr":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
      "properties":{"weight":{"type":"integer"}},"required":["weight"],
      "anyOf":[{"$ref":"#/$defs/Addr"},{"properties":{"box":{"type":"string"}},"required":["box"]}]})")));
  const Grammar g = call_grammar(CallFormat::kJson, r);
  CHECK(g.matches(R"({"function": "tag", "params": {"x": "a", "y": "b"}})"));
  CHECK(g.matches(R"({"function": "ship", "params": {"weight": 2, "city": "Oslo"}})"));
  CHECK(g.matches(R"({"function": "ship", "params": {"weight": 2, "box": "7"}})"));
  // still closed: keys no branch declares
  CHECK_FALSE(g.matches(R"({"function": "tag", "params": {"x": "a", "y": "b", "z": 1}})"));
  CHECK_FALSE(g.matches(R"({"function": "ship", "params": {"weight": 2, "box": "7", "z": 1}})"));
}
