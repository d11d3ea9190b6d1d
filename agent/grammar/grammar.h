// Grammar: a GBNF grammar compiled to a byte-level pushdown automaton.
//
// GBNF is llama.cpp's grammar language: `name ::= alternatives` rules, string
// literals with \x \u \U escapes, character classes (ranges, negation), `.`,
// grouping, `*` `+` `?` `{m}` `{m,}` `{m,n}`, and `#` comments. Parsing
// desugars everything into plain rules whose alternatives are sequences of
// byte sets and rule references: character classes over code points become
// UTF-8 byte sequences, so a character split across tokens needs no special
// case, and repetitions become helper rules.
//
//   auto g = Grammar::parse(text);        // errors carry "line:col"
//   if (!g) return g.error();
//   bool ok = g->matches("{\"a\": 1}");   // whole-string membership
//
// Token-level matching (masks over a vocabulary) is in token_matcher.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/result.h"

namespace rewoo::agent::grammar {

// The largest {m,n} bound a grammar takes (what the schema and regex
// converters can ask of it, too).
inline constexpr int kMaxRepeat = 10000;

// 256-bit set of bytes.
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  void add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void add_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) add(static_cast<uint8_t>(b));
  }
  bool empty() const { return (bits[0] | bits[1] | bits[2] | bits[3]) == 0; }
  int count() const;
  bool operator==(const ByteSet&) const = default;
};

// One element of an alternative in the flat element array.
struct Element {
  enum class Kind : uint8_t { kBytes, kRule, kEnd };
  Kind kind = Kind::kEnd;
  uint32_t value = 0;  // kBytes: index into byte_sets(); kRule: rule id
};

struct Rule {
  std::string name;                  // user rules keep their name; helpers get "name_N"
  std::vector<uint32_t> alternatives;  // start index of each alternative in elements()
};

class Grammar {
 public:
  // Parses GBNF; `root` names the start rule. Errors: "line:col: what".
  static Result<Grammar> parse(std::string_view gbnf, std::string_view root = "root");

  const std::vector<Rule>& rules() const { return rules_; }
  // Every alternative is a run of kBytes/kRule elements closed by a kEnd.
  const std::vector<Element>& elements() const { return elements_; }
  const std::vector<ByteSet>& byte_sets() const { return byte_sets_; }
  uint32_t root() const { return root_; }

  // Whether the whole of `text` is in the language.
  bool matches(std::string_view text) const;
  struct MatchResult {
    bool complete = false;  // the whole text is in the language
    size_t consumed = 0;    // bytes that are a prefix of some sentence (== size unless rejected)
  };
  // Like matches(), and where it failed.
  MatchResult match(std::string_view text) const;

  // A readable dump of the compiled rules (for `grammar check --verbose`).
  std::string dump() const;

 private:
  friend class GbnfCompiler;
  std::vector<Rule> rules_;
  std::vector<Element> elements_;
  std::vector<ByteSet> byte_sets_;
  uint32_t root_ = 0;
};

// Encodes a code point as UTF-8 (appends to `out`).
void append_utf8(std::string& out, uint32_t cp);

}  // namespace rewoo::agent::grammar
