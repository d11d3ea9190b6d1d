// The reWOO plan grammar, generated from the tool registry: what the planner
// may write, so every plan it finishes parses (agent/plan_parser.h).
//
//   Plan: <thought>
//   :evidence0: = <Tool>[<input>]
//   Plan: <thought>
//   :evidence1: = <Tool>[<input, may say :evidence0:>]
//   Answer: :evidence1:
//
// Evidence numbers count 0, 1, 2, ...; tool names are the registry's; inputs
// are one line with balanced brackets whose `:evidenceK:` references name
// earlier steps only; the answer names a defined step. Thoughts avoid `=` and
// `#` and inputs avoid `#E` and a `:` that starts anything but a reference,
// and a reference is never followed by text that would continue it
// (":evidence0:evidence1:"), which keeps every accepted plan clear of the
// parser's error cases.
#pragma once

#include <string>
#include <vector>

#include "engine/base/result.h"
#include "tools/registry.h"

namespace rewoo::agent::grammar {

struct PlanGrammarOptions {
  int max_steps = 10;          // at least 1
  bool leading_space = true;   // allow one space first (a model's first token is often "▁Plan")
  // Most characters in a thought and items in an input (0: unbounded); a
  // bound guarantees that sampling ends.
  int max_text_chars = 0;
  // Balanced [...] inside an input (the parser accepts them); off keeps
  // inputs flat, which bounds a plan's length by max_text_chars.
  bool nested_brackets = true;
};

// Errors: no tools, max_steps < 1.
Result<std::string> plan_grammar_gbnf(const std::vector<std::string>& tool_names,
                                      const PlanGrammarOptions& opts = {});
Result<std::string> plan_grammar_gbnf(const tools::Registry& registry, const PlanGrammarOptions& opts = {});

}  // namespace rewoo::agent::grammar
