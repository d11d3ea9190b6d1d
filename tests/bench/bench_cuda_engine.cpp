// Whole-model decode and prefill speed of the CUDA backend on random-weight
// models of real shapes (engine/model_writer.h), as tests/bench/gpu_bench.sh
// tabulates them against llama.cpp.
//   bench_cuda_engine --shape 34b --bits 4 --group -1 [--distinct-layers 2]
//                     [--quick | --no-batch] [--trace FILE]
// --quick: batch-1 decode @512 and prefill only; --no-batch: everything but the
// aggregate decode of 4, 16 and 32 sequences.
// --trace (a build with -DREWOO_CUDA_TRACE=ON) writes the kernel timeline of
// one batch-1 decode step after the @512 measurement (kernels/trace.h), for
// tests/bench/trace_timeline.py.
// Layers beyond --distinct-layers repeat the random ones (same bytes to read,
// far less time spent generating 17 GB of random data). Prints one
// `RESULT key=value ...` line last.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/model_writer.h"
#include "engine/sampler.h"
#include "kernels/trace.h"

using namespace rewoo::engine;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

void die(const std::string& m) {
  std::fprintf(stderr, "bench_cuda_engine: %s\n", m.c_str());
  std::exit(1);
}

Linear copy_linear(const Linear& l) {
  Linear c;
  c.in = l.in;
  c.out = l.out;
  c.w = l.w;
  c.bias = l.bias;
  if (l.q) c.q = std::make_unique<QuantLinear>(*l.q);
  return c;
}

LayerWeights copy_layer(const LayerWeights& l) {
  LayerWeights c;
  c.attn_norm = l.attn_norm;
  c.ffn_norm = l.ffn_norm;
  c.wq = copy_linear(l.wq);
  c.wk = copy_linear(l.wk);
  c.wv = copy_linear(l.wv);
  c.wo = copy_linear(l.wo);
  c.w1 = copy_linear(l.w1);
  c.w2 = copy_linear(l.w2);
  c.w3 = copy_linear(l.w3);
  return c;
}

double copy_bandwidth() {
  const size_t bytes = size_t(2) << 30;
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
  cudaMemset(a, 1, bytes);
  cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  cudaDeviceSynchronize();
  std::vector<double> t;
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    t.push_back(secs(t0));
  }
  cudaFree(a);
  cudaFree(b);
  std::sort(t.begin(), t.end());
  return 2.0 * bytes / t[2] / 1e9;
}

double gemm_tflops() {
  const int n = 8192;
  half *a, *b;
  float* c;
  cudaMalloc(&a, (size_t)n * n * 2);
  cudaMalloc(&b, (size_t)n * n * 2);
  cudaMalloc(&c, (size_t)n * n * 4);
  cudaMemset(a, 0x3c, (size_t)n * n * 2);  // ~1.0 in fp16 byte pattern 0x3c3c
  cudaMemset(b, 0x2e, (size_t)n * n * 2);
  cublasHandle_t h;
  cublasCreate(&h);
  const float al = 1, be = 0;
  auto run = [&] {
    cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &al, a, CUDA_R_16F, n, b, CUDA_R_16F, n, &be,
                 c, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  run();
  cudaDeviceSynchronize();
  auto t0 = Clock::now();
  for (int i = 0; i < 10; ++i) run();
  cudaDeviceSynchronize();
  const double t = secs(t0) / 10;
  cublasDestroy(h);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  return 2.0 * n * n * (double)n / t / 1e12;
}

void check(const rewoo::Status& s, const char* what) {
  if (!s) die(std::string(what) + ": " + s.error().to_string());
}

// Prefill n tokens into a slot in chunks of up to 512 (one forward per chunk).
void prefill(Backend& be, int slot, int n, int vocab) {
  std::vector<int32_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = 1 + (i * 7919) % (vocab - 1);
  be.clear_slot(slot);
  for (int p = 0; p < n; p += 512) {
    SeqBatchEntry e;
    e.slot = slot;
    e.pos = p;
    e.tokens = std::span<const int32_t>(ids).subspan(p, std::min(512, n - p));
    Logits out;
    check(be.forward({&e, 1}, out), "prefill");
  }
}

// Decode `steps` tokens for the sequences in `slots` (each at pos[i]); returns
// seconds. host_s (if given): the part of them spent outside the backend
// (the host's argmax, if any, and the next batch), when the GPU has nothing
// to do.
// logits: every step brings the logits back and picks on the host, as
// sampling or a grammar needs (else forward_greedy(), picked on the device).
double decode(Backend& be, const std::vector<int>& slots, std::vector<int>& pos, int steps,
              double* host_s = nullptr, bool logits = false) {
  const size_t n = slots.size();
  std::vector<int32_t> tok(n, 13);
  Logits out;
  auto t0 = Clock::now();
  double in_forward = 0;
  std::vector<int32_t> picks;
  for (int s = 0; s < steps; ++s) {
    std::vector<SeqBatchEntry> batch(n);
    for (size_t i = 0; i < n; ++i) {
      batch[i].slot = slots[i];
      batch[i].pos = pos[i];
      batch[i].tokens = std::span<const int32_t>(&tok[i], 1);
    }
    const auto f0 = Clock::now();
    if (logits) {
      check(be.forward(batch, out), "decode");
    } else {
      check(be.forward_greedy(batch, picks), "decode");  // the generator's greedy steps
    }
    in_forward += secs(f0);
    for (size_t i = 0; i < n; ++i) {
      tok[i] = logits ? Sampler::argmax(out.row(i)) : picks[i];
      ++pos[i];
    }
  }
  const double total = secs(t0);
  if (host_s) *host_s = total - in_forward;
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape = "7b";
  int bits = 4, group = -1, distinct = 2;
  bool act_order = true, quick = false, no_batch = false;
  std::string trace_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) die("missing value after " + a);
      return std::string(argv[++i]);
    };
    if (a == "--shape") shape = next();
    else if (a == "--bits") bits = std::stoi(next());
    else if (a == "--group") group = std::stoi(next());
    else if (a == "--distinct-layers") distinct = std::stoi(next());
    else if (a == "--no-act-order") act_order = false;
    else if (a == "--quick") quick = true;
    else if (a == "--no-batch") no_batch = true;
    else if (a == "--trace") trace_path = next();
    else die("unknown argument " + a);
  }
  if (!trace_path.empty() && !rewoo::kernels::trace_built())
    die("--trace: this build records no timeline (configure with -DREWOO_CUDA_TRACE=ON)");
  auto cfg = shape_by_name(shape);
  if (!cfg) die(cfg.error().to_string());
  ModelConfig full = *cfg;
  ModelConfig small = full;
  small.n_layers = std::min(distinct, full.n_layers);
  RandomOptions ro;
  ro.bits = bits;
  ro.group_size = group;
  ro.act_order = act_order;
  ro.seed = 42;
  auto t0 = Clock::now();
  auto rw = random_weights(small, ro);
  if (!rw) die(rw.error().to_string());
  auto w = std::make_shared<Weights>();
  w->config = full;
  w->quant = (*rw)->quant;
  w->tok_embeddings = (*rw)->tok_embeddings;
  w->final_norm = (*rw)->final_norm;
  w->lm_head = copy_linear((*rw)->lm_head);
  for (int l = 0; l < full.n_layers; ++l) w->layers.push_back(copy_layer((*rw)->layers[l % small.n_layers]));
  rw->reset();
  std::fprintf(stderr, "random %s %d-bit g%d: %.1f s\n", shape.c_str(), bits, group, secs(t0));
  const double bw = copy_bandwidth();
  const double tflops = gemm_tflops();
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  const double bytes = (double)w->decode_bytes();
  const double params = (double)w->n_params();
  const int vocab = full.vocab_size;

  double dec512 = 0, dec4096 = 0, pre512 = 0, host512 = 0, dec512l = 0, host512l = 0;
  {
    BackendOptions bo;
    bo.n_slots = 1;
    bo.max_seq_len = 4096 + 64;
    t0 = Clock::now();
    auto be = make_cuda_backend(w, bo);
    if (!be) die(be.error().to_string());
    std::fprintf(stderr, "upload: %.1f s\n", secs(t0));
    Backend& b = **be;
    prefill(b, 0, 512, vocab);  // warm-up (cuBLAS, kernels)
    std::vector<double> ts;
    for (int r = 0; r < 3; ++r) {
      cudaDeviceSynchronize();
      auto p0 = Clock::now();
      prefill(b, 0, 512, vocab);
      ts.push_back(secs(p0));
    }
    std::sort(ts.begin(), ts.end());
    pre512 = 512 / ts[1];
    std::vector<int> pos = {512};
    decode(b, {0}, pos, 4);  // graph capture
    dec512 = 64 / decode(b, {0}, pos, 64, &host512);
    pos = {512};  // the same positions again
    decode(b, {0}, pos, 4, nullptr, true);  // the logits graph
    dec512l = 64 / decode(b, {0}, pos, 64, &host512l, true);
    if (!trace_path.empty()) {
      if (!rewoo::kernels::trace_start()) die("--trace: no device memory for the timeline");
      decode(b, {0}, pos, 1);
      const std::vector<uint64_t> words = rewoo::kernels::trace_stop();
      if (words.empty()) die("--trace: the timeline could not be copied from the device");
      FILE* f = std::fopen(trace_path.c_str(), "wb");
      if (!f || std::fwrite(words.data(), sizeof(uint64_t), words.size(), f) != words.size())
        die("--trace: cannot write " + trace_path);
      std::fclose(f);
      std::fprintf(stderr, "timeline of one decode step: %s\n", trace_path.c_str());
    }
    if (!quick) {
      prefill(b, 0, 4032, vocab);
      pos = {4032};
      decode(b, {0}, pos, 2);
      dec4096 = 32 / decode(b, {0}, pos, 32);
    }
  }
  double agg[3] = {0, 0, 0};
  if (!quick && !no_batch) {
    BackendOptions bo;
    bo.n_slots = 32;
    bo.max_seq_len = 128 + 128 + 16;
    auto be = make_cuda_backend(w, bo);
    if (!be) die(be.error().to_string());
    Backend& b = **be;
    const int ns[3] = {4, 16, 32};
    for (int k = 0; k < 3; ++k) {
      const int n = ns[k];
      std::vector<int> slots(n), pos(n, 128);
      std::vector<std::vector<int32_t>> prompts(n);
      std::vector<SeqBatchEntry> batch(n);
      for (int i = 0; i < n; ++i) {
        slots[i] = i;
        b.clear_slot(i);
        prompts[i].resize(128);
        for (int j = 0; j < 128; ++j) prompts[i][j] = 1 + (i * 131 + j * 7) % (vocab - 1);
        batch[i].slot = i;
        batch[i].tokens = prompts[i];
      }
      Logits out;
      check(b.forward(batch, out), "batched prefill");
      decode(b, slots, pos, 2);  // capture
      const double t = decode(b, slots, pos, 120);
      agg[k] = n * 120 / t;
    }
  }
  std::printf("device: %s; copy %.0f GB/s; fp16 GEMM %.0f TFLOP/s\n", prop.name, bw, tflops);
  std::printf("%s %d-bit g%d%s: decode bytes/token %.2f GB\n", shape.c_str(), bits, group,
              act_order ? " act-order" : "", bytes / 1e9);
  std::printf("  batch-1 decode @512: %.1f tok/s (%.1f%% of copy bandwidth; host work between "
              "steps %.1f us a token)\n",
              dec512, 100.0 * dec512 * bytes / 1e9 / bw, host512 / 64 * 1e6);
  std::printf("  the same with the logits to the host (host argmax): %.1f tok/s (%.1f%%; host work "
              "%.1f us a token)\n",
              dec512l, 100.0 * dec512l * bytes / 1e9 / bw, host512l / 64 * 1e6);
  std::printf("  batch-1 decode @4096: %.1f tok/s\n", dec4096);
  std::printf("  prefill 512: %.0f tok/s (%.0f TFLOP/s, %.0f%% of GEMM rate)\n", pre512,
              2 * params * pre512 / 1e12, 100.0 * 2 * params * pre512 / 1e12 / tflops);
  std::printf("  aggregate decode: 4 seq %.0f, 16 seq %.0f, 32 seq %.0f tok/s\n", agg[0], agg[1], agg[2]);
  std::printf("RESULT device=\"%s\" shape=%s bits=%d group=%d bw=%.0f tflops=%.0f bytes=%.0f "
              "dec512=%.2f dec512_logits=%.2f dec4096=%.2f pre512=%.1f agg4=%.1f agg16=%.1f "
              "agg32=%.1f params=%.0f\n",
              prop.name, shape.c_str(), bits, group, bw, tflops, bytes, dec512, dec512l, dec4096,
              pre512, agg[0], agg[1], agg[2], params);
  return 0;
}
