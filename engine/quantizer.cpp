#include "engine/quantizer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/half.h"
#include "engine/model_loader.h"
#include "engine/sampler.h"

namespace rewoo::engine {

namespace {

// In-place lower Cholesky factor of a symmetric positive definite matrix.
bool cholesky(std::vector<double>& a, int n) {
  for (int j = 0; j < n; ++j) {
    double d = a[static_cast<size_t>(j) * n + j];
    for (int k = 0; k < j; ++k) d -= a[static_cast<size_t>(j) * n + k] * a[static_cast<size_t>(j) * n + k];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[static_cast<size_t>(j) * n + j] = d;
    for (int i = j + 1; i < n; ++i) {
      double s = a[static_cast<size_t>(i) * n + j];
      for (int k = 0; k < j; ++k) s -= a[static_cast<size_t>(i) * n + k] * a[static_cast<size_t>(j) * n + k];
      a[static_cast<size_t>(i) * n + j] = s / d;
    }
    for (int k = j + 1; k < n; ++k) a[static_cast<size_t>(j) * n + k] = 0;
  }
  return true;
}

// H^-1 from its lower Cholesky factor L: (L L^T)^-1 = L^-T L^-1.
std::vector<double> inverse_from_cholesky(const std::vector<double>& l, int n) {
  std::vector<double> linv(static_cast<size_t>(n) * n, 0.0);
  for (int j = 0; j < n; ++j) {
    linv[static_cast<size_t>(j) * n + j] = 1.0 / l[static_cast<size_t>(j) * n + j];
    for (int i = j + 1; i < n; ++i) {
      double s = 0;
      for (int k = j; k < i; ++k) s += l[static_cast<size_t>(i) * n + k] * linv[static_cast<size_t>(k) * n + j];
      linv[static_cast<size_t>(i) * n + j] = -s / l[static_cast<size_t>(i) * n + i];
    }
  }
  std::vector<double> inv(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j <= i; ++j) {
      double s = 0;
      for (int k = i; k < n; ++k) s += linv[static_cast<size_t>(k) * n + i] * linv[static_cast<size_t>(k) * n + j];
      inv[static_cast<size_t>(i) * n + j] = inv[static_cast<size_t>(j) * n + i] = s;
    }
  return inv;
}

struct GroupParams {
  std::vector<float> scale;   // fp16-exact
  std::vector<uint32_t> zero;
};

// AutoGPTQ Quantizer.find_params over columns [c0, c1) of W (rows = outputs).
GroupParams find_params(const std::vector<double>& w, int out, int in, int c0, int c1, int bits, bool sym) {
  const double maxq = (1 << bits) - 1;
  GroupParams p;
  p.scale.resize(out);
  p.zero.resize(out);
  for (int j = 0; j < out; ++j) {
    double xmin = 0, xmax = 0;
    for (int i = c0; i < c1; ++i) {
      double v = w[static_cast<size_t>(j) * in + i];
      xmin = std::min(xmin, v);
      xmax = std::max(xmax, v);
    }
    if (sym) {
      xmax = std::max(std::fabs(xmin), xmax);
      if (xmin < 0) xmin = -xmax;
    }
    if (xmin == 0 && xmax == 0) {
      xmin = -1;
      xmax = 1;
    }
    double scale = (xmax - xmin) / maxq;
    float s16 = fp16_round(static_cast<float>(scale));
    if (s16 == 0) s16 = fp16_to_fp32(1);  // smallest subnormal, never zero
    p.scale[j] = s16;
    p.zero[j] = sym ? static_cast<uint32_t>((maxq + 1) / 2)
                    : static_cast<uint32_t>(std::clamp(std::round(-xmin / s16), 0.0, maxq));
  }
  return p;
}

}  // namespace

Result<std::unique_ptr<QuantLinear>> gptq_quantize_layer(const std::vector<float>& wf, int in, int out,
                                                         std::vector<double> h, const QuantizeOptions& o,
                                                         double* sq_error) {
  const int bits = o.bits;
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8) return Error(fmt::format("bits {} unsupported", bits));
  if ((static_cast<int64_t>(in) * bits) % 32 || (static_cast<int64_t>(out) * bits) % 32)
    return Error(fmt::format("a {}x{} layer does not pack into int32 words at {} bits", in, out, bits));
  const int gs = o.group_size;
  const int n_groups = gs == -1 ? 1 : (in + gs - 1) / gs;
  const uint32_t maxq = (1u << bits) - 1;
  std::vector<double> w(wf.begin(), wf.end());  // [out, in]
  // Dead inputs (never active): fix H, zero the weights.
  for (int i = 0; i < in; ++i)
    if (h[static_cast<size_t>(i) * in + i] == 0) {
      h[static_cast<size_t>(i) * in + i] = 1;
      for (int j = 0; j < out; ++j) w[static_cast<size_t>(j) * in + i] = 0;
    }
  std::vector<int> perm(in);
  std::iota(perm.begin(), perm.end(), 0);
  const bool act = o.act_order && !o.rtn;
  if (act)
    std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) {
      return h[static_cast<size_t>(a) * in + a] > h[static_cast<size_t>(b) * in + b];
    });
  // Permute W columns and H.
  std::vector<double> wp(w.size()), hp(h.size());
  for (int j = 0; j < out; ++j)
    for (int i = 0; i < in; ++i) wp[static_cast<size_t>(j) * in + i] = w[static_cast<size_t>(j) * in + perm[i]];
  for (int a = 0; a < in; ++a)
    for (int b = 0; b < in; ++b) hp[static_cast<size_t>(a) * in + b] = h[static_cast<size_t>(perm[a]) * in + perm[b]];
  std::vector<double> u;  // upper Cholesky factor of H^-1, stored as its transpose (lower) for row access
  if (!o.rtn) {
    double mean_diag = 0;
    for (int i = 0; i < in; ++i) mean_diag += hp[static_cast<size_t>(i) * in + i];
    mean_diag /= in;
    for (int i = 0; i < in; ++i) hp[static_cast<size_t>(i) * in + i] += o.damp * mean_diag;
    if (!cholesky(hp, in)) return Error("Hessian is not positive definite even after dampening (raise --damp)");
    std::vector<double> inv = inverse_from_cholesky(hp, in);
    if (!cholesky(inv, in)) return Error("inverse Hessian is not positive definite (raise --damp)");
    u = std::move(inv);  // lower M with H^-1 = M M^T; the upper factor is U = M^T, U[i][k] = M[k][i]
  }
  std::vector<uint32_t> qvals(static_cast<size_t>(in) * out);  // [perm position i][j]
  std::vector<float> scales(static_cast<size_t>(n_groups) * out);
  std::vector<uint32_t> zeros(static_cast<size_t>(n_groups) * out);
  GroupParams gp;
  if (gs == -1) gp = find_params(wp, out, in, 0, in, bits, true);
  double err_total = 0;
  std::vector<double> err(out);
  for (int i = 0; i < in; ++i) {
    if (gs != -1 && i % gs == 0) gp = find_params(wp, out, in, i, std::min(in, i + gs), bits, true);
    const int g = gs == -1 ? 0 : i / gs;
    if (gs == -1 ? i == 0 : i % gs == 0)
      for (int j = 0; j < out; ++j) {
        scales[static_cast<size_t>(g) * out + j] = gp.scale[j];
        zeros[static_cast<size_t>(g) * out + j] = gp.zero[j];
      }
    const double d = o.rtn ? 1.0 : u[static_cast<size_t>(i) * in + i];
    for (int j = 0; j < out; ++j) {
      double x = wp[static_cast<size_t>(j) * in + i];
      double s = gp.scale[j];
      double qd = std::clamp(std::nearbyint(x / s) + gp.zero[j], 0.0, static_cast<double>(maxq));
      uint32_t q = static_cast<uint32_t>(qd);
      qvals[static_cast<size_t>(i) * out + j] = q;
      float sf = gp.scale[j];
      double dq = fp16_round(sf * static_cast<float>(q) - sf * static_cast<float>(gp.zero[j]));
      err[j] = (x - dq) / d;
      err_total += (x - dq) * (x - dq);
    }
    if (!o.rtn)
      for (int k = i + 1; k < in; ++k) {
        double uik = u[static_cast<size_t>(k) * in + i];
        if (uik == 0) continue;
        for (int j = 0; j < out; ++j) wp[static_cast<size_t>(j) * in + k] -= err[j] * uik;
      }
  }
  if (sq_error) *sq_error = err_total;
  // AutoGPTQ layout in original row order.
  std::vector<uint32_t> qweight(static_cast<size_t>(in) * bits / 32 * out, 0);
  std::vector<int32_t> g_idx(in);
  for (int i = 0; i < in; ++i) {
    g_idx[perm[i]] = gs == -1 ? 0 : i / gs;
    for (int j = 0; j < out; ++j) quant_put(qweight.data(), bits, out, perm[i], j, qvals[static_cast<size_t>(i) * out + j]);
  }
  const int zw = out * bits / 32;
  std::vector<uint32_t> qzeros(static_cast<size_t>(n_groups) * zw, 0);
  for (int g = 0; g < n_groups; ++g)
    for (int j = 0; j < out; ++j) {
      uint32_t z = (zeros[static_cast<size_t>(g) * out + j] + maxq) & maxq;  // zero-1
      size_t b = static_cast<size_t>(j) * bits, wi = b / 32, s = b % 32;
      qzeros[static_cast<size_t>(g) * zw + wi] |= z << s;
      if (s + bits > 32) qzeros[static_cast<size_t>(g) * zw + wi + 1] |= z >> (32 - s);
    }
  return make_quant_linear(in, out, bits, gs, qweight.data(), qzeros.data(), scales.data(), g_idx.data(), "gptq");
}

namespace {

// Float reference ops for the calibration pass (one sequence, all positions).
using Act = std::vector<float>;  // [n, width]

void rmsnorm_rows(const Act& x, Act& o, const std::vector<float>& w, int n, int dim, float eps) {
  o.resize(x.size());
  for (int t = 0; t < n; ++t) {
    const float* xr = &x[static_cast<size_t>(t) * dim];
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    float r = static_cast<float>(1.0 / std::sqrt(ss / dim + eps));
    for (int i = 0; i < dim; ++i) o[static_cast<size_t>(t) * dim + i] = w[i] * (r * xr[i]);
  }
}

// y = x W^T, W [out, in] (float) or dequantized GPTQ.
void linear_rows(const Linear& l, const std::vector<float>& wdense, const Act& x, Act& y, int n) {
  (void)l;
  const int in = l.in, out = l.out;
  y.assign(static_cast<size_t>(n) * out, 0.0f);
  for (int t = 0; t < n; ++t)
    for (int j = 0; j < out; ++j) {
      double s = 0;
      const float* wr = &wdense[static_cast<size_t>(j) * in];
      const float* xr = &x[static_cast<size_t>(t) * in];
      for (int i = 0; i < in; ++i) s += static_cast<double>(wr[i]) * xr[i];
      y[static_cast<size_t>(t) * out + j] = static_cast<float>(s);
    }
}

std::vector<float> dense_of(const Linear& l) {
  if (!l.q) return l.w;
  std::vector<float> io = l.q->dequantize(), w(io.size());
  for (int i = 0; i < l.in; ++i)
    for (int j = 0; j < l.out; ++j) w[static_cast<size_t>(j) * l.in + i] = io[static_cast<size_t>(i) * l.out + j];
  return w;
}

void add_hessian(std::vector<double>& h, const Act& x, int n, int in) {
  for (int t = 0; t < n; ++t) {
    const float* xr = &x[static_cast<size_t>(t) * in];
    for (int a = 0; a < in; ++a) {
      double xa = xr[a];
      if (xa == 0) continue;
      double* hr = &h[static_cast<size_t>(a) * in];
      for (int b = 0; b < in; ++b) hr[b] += xa * xr[b];
    }
  }
}

Linear pad_rows(const Linear& l, int new_out) {
  Linear r;
  r.in = l.in;
  r.out = new_out;
  r.w = l.w;
  r.w.resize(static_cast<size_t>(new_out) * l.in, 0.0f);
  return r;
}

Linear pad_cols(const Linear& l, int new_in) {
  Linear r;
  r.in = new_in;
  r.out = l.out;
  r.w.assign(static_cast<size_t>(l.out) * new_in, 0.0f);
  for (int j = 0; j < l.out; ++j)
    std::copy(l.w.begin() + static_cast<long>(j) * l.in, l.w.begin() + static_cast<long>(j + 1) * l.in,
              r.w.begin() + static_cast<long>(j) * new_in);
  return r;
}

}  // namespace

constexpr int kCalibSeqs = 16;

Result<std::shared_ptr<Weights>> quantize_model(const Weights& fp, const QuantizeOptions& o) {
  if (fp.quant.quantized()) return Error("the input model is already quantized; quantize a float model");
  const ModelConfig& c0 = fp.config;
  auto say = [&](const std::string& s) { if (o.progress) o.progress(s); };
  auto out = std::make_shared<Weights>();
  out->config = c0;
  ModelConfig& c = out->config;
  const int hidden = (c0.hidden_dim + 31) / 32 * 32;
  if (hidden != c0.hidden_dim) say(fmt::format("padding FFN width {} -> {} (zero rows/columns; exact)", c0.hidden_dim, hidden));
  c.hidden_dim = hidden;
  out->quant.bits = o.bits;
  out->quant.group_size = o.group_size;
  out->quant.desc_act = o.act_order && !o.rtn;
  out->quant.sym = true;
  out->quant.damp_percent = o.damp;
  out->tok_embeddings = fp.tok_embeddings;
  out->final_norm = fp.final_norm;
  out->lm_head.in = fp.lm_head.in;
  out->lm_head.out = fp.lm_head.out;
  out->lm_head.w = fp.lm_head.w;

  // Calibration tokens.
  std::vector<std::vector<int32_t>> calib = o.calib;
  if (calib.empty()) {
    say(fmt::format("sampling calibration text from the float model ({} x 256 tokens, temperature 1)", kCalibSeqs));
    BackendOptions bo;
    bo.device = Device::kCpu;
    auto be = make_cpu_backend(std::shared_ptr<const Weights>(&fp, [](const Weights*) {}), bo);
    if (!be) return be.error();
    const int len = std::min(256, c0.max_seq_len);
    for (int s = 0; s < kCalibSeqs; ++s) {
      Sampler smp({1.0f, 1.0f, 0, 1.0f, static_cast<uint64_t>(1000 + s)});
      std::vector<int32_t> seq = {c0.bos_id};
      (*be)->clear_slot(0);
      Logits lg;
      while (static_cast<int>(seq.size()) < len) {
        SeqBatchEntry e{0, std::span<const int32_t>(&seq.back(), 1), static_cast<int32_t>(seq.size() - 1), false};
        REWOO_TRY((*be)->forward({&e, 1}, lg));
        seq.push_back(smp.sample(lg.row(0), {}));
      }
      calib.push_back(std::move(seq));
    }
  }
  for (auto& s : calib)
    for (int32_t t : s)
      if (t < 0 || t >= c0.vocab_size) return Error(fmt::format("calibration token {} out of range", t));

  // Residual stream per calibration sequence.
  const int dim = c.dim, hd = c.head_dim, qd = c.n_heads * hd, kvd = c.kv_dim();
  std::vector<Act> xs;
  for (auto& s : calib) {
    Act x(s.size() * static_cast<size_t>(dim));
    for (size_t t = 0; t < s.size(); ++t)
      std::copy(fp.tok_embeddings.begin() + static_cast<long>(s[t]) * dim,
                fp.tok_embeddings.begin() + static_cast<long>(s[t] + 1) * dim, x.begin() + static_cast<long>(t) * dim);
    xs.push_back(std::move(x));
  }
  auto quant = [&](const Linear& src, const std::vector<double>& h, int n_rows, const std::string& name) -> Result<Linear> {
    std::vector<double> hs = h;
    for (auto& v : hs) v *= 2.0 / std::max(1, n_rows);
    double err = 0;
    auto q = gptq_quantize_layer(src.w, src.in, src.out, std::move(hs), o, &err);
    if (!q) return q.error().wrap(name);
    Linear l;
    l.in = src.in;
    l.out = src.out;
    l.q = std::move(*q);
    say(fmt::format("{}: {}x{} quantized, squared error {:.4g}", name, src.in, src.out, err));
    return l;
  };
  int n_rows = 0;
  for (auto& s : calib) n_rows += static_cast<int>(s.size());

  out->layers.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& F = fp.layers[l];
    LayerWeights& Q = out->layers[l];
    Q.attn_norm = F.attn_norm;
    Q.ffn_norm = F.ffn_norm;
    if (F.wq.quantized()) return Error("mixed float/quantized input model");
    std::string pre = fmt::format("layer {}", l);
    // 1. q, k, v from the attention norm's output.
    std::vector<double> h(static_cast<size_t>(dim) * dim, 0.0);
    std::vector<Act> xn(xs.size());
    for (size_t s = 0; s < xs.size(); ++s) {
      int n = static_cast<int>(calib[s].size());
      rmsnorm_rows(xs[s], xn[s], F.attn_norm, n, dim, c.norm_eps);
      add_hessian(h, xn[s], n, dim);
    }
    for (auto [dst, src, nm] : {std::tuple{&Q.wq, &F.wq, "q_proj"}, std::tuple{&Q.wk, &F.wk, "k_proj"},
                                std::tuple{&Q.wv, &F.wv, "v_proj"}}) {
      auto r = quant(*src, h, n_rows, pre + " " + nm);
      if (!r) return r.error();
      *dst = std::move(*r);
    }
    auto wq = dense_of(Q.wq), wk = dense_of(Q.wk), wv = dense_of(Q.wv);
    // 2. attention with the quantized q/k/v -> o_proj inputs.
    std::vector<double> ho(static_cast<size_t>(qd) * qd, 0.0);
    std::vector<Act> att(xs.size());
    for (size_t s = 0; s < xs.size(); ++s) {
      int n = static_cast<int>(calib[s].size());
      Act q, k, v;
      linear_rows(Q.wq, wq, xn[s], q, n);
      linear_rows(Q.wk, wk, xn[s], k, n);
      linear_rows(Q.wv, wv, xn[s], v, n);
      auto rope = [&](Act& a, int heads, int width) {
        for (int t = 0; t < n; ++t)
          for (int hh = 0; hh < heads; ++hh)
            for (int i = 0; i < hd / 2; ++i) {
              double f = (t / static_cast<double>(c.rope_scaling_factor)) * std::pow(c.rope_theta, -2.0 * i / hd);
              float* p = &a[static_cast<size_t>(t) * width + hh * hd];
              double x0 = p[i], x1 = p[i + hd / 2];
              p[i] = static_cast<float>(x0 * std::cos(f) - x1 * std::sin(f));
              p[i + hd / 2] = static_cast<float>(x0 * std::sin(f) + x1 * std::cos(f));
            }
      };
      rope(q, c.n_heads, qd);
      rope(k, c.n_kv_heads, kvd);
      att[s].assign(static_cast<size_t>(n) * qd, 0.0f);
      std::vector<double> sc(n);
      for (int t = 0; t < n; ++t)
        for (int hh = 0; hh < c.n_heads; ++hh) {
          int kh = hh / (c.n_heads / c.n_kv_heads);
          double mx = -1e300;
          for (int j = 0; j <= t; ++j) {
            double d = 0;
            for (int i = 0; i < hd; ++i)
              d += static_cast<double>(q[static_cast<size_t>(t) * qd + hh * hd + i]) * k[static_cast<size_t>(j) * kvd + kh * hd + i];
            sc[j] = d / std::sqrt(static_cast<double>(hd));
            mx = std::max(mx, sc[j]);
          }
          double sum = 0;
          for (int j = 0; j <= t; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
          for (int j = 0; j <= t; ++j)
            for (int i = 0; i < hd; ++i)
              att[s][static_cast<size_t>(t) * qd + hh * hd + i] +=
                  static_cast<float>(sc[j] / sum * v[static_cast<size_t>(j) * kvd + kh * hd + i]);
        }
      add_hessian(ho, att[s], n, qd);
    }
    {
      auto r = quant(F.wo, ho, n_rows, pre + " o_proj");
      if (!r) return r.error();
      Q.wo = std::move(*r);
    }
    auto wo = dense_of(Q.wo);
    // 3. residual, FFN norm -> gate/up inputs.
    std::vector<double> hf(static_cast<size_t>(dim) * dim, 0.0);
    std::vector<Act> xn2(xs.size());
    for (size_t s = 0; s < xs.size(); ++s) {
      int n = static_cast<int>(calib[s].size());
      Act o2;
      linear_rows(Q.wo, wo, att[s], o2, n);
      for (size_t i = 0; i < xs[s].size(); ++i) xs[s][i] += o2[i];
      rmsnorm_rows(xs[s], xn2[s], F.ffn_norm, n, dim, c.norm_eps);
      add_hessian(hf, xn2[s], n, dim);
    }
    Linear w1 = hidden != c0.hidden_dim ? pad_rows(F.w1, hidden) : Linear{F.w1.in, F.w1.out, F.w1.w, {}, nullptr};
    Linear w3 = hidden != c0.hidden_dim ? pad_rows(F.w3, hidden) : Linear{F.w3.in, F.w3.out, F.w3.w, {}, nullptr};
    Linear w2 = hidden != c0.hidden_dim ? pad_cols(F.w2, hidden) : Linear{F.w2.in, F.w2.out, F.w2.w, {}, nullptr};
    {
      auto r1 = quant(w1, hf, n_rows, pre + " gate_proj");
      if (!r1) return r1.error();
      Q.w1 = std::move(*r1);
      auto r3 = quant(w3, hf, n_rows, pre + " up_proj");
      if (!r3) return r3.error();
      Q.w3 = std::move(*r3);
    }
    auto d1 = dense_of(Q.w1), d3 = dense_of(Q.w3);
    // 4. SwiGLU -> down_proj inputs.
    std::vector<double> hd2(static_cast<size_t>(hidden) * hidden, 0.0);
    std::vector<Act> hh(xs.size());
    for (size_t s = 0; s < xs.size(); ++s) {
      int n = static_cast<int>(calib[s].size());
      Act a1, a3;
      linear_rows(Q.w1, d1, xn2[s], a1, n);
      linear_rows(Q.w3, d3, xn2[s], a3, n);
      for (size_t i = 0; i < a1.size(); ++i) a1[i] = a1[i] / (1.0f + std::exp(-a1[i])) * a3[i];
      hh[s] = std::move(a1);
      add_hessian(hd2, hh[s], n, hidden);
    }
    {
      auto r = quant(w2, hd2, n_rows, pre + " down_proj");
      if (!r) return r.error();
      Q.w2 = std::move(*r);
    }
    auto d2 = dense_of(Q.w2);
    for (size_t s = 0; s < xs.size(); ++s) {
      int n = static_cast<int>(calib[s].size());
      Act o3;
      linear_rows(Q.w2, d2, hh[s], o3, n);
      for (size_t i = 0; i < xs[s].size(); ++i) xs[s][i] += o3[i];
    }
  }
  return out;
}

}  // namespace rewoo::engine
