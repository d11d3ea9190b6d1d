// bench_cpu_kernels: the CPU matmul kernels in isolation on the layer shapes
// of a model (default: the 1b shape), one thread, weights streamed from
// memory (enough copies of each layer to defeat the caches), next to the
// single-thread read bandwidth. Shows where a decode step's time goes.
//
//   bench_cpu_kernels [--shape 1b] [--group-size 128] [--reps 20] [--isa best|avx2|portable]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "engine/cpu/cpu_kernels.h"
#include "engine/half.h"
#include "engine/model_loader.h"
#include "engine/model_writer.h"

using namespace rewoo::engine;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kStream = size_t{384} << 20;  // bytes cycled through per kernel (>> L3)

// Best-of-`reps` milliseconds of one call of f(copy), cycling over `copies`.
double time_ms(int copies, int reps, const std::function<void(int)>& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    for (int c = 0; c < copies; ++c) f(c);
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / copies);
  }
  return best;
}

double read_gb_s() {
  const size_t n = kStream / 4;
  cpu::HugeArray<uint32_t> a(n);
  for (size_t i = 0; i < n; ++i) a[i] = static_cast<uint32_t>(i);
  volatile uint32_t sink = 0;
  double ms = time_ms(1, 5, [&](int) {
    uint32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n; i += 4) { s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3]; }
    sink = sink + s0 + s1 + s2 + s3;
  });
  return static_cast<double>(kStream) / ms / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU matmul kernels in isolation (one thread, weights from memory)"};
  std::string shape = "1b";
  int gs = 128, reps = 10;
  std::string isa = "best";
  app.add_option("--shape", shape, "Model shape (rewoo model random --shape)");
  app.add_option("--group-size", gs, "GPTQ group size (-1: none)");
  app.add_option("--reps", reps, "Repetitions (best is kept)");
  app.add_option("--isa", isa, "Kernels to time: best (as the backend picks), avx2 or portable")
      ->check(CLI::IsMember({"best", "avx2", "portable"}));
  CLI11_PARSE(app, argc, argv);
  auto cfg = shape_by_name(shape);
  if (!cfg) {
    fmt::print(stderr, "bench_cpu_kernels: {}\n", cfg.error().to_string());
    return 2;
  }
  const ModelConfig& c = *cfg;
  const bool avx2 = cpu::cpu_has_avx2() && isa != "portable", vnni = cpu::cpu_has_avx512vnni() && isa == "best";
  const double bw = read_gb_s();
  fmt::print("shape {} (dim {}, ffn {}, kv {}, vocab {}), group {}; {} kernels, 1 thread; read bandwidth {:.1f} GB/s\n",
             shape, c.dim, c.hidden_dim, c.kv_dim(), c.vocab_size, gs, vnni ? "avx512-vnni" : avx2 ? "avx2" : "portable",
             bw);
  fmt::print("{:<34}{:>10}{:>10}{:>8}{:>7}{:>12}\n", "kernel (in x out)", "ms/call", "MB/call", "GB/s", "% bw",
             "ms/token");
  std::mt19937 rng(1);
  std::uniform_int_distribution<uint32_t> u32;
  std::uniform_real_distribution<float> uf(-1, 1);
  struct L { int in, out, per_token; const char* name; };
  const int qd = c.n_heads * c.head_dim;
  double total_int8 = 0, total_exact = 0;
  for (L l : {L{c.dim, qd, 2, "q/o"}, L{c.dim, c.kv_dim(), 2, "k/v"}, L{c.dim, c.hidden_dim, 2, "gate/up"},
              L{c.hidden_dim, c.dim, 1, "down"}}) {
    const int ng = gs == -1 ? 1 : l.in / gs;
    std::vector<uint32_t> qw(static_cast<size_t>(l.in) / 8 * l.out), qz(static_cast<size_t>(ng) * l.out / 8);
    for (auto& v : qw) v = u32(rng);
    for (auto& v : qz) v = 0x77777777u;
    std::vector<float> sc(static_cast<size_t>(ng) * l.out);
    for (auto& v : sc) v = fp16_round(0.01f + 0.01f * std::fabs(uf(rng)));
    std::vector<int32_t> gi(l.in);
    for (int i = 0; i < l.in; ++i) gi[i] = gs == -1 ? 0 : i / gs;
    std::shuffle(gi.begin(), gi.end(), rng);
    auto q = make_quant_linear(l.in, l.out, 4, gs, qw.data(), qz.data(), sc.data(), gi.data(), "bench");
    if (!q) {
      fmt::print(stderr, "bench_cpu_kernels: {}\n", q.error().to_string());
      return 1;
    }
    const int n_layers = c.n_layers * l.per_token;
    std::vector<float> x(l.in), y(l.out);
    for (auto& v : x) v = uf(rng);
    // int8-activation kernel.
    {
      cpu::PackedQ4x8 p = cpu::pack_q4x8(**q);
      const double mb = static_cast<double>(p.q.size() + p.sz.size()) / 1e6;
      const int copies = std::max(2, static_cast<int>(kStream / (mb * 1e6)));
      std::vector<cpu::PackedQ4x8> ps;
      for (int i = 0; i < copies; ++i) ps.push_back(cpu::pack_q4x8(**q));
      std::vector<int8_t> xq(l.in);
      std::vector<float> d(l.in / 32), gz(ng);
      auto fn = vnni ? cpu::q4q8_gemm_avx512vnni : avx2 ? cpu::q4q8_gemm_avx2 : cpu::q4q8_gemm_ref;
      auto quant = avx2 ? cpu::quantize_act_q8_avx2 : cpu::quantize_act_q8;
      double ms = time_ms(copies, reps, [&](int i) {
        quant(x.data(), ps[i].perm.data(), l.in, ps[i].bounds, xq.data(), d.data(), gz.data());
        fn(ps[i], xq.data(), d.data(), gz.data(), 1, y.data(), l.out, 0, ps[i].n_super());
      });
      double qms = time_ms(copies, reps, [&](int i) {
        quant(x.data(), ps[i].perm.data(), l.in, ps[i].bounds, xq.data(), d.data(), gz.data());
      });
      total_int8 += ms * n_layers;
      fmt::print("{:<34}{:>10.3f}{:>10.2f}{:>8.1f}{:>7.0f}{:>12.2f}   (quantize x: {:.3f} ms)\n",
                 fmt::format("int8 {} {}x{}", l.name, l.in, l.out), ms, mb, mb / ms, 100 * mb / ms / bw,
                 ms * n_layers, qms);
    }
    // Exact kernel (the table-lookup one with AVX-512, as the backend picks).
    if (vnni) {
      cpu::PackedQ4Cols p = cpu::pack_q4_cols(**q);
      const double mb = static_cast<double>(p.q.size() + (p.scales.size() + p.szeros.size()) * sizeof(float)) / 1e6;
      const int copies = std::max(2, static_cast<int>(kStream / (mb * 1e6)));
      std::vector<cpu::PackedQ4Cols> ps;
      for (int i = 0; i < copies; ++i) ps.push_back(cpu::pack_q4_cols(**q));
      double ms = time_ms(copies, std::max(1, reps / 4),
                          [&](int i) { cpu::q4_cols_gemm_avx512(ps[i], x.data(), 1, y.data(), l.out, 0, l.out); });
      total_exact += ms * n_layers;
      fmt::print("{:<34}{:>10.3f}{:>10.2f}{:>8.1f}{:>7.0f}{:>12.2f}\n",
                 fmt::format("exact {} {}x{}", l.name, l.in, l.out), ms, mb, mb / ms, 100 * mb / ms / bw,
                 ms * n_layers);
    } else {
      cpu::PackedQuant p = cpu::pack_quant(**q);
      const double mb = (p.blocks.size() * 4 + (p.scales.size() + p.szeros.size()) * sizeof(float)) / 1e6;
      const int copies = std::max(2, static_cast<int>(kStream / (mb * 1e6)));
      std::vector<cpu::PackedQuant> ps;
      for (int i = 0; i < copies; ++i) ps.push_back(cpu::pack_quant(**q));
      auto fn = avx2 ? cpu::qgemm_avx2 : cpu::qgemm_ref;
      double ms = time_ms(copies, std::max(1, reps / 4),
                          [&](int i) { fn(ps[i], x.data(), 1, y.data(), l.out, 0, ps[i].out_pad / 8); });
      total_exact += ms * n_layers;
      fmt::print("{:<34}{:>10.3f}{:>10.2f}{:>8.1f}{:>7.0f}{:>12.2f}\n",
                 fmt::format("exact {} {}x{}", l.name, l.in, l.out), ms, mb, mb / ms, 100 * mb / ms / bw,
                 ms * n_layers);
    }
  }
  // Classifier: fp16 weights [vocab, dim].
  {
    const size_t n = static_cast<size_t>(c.vocab_size) * c.dim;
    cpu::HugeArray<uint16_t> w(n);
    for (size_t i = 0; i < n; ++i) w[i] = fp32_to_fp16(uf(rng) * 0.02f);
    std::vector<float> x(c.dim), y(c.vocab_size);
    for (auto& v : x) v = uf(rng);
    auto fn = avx2 ? cpu::hgemm_avx2 : cpu::hgemm_ref;
    double ms = time_ms(1, reps, [&](int) { fn(w.data(), c.dim, x.data(), 1, y.data(), c.vocab_size, 0, c.vocab_size); });
    const double mb = n * 2 / 1e6;
    total_int8 += ms;
    total_exact += ms;
    fmt::print("{:<34}{:>10.3f}{:>10.2f}{:>8.1f}{:>7.0f}{:>12.2f}\n", fmt::format("fp16 classifier {}x{}", c.dim, c.vocab_size),
               ms, mb, mb / ms, 100 * mb / ms / bw, ms);
  }
  fmt::print("matmuls per token: int8 path {:.1f} ms ({:.1f} tok/s bound), exact path {:.1f} ms\n", total_int8,
             1000 / total_int8, total_exact);
  return 0;
}
