// GrammarProcessor: the generator's logits hook over the engine tokenizer.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "agent/grammar/grammar_processor.h"
#include "agent/grammar/json_schema.h"
#include "engine/tokenizer.h"
#include "tests/grammar/llama_vocab.h"
#include "tests/test_util.h"

using namespace rewoo::agent::grammar;

namespace {
std::string tok_path() { return rewoo::test::llama2_tokenizer().string(); }
}  // namespace

TEST_CASE("vocabulary from the engine tokenizer equals the SentencePiece pieces") {
  auto tok = rewoo::engine::Tokenizer::load(tok_path());
  REQUIRE(tok);
  auto a = vocabulary_from_tokenizer(**tok);
  auto b = rewoo::test::load_sentencepiece_vocab(tok_path());
  CHECK(a->eos == b->eos);
  REQUIRE(a->tokens.size() == b->tokens.size());
  int diff = 0;
  for (size_t i = 0; i < a->tokens.size(); ++i) diff += a->tokens[i] != b->tokens[i];
  CHECK(diff == 0);
}

TEST_CASE("GrammarProcessor masks logits, accepts, jumps forward and finishes") {
  auto tok = rewoo::engine::Tokenizer::load(tok_path());
  REQUIRE(tok);
  auto vocab = vocabulary_from_tokenizer(**tok);
  auto g = Grammar::parse("root ::= \"{\\\"answer\\\": \" (\"yes\" | \"no\") \"}\"\n");
  REQUIRE(g);
  for (bool overlap : {false, true}) {
    GrammarProcessor p(TokenGrammar::create(std::move(*Grammar::parse("root ::= \"{\\\"answer\\\": \" (\"yes\" | \"no\") \"}\"\n")), vocab), overlap);
    CHECK(p.forced_continuation() == "{\"answer\":");  // the space is left to the model
    for (int t : (*tok)->encode_continuation("{\"answer\": ")) p.accept(t);
    std::vector<float> logits(32000, 1.0f);
    p.apply(logits);
    int allowed = 0;
    for (size_t t = 0; t < logits.size(); ++t)
      if (!std::isinf(logits[t])) {
        ++allowed;
        CHECK(((*tok)->token_bytes(static_cast<int>(t)).rfind("y", 0) == 0 ||
               (*tok)->token_bytes(static_cast<int>(t)).rfind("n", 0) == 0));
      }
    CHECK(allowed > 0);
    CHECK(std::isinf(logits[2]));  // no EOS yet
    for (int t : (*tok)->encode_continuation("yes")) p.accept(t);
    CHECK(p.forced_continuation() == "}");
    CHECK_FALSE(p.done());
    for (int t : (*tok)->encode_continuation("}")) p.accept(t);
    CHECK(p.done());  // nothing can follow
    std::fill(logits.begin(), logits.end(), 1.0f);
    p.apply(logits);
    CHECK(!std::isinf(logits[2]));
    CHECK(p.rejected() == 0);
  }
}
