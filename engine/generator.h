// Generator: prompt in, text out. Tokenizes, prefills, samples token by token
// (greedy, temperature, top-k, top-p, repetition penalty), applies logits
// processors (grammar masks), stops at EOS / stop strings / max_tokens, and
// streams text as it becomes final.
//
//   Generator gen(model);
//   GenerateOptions o;  o.max_tokens = 200;  o.stop = {"USER:"};
//   auto r = gen.generate("A chat. USER: hi ASSISTANT:", o,
//                         [](std::string_view piece) { fputs(...); return true; });
//
// Stop strings are matched across token boundaries and never streamed or
// returned: text that might be the start of a stop string is held back until
// it is clearly not. Several requests can run as one batch (generate_batch),
// each in its own KV-cache slot, sharing every forward pass. A prompt that
// starts with tokens a slot already holds (an earlier request's prompt, even
// from another Generator on the same Model) prefills only the rest; the
// last prompt token always runs, for its logits (GenerateOptions::reuse_prefix).
// A Generator is not thread-safe; it uses the model's backend exclusively.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/result.h"
#include "engine/model.h"

namespace rewoo::engine {

// Hook between the model's logits and the sampler (grammar-constrained
// decoding plugs in here). Called in this order per step: apply() on the raw
// logits (set disallowed tokens to -INFINITY), the sampler picks a token,
// accept(token). After each accept the generator asks forced_continuation():
// non-empty text is appended without sampling (jump-forward): it is tokenized
// without a dummy prefix, each of its tokens is passed to accept(), and all of
// them go to the model in one prefill pass.
class LogitsProcessor {
 public:
  virtual ~LogitsProcessor() = default;
  virtual void apply(std::span<float> logits) = 0;
  virtual void accept(int32_t token) = 0;
  // True when the processor wants generation to end now (e.g. grammar complete
  // and nothing else may follow).
  virtual bool done() const { return false; }
  virtual std::string forced_continuation() { return {}; }
};

struct GenerateOptions {
  int max_tokens = 256;
  float temperature = 0.0f;        // <= 0: greedy (argmax)
  float top_p = 1.0f;              // nucleus; 1: off
  int top_k = 0;                   // 0: off
  float repetition_penalty = 1.0f; // Hugging Face: logit>0 ? /p : *p, over prompt+output tokens
  uint64_t seed = 0;               // same seed + options + model -> same text
  std::vector<std::string> stop;   // never printed; matched across tokens
  bool add_bos = true;
  bool stop_at_eos = true;
  std::shared_ptr<LogitsProcessor> processor;  // optional
  // Start from the KV state of the longest prompt prefix (in token ids) that
  // a slot already holds (Model::prefix_cache()) and prefill only the rest.
  // Same text either way; off prefills the whole prompt (for comparison).
  bool reuse_prefix = true;
};

enum class StopReason { kMaxTokens, kEos, kStopString, kProcessorDone, kCancelled, kContextFull };
const char* stop_reason_name(StopReason r);  // "max_tokens", "eos", "stop", ...

struct GenerateResult {
  std::string text;             // continuation (stop string excluded)
  std::vector<int32_t> tokens;  // generated ids (including any forced ones)
  int prompt_tokens = 0;
  int cached_tokens = 0;        // of prompt_tokens, reused from the prefix cache (not prefilled)
  StopReason stop_reason = StopReason::kMaxTokens;
  double prefill_ms = 0;
  double decode_ms = 0;
  int forced_tokens = 0;        // tokens supplied by jump-forward
};

// Streaming callback: receives final text pieces in order; return false to
// cancel (StopReason::kCancelled).
using TextCallback = std::function<bool(std::string_view)>;

struct GenerateRequest {
  std::string prompt;
  GenerateOptions options;
  TextCallback on_text;  // optional
};

class Generator {
 public:
  explicit Generator(Model& model);

  Result<GenerateResult> generate(std::string_view prompt, const GenerateOptions& opts,
                                  const TextCallback& on_text = {});
  // Same with a tokenized prompt (BOS included by the caller if wanted;
  // opts.add_bos is ignored).
  Result<GenerateResult> generate_tokens(std::vector<int32_t> prompt_ids,
                                         const GenerateOptions& opts,
                                         const TextCallback& on_text = {});
  // Runs several requests together, each in its own slot (at most
  // backend().n_slots() at once; more are queued). Results in request order.
  std::vector<Result<GenerateResult>> generate_batch(std::span<const GenerateRequest> requests);

  // Teacher-forced logits: row t is the distribution after tokens[0..t]
  // ([tokens.size(), vocab] fp32, row-major). Uses slot 0.
  Result<std::vector<float>> score(std::span<const int32_t> tokens);
  // exp(mean NLL of tokens[1..] given their prefixes).
  Result<double> perplexity(std::span<const int32_t> tokens);

 private:
  std::vector<Result<GenerateResult>> run_batch(std::span<const GenerateRequest> requests,
                                                const std::vector<std::vector<int32_t>>* token_prompts);
  Model& model_;
};

}  // namespace rewoo::engine
