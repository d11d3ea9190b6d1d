// GrammarProcessor: grammar-constrained decoding for engine::Generator.
//
//   auto vocab = grammar::vocabulary_from_tokenizer(model.tokenizer());
//   auto tg = grammar::TokenGrammar::create(std::move(g), vocab);
//   GenerateOptions o;  o.processor = std::make_shared<grammar::GrammarProcessor>(tg);
//
// apply() sets every token the grammar forbids to -inf (EOS only where the
// grammar may end); accept() advances the matcher; forced_continuation()
// hands the generator the text the grammar leaves no choice about
// (jump-forward); done() ends generation once nothing can follow. With
// `overlap`, the next mask is computed on a worker thread right after
// accept(), while the model runs its forward pass.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "agent/grammar/token_matcher.h"
#include "engine/generator.h"
#include "engine/tokenizer.h"

namespace rewoo::agent::grammar {

// The tokenizer's vocabulary as grammar token bytes (control pieces empty).
std::shared_ptr<const Vocabulary> vocabulary_from_tokenizer(const engine::Tokenizer& tok);

class GrammarProcessor;

// For `rewoo generate --grammar FILE | --json-schema FILE`: reads and compiles
// one of them (the other empty) against the tokenizer's vocabulary. Errors
// name the file.
Result<std::shared_ptr<GrammarProcessor>> grammar_processor_from_files(const std::string& gbnf_file,
                                                                       const std::string& schema_file,
                                                                       const engine::Tokenizer& tok);

class GrammarProcessor : public engine::LogitsProcessor {
 public:
  explicit GrammarProcessor(std::shared_ptr<TokenGrammar> grammar, bool overlap = true);
  ~GrammarProcessor() override;

  void apply(std::span<float> logits) override;
  void accept(int32_t token) override;
  bool done() const override;
  std::string forced_continuation() override;

  const GrammarMatcher& matcher() const { return matcher_; }
  // Tokens accept() was given that the grammar rejected (0 when the
  // generator only samples from the mask).
  int rejected() const { return rejected_; }

 private:
  void wait_idle();
  void worker();

  GrammarMatcher matcher_;
  std::vector<uint64_t> mask_;
  bool mask_ready_ = false;
  int rejected_ = 0;
  bool overlap_;
  // worker state
  std::mutex mu_;
  std::condition_variable cv_;
  bool job_ = false, busy_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace rewoo::agent::grammar
