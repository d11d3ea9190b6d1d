#include "agent/grammar/runtime_constraints.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "agent/grammar/function_call_grammar.h"
#include "agent/grammar/grammar.h"
#include "agent/grammar/grammar_processor.h"
#include "agent/grammar/plan_grammar.h"

namespace rewoo::agent::grammar {

namespace {

class RuntimeConstraints : public Constraints {
 public:
  RuntimeConstraints(std::shared_ptr<const Vocabulary> vocab, RuntimeGrammarLimits limits)
      : vocab_(std::move(vocab)), limits_(limits) {}

  Result<std::shared_ptr<engine::LogitsProcessor>> plan(const tools::Registry& registry, int max_steps) override {
    auto g = plan_grammar_gbnf(registry, runtime_plan_options(std::max(1, max_steps), limits_));
    if (!g) return g.error();
    return processor(*g);
  }

  Result<std::shared_ptr<engine::LogitsProcessor>> function_call(const tools::Registry& registry,
                                                                 CallFormat format) override {
    auto g = function_call_gbnf(registry, format, runtime_call_options(limits_));
    if (!g) return g.error();
    return processor(*g);
  }

 private:
  Result<std::shared_ptr<engine::LogitsProcessor>> processor(const std::string& gbnf) {
    std::shared_ptr<TokenGrammar> tg;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cache_.find(gbnf);
      if (it != cache_.end()) tg = it->second;
    }
    if (!tg) {
      auto g = Grammar::parse(gbnf);
      if (!g) return g.error().wrap("compiling a generated grammar");
      // Lazy masks: precomputing every state of a plan grammar over a 32000
      // vocabulary takes seconds, while one plan visits a few dozen states.
      TokenGrammarOptions o;
      o.precompute = false;
      tg = TokenGrammar::create(std::move(*g), vocab_, o);
      std::lock_guard<std::mutex> lock(mu_);
      cache_.emplace(gbnf, tg);
    }
    return std::shared_ptr<engine::LogitsProcessor>(std::make_shared<GrammarProcessor>(tg));
  }

  std::shared_ptr<const Vocabulary> vocab_;
  RuntimeGrammarLimits limits_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<TokenGrammar>> cache_;
};

}  // namespace

PlanGrammarOptions runtime_plan_options(int max_steps, RuntimeGrammarLimits limits) {
  PlanGrammarOptions o;
  o.max_steps = max_steps;
  o.max_text_chars = limits.text_chars;
  o.nested_brackets = false;  // flat inputs: a plan's length stays bounded
  return o;
}

SchemaOptions runtime_call_options(RuntimeGrammarLimits limits) {
  SchemaOptions o;
  o.whitespace = "\" \"?";
  o.any_order_limit = 6;
  o.max_string_chars = limits.string_chars;
  o.max_number_digits = 15;
  return o;
}

std::shared_ptr<Constraints> make_runtime_constraints(std::shared_ptr<const Vocabulary> vocab,
                                                      RuntimeGrammarLimits limits) {
  return std::make_shared<RuntimeConstraints>(std::move(vocab), limits);
}

}  // namespace rewoo::agent::grammar
