// The runtime's grammar constraints (agent/runtime.h's Constraints) on this
// module: plans under plan_grammar_gbnf, function calls under
// function_call_gbnf, decoded with GrammarProcessor (mask overlap,
// jump-forward). Each distinct grammar is compiled once and shared by every
// request; lengths are bounded so a plan or a call always finishes within a
// few hundred tokens, even from a model with random weights.
//
//   auto c = grammar::make_runtime_constraints(grammar::vocabulary_from_tokenizer(tok));
//   agent.set_constraints(c);
#pragma once

#include <memory>

#include "agent/grammar/json_schema.h"
#include "agent/grammar/plan_grammar.h"
#include "agent/grammar/token_matcher.h"
#include "agent/runtime.h"

namespace rewoo::agent::grammar {

struct RuntimeGrammarLimits {
  int text_chars = 100;   // a "Plan:" thought, and the items of a step's input
  int string_chars = 80;  // a string parameter the tool's schema leaves unbounded
};

// The options the runtime builds its grammars with (`rewoo grammar plan` and
// `rewoo grammar call` print the same grammars).
PlanGrammarOptions runtime_plan_options(int max_steps, RuntimeGrammarLimits limits = {});
SchemaOptions runtime_call_options(RuntimeGrammarLimits limits = {});

std::shared_ptr<Constraints> make_runtime_constraints(std::shared_ptr<const Vocabulary> vocab,
                                                      RuntimeGrammarLimits limits = {});

}  // namespace rewoo::agent::grammar
