#include "agent/engine_llm.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "engine/generator.h"

namespace rewoo::agent {

struct EngineLanguageModel::Pending {
  const CompletionRequest* request;
  std::optional<Result<Completion>> result;
};

namespace {
Completion to_completion(const engine::GenerateResult& g) {
  Completion c;
  c.text = g.text;
  c.prompt_tokens = g.prompt_tokens;
  c.completion_tokens = static_cast<int>(g.tokens.size());
  c.forced_tokens = g.forced_tokens;
  c.reused_prompt_tokens = g.cached_tokens;
  c.prefill_ms = g.prefill_ms;
  c.decode_ms = g.decode_ms;
  c.stop_reason = engine::stop_reason_name(g.stop_reason);
  return c;
}
}  // namespace

EngineLanguageModel::EngineLanguageModel(std::unique_ptr<engine::Model> model,
                                         EngineLanguageModelOptions options)
    : model_(std::move(model)), options_(std::move(options)) {}

EngineLanguageModel::~EngineLanguageModel() = default;

std::vector<Result<Completion>> EngineLanguageModel::run_now(
    std::span<const CompletionRequest> requests) {
  engine::Generator gen(*model_);
  std::vector<Result<Completion>> out;
  std::vector<engine::GenerateRequest> batch;
  for (auto& r : requests) {
    batch.push_back({r.prompt, r.options, r.on_text});
    if (!options_.prefix_cache) batch.back().options.reuse_prefix = false;
  }
  for (auto& r : gen.generate_batch(batch)) {
    if (r) {
      out.push_back(to_completion(*r));
      prompt_tokens_ += r->prompt_tokens;
      cached_tokens_ += r->cached_tokens;
    } else {
      out.push_back(r.error());
    }
  }
  return out;
}

Result<Completion> EngineLanguageModel::complete(const CompletionRequest& request) {
  Pending me{&request, std::nullopt};
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(&me);
  if (running_) {
    cv_.wait(lock, [&] { return me.result.has_value(); });
    return std::move(*me.result);
  }
  // Leader: run batches until the queue is empty (our own request included).
  running_ = true;
  int slots = std::max(1, model_->backend().n_slots());
  while (!queue_.empty()) {
    if (slots > 1 && options_.gather_us > 0 && queue_.size() < static_cast<size_t>(slots)) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(options_.gather_us));
      lock.lock();
    }
    std::vector<Pending*> take;
    while (!queue_.empty() && take.size() < static_cast<size_t>(slots)) {
      take.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    std::vector<CompletionRequest> reqs;
    for (auto* p : take) reqs.push_back(*p->request);
    // An exception (the CPU backend passes on one thrown in a parallel
    // chunk, e.g. std::bad_alloc; or a caller's streaming callback) fails
    // this batch's calls; escaping here would leave running_ set and every
    // waiting and later call blocked for good.
    std::vector<Result<Completion>> results;
    try {
      results = run_now(reqs);
    } catch (const std::exception& e) {
      results.assign(take.size(), Result<Completion>(Error(std::string("the engine failed: ") + e.what(), "generate")));
    } catch (...) {
      results.assign(take.size(), Result<Completion>(Error("the engine failed (unknown exception)", "generate")));
    }
    lock.lock();
    ++batches_;
    largest_ = std::max(largest_, static_cast<int>(take.size()));
    for (size_t i = 0; i < take.size(); ++i) take[i]->result = std::move(results[i]);
    cv_.notify_all();
  }
  running_ = false;
  return std::move(*me.result);
}

std::vector<Result<Completion>> EngineLanguageModel::complete_batch(
    std::span<const CompletionRequest> requests) {
  // Through complete() on threads, so these join whatever else is queued.
  std::vector<std::optional<Result<Completion>>> tmp(requests.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i)
    threads.emplace_back([&, i] { tmp[i] = complete(requests[i]); });
  for (auto& t : threads) t.join();
  std::vector<Result<Completion>> out;
  for (auto& r : tmp) out.push_back(std::move(*r));
  return out;
}

int EngineLanguageModel::count_tokens(std::string_view text) const {
  return static_cast<int>(model_->tokenizer().encode(text, false).size());
}

int EngineLanguageModel::context_size() const { return model_->backend().max_seq_len(); }

std::string EngineLanguageModel::describe() const {
  std::string s = options_.label.empty() ? std::string("model") : options_.label;
  s += " (" + model_->backend().name() + ")";
  if (options_.random_weights) s += ", random weights: output is noise";
  return s;
}

int EngineLanguageModel::batches_run() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batches_;
}

long EngineLanguageModel::prompt_tokens_total() const { return prompt_tokens_; }

long EngineLanguageModel::cached_tokens_total() const { return cached_tokens_; }

int EngineLanguageModel::largest_batch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return largest_;
}

}  // namespace rewoo::agent
