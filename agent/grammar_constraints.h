// Grammar-constrained plans and function calls for the runtime: the
// Constraints interface (agent/runtime.h) on the grammar engine
// (agent/grammar/), with a LogitsProcessor that masks the engine's logits.
//
//   auto c = make_grammar_constraints(vocabulary_from_tokenizer(tok));
//   agent.set_constraints(*c);
//
// The grammars (GBNF) come from registry_plan_gbnf() and
// function_call_gbnf(); each is compiled once per distinct registry and
// shared by every request. Lengths are bounded (thought, input, string
// values) so that a plan always finishes within a few hundred tokens, even
// from a model with random weights.
#pragma once

#include <memory>
#include <string>

#include "agent/grammar/token_matcher.h"
#include "agent/llm.h"
#include "agent/runtime.h"
#include "engine/generator.h"
#include "tools/registry.h"

namespace rewoo::agent {

struct GrammarLimits {
  int thought_chars = 100;  // the text of a "Plan:" line
  int input_chars = 160;    // a step's input, references included
  int string_chars = 80;   // a string value in a function call
};

// The plan language for `registry` as GBNF: "Plan: ..." lines,
// ":evidenceN: = Tool[input]" with N = 0, 1, 2, ... and inputs referring only
// to earlier evidence, then "Answer: :evidenceK:" with K defined; 1 to
// max_steps steps.
std::string registry_plan_gbnf(const tools::Registry& registry, int max_steps,
                               const GrammarLimits& limits = {});
// {"function": NAME, "params": {...}} (JSON) or the block YAML form, with the
// params of each tool following its schema (tool_call_schema()).
Result<std::string> function_call_gbnf(const tools::Registry& registry, CallFormat format,
                                       const GrammarLimits& limits = {});

// Masks logits with a GrammarMatcher; jump-forward through
// forced_continuation().
class GrammarLogitsProcessor : public engine::LogitsProcessor {
 public:
  explicit GrammarLogitsProcessor(std::shared_ptr<grammar::TokenGrammar> g);
  void apply(std::span<float> logits) override;
  void accept(int32_t token) override;
  bool done() const override;
  std::string forced_continuation() override;
  const grammar::GrammarMatcher& matcher() const { return matcher_; }

 private:
  grammar::GrammarMatcher matcher_;
  std::vector<uint64_t> mask_;
};

// Constraints over a vocabulary (see vocabulary_from_tokenizer in
// agent/engine_llm.h for the engine's).
std::shared_ptr<Constraints> make_grammar_constraints(
    std::shared_ptr<const grammar::Vocabulary> vocab, GrammarLimits limits = {});

}  // namespace rewoo::agent
