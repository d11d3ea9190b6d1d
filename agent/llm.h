// LanguageModel: the text-generation interface the agent runtime talks to.
//
// The runtime (planner, solver, KnowledgeModel, function calls, chat) only
// needs "prompt in, text out, with sampling options, an optional grammar
// processor and streaming". EngineLanguageModel (agent/engine_llm.h) puts the
// in-process engine behind it; tests use scripted fakes. Implementations must
// be safe to call from several threads at once (the executor runs
// KnowledgeModel steps concurrently); a batching implementation may gather
// concurrent calls into one batched forward pass.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/result.h"
#include "engine/generator.h"

namespace rewoo::agent {

struct Completion {
  std::string text;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int forced_tokens = 0;      // supplied by grammar jump-forward
  int reused_prompt_tokens = 0;  // prompt tokens whose KV state was reused (prefix cache)
  double prefill_ms = 0;
  double decode_ms = 0;
  std::string stop_reason;    // "eos", "stop", "max_tokens", ...
};

struct CompletionRequest {
  std::string prompt;
  engine::GenerateOptions options;  // sampling, stop strings, grammar processor
  engine::TextCallback on_text;     // optional streaming
};

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;
  virtual Result<Completion> complete(const CompletionRequest& request) = 0;
  // Several requests at once; results in order. The default runs them one by one.
  virtual std::vector<Result<Completion>> complete_batch(std::span<const CompletionRequest> requests);
  // Tokens `text` takes (no BOS); used to fit evidence into the context window.
  virtual int count_tokens(std::string_view text) const = 0;
  // The context window in tokens.
  virtual int context_size() const = 0;
  // "random tiny model (noise)", "airoboros-c34b (cpu)": shown to users.
  virtual std::string describe() const = 0;
  // True for models whose weights are random: their text is noise.
  virtual bool is_random() const { return false; }
  // The engine's tokenizer when there is one (grammar masks need the
  // vocabulary); nullptr for models without (test fakes).
  virtual const engine::Tokenizer* tokenizer() const { return nullptr; }
};

inline std::vector<Result<Completion>> LanguageModel::complete_batch(
    std::span<const CompletionRequest> requests) {
  std::vector<Result<Completion>> out;
  out.reserve(requests.size());
  for (auto& r : requests) out.push_back(complete(r));
  return out;
}

}  // namespace rewoo::agent
