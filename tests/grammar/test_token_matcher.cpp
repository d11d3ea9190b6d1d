// Token masks over the real Llama 2 vocabulary: cached masks agree with a
// token-by-token check, UTF-8 split across tokens, EOS rules, rollback and
// jump-forward.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "agent/grammar/grammar.h"
#include "agent/grammar/token_matcher.h"
#include "tests/grammar/llama_vocab.h"
#include "tests/test_util.h"

using namespace rewoo::agent::grammar;

namespace {

std::string tokenizer_path() {
  return rewoo::test::llama2_tokenizer().string();
}

const std::shared_ptr<const Vocabulary>& llama_vocab() {
  static auto v = rewoo::test::load_sentencepiece_vocab(tokenizer_path());
  return v;
}

std::shared_ptr<TokenGrammar> make(const std::string& gbnf, TokenGrammarOptions o = {}) {
  auto g = Grammar::parse(gbnf);
  REQUIRE_MESSAGE(g, g.error().to_string());
  return TokenGrammar::create(std::move(*g), llama_vocab(), o);
}

std::shared_ptr<TokenGrammar> make_file(const std::string& name) {
  return make(rewoo::test::read_file(rewoo::test::data_dir() / "grammars" / (name + ".gbnf")));
}

bool bit(const std::vector<uint64_t>& m, int t) { return (m[t >> 6] >> (t & 63)) & 1; }

// The cached mask must equal checking every token against the full state.
void check_mask_exact(GrammarMatcher& m) {
  std::vector<uint64_t> mask(m.mask_words());
  m.fill_next_token_mask(mask.data());
  int n = static_cast<int>(llama_vocab()->tokens.size());
  int mismatches = 0;
  for (int t = 0; t < n; ++t) {
    bool want = m.is_token_allowed(t);
    if (bit(mask, t) != want && ++mismatches <= 5)
      FAIL_CHECK("token " << t << " '" << llama_vocab()->tokens[t] << "': mask " << bit(mask, t) << " vs " << want);
  }
  CHECK(mismatches == 0);
}

// Feeds text tokenized by SentencePiece, checking each token is in the mask.
void feed(GrammarMatcher& m, const std::string& text, bool check_every_mask = false) {
  static rewoo::test::SpTokenizer tok(tokenizer_path());
  std::vector<uint64_t> mask(m.mask_words());
  for (int t : tok.encode(text)) {
    if (check_every_mask) check_mask_exact(m);
    m.fill_next_token_mask(mask.data());
    REQUIRE_MESSAGE(bit(mask, t), "token " << t << " '" << llama_vocab()->tokens[t] << "' masked out in " << text);
    REQUIRE(m.accept_token(t));
  }
}

}  // namespace

TEST_CASE("Llama 2 vocabulary loads with spaces and byte tokens") {
  const auto& v = *llama_vocab();
  REQUIRE(v.tokens.size() == 32000);
  CHECK(v.eos == 2);
  CHECK(v.tokens[1].empty());        // <s>
  CHECK(v.tokens[3 + 0x41] == "A");  // <0x41>
  CHECK(v.tokens[29871] == " ");     // "▁"
}

TEST_CASE("JSON grammar: masks equal the per-token check along a document") {
  auto tg = make_file("json");
  GrammarMatcher m(tg);
  feed(m, "{\"name\": \"caf\xC3\xA9 \xE4\xB8\x96\", \"n\": [1, 2.5, true], \"o\": {\"x\": null}}", true);
  check_mask_exact(m);
  CHECK(m.can_end());
}

TEST_CASE("EOS only when the grammar may end, forced when nothing else is") {
  auto tg = make("root ::= \"ab\" \"c\"?\n");
  GrammarMatcher m(tg);
  std::vector<uint64_t> mask(m.mask_words());
  m.fill_next_token_mask(mask.data());
  CHECK_FALSE(bit(mask, 2));
  CHECK_FALSE(m.accept_token(2));
  REQUIRE(m.accept_bytes("ab"));
  m.fill_next_token_mask(mask.data());
  CHECK(bit(mask, 2));
  REQUIRE(m.accept_bytes("c"));
  m.fill_next_token_mask(mask.data());
  int set = 0;
  for (uint64_t w : mask) set += __builtin_popcountll(w);
  CHECK(set == 1);
  CHECK(bit(mask, 2));
  CHECK(m.accept_token(2));
  CHECK(m.is_terminated());
  m.fill_next_token_mask(mask.data());
  for (uint64_t w : mask) CHECK(w == 0);
}

TEST_CASE("UTF-8 characters split across byte-fallback tokens") {
  auto tg = make_file("japanese");
  GrammarMatcher m(tg);
  // こ = E3 81 93 as three byte tokens (<0xNN> = id 3 + NN).
  std::vector<uint64_t> mask(m.mask_words());
  m.fill_next_token_mask(mask.data());
  CHECK(bit(mask, 3 + 0xE3));
  CHECK_FALSE(bit(mask, 3 + 0x81));  // a continuation byte cannot start a character
  REQUIRE(m.accept_token(3 + 0xE3));
  CHECK_FALSE(m.can_end());
  m.fill_next_token_mask(mask.data());
  CHECK(bit(mask, 3 + 0x81));
  CHECK_FALSE(bit(mask, 3 + 0x41));
  check_mask_exact(m);
  REQUIRE(m.accept_token(3 + 0x81));
  REQUIRE(m.accept_token(3 + 0x93));
  CHECK(m.can_end());
  feed(m, "\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF");
  CHECK(m.can_end());
}

TEST_CASE("rollback restores earlier states") {
  auto tg = make_file("json");
  GrammarMatcher m(tg);
  feed(m, "{\"a\": [1");
  size_t n = m.num_accepted();
  std::vector<uint64_t> before(m.mask_words()), after(m.mask_words());
  m.fill_next_token_mask(before.data());
  feed(m, ", 2]}");
  CHECK(m.can_end());
  m.rollback(static_cast<int>(m.num_accepted() - n));
  m.fill_next_token_mask(after.data());
  CHECK(before == after);
  CHECK_FALSE(m.can_end());
  CHECK_THROWS(m.rollback(1000));
}

TEST_CASE("jump-forward: the unique continuation is reported") {
  auto tg = make("root ::= \"{\\\"function\\\": \\\"\" [a-z]+ \"\\\"}\" | \"{\\\"function\\\": \\\"\\u00e9\"\n");
  GrammarMatcher m(tg);
  CHECK(m.forced_continuation() == "{\"function\": \"");
  REQUIRE(m.accept_bytes("{\"function\": \""));
  CHECK(m.forced_continuation().empty());
  REQUIRE(m.accept_bytes("ab"));
  CHECK(m.forced_continuation().empty());
  REQUIRE(m.accept_bytes("\""));
  CHECK(m.forced_continuation() == "}");
  // a forced run ending mid-character is cut at the character boundary
  auto tg2 = make("root ::= \"x\\u00e9\" [\\u0080-\\u00BF]\n");
  GrammarMatcher m2(tg2);
  CHECK(m2.forced_continuation() == "x\xC3\xA9");
  // trailing spaces are left to the model's next word
  auto tg3 = make("root ::= \"Plan: \" [a-z]+\n");
  GrammarMatcher m3(tg3);
  CHECK(m3.forced_continuation() == "Plan:");
}

TEST_CASE("every shared grammar compiles against the vocabulary") {
  for (const char* name : {"arithmetic", "c", "chess", "english", "japanese", "json", "json_arr", "list"}) {
    auto t0 = std::chrono::steady_clock::now();
    auto tg = make_file(name);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(std::string(name) << ": " << tg->stats().entries << " entries, " << ms << " ms");
    GrammarMatcher m(tg);
    check_mask_exact(m);
  }
}
