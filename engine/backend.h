// Backend: runs a whole batched forward pass of a Llama model over a KV cache.
//
// The seam between the engine (loading, sampling, generation) and the
// hardware. A backend owns the weights in its own layout and a KV cache of
// `n_slots()` independent sequence slots, each up to `max_seq_len()` tokens.
// One forward() call takes several sequences at once; a prefill chunk is just
// an entry with many tokens, a decode step an entry with one. The CPU backend
// (engine/cpu/) loops over entries; the CUDA backend (engine/cuda/) runs them
// as one batch and may capture decode steps in a graph.
//
//   auto be = make_backend(weights, {.device = Device::kAuto, .n_slots = 4});
//   SeqBatchEntry e{.slot = 0, .tokens = prompt_ids, .pos = 0};
//   Logits out;
//   REWOO_TRY((*be)->forward({&e, 1}, out));
//   std::span<const float> last = out.row(0);   // logits after the last token
//
// Backends are not thread-safe: one forward() at a time per backend.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/base/result.h"
#include "engine/weights.h"

namespace rewoo::engine {

// One sequence's share of a batched forward pass.
struct SeqBatchEntry {
  int slot = 0;                      // KV-cache slot, 0 .. n_slots()-1
  std::span<const int32_t> tokens;   // new tokens, at positions pos, pos+1, ...
  int32_t pos = 0;                   // the slot's cache must hold exactly `pos`
                                     // tokens of this sequence; entries at
                                     // positions >= pos are overwritten
  bool all_logits = false;           // logits for every token (scoring), else
                                     // only for the last one
};

// Logits of a forward pass: fp32 rows of vocab_size, entries in batch order.
// Entry e owns rows offsets[e] .. offsets[e+1]-1 (one row unless all_logits).
struct Logits {
  int vocab_size = 0;
  std::vector<float> data;       // [total_rows, vocab_size]
  std::vector<size_t> offsets;   // [n_entries + 1]

  // Row i of entry e (default: its last row).
  std::span<float> row(size_t e, long i = -1) {
    size_t r = i < 0 ? offsets[e + 1] - 1 : offsets[e] + static_cast<size_t>(i);
    return {data.data() + r * static_cast<size_t>(vocab_size), static_cast<size_t>(vocab_size)};
  }
  size_t rows(size_t e) const { return offsets[e + 1] - offsets[e]; }
  // Sizes data/offsets for the given batch (used by backends).
  void resize_for(std::span<const SeqBatchEntry> batch, int vocab);
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu (avx2, 16 threads)", "cuda (NVIDIA H100 80GB HBM3)".
  virtual std::string name() const = 0;

  // Runs the model over every entry's new tokens, appending their keys and
  // values to each entry's slot, and writes logits. Errors: slot out of
  // range, the same slot twice, pos + tokens past max_seq_len, bad token id.
  virtual Status forward(std::span<const SeqBatchEntry> batch, Logits& out) = 0;
  // forward() for greedy decoding: tokens[e] = the argmax of entry e's last
  // row (Sampler::argmax: the first of equal logits, NaN never wins, 0 when
  // every logit is NaN), and no logits. all_logits is ignored. The CUDA
  // backend picks on the device and copies back only the tokens; this
  // default runs forward() and picks on the host.
  virtual Status forward_greedy(std::span<const SeqBatchEntry> batch,
                                std::vector<int32_t>& tokens);

  virtual int n_slots() const = 0;
  virtual int max_seq_len() const = 0;
  // Forgets a slot's cached tokens (cheap; positions restart at 0).
  virtual void clear_slot(int slot) = 0;
  // Copies the first n_tokens cached positions of slot src into slot dst
  // (prefix reuse: a shared prompt prefilled once). src == dst keeps the
  // first n_tokens (an error if the slot holds fewer).
  virtual Status copy_slot(int src, int dst, int n_tokens) = 0;
};

enum class Device { kCpu, kCuda, kAuto };

struct BackendOptions {
  Device device = Device::kAuto;
  int n_slots = 1;
  int max_seq_len = 0;  // 0: the model's max_seq_len
  int threads = 0;      // CPU threads; 0: all cores
  // CPU only. Off (the default): 2/3/4-bit layers multiply int8-quantized
  // activations (llama.cpp's Q8_0 method: one scale per 32 values; several
  // times faster, logits within quantization noise of the exact path but no
  // longer within 1e-4 of a float64 reference). On: fp32 activations and the
  // fp16-rounded dequantized weights, as AutoGPTQ computes them: the
  // reference that tests compare against.
  bool exact = false;
  // CPU only: the newest kernel set to use: "auto" (the best this CPU has),
  // "avx512" (VNNI), "avx2" or "portable". For tests that check the kernel
  // sets against each other; asking for one the CPU lacks is an error.
  std::string cpu_kernels = "auto";
};

// "cpu" | "cuda" | "auto" -> Device; error names the bad word.
Result<Device> parse_device(const std::string& s);

// Picks and builds a backend. kCuda without a CUDA build (or without a GPU)
// is an error saying so; kAuto falls back to the CPU. The only place that
// knows which backends exist (backend_factory.cpp).
Result<std::unique_ptr<Backend>> make_backend(std::shared_ptr<const Weights> weights,
                                              const BackendOptions& opts);

// The individual backends (make_backend is the usual entry point).
Result<std::unique_ptr<Backend>> make_cpu_backend(std::shared_ptr<const Weights> weights,
                                                  const BackendOptions& opts);
#ifdef REWOO_HAVE_CUDA
// Implemented in engine/cuda/ (only built with CUDA).
Result<std::unique_ptr<Backend>> make_cuda_backend(std::shared_ptr<const Weights> weights,
                                                   const BackendOptions& opts);
#endif

}  // namespace rewoo::engine
