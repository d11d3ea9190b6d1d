// Llama 2 tokenizer: the 47 llama.cpp test vectors, token bytes, streaming.
#include <doctest/doctest.h>

#include <sstream>

#include "engine/tokenizer.h"
#include "tests/engine/engine_test_util.h"

using namespace rewoo::engine;

namespace {
std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t p = 0;
  for (;;) {
    size_t q = s.find(sep, p);
    if (q == std::string::npos) {
      out.push_back(s.substr(p));
      return out;
    }
    out.push_back(s.substr(p, q - p));
    p = q + sep.size();
  }
}
const Tokenizer& llama2() {
  static auto t = Tokenizer::load(rewoo::test::llama2_tokenizer());
  REQUIRE(t.ok());
  return **t;
}
}  // namespace

TEST_CASE("Llama 2 tokenizer reproduces the 47 llama.cpp vectors") {
  const auto& tok = llama2();
  CHECK(tok.vocab_size() == 32000);
  CHECK(tok.bos_id() == 1);
  CHECK(tok.eos_id() == 2);
  auto dir = rewoo::test::data_dir() / "tokenizers/llama2";
  auto inputs = split(rewoo::test::read_file(dir / "vectors.inp"), "\n__ggml_vocab_test__\n");
  auto outputs = split(rewoo::test::read_file(dir / "vectors.out"), "\n");
  REQUIRE(inputs.size() == 47);
  REQUIRE(outputs.size() == 47);
  int pass = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::vector<int32_t> want;
    std::istringstream ss(outputs[i]);
    for (int32_t v; ss >> v;) want.push_back(v);
    auto got = tok.encode(inputs[i], false);
    CAPTURE(inputs[i]);
    CHECK(got == want);
    pass += got == want;
  }
  CHECK(pass == 47);
}

TEST_CASE("token_bytes: spaces, byte fallback, control pieces") {
  const auto& tok = llama2();
  CHECK(tok.token_bytes(tok.bos_id()).empty());
  CHECK(tok.token_bytes(tok.eos_id()).empty());
  CHECK(tok.piece(13) == "<0x0A>");
  CHECK(tok.token_bytes(13) == "\n");
  CHECK(tok.token_bytes(3 + 0xE2) == "\xE2");  // <0xE2> is id 3 + 0xE2
  auto ids = tok.encode("Hello world", false);
  std::string joined;
  for (auto id : ids) joined += tok.token_bytes(id);
  CHECK(joined == " Hello world");
  CHECK(tok.decode(ids) == "Hello world");
  CHECK(tok.all_token_bytes().size() == 32000);
  CHECK(tok.encode_continuation("world") != tok.encode("world", false));  // no dummy space
  std::string cont;
  for (auto id : tok.encode_continuation("world}")) cont += tok.token_bytes(id);
  CHECK(cont == "world}");
}

TEST_CASE("StreamDecoder never emits half a UTF-8 character") {
  const auto& tok = llama2();
  // "½" is C2 BD, "€" E2 82 AC, as byte-fallback tokens one byte at a time.
  std::vector<int32_t> ids = {tok.bos_id()};
  for (unsigned char b : std::string("a\xE2\x82\xAC b\xC2\xBD")) {
    ids.push_back(3 + b);
  }
  StreamDecoder d(tok);
  std::vector<std::string> pieces;
  for (size_t i = 1; i < ids.size(); ++i) pieces.push_back(d.push(ids[i], ids[i - 1]));
  pieces.push_back(d.flush());
  std::string all;
  for (auto& p : pieces) {
    all += p;
    // every piece is itself valid UTF-8: no lone lead or continuation bytes
    for (size_t i = 0; i < p.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(p[i]);
      if (c >= 0x80 && c < 0xC0) CHECK(i > 0);
    }
  }
  CHECK(all == "a\xE2\x82\xAC b\xC2\xBD");
  CHECK(pieces[1].empty());  // E2 alone is held back
  CHECK(pieces[2].empty());  // E2 82 too
  CHECK(pieces[3] == "\xE2\x82\xAC");

  // Invalid bytes become U+FFFD; an unfinished tail is flushed as U+FFFD.
  StreamDecoder d2(tok);
  CHECK(d2.push(3 + 0xFF, -1) == "\xEF\xBF\xBD");
  CHECK(d2.push(3 + 0xE2, 3 + 0xFF).empty());
  CHECK(d2.flush() == "\xEF\xBF\xBD");

  // The dummy-prefix space after BOS is dropped, later spaces are kept.
  StreamDecoder d3(tok);
  auto hw = tok.encode("Hello world", true);
  std::string s;
  for (size_t i = 1; i < hw.size(); ++i) s += d3.push(hw[i], hw[i - 1]);
  CHECK(s == "Hello world");
}
