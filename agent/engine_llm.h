// EngineLanguageModel: the in-process engine (engine/model.h, generator.h)
// behind the agent's LanguageModel interface.
//
//   auto m = engine::Model::load(dir, lo);
//   EngineLanguageModel lm(std::move(*m), {.label = dir});
//   Agent agent(lm, registry);
//
// Thread-safe. Calls that arrive while the model is busy (KnowledgeModel
// steps the executor runs in parallel) are gathered and run together through
// Generator::generate_batch, up to the backend's KV-cache slots, so a backend
// that batches (CUDA) answers several questions in about the time of one.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "agent/llm.h"
#include "engine/model.h"

namespace rewoo::agent {

struct EngineLanguageModelOptions {
  std::string label;            // shown by describe() (e.g. the model path)
  bool random_weights = false;  // the model is noise; the CLI says so
  // How long the first of several concurrent calls waits for the others
  // before the batch starts (only when the backend has more than one slot).
  int gather_us = 2000;
  // Reuse the KV state of prompt prefixes the engine already holds (the
  // planner's tools block and instructions, prefilled once per session);
  // off prefills every prompt whole. Same text either way.
  bool prefix_cache = true;
};

class EngineLanguageModel : public LanguageModel {
 public:
  EngineLanguageModel(std::unique_ptr<engine::Model> model, EngineLanguageModelOptions options = {});
  ~EngineLanguageModel() override;

  Result<Completion> complete(const CompletionRequest& request) override;
  std::vector<Result<Completion>> complete_batch(std::span<const CompletionRequest> requests) override;
  int count_tokens(std::string_view text) const override;
  int context_size() const override;
  std::string describe() const override;
  bool is_random() const override { return options_.random_weights; }
  const engine::Tokenizer* tokenizer() const override { return &model_->tokenizer(); }

  engine::Model& model() { return *model_; }
  // Batches run so far and the largest one (for tests and benchmarks).
  int batches_run() const;
  int largest_batch() const;
  // Prompt tokens of every call so far, and how many of them came from the
  // prefix cache instead of being prefilled.
  long prompt_tokens_total() const;
  long cached_tokens_total() const;

 private:
  struct Pending;
  std::vector<Result<Completion>> run_now(std::span<const CompletionRequest> requests);

  std::unique_ptr<engine::Model> model_;
  EngineLanguageModelOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;
  bool running_ = false;
  int batches_ = 0;
  int largest_ = 0;
  std::atomic<long> prompt_tokens_{0};  // written by the batch leader, outside mu_
  std::atomic<long> cached_tokens_{0};
};

}  // namespace rewoo::agent
