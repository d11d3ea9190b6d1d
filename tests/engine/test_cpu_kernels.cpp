// The AVX2 kernels against the portable ones (the readable reference), on
// random packed layers of every bit width, odd sizes and several tokens.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "engine/cpu/cpu_kernels.h"
#include "engine/half.h"
#include "engine/model_loader.h"
#include "tests/engine/engine_test_util.h"

using namespace rewoo::engine;

TEST_CASE("AVX2 kernels match the portable kernels") {
  if (!cpu::cpu_has_avx2()) {
    MESSAGE("no AVX2 on this CPU: only the portable kernels run");
    return;
  }
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> u32;
  std::uniform_real_distribution<float> uf(-1, 1);
  struct Shape { int in, out, bits, gs; };
  for (Shape s : {Shape{64, 40, 4, 32}, Shape{96, 24, 3, -1}, Shape{128, 64, 2, 64}, Shape{64, 12, 8, 32},
                  Shape{256, 72, 4, 128}, Shape{192, 32, 3, 64}}) {
    CAPTURE(s.bits);
    CAPTURE(s.in);
    const int ng = s.gs == -1 ? 1 : s.in / s.gs;
    std::vector<uint32_t> qw(static_cast<size_t>(s.in) * s.bits / 32 * s.out), qz((ng * s.out * s.bits + 31) / 32 + 1);
    for (auto& v : qw) v = u32(rng);
    for (auto& v : qz) v = u32(rng);
    std::vector<float> sc(static_cast<size_t>(ng) * s.out);
    for (auto& v : sc) v = fp16_round(0.01f + 0.1f * std::fabs(uf(rng)));
    std::vector<int32_t> gi(s.in);
    for (int i = 0; i < s.in; ++i) gi[i] = s.gs == -1 ? 0 : i / s.gs;
    std::shuffle(gi.begin(), gi.end(), rng);
    if ((s.out * s.bits) % 32) continue;
    auto q = make_quant_linear(s.in, s.out, s.bits, s.gs, qw.data(), qz.data(), sc.data(), gi.data(), "t");
    REQUIRE(q.ok());
    REQUIRE(cpu::can_pack(**q));
    auto p = cpu::pack_quant(**q);
    for (int n : {1, 3, 5}) {
      std::vector<float> x(static_cast<size_t>(n) * s.in), y0(static_cast<size_t>(n) * s.out, 1e9f), y1 = y0;
      for (auto& v : x) v = uf(rng);
      cpu::qgemm_ref(p, x.data(), n, y0.data(), s.out, 0, p.out_pad / 8);
      cpu::qgemm_avx2(p, x.data(), n, y1.data(), s.out, 0, p.out_pad / 8);
      CHECK(rewoo::test::rel_err(y1, y0) < 1e-5);
      // The kernel uses the dequantized weights of the reordered rows.
      auto d = (*q)->dequantize();  // original order [in, out]
      std::vector<double> want(static_cast<size_t>(n) * s.out, 0.0);
      for (int t = 0; t < n; ++t)
        for (int k = 0; k < s.in; ++k) {
          int row = (*q)->perm.empty() ? k : (*q)->perm[k];
          for (int j = 0; j < s.out; ++j) want[static_cast<size_t>(t) * s.out + j] += x[static_cast<size_t>(t) * s.in + k] * d[static_cast<size_t>(row) * s.out + j];
        }
      CHECK(rewoo::test::rel_err(y0, want) < 1e-5);
    }
  }
  // Float kernels, fp32 and fp16 weights, odd widths.
  for (int in : {7, 64, 100}) {
    const int out = 13, n = 3;
    std::vector<float> w(static_cast<size_t>(in) * out), x(static_cast<size_t>(n) * in), a(static_cast<size_t>(n) * out), b = a;
    std::vector<uint16_t> h(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      w[i] = fp16_round(uf(rng));
      h[i] = fp32_to_fp16(w[i]);
    }
    for (auto& v : x) v = uf(rng);
    cpu::sgemm_ref(w.data(), in, x.data(), n, a.data(), out, 0, out);
    cpu::sgemm_avx2(w.data(), in, x.data(), n, b.data(), out, 0, out);
    CHECK(rewoo::test::rel_err(b, a) < 1e-5);
    cpu::hgemm_ref(h.data(), in, x.data(), n, b.data(), out, 0, out);
    CHECK(rewoo::test::rel_err(b, a) < 1e-5);
    cpu::hgemm_avx2(h.data(), in, x.data(), n, b.data(), out, 0, out);
    CHECK(rewoo::test::rel_err(b, a) < 1e-5);
  }
}

TEST_CASE("exact 4-bit table-lookup kernel (AVX-512) matches the exact reference kernel") {
  std::mt19937 rng(17);
  std::uniform_int_distribution<uint32_t> u32;
  std::uniform_real_distribution<float> uf(-1, 1);
  struct Shape { int in, out, gs; };
  for (Shape sh : {Shape{256, 48, 64}, Shape{128, 37 * 8, 32}, Shape{320, 40, -1}, Shape{512, 24, 128}}) {
    CAPTURE(sh.in);
    CAPTURE(sh.out);
    const int in = sh.in, out = sh.out, ng = sh.gs == -1 ? 1 : in / sh.gs;
    std::vector<uint32_t> qw(static_cast<size_t>(in) / 8 * out), qz(static_cast<size_t>(ng) * out + 1);
    for (auto& v : qw) v = u32(rng);
    for (auto& v : qz) v = u32(rng);
    std::vector<float> sc(static_cast<size_t>(ng) * out);
    for (auto& v : sc) v = fp16_round(0.01f + 0.1f * std::fabs(uf(rng)));
    std::vector<int32_t> gi(in);
    for (int i = 0; i < in; ++i) gi[i] = sh.gs == -1 ? 0 : i / sh.gs;
    std::shuffle(gi.begin(), gi.end(), rng);
    auto q = make_quant_linear(in, out, 4, sh.gs, qw.data(), qz.data(), sc.data(), gi.data(), "t");
    REQUIRE(q.ok());
    auto exact = cpu::pack_quant(**q);
    auto pc = cpu::pack_q4_cols(**q);
    for (int n : {1, 6}) {
      CAPTURE(n);
      std::vector<float> x(static_cast<size_t>(n) * in), y0(static_cast<size_t>(n) * out), y1(y0.size(), 1e9f), y2 = y1;
      for (auto& v : x) v = uf(rng);
      cpu::qgemm_ref(exact, x.data(), n, y0.data(), out, 0, exact.out_pad / 8);
      cpu::q4_cols_gemm_ref(pc, x.data(), n, y1.data(), out, 0, out);
      CHECK(rewoo::test::rel_err(y1, y0) < 1e-6);
      if (cpu::cpu_has_avx512vnni()) {
        // Split across calls at odd columns, as threads may.
        cpu::q4_cols_gemm_avx512(pc, x.data(), n, y2.data(), out, 0, 5);
        cpu::q4_cols_gemm_avx512(pc, x.data(), n, y2.data(), out, 5, out);
        CHECK(rewoo::test::rel_err(y2, y0) < 1e-6);
      } else {
        MESSAGE("no AVX-512 on this CPU: the table-lookup kernel is not checked");
      }
    }
  }
}

TEST_CASE("attention loops: AVX2 dot and axpy agree with the portable ones") {
  if (!cpu::cpu_has_avx2()) {
    MESSAGE("no AVX2 on this CPU: only the portable loops run");
    return;
  }
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uf(-1, 1);
  for (int n : {1, 7, 8, 64, 100, 128}) {
    CAPTURE(n);
    std::vector<float> a(n), b(n), y0(n), y1;
    for (auto& v : a) v = uf(rng);
    for (auto& v : b) v = uf(rng);
    for (auto& v : y0) v = uf(rng);
    y1 = y0;
    const float d0 = cpu::dot_ref(a.data(), b.data(), n), d1 = cpu::dot_avx2(a.data(), b.data(), n);
    double norm = 0;
    for (int i = 0; i < n; ++i) norm += std::fabs(a[i] * b[i]);
    CHECK(std::fabs(d1 - d0) <= 1e-6 * norm);
    cpu::axpy_ref(0.37f, a.data(), y0.data(), n);
    cpu::axpy_avx2(0.37f, a.data(), y1.data(), n);
    CHECK(rewoo::test::rel_err(y1, y0) < 1e-6);
  }
  // SwiGLU over a range that reaches exp's clamp on both sides.
  {
    const size_t n = 203;
    std::vector<float> h1(n), h3(n), a, b;
    for (size_t i = 0; i < n; ++i) {
      h1[i] = -120.0f + 240.0f * static_cast<float>(i) / (n - 1);
      h3[i] = uf(rng);
    }
    h1[7] = 0.0f;
    a = h1;
    b = h1;
    cpu::swiglu_ref(a.data(), h3.data(), n);
    cpu::swiglu_avx2(b.data(), h3.data(), n);
    for (size_t i = 0; i < n; ++i) CHECK(std::fabs(b[i] - a[i]) <= 1e-6f * std::fabs(a[i]) + 1e-30f);
  }
  // Whole heads: head sizes with and without the register-resident versions,
  // contexts with and without a 4-key remainder.
  for (int hd : {64, 128, 24}) {
    for (int n_ctx : {1, 3, 4, 37, 200}) {
      CAPTURE(hd);
      CAPTURE(n_ctx);
      const size_t stride = static_cast<size_t>(hd) * 2 + 8;  // another head's values in between
      std::vector<float> q(hd), K(stride * n_ctx), V(stride * n_ctx), att(n_ctx), o0(hd), o1(hd);
      for (auto& v : q) v = 2 * uf(rng);
      for (auto& v : K) v = uf(rng);
      for (auto& v : V) v = uf(rng);
      cpu::attend_ref(q.data(), K.data(), V.data(), stride, n_ctx, hd, 0.125f, att.data(), o0.data());
      cpu::attend_avx2(q.data(), K.data(), V.data(), stride, n_ctx, hd, 0.125f, att.data(), o1.data());
      CHECK(rewoo::test::rel_err(o1, o0) < 1e-5);
    }
  }
}

TEST_CASE("int8-activation 4-bit path: packing, portable == AVX2 == AVX-512 VNNI bit for bit, close to exact") {
  std::mt19937 rng(3);
  std::uniform_int_distribution<uint32_t> u32;
  std::uniform_real_distribution<float> uf(-1, 1);
  struct Shape { int in, out, gs; bool act_order; int bits = 4; };
  for (Shape sh : {Shape{256, 48, 64, true}, Shape{128, 200, 32, true}, Shape{320, 64, -1, false},
                   Shape{512, 136, 128, true}, Shape{96, 8, 32, false}, Shape{256, 96, 128, true, 3},
                   Shape{128, 64, -1, false, 3}, Shape{192, 80, 64, true, 2}}) {
    CAPTURE(sh.in);
    CAPTURE(sh.out);
    CAPTURE(sh.bits);
    const int in = sh.in, out = sh.out, ng = sh.gs == -1 ? 1 : in / sh.gs;
    std::vector<uint32_t> qw(static_cast<size_t>(in) * sh.bits / 32 * out), qz(static_cast<size_t>(ng) * out + 1);
    for (auto& v : qw) v = u32(rng);
    for (auto& v : qz) v = u32(rng);
    std::vector<float> sc(static_cast<size_t>(ng) * out);
    for (auto& v : sc) v = fp16_round(0.01f + 0.02f * std::fabs(uf(rng)));
    std::vector<int32_t> gi(in);
    for (int i = 0; i < in; ++i) gi[i] = sh.gs == -1 ? 0 : i / sh.gs;
    if (sh.act_order) std::shuffle(gi.begin(), gi.end(), rng);
    auto q = make_quant_linear(in, out, sh.bits, sh.gs, qw.data(), qz.data(), sc.data(), gi.data(), "t");
    REQUIRE(q.ok());
    const QuantLinear& ql = **q;
    auto exact = cpu::pack_quant(ql);
    auto p8 = cpu::pack_q4x8(ql);
    CHECK(p8.out_pad % 64 == 0);
    const int n = 7, nb = in / 32;  // the multi-token kernels: 4 tokens at a time, then 3
    std::vector<float> x(static_cast<size_t>(n) * in), y0(static_cast<size_t>(n) * out);
    // xr: reordered activations (what the exact kernel takes); x: the same in
    // input order (what quantize_act_q8 takes, with the permutation).
    std::vector<float> xr(x.size());
    for (auto& v : xr) v = uf(rng);
    xr[5] = 0;
    std::fill(xr.begin() + 32, xr.begin() + 64, 0.0f);  // an all-zero block: zeros with d = 0
    for (int t = 0; t < n; ++t)
      for (int k = 0; k < in; ++k)
        x[static_cast<size_t>(t) * in + (ql.perm.empty() ? k : ql.perm[k])] = xr[static_cast<size_t>(t) * in + k];
    cpu::qgemm_ref(exact, xr.data(), n, y0.data(), out, 0, exact.out_pad / 8);
    std::vector<int8_t> xq(static_cast<size_t>(n) * in);
    std::vector<float> d(static_cast<size_t>(n) * nb), gz(static_cast<size_t>(n) * ng);
    // The kernels take reordered activations: quantize x_r = x[perm].
    const int32_t* perm = ql.perm.empty() ? nullptr : ql.perm.data();
    for (int t = 0; t < n; ++t)
      cpu::quantize_act_q8(x.data() + static_cast<size_t>(t) * in, perm, in, p8.bounds,
                           xq.data() + static_cast<size_t>(t) * in, d.data() + static_cast<size_t>(t) * nb,
                           gz.data() + static_cast<size_t>(t) * ng);
    if (cpu::cpu_has_avx2()) {
      std::vector<int8_t> xq2(xq.size());
      std::vector<float> d2(d.size()), gz2(gz.size());
      for (int t = 0; t < n; ++t)
        cpu::quantize_act_q8_avx2(x.data() + static_cast<size_t>(t) * in, perm, in, p8.bounds,
                                  xq2.data() + static_cast<size_t>(t) * in, d2.data() + static_cast<size_t>(t) * nb,
                                  gz2.data() + static_cast<size_t>(t) * ng);
      CHECK(xq2 == xq);
      CHECK(d2 == d);
      CHECK(gz2 == gz);
    }
    for (int b = 0; b < nb; ++b) {
      int amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(static_cast<int>(xq[32 * b + i])));
      CHECK(amax == (d[b] > 0 ? 127 : 0));
    }
    // Columns written past `out` would corrupt the next row: fill with a sentinel.
    std::vector<float> y1(static_cast<size_t>(n) * out, 1e9f), y2 = y1, y3 = y1;
    cpu::q4q8_gemm_ref(p8, xq.data(), d.data(), gz.data(), n, y1.data(), out, 0, p8.n_super());
    // The packed layout against the layer's own values and the quantized
    // activations, in double.
    std::vector<double> want(static_cast<size_t>(n) * out, 0.0);
    for (int t = 0; t < n; ++t)
      for (int g = 0; g < ng; ++g)
        for (int k = ql.group_bounds[g]; k < ql.group_bounds[g + 1]; ++k) {
          const double a = static_cast<double>(d[static_cast<size_t>(t) * nb + k / 32]) * xq[static_cast<size_t>(t) * in + k];
          for (int j = 0; j < out; ++j)
            want[static_cast<size_t>(t) * out + j] +=
                a * ql.scales[static_cast<size_t>(g) * out + j] *
                (static_cast<double>(ql.get(k, j)) - ql.zeros[static_cast<size_t>(g) * out + j]);
        }
    CHECK(rewoo::test::rel_err(y1, want) < 1e-5);
    double err = rewoo::test::rel_err(y1, y0);
    MESSAGE("int8 activations vs exact kernel: relative error " << err);
    CHECK(err < 2e-2);
    CHECK(err > 0);  // it really is the approximate path
    // Super tiles split across calls (as threads do) give the same values.
    if (p8.n_super() > 1) {
      cpu::q4q8_gemm_ref(p8, xq.data(), d.data(), gz.data(), n, y2.data(), out, 0, 1);
      cpu::q4q8_gemm_ref(p8, xq.data(), d.data(), gz.data(), n, y2.data(), out, 1, p8.n_super());
      CHECK(y2 == y1);
    }
    if (cpu::cpu_has_avx2()) {
      cpu::q4q8_gemm_avx2(p8, xq.data(), d.data(), gz.data(), n, y3.data(), out, 0, p8.n_super());
      CHECK(y3 == y1);
    } else {
      MESSAGE("no AVX2 on this CPU: the AVX2 int8 kernel is not checked");
    }
    if (cpu::cpu_has_avx512vnni()) {
      std::fill(y3.begin(), y3.end(), 1e9f);
      cpu::q4q8_gemm_avx512vnni(p8, xq.data(), d.data(), gz.data(), n, y3.data(), out, 0, p8.n_super());
      CHECK(y3 == y1);
      // One token at a time (the decode path) and two at a time.
      std::fill(y3.begin(), y3.end(), 1e9f);
      for (int t = 0; t < n; t += (t < 4 ? 1 : 2))
        cpu::q4q8_gemm_avx512vnni(p8, xq.data() + static_cast<size_t>(t) * in, d.data() + static_cast<size_t>(t) * nb,
                                  gz.data() + static_cast<size_t>(t) * ng, std::min(t < 4 ? 1 : 2, n - t),
                                  y3.data() + static_cast<size_t>(t) * out, out, 0, p8.n_super());
      CHECK(y3 == y1);
    } else {
      MESSAGE("no AVX-512 VNNI on this CPU: the VNNI int8 kernel is not checked");
    }
  }
}
