// GBNF for JSON numbers within decimal bounds (JSON Schema minimum, maximum,
// exclusiveMinimum, exclusiveMaximum), exact for plain decimal notation.
//
// Bounds are decimal strings ("1.1", "-2", "300", "1e3"); numbers matched are
// written as JSON does without exponent: -?(0|[1-9][0-9]*)(.[0-9]+)?. For
// integers the fraction may only be zeros ("3.0" is an integer in JSON
// Schema).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "engine/base/result.h"

namespace rewoo::agent::grammar {

struct NumberBound {
  std::string value;  // decimal text of a JSON number
  bool inclusive = true;
};

// Adds the rules it needs through add_rule(name_hint, body) -> rule name and
// returns a GBNF expression, or nullopt when no number is in range.
// Errors for a bound that is not a number. max_digits > 0 caps the digits the
// bounds leave free (an integer part longer than a bound's, a fraction), so
// that a one-sided range still has a longest number.
Result<std::optional<std::string>> number_range_gbnf(
    std::optional<NumberBound> lower, std::optional<NumberBound> upper, bool integer_only,
    const std::function<std::string(const std::string&, const std::string&)>& add_rule,
    int max_digits = 0);

}  // namespace rewoo::agent::grammar
