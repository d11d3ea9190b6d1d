// ECMA-262 regular expressions (the subset JSON Schema `pattern`s use) as a
// GBNF expression over the *JSON-encoded* characters of a string body: a
// regex `"` matches the two characters `\"` of the JSON text, `\n` matches
// `\n`, and so on. Used by the JSON Schema converter.
//
// Supported: literals, `.`, classes `[...]` with ranges and negation, `\d \w
// \s` and their negations, `\xHH \uHHHH` escapes, groups `(...)` and
// `(?:...)`, `|`, `* + ? {m} {m,} {m,n}` (lazy `?` suffix accepted), `^`/`$`
// at the ends of top-level alternatives (a pattern is otherwise unanchored,
// as JSON Schema says). Anything else (`\p{..}`, backreferences, lookaround,
// `\b`) is an error naming it.
#pragma once

#include <string>
#include <string_view>
#include <vector>
#include <cstdint>

#include "engine/base/result.h"

namespace rewoo::agent::grammar {

// `json_char` is the GBNF rule name for "any one JSON string character"
// (used for the unanchored ends).
Result<std::string> regex_to_gbnf(std::string_view pattern, const std::string& json_char);

// GBNF for one JSON-encoded character from the code point ranges (sorted,
// merged, inclusive); empty string when the set is empty.
std::string json_chars_gbnf(const std::vector<std::pair<uint32_t, uint32_t>>& ranges);

// A GBNF string literal for raw bytes ("..." with escapes).
std::string gbnf_literal(std::string_view bytes);

// The repetition suffix for at least min and at most `limit` items:
// "{min,limit}", or when limit is 0 (unbounded, as the grammar options spell
// it) "*", "+" or "{min,}".
std::string gbnf_repeat(int min, int limit);

}  // namespace rewoo::agent::grammar
