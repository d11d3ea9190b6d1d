// libFuzzer target: the GBNF parser, the byte-level matcher, and token masks
// over a small vocabulary. Input: grammar text, then "\x00", then a string to
// match. Build and run: see tests/fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/grammar/grammar.h"
#include "agent/grammar/token_matcher.h"

using namespace rewoo::agent::grammar;

namespace {
std::shared_ptr<const Vocabulary> small_vocab() {
  auto v = std::make_shared<Vocabulary>();
  v->tokens.push_back("");  // a control token
  v->tokens.push_back("");  // EOS
  v->eos = 1;
  for (int b = 0; b < 256; ++b) v->tokens.push_back(std::string(1, static_cast<char>(b)));
  for (const char* t : {" the", "{\"", "\":", "\",", "ab", "abc", "\xE3\x81", "\n\n", "()", "[]", "true", "12"})
    v->tokens.push_back(t);
  return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t z = in.find('\0');
  std::string_view gbnf = in.substr(0, z);
  std::string_view text = z == std::string_view::npos ? std::string_view() : in.substr(z + 1);
  auto g = Grammar::parse(gbnf);
  if (!g) {
    if (g.error().where.empty()) __builtin_trap();  // every parse error has a line:col
    return 0;
  }
  auto r = g->match(text);
  if (r.complete != g->matches(text) || r.consumed > text.size()) __builtin_trap();
  (void)g->dump();
  // Token level: the mask must agree with checking each token.
  static auto vocab = small_vocab();
  TokenGrammarOptions o;
  o.precompute = (size & 1) != 0;
  auto tg = TokenGrammar::create(std::move(*g), vocab, o);
  GrammarMatcher m(tg);
  std::vector<uint64_t> mask(m.mask_words());
  for (size_t i = 0; i < text.size() && i < 64; ++i) {
    m.fill_next_token_mask(mask.data());
    int t = 2 + static_cast<uint8_t>(text[i]);
    bool allowed = (mask[static_cast<size_t>(t) >> 6] >> (t & 63)) & 1;
    if (allowed != m.is_token_allowed(t)) __builtin_trap();
    (void)m.forced_continuation();
    if (!m.accept_token(t)) break;
  }
  if (m.num_accepted() > 0) m.rollback(1);
  return 0;
}
