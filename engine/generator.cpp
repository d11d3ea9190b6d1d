#include "engine/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>

#include <fmt/format.h>

#include "engine/sampler.h"

namespace rewoo::engine {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kEos: return "eos";
    case StopReason::kStopString: return "stop";
    case StopReason::kProcessorDone: return "processor_done";
    case StopReason::kCancelled: return "cancelled";
    case StopReason::kContextFull: return "context_full";
  }
  return "?";
}

namespace {

using Clock = std::chrono::steady_clock;

// Shared prompt tokens that make a new request wait one forward pass for
// another request's prefill (see start_next).
constexpr size_t kDeferMinTokens = 32;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One request in flight.
struct Seq {
  size_t index = 0;  // into the request list
  const GenerateOptions* opts = nullptr;
  const TextCallback* on_text = nullptr;
  int slot = -1;
  std::vector<int32_t> history;   // prompt + generated
  std::vector<int32_t> pending;   // fed to the model next
  int cached = 0;                 // tokens in the KV cache
  bool prefilled = false;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<StreamDecoder> decoder;
  std::string held;               // decoded text not yet emitted (possible stop-string start)
  GenerateResult result;
  bool done = false;

  // Emits text, holding back whatever could still become a stop string.
  void add_text(const std::string& s, bool final) {
    held += s;
    size_t best = std::string::npos;
    for (const auto& st : opts->stop) {
      if (st.empty()) continue;
      size_t p = held.find(st);
      if (p < best) best = p;
    }
    if (best != std::string::npos) {
      emit(held.substr(0, best));
      held.clear();
      finish(StopReason::kStopString);
      return;
    }
    size_t keep = 0;
    if (!final) {
      for (const auto& st : opts->stop)
        for (size_t k = std::min(st.size() - (st.empty() ? 0 : 1), held.size()); k > keep; --k)
          if (held.compare(held.size() - k, k, st, 0, k) == 0) {
            keep = k;
            break;
          }
    }
    emit(held.substr(0, held.size() - keep));
    held.erase(0, held.size() - keep);
  }
  void emit(const std::string& s) {
    if (s.empty()) return;
    result.text += s;
    if (on_text && *on_text && !(*on_text)(s)) finish(StopReason::kCancelled);
  }
  void finish(StopReason r) {
    if (done) return;
    done = true;
    result.stop_reason = r;
  }
  // Accepts a generated or forced token: history, result, text.
  void take(int32_t tok) {
    int32_t prev = history.empty() ? -1 : history.back();
    history.push_back(tok);
    result.tokens.push_back(tok);
    add_text(decoder->push(tok, prev), false);
  }
};

}  // namespace

Generator::Generator(Model& model) : model_(model) {}

Result<GenerateResult> Generator::generate(std::string_view prompt, const GenerateOptions& opts,
                                           const TextCallback& on_text) {
  GenerateRequest req{std::string(prompt), opts, on_text};
  auto r = generate_batch({&req, 1});
  return std::move(r[0]);
}

Result<GenerateResult> Generator::generate_tokens(std::vector<int32_t> prompt_ids, const GenerateOptions& opts,
                                                  const TextCallback& on_text) {
  GenerateRequest req{std::string(), opts, on_text};
  std::vector<std::vector<int32_t>> ids{std::move(prompt_ids)};
  auto r = run_batch({&req, 1}, &ids);
  return std::move(r[0]);
}

std::vector<Result<GenerateResult>> Generator::generate_batch(std::span<const GenerateRequest> requests) {
  return run_batch(requests, nullptr);
}

std::vector<Result<GenerateResult>> Generator::run_batch(std::span<const GenerateRequest> requests,
                                                         const std::vector<std::vector<int32_t>>* token_prompts) {
  std::vector<Result<GenerateResult>> results(requests.size(), Result<GenerateResult>(Error("not run")));
  if (!model_.has_tokenizer()) {
    for (auto& r : results) r = Error("the model has no tokenizer; generation needs one");
    return results;
  }
  const Tokenizer& tok = model_.tokenizer();
  Backend& be = model_.backend();
  const int32_t eos = model_.config().eos_id;

  std::deque<size_t> queue;
  for (size_t i = 0; i < requests.size(); ++i) queue.push_back(i);
  std::vector<std::unique_ptr<Seq>> active;
  PrefixCache& cache = model_.prefix_cache();
  std::vector<int> free_slots;
  for (int s = 0; s < be.n_slots(); ++s) free_slots.push_back(s);

  auto start_next = [&]() {
    while (!queue.empty() && !free_slots.empty()) {
      size_t i = queue.front();
      queue.pop_front();
      const GenerateRequest& rq = requests[i];
      auto s = std::make_unique<Seq>();
      s->index = i;
      s->opts = &rq.options;
      s->on_text = &rq.on_text;
      if (token_prompts) s->history = (*token_prompts)[i];
      else s->history = tok.encode(rq.prompt, rq.options.add_bos);
      if (s->history.empty()) {
        results[i] = Error("empty prompt and add_bos off: nothing to condition on", "generate");
        continue;
      }
      if (static_cast<int>(s->history.size()) >= be.max_seq_len()) {
        results[i] = Error(fmt::format("prompt has {} tokens; the context holds {}", s->history.size(), be.max_seq_len()),
                           "generate");
        continue;
      }
      if (!(rq.options.repetition_penalty > 0.0f) || !std::isfinite(rq.options.repetition_penalty)) {
        results[i] = Error(fmt::format("repetition_penalty must be a positive number (1 = off), got {}",
                                       rq.options.repetition_penalty), "generate");
        continue;
      }
      s->result.prompt_tokens = static_cast<int>(s->history.size());
      if (rq.options.max_tokens <= 0) {
        s->finish(StopReason::kMaxTokens);
        results[i] = std::move(s->result);
        continue;
      }
      PrefixCache::Plan p;
      if (rq.options.reuse_prefix) {
        // The last prompt token always runs: its logits pick the first token.
        const size_t max_reuse = s->history.size() - 1;
        p = cache.plan(s->history, free_slots, max_reuse);
        // A request that shares much more with a prompt starting in this
        // batch than with any cached slot waits one forward pass, then
        // copies that prompt's prefix instead of prefilling it again.
        size_t with_new = 0;
        for (const auto& a : active)
          if (!a->prefilled) with_new = std::max(with_new, PrefixCache::common_prefix(a->history, s->history));
        if (std::min(with_new, max_reuse) >= static_cast<size_t>(p.reuse) + kDeferMinTokens) {
          queue.push_front(i);
          break;
        }
        // src == dst keeps the slot's first p.reuse tokens.
        if (p.reuse > 0 && !be.copy_slot(p.source, p.slot, p.reuse)) {
          cache.forget(p.source);  // the record was wrong; never trust it again
          p = {p.slot, p.slot, 0};
        }
      } else {
        p.slot = p.source = *std::min_element(free_slots.begin(), free_slots.end());
      }
      s->slot = p.slot;
      std::erase(free_slots, s->slot);
      if (p.reuse == 0) {
        be.clear_slot(s->slot);
        cache.forget(s->slot);
      }
      cache.take(p);
      const int reuse = p.reuse;
      s->cached = reuse;
      s->result.cached_tokens = reuse;
      s->pending.assign(s->history.begin() + reuse, s->history.end());
      SamplerOptions so{rq.options.temperature, rq.options.top_p, rq.options.top_k, rq.options.repetition_penalty,
                        rq.options.seed};
      s->sampler = std::make_unique<Sampler>(so);
      s->decoder = std::make_unique<StreamDecoder>(tok);
      active.push_back(std::move(s));
    }
  };

  auto retire = [&]() {
    for (auto it = active.begin(); it != active.end();) {
      Seq& s = **it;
      if (!s.done) { ++it; continue; }
      if (s.result.stop_reason != StopReason::kStopString && s.result.stop_reason != StopReason::kCancelled) {
        std::string tail = s.decoder->flush();
        bool was_done = s.done;
        s.done = false;
        s.add_text(tail, true);
        if (!s.done) s.done = was_done;
      }
      results[s.index] = std::move(s.result);
      free_slots.push_back(s.slot);
      it = active.erase(it);
    }
  };

  start_next();
  std::vector<SeqBatchEntry> batch;
  Logits logits;
  std::vector<int32_t> picks;
  while (!active.empty()) {
    batch.clear();
    for (auto& s : active) {
      if (s->cached + static_cast<int>(s->pending.size()) > be.max_seq_len()) {
        s->finish(StopReason::kContextFull);
        continue;
      }
      batch.push_back({s->slot, s->pending, s->cached, false});
      cache.truncate(s->slot, static_cast<size_t>(s->cached));
    }
    if (!batch.empty()) {
      // A step whose every sequence picks plain argmax (greedy, no penalty,
      // no processor) asks the backend for the picks alone: the CUDA backend
      // makes them on the device and copies back one token a sequence
      // instead of a row of logits.
      bool greedy = true;
      for (auto& s : active)
        if (!s->done && (s->opts->processor || !s->sampler->picks_argmax())) greedy = false;
      auto t0 = Clock::now();
      Status st = greedy ? be.forward_greedy(batch, picks) : be.forward(batch, logits);
      double dt = ms_since(t0);
      if (!st) {
        for (auto& s : active) {
          results[s->index] = st.error();
          cache.forget(s->slot);
        }
        return results;
      }
      for (const SeqBatchEntry& b : batch) cache.append(b.slot, b.tokens);
      size_t e = 0;
      for (auto& sp : active) {
        Seq& s = *sp;
        if (s.done) continue;
        (s.prefilled ? s.result.decode_ms : s.result.prefill_ms) += dt;
        s.prefilled = true;
        s.cached += static_cast<int>(s.pending.size());
        s.pending.clear();
        int32_t next = 0;
        if (greedy) {
          next = picks[e++];
        } else {
          std::span<float> l = logits.row(e++);  // processed in place: nothing reads it again
          if (s.opts->processor) s.opts->processor->apply(l);
          next = s.sampler->sample(l, s.history);
        }
        if (next == eos && s.opts->stop_at_eos) {
          s.finish(StopReason::kEos);
          continue;
        }
        if (s.opts->processor) s.opts->processor->accept(next);
        s.take(next);
        s.pending.push_back(next);
        if (s.done) continue;
        if (static_cast<int>(s.result.tokens.size()) >= s.opts->max_tokens) {
          s.finish(StopReason::kMaxTokens);
          continue;
        }
        if (s.opts->processor) {
          if (s.opts->processor->done()) {
            s.finish(StopReason::kProcessorDone);
            continue;
          }
          std::string forced = s.opts->processor->forced_continuation();
          if (!forced.empty()) {
            for (int32_t ft : tok.encode_continuation(forced)) {
              s.opts->processor->accept(ft);
              s.take(ft);
              s.pending.push_back(ft);
              ++s.result.forced_tokens;
              if (s.done) break;
            }
            if (!s.done && s.opts->processor->done()) s.finish(StopReason::kProcessorDone);
          }
        }
      }
    }
    retire();
    start_next();
  }
  return results;
}

Result<std::vector<float>> Generator::score(std::span<const int32_t> tokens) {
  Backend& be = model_.backend();
  const int vocab = model_.config().vocab_size;
  if (tokens.empty()) return Error("no tokens to score", "score");
  if (static_cast<int>(tokens.size()) > be.max_seq_len())
    return Error(fmt::format("{} tokens exceed the context of {}", tokens.size(), be.max_seq_len()), "score");
  std::vector<float> out(tokens.size() * static_cast<size_t>(vocab));
  be.clear_slot(0);
  model_.prefix_cache().forget(0);
  Logits lg;
  const size_t chunk = 256;
  for (size_t p = 0; p < tokens.size(); p += chunk) {
    size_t n = std::min(chunk, tokens.size() - p);
    SeqBatchEntry e{0, tokens.subspan(p, n), static_cast<int32_t>(p), true};
    REWOO_TRY(be.forward({&e, 1}, lg));
    std::copy(lg.data.begin(), lg.data.end(), out.begin() + static_cast<long>(p * vocab));
  }
  return out;
}

Result<double> Generator::perplexity(std::span<const int32_t> tokens) {
  if (tokens.size() < 2) return Error("perplexity needs at least 2 tokens", "perplexity");
  auto lg = score(tokens);
  if (!lg) return lg.error();
  const size_t vocab = static_cast<size_t>(model_.config().vocab_size);
  double nll = 0;
  for (size_t t = 0; t + 1 < tokens.size(); ++t) {
    const float* row = lg->data() + t * vocab;
    double mx = row[0];
    for (size_t i = 1; i < vocab; ++i) mx = std::max(mx, static_cast<double>(row[i]));
    double sum = 0;
    for (size_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(row[i]) - mx);
    nll += -(static_cast<double>(row[tokens[t + 1]]) - mx - std::log(sum));
  }
  return std::exp(nll / static_cast<double>(tokens.size() - 1));
}

}  // namespace rewoo::engine
