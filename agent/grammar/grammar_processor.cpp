#include "agent/grammar/grammar_processor.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "agent/grammar/json_schema.h"
#include "engine/base/read_file.h"

namespace rewoo::agent::grammar {

std::shared_ptr<const Vocabulary> vocabulary_from_tokenizer(const engine::Tokenizer& tok) {
  auto v = std::make_shared<Vocabulary>();
  v->tokens = tok.all_token_bytes();
  for (size_t i = 0; i < v->tokens.size(); ++i)
    if (tok.is_control(static_cast<int32_t>(i))) v->tokens[i].clear();
  v->eos = tok.eos_id();
  return v;
}

Result<std::shared_ptr<GrammarProcessor>> grammar_processor_from_files(const std::string& gbnf_file,
                                                                       const std::string& schema_file,
                                                                       const engine::Tokenizer& tok) {
  const std::string& path = gbnf_file.empty() ? schema_file : gbnf_file;
  auto read = read_whole_file(path, gbnf_file.empty() ? "the schema file" : "the grammar file");
  if (!read) return read.error();
  std::string text = std::move(*read);
  if (gbnf_file.empty()) {
    nlohmann::json schema;
    try {
      schema = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
      return Error(std::string("not JSON: ") + e.what(), path);
    }
    auto g = schema_to_gbnf(schema);
    if (!g) return g.error().wrap(path);
    text = *g;
  }
  auto g = Grammar::parse(text);
  if (!g) return g.error().wrap(path);
  auto tg = TokenGrammar::create(std::move(*g), vocabulary_from_tokenizer(tok));
  return std::make_shared<GrammarProcessor>(std::move(tg));
}

GrammarProcessor::GrammarProcessor(std::shared_ptr<TokenGrammar> grammar, bool overlap)
    : matcher_(std::move(grammar)), mask_(matcher_.mask_words()), overlap_(overlap) {
  if (overlap_) {
    thread_ = std::thread([this] { worker(); });
    std::lock_guard lock(mu_);
    job_ = true;  // the first mask, while the prompt is prefilled
    cv_.notify_all();
  }
}

GrammarProcessor::~GrammarProcessor() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
}

void GrammarProcessor::worker() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return job_ || stop_; });
    if (stop_) return;
    job_ = false;
    busy_ = true;
    lock.unlock();
    matcher_.fill_next_token_mask(mask_.data());
    lock.lock();
    busy_ = false;
    mask_ready_ = true;
    cv_.notify_all();
  }
}

void GrammarProcessor::wait_idle() {
  if (!overlap_) return;
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !job_ && !busy_; });
}

void GrammarProcessor::apply(std::span<float> logits) {
  wait_idle();
  if (!mask_ready_) {
    matcher_.fill_next_token_mask(mask_.data());
    mask_ready_ = true;
  }
  const float kNeg = -std::numeric_limits<float>::infinity();
  size_t n = std::min(logits.size(), mask_.size() * 64);
  for (size_t w = 0; w * 64 < n; ++w) {
    uint64_t bits = mask_[w];
    if (bits == ~uint64_t{0}) continue;
    size_t end = std::min(n, w * 64 + 64);
    for (size_t t = w * 64; t < end; ++t)
      if (!((bits >> (t - w * 64)) & 1)) logits[t] = kNeg;
  }
  for (size_t t = n; t < logits.size(); ++t) logits[t] = kNeg;  // tokens beyond the vocabulary
}

void GrammarProcessor::accept(int32_t token) {
  wait_idle();
  mask_ready_ = false;
  if (!matcher_.accept_token(token)) ++rejected_;
  if (overlap_ && !matcher_.is_terminated()) {
    std::lock_guard lock(mu_);
    job_ = true;
    cv_.notify_all();
  }
}

bool GrammarProcessor::done() const { return matcher_.is_terminated() || matcher_.is_exhausted(); }

std::string GrammarProcessor::forced_continuation() { return matcher_.forced_continuation(); }

}  // namespace rewoo::agent::grammar
