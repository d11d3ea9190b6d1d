// bench_cpu_decode: batch-1 decode speed of the CPU backend, next to this
// machine's measured memory read bandwidth.
//
//   bench_cpu_decode --model DIR [--threads N] [--tokens 64] [--prompt 32] [--json]
//
// Prints tokens/s, weight bytes read per token, the GB/s that implies, and
// the fraction of measured read bandwidth (all threads streaming a 1 GiB
// buffer, best of 5). tests/bench/bench_cpu_decode.sh runs it beside
// llama.cpp on a Q4_0 model of the same shape.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/model.h"
#include "engine/sampler.h"

using namespace rewoo::engine;
using Clock = std::chrono::steady_clock;

namespace {

__attribute__((target("avx2"))) double sum_avx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  double s = 0;
  for (float v : t) s += v;
  return s;
}

// GB/s of reading a 1 GiB buffer with `threads` threads (best of 5).
double read_bandwidth(int threads) {
  const size_t n = (size_t{1} << 30) / sizeof(float);
  // Huge pages requested, as the backend's weight buffers are.
  rewoo::engine::cpu::HugeArray<uint32_t> mem(n);
  float* buf = reinterpret_cast<float*>(mem.data());
  for (size_t i = 0; i < n; ++i) buf[i] = static_cast<float>(i & 7);
  double best = 0;
  volatile double sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> ts;
    std::vector<double> sums(threads);
    auto t0 = Clock::now();
    size_t per = n / threads / 32 * 32;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] { sums[t] = sum_avx2(buf + per * t, per); });
    for (auto& t : ts) t.join();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    for (double v : sums) sink = sink + v;
    best = std::max(best, static_cast<double>(per * threads * sizeof(float)) / s / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Batch-1 decode speed of rewoo's CPU backend vs memory bandwidth"};
  std::string model;
  int threads = 0, tokens = 64, prompt = 32;
  bool json = false, no_bw = false, exact = false;
  app.add_option("--model", model, "Model folder (e.g. from `rewoo model random --shape 1b`)")->required();
  app.add_option("--threads", threads, "Threads (0 = all cores)");
  app.add_option("--tokens", tokens, "Decode steps to time");
  app.add_option("--prompt", prompt, "Prompt tokens prefilled first (context for the timed steps)");
  app.add_flag("--json", json, "One JSON object on stdout");
  app.add_flag("--no-bandwidth", no_bw, "Skip the bandwidth measurement");
  app.add_flag("--exact", exact, "fp32 activations for 4-bit layers (the reference path; default: int8)");
  std::string kernels = "auto";
  app.add_option("--kernels", kernels, "CPU kernel set: auto, avx512, avx2 or portable");
  CLI11_PARSE(app, argc, argv);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  LoadOptions lo;
  lo.load_tokenizer = false;
  lo.backend.device = Device::kCpu;
  lo.backend.threads = threads;
  lo.backend.max_seq_len = prompt + tokens + 8;
  lo.backend.exact = exact;
  lo.backend.cpu_kernels = kernels;
  auto t_load = Clock::now();
  auto m = Model::load(model, lo);
  if (!m) {
    fmt::print(stderr, "bench_cpu_decode: {}\n", m.error().to_string());
    return 1;
  }
  double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  Backend& be = (*m)->backend();
  const auto& w = *(*m)->weights();
  std::vector<int32_t> ids;
  for (int i = 0; i < prompt; ++i) ids.push_back(1 + (i * 7919) % (w.config.vocab_size - 1));
  Logits lg;
  SeqBatchEntry e{0, ids, 0, false};
  auto t0 = Clock::now();
  if (auto st = be.forward({&e, 1}, lg); !st) {
    fmt::print(stderr, "bench_cpu_decode: {}\n", st.error().to_string());
    return 1;
  }
  double prefill_s = std::chrono::duration<double>(Clock::now() - t0).count();
  int32_t tok = Sampler::argmax(lg.row(0));
  // One warm-up step, then the timed ones.
  std::vector<double> step_ms;
  int pos = prompt;
  for (int i = 0; i <= tokens; ++i) {
    SeqBatchEntry d{0, std::span<const int32_t>(&tok, 1), pos++, false};
    auto s0 = Clock::now();
    if (auto st = be.forward({&d, 1}, lg); !st) {
      fmt::print(stderr, "bench_cpu_decode: {}\n", st.error().to_string());
      return 1;
    }
    if (i > 0) step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
    tok = Sampler::argmax(lg.row(0));
  }
  double total_ms = 0;
  for (double v : step_ms) total_ms += v;
  std::vector<double> sorted = step_ms;
  std::sort(sorted.begin(), sorted.end());
  const double tok_s = 1000.0 * step_ms.size() / total_ms;
  const double bytes = static_cast<double>(w.decode_bytes());
  const double gbs = bytes * tok_s / 1e9;
  const double bw = no_bw ? 0 : read_bandwidth(threads);
  if (json) {
    nlohmann::json j = {{"model", model},
                        {"config", w.config.summary()},
                        {"quant", w.quant.summary()},
                        {"params", w.n_params()},
                        {"backend", be.name()},
                        {"threads", threads},
                        {"load_s", load_s},
                        {"prefill_tokens", prompt},
                        {"prefill_tok_s", prompt / prefill_s},
                        {"decode_tokens", tokens},
                        {"decode_tok_s", tok_s},
                        {"decode_ms_median", sorted[sorted.size() / 2]},
                        {"weight_bytes_per_token", bytes},
                        {"weight_gb_s", gbs},
                        {"read_bandwidth_gb_s", bw},
                        {"fraction_of_bandwidth", bw > 0 ? gbs / bw : 0}};
    fmt::print("{}\n", j.dump());
    return 0;
  }
  fmt::print("model      {} ({}, {}; {:.2f} B params)\n", model, w.config.summary(), w.quant.summary(), w.n_params() / 1e9);
  fmt::print("backend    {}, load {:.1f} s\n", be.name(), load_s);
  fmt::print("prefill    {} tokens: {:.1f} tok/s\n", prompt, prompt / prefill_s);
  fmt::print("decode     {} tokens: {:.2f} tok/s (median step {:.1f} ms)\n", tokens, tok_s, sorted[sorted.size() / 2]);
  fmt::print("weights    {:.1f} MB read per token -> {:.1f} GB/s\n", bytes / 1e6, gbs);
  if (bw > 0) fmt::print("memory     {:.1f} GB/s measured read bandwidth ({} threads) -> {:.0f}% of it\n", bw, threads, 100 * gbs / bw);
  return 0;
}
