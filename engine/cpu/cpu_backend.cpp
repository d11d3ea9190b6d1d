// The CPU backend: a readable Llama forward pass (llama2.c's order of
// operations) over a per-slot fp32 KV cache, with the matmuls in
// cpu_kernels.h spread over a thread pool.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/base/thread_pool.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/half.h"

namespace rewoo::engine {

namespace {

using cpu::PackedQuant;

// A linear layer in the CPU's layout.
struct CpuLinear {
  int in = 0, out = 0;
  const float* w = nullptr;        // fp32 [out, in] (float layers; points into Weights or `deq`)
  cpu::HugeArray<uint16_t> w16;    // fp16 [out, in] instead, when every value is an fp16 (half the reads)
  std::vector<float> deq;          // dequantized copy when a GPTQ layer cannot be packed
  std::unique_ptr<PackedQuant> q;  // packed GPTQ layer
  std::unique_ptr<cpu::PackedQ4x8> q8;  // or (2/3/4-bit, not exact) the int8-activation layout
  std::unique_ptr<cpu::PackedQ4Cols> qc;  // or (4-bit, exact, AVX-512) the table-lookup layout
  const float* bias = nullptr;
};

struct CpuLayer {
  CpuLinear wq, wk, wv, wo, w1, w2, w3;
};

// One slot's cache: per layer, keys and values [capacity, kv_dim].
struct Slot {
  int len = 0;
  int capacity = 0;
  std::vector<std::vector<float>> k, v;
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(std::shared_ptr<const Weights> w, const BackendOptions& o) : w_(std::move(w)) {
    const ModelConfig& c = w_->config;
    max_seq_ = o.max_seq_len > 0 ? o.max_seq_len : c.max_seq_len;
    int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (threads > 1) pool_ = std::make_unique<ThreadPool>(threads - 1);
    avx2_ = cpu::cpu_has_avx2() && o.cpu_kernels != "portable";
    qgemm_ = avx2_ ? cpu::qgemm_avx2 : cpu::qgemm_ref;
    sgemm_ = avx2_ ? cpu::sgemm_avx2 : cpu::sgemm_ref;
    hgemm_ = avx2_ ? cpu::hgemm_avx2 : cpu::hgemm_ref;
    vnni_ = cpu::cpu_has_avx512vnni() && (o.cpu_kernels == "auto" || o.cpu_kernels == "avx512");
    q4q8_ = vnni_ ? cpu::q4q8_gemm_avx512vnni : avx2_ ? cpu::q4q8_gemm_avx2 : cpu::q4q8_gemm_ref;
    quantize_ = avx2_ ? cpu::quantize_act_q8_avx2 : cpu::quantize_act_q8;
    attend_ = avx2_ ? cpu::attend_avx2 : cpu::attend_ref;
    swiglu_ = avx2_ ? cpu::swiglu_avx2 : cpu::swiglu_ref;
    int8_ = !o.exact;
    layers_.resize(c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
      const LayerWeights& L = w_->layers[l];
      prepare(L.wq, layers_[l].wq);
      prepare(L.wk, layers_[l].wk);
      prepare(L.wv, layers_[l].wv);
      prepare(L.wo, layers_[l].wo);
      prepare(L.w1, layers_[l].w1);
      prepare(L.w2, layers_[l].w2);
      prepare(L.w3, layers_[l].w3);
    }
    lm_head_.in = c.dim;
    lm_head_.out = c.vocab_size;
    lm_head_.w = c.tie_embeddings ? w_->tok_embeddings.data() : w_->lm_head.w.data();
    to_fp16_if_exact(lm_head_);
    slots_.resize(std::max(1, o.n_slots));
    for (auto& s : slots_) {
      s.k.resize(c.n_layers);
      s.v.resize(c.n_layers);
    }
    // RoPE table as llama2.c computes it (float powf/cosf/sinf).
    const int half = c.head_dim / 2;
    rope_cos_.resize(static_cast<size_t>(max_seq_) * half);
    rope_sin_.resize(rope_cos_.size());
    for (int p = 0; p < max_seq_; ++p)
      for (int i = 0; i < half; ++i) {
        float freq = 1.0f / powf(c.rope_theta, static_cast<float>(2 * i) / static_cast<float>(c.head_dim));
        float val = (static_cast<float>(p) / c.rope_scaling_factor) * freq;
        rope_cos_[static_cast<size_t>(p) * half + i] = cosf(val);
        rope_sin_[static_cast<size_t>(p) * half + i] = sinf(val);
      }
  }

  std::string name() const override {
    return fmt::format("cpu ({}, {} threads, {})", vnni_ ? "avx512-vnni" : avx2_ ? "avx2" : "portable",
                       pool_ ? pool_->size() + 1 : 1,
                       any_q8_ ? "int8 activations" : "exact");
  }
  int n_slots() const override { return static_cast<int>(slots_.size()); }
  int max_seq_len() const override { return max_seq_; }
  void clear_slot(int slot) override {
    if (slot >= 0 && slot < n_slots()) slots_[slot].len = 0;
  }
  Status copy_slot(int src, int dst, int n_tokens) override {
    if (src < 0 || src >= n_slots() || dst < 0 || dst >= n_slots())
      return Error(fmt::format("slot out of range (have {})", n_slots()), "copy_slot");
    if (n_tokens < 0 || n_tokens > slots_[src].len)
      return Error(fmt::format("cannot copy {} tokens: slot {} holds {}", n_tokens, src, slots_[src].len), "copy_slot");
    if (src == dst) {
      slots_[dst].len = n_tokens;
      return {};
    }
    ensure_capacity(slots_[dst], n_tokens);
    const size_t kvd = static_cast<size_t>(w_->config.kv_dim());
    for (int l = 0; l < w_->config.n_layers; ++l) {
      std::memcpy(slots_[dst].k[l].data(), slots_[src].k[l].data(), sizeof(float) * kvd * n_tokens);
      std::memcpy(slots_[dst].v[l].data(), slots_[src].v[l].data(), sizeof(float) * kvd * n_tokens);
    }
    slots_[dst].len = n_tokens;
    return {};
  }

  Status forward(std::span<const SeqBatchEntry> batch, Logits& out) override {
    const ModelConfig& c = w_->config;
    std::vector<bool> used(slots_.size(), false);
    for (size_t e = 0; e < batch.size(); ++e) {
      const auto& b = batch[e];
      std::string where = fmt::format("forward: batch entry {}", e);
      if (b.slot < 0 || b.slot >= n_slots()) return Error(fmt::format("slot {} out of range (0..{})", b.slot, n_slots() - 1), where);
      if (used[b.slot]) return Error(fmt::format("slot {} appears twice in one batch", b.slot), where);
      used[b.slot] = true;
      if (b.tokens.empty()) return Error("no tokens", where);
      if (b.pos < 0 || b.pos > slots_[b.slot].len)
        return Error(fmt::format("pos {} but slot {} holds {} tokens", b.pos, b.slot, slots_[b.slot].len), where);
      if (static_cast<size_t>(b.pos) + b.tokens.size() > static_cast<size_t>(max_seq_))
        return Error(fmt::format("pos {} + {} tokens exceeds the context of {}", b.pos, b.tokens.size(), max_seq_), where);
      for (int32_t t : b.tokens)
        if (t < 0 || t >= c.vocab_size) return Error(fmt::format("token id {} out of range (vocab {})", t, c.vocab_size), where);
    }
    out.resize_for(batch, c.vocab_size);
    for (size_t e = 0; e < batch.size(); ++e) run_sequence(batch[e], out, e);
    return {};
  }

 private:
  void prepare(const Linear& src, CpuLinear& dst) {
    dst.in = src.in;
    dst.out = src.out;
    if (src.q) {
      if (int8_ && src.q->bits <= 4 && cpu::can_pack(*src.q)) {
        dst.q8 = std::make_unique<cpu::PackedQ4x8>(cpu::pack_q4x8(*src.q));
        any_q8_ = true;
      } else if (vnni_ && src.q->bits == 4 && cpu::can_pack(*src.q)) {
        dst.qc = std::make_unique<cpu::PackedQ4Cols>(cpu::pack_q4_cols(*src.q));
      } else if (cpu::can_pack(*src.q)) {
        dst.q = std::make_unique<PackedQuant>(cpu::pack_quant(*src.q));
      } else {
        std::vector<float> io = src.q->dequantize();  // [in, out]
        dst.deq.resize(io.size());
        for (int i = 0; i < src.in; ++i)
          for (int j = 0; j < src.out; ++j) dst.deq[static_cast<size_t>(j) * src.in + i] = io[static_cast<size_t>(i) * src.out + j];
        dst.w = dst.deq.data();
      }
      if (!src.q->bias.empty()) dst.bias = src.q->bias.data();
    } else {
      dst.w = src.w.data();
      if (!src.bias.empty()) dst.bias = src.bias.data();
      to_fp16_if_exact(dst);
    }
  }

  // Checkpoints store float tensors as fp16; keeping them so halves the bytes
  // a decode step reads, and changes nothing when every value is an fp16.
  static void to_fp16_if_exact(CpuLinear& l) {
    const size_t n = static_cast<size_t>(l.in) * l.out;
    cpu::HugeArray<uint16_t> h(n);
    for (size_t i = 0; i < n; ++i) {
      h[i] = fp32_to_fp16(l.w[i]);
      if (fp16_to_fp32(h[i]) != l.w[i] && !(std::isnan(l.w[i]))) return;
    }
    l.w16 = std::move(h);
    l.w = nullptr;
  }

  void ensure_capacity(Slot& s, int n) {
    if (n <= s.capacity) return;
    int cap = std::min(max_seq_, std::max(n, std::max(256, s.capacity * 2)));
    const size_t kvd = static_cast<size_t>(w_->config.kv_dim());
    for (int l = 0; l < w_->config.n_layers; ++l) {
      s.k[l].resize(kvd * cap);
      s.v[l].resize(kvd * cap);
    }
    s.capacity = cap;
  }

  // ThreadPool::parallel_for, or body(0, n) with one thread.
  void parallel(size_t n, size_t min_chunk, const std::function<void(size_t, size_t)>& body) {
    if (pool_) pool_->parallel_for(n, min_chunk, body);
    else body(0, n);
  }

  // y[n, out] = x[n, in] W (+ bias).
  void matmul(const CpuLinear& l, const float* x, int n, float* y) {
    if (l.q8) {
      const cpu::PackedQ4x8& q = *l.q8;
      const size_t nb = static_cast<size_t>(q.in / 32);
      xq_.resize(static_cast<size_t>(n) * q.in);
      xd_.resize(static_cast<size_t>(n) * nb);
      xgz_.resize(static_cast<size_t>(n) * q.n_groups);
      for (int t = 0; t < n; ++t)
        quantize_(x + static_cast<size_t>(t) * q.in, q.perm.empty() ? nullptr : q.perm.data(), q.in, q.bounds,
                  xq_.data() + static_cast<size_t>(t) * q.in, xd_.data() + t * nb,
                  xgz_.data() + static_cast<size_t>(t) * q.n_groups);
      // A super tile is 64 columns; tokens loop inside it, so its weights are
      // read from memory once and then from cache.
      size_t min_chunk = std::max<size_t>(1, 65536 / (static_cast<size_t>(q.in) * 64) + 1);
      parallel(q.n_super(), min_chunk, [&](size_t b, size_t e) {
        q4q8_(q, xq_.data(), xd_.data(), xgz_.data(), n, y, q.out, static_cast<int>(b), static_cast<int>(e));
      });
    } else if (l.qc) {
      const cpu::PackedQ4Cols& q = *l.qc;
      const float* xr = permuted(x, n, q.in, q.perm);
      size_t min_chunk = std::max<size_t>(4, 65536 / (static_cast<size_t>(q.in) * std::max(1, n)) + 1);
      parallel(q.out, min_chunk, [&](size_t b, size_t e) {
        cpu::q4_cols_gemm_avx512(q, xr, n, y, q.out, static_cast<int>(b), static_cast<int>(e));
      });
    } else if (l.q) {
      const PackedQuant& q = *l.q;
      const float* xr = permuted(x, n, q.in, q.perm);
      const int ncb = q.out_pad / 8;
      // ~64K weights per task keeps small layers on one thread.
      size_t min_chunk = std::max<size_t>(1, 65536 / (static_cast<size_t>(q.in) * 8 * std::max(1, n)) + 1);
      parallel(ncb, min_chunk, [&](size_t b, size_t e) {
        qgemm_(q, xr, n, y, q.out, static_cast<int>(b), static_cast<int>(e));
      });
    } else {
      size_t min_chunk = std::max<size_t>(1, 65536 / (static_cast<size_t>(l.in) * std::max(1, n)) + 1);
      parallel(l.out, min_chunk, [&](size_t b, size_t e) {
        if (!l.w16.empty()) hgemm_(l.w16.data(), l.in, x, n, y, l.out, static_cast<int>(b), static_cast<int>(e));
        else sgemm_(l.w, l.in, x, n, y, l.out, static_cast<int>(b), static_cast<int>(e));
      });
    }
    if (l.bias)
      for (int t = 0; t < n; ++t)
        for (int j = 0; j < l.out; ++j) y[static_cast<size_t>(t) * l.out + j] += l.bias[j];
  }

  static void rmsnorm(float* o, const float* x, const float* w, int size, float eps) {
    float ss = 0.0f;
    for (int j = 0; j < size; ++j) ss += x[j] * x[j];
    ss /= static_cast<float>(size);
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < size; ++j) o[j] = w[j] * (ss * x[j]);
  }

  void rope(float* v, int n_heads, int pos) {
    const int hd = w_->config.head_dim, half = hd / 2;
    const float* cs = rope_cos_.data() + static_cast<size_t>(pos) * half;
    const float* sn = rope_sin_.data() + static_cast<size_t>(pos) * half;
    for (int h = 0; h < n_heads; ++h) {
      float* x = v + static_cast<size_t>(h) * hd;
      for (int i = 0; i < half; ++i) {
        float a = x[i], b = x[i + half];
        x[i] = a * cs[i] - b * sn[i];
        x[i + half] = a * sn[i] + b * cs[i];
      }
    }
  }

  void run_sequence(const SeqBatchEntry& b, Logits& out, size_t e) {
    const ModelConfig& c = w_->config;
    const int n = static_cast<int>(b.tokens.size());
    const int dim = c.dim, kvd = c.kv_dim(), hd = c.head_dim, qd = c.n_heads * hd;
    Slot& s = slots_[b.slot];
    ensure_capacity(s, b.pos + n);
    s.len = b.pos;  // entries past pos are overwritten
    std::vector<float> x(static_cast<size_t>(n) * dim), xb(static_cast<size_t>(n) * std::max(dim, qd));
    std::vector<float> q(static_cast<size_t>(n) * qd), att_out(static_cast<size_t>(n) * qd);
    std::vector<float> kk(static_cast<size_t>(n) * kvd), vv(static_cast<size_t>(n) * kvd);
    std::vector<float> h1(static_cast<size_t>(n) * c.hidden_dim), h3(static_cast<size_t>(n) * c.hidden_dim);
    std::vector<float> tmp(static_cast<size_t>(n) * dim);
    for (int t = 0; t < n; ++t)
      std::memcpy(&x[static_cast<size_t>(t) * dim], &w_->tok_embeddings[static_cast<size_t>(b.tokens[t]) * dim], sizeof(float) * dim);

    const int kv_mul = c.n_heads / c.n_kv_heads;
    const float inv_sqrt = 1.0f / sqrtf(static_cast<float>(hd));
    for (int l = 0; l < c.n_layers; ++l) {
      const LayerWeights& LW = w_->layers[l];
      CpuLayer& L = layers_[l];
      for (int t = 0; t < n; ++t) rmsnorm(&xb[static_cast<size_t>(t) * dim], &x[static_cast<size_t>(t) * dim], LW.attn_norm.data(), dim, c.norm_eps);
      matmul(L.wq, xb.data(), n, q.data());
      matmul(L.wk, xb.data(), n, kk.data());
      matmul(L.wv, xb.data(), n, vv.data());
      for (int t = 0; t < n; ++t) {
        rope(&q[static_cast<size_t>(t) * qd], c.n_heads, b.pos + t);
        rope(&kk[static_cast<size_t>(t) * kvd], c.n_kv_heads, b.pos + t);
      }
      std::memcpy(&s.k[l][static_cast<size_t>(b.pos) * kvd], kk.data(), sizeof(float) * n * kvd);
      std::memcpy(&s.v[l][static_cast<size_t>(b.pos) * kvd], vv.data(), sizeof(float) * n * kvd);
      // Attention: every (token, head) pair is independent.
      const float* K = s.k[l].data();
      const float* V = s.v[l].data();
      size_t work = static_cast<size_t>(n) * c.n_heads;
      size_t ctx = static_cast<size_t>(b.pos + n);
      parallel(work, std::max<size_t>(1, 16384 / (ctx * hd) + 1), [&](size_t w0, size_t w1) {
        std::vector<float> att(ctx);
        for (size_t wi = w0; wi < w1; ++wi) {
          int t = static_cast<int>(wi / c.n_heads), h = static_cast<int>(wi % c.n_heads);
          int p = b.pos + t;
          const float* qh = &q[static_cast<size_t>(t) * qd + static_cast<size_t>(h) * hd];
          const size_t kv_off = static_cast<size_t>(h / kv_mul) * hd;
          attend_(qh, K + kv_off, V + kv_off, static_cast<size_t>(kvd), p + 1, hd, inv_sqrt, att.data(),
                  &att_out[static_cast<size_t>(t) * qd + static_cast<size_t>(h) * hd]);
        }
      });
      matmul(L.wo, att_out.data(), n, tmp.data());
      for (size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
      for (int t = 0; t < n; ++t) rmsnorm(&xb[static_cast<size_t>(t) * dim], &x[static_cast<size_t>(t) * dim], LW.ffn_norm.data(), dim, c.norm_eps);
      matmul(L.w1, xb.data(), n, h1.data());
      matmul(L.w3, xb.data(), n, h3.data());
      swiglu_(h1.data(), h3.data(), h1.size());
      matmul(L.w2, h1.data(), n, tmp.data());
      for (size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
    }
    s.len = b.pos + n;
    // Final norm and classifier, for the rows the caller wants.
    int first = b.all_logits ? 0 : n - 1;
    int rows = n - first;
    for (int t = 0; t < rows; ++t)
      rmsnorm(&xb[static_cast<size_t>(t) * dim], &x[static_cast<size_t>(first + t) * dim], w_->final_norm.data(), dim, c.norm_eps);
    float* dst = out.data.data() + out.offsets[e] * static_cast<size_t>(c.vocab_size);
    matmul(lm_head_, xb.data(), rows, dst);
  }

  std::shared_ptr<const Weights> w_;
  int max_seq_ = 0;
  bool avx2_ = false;
  cpu::QGemmFn qgemm_ = nullptr;
  cpu::SGemmFn sgemm_ = nullptr;
  cpu::HGemmFn hgemm_ = nullptr;
  cpu::Q4Q8GemmFn q4q8_ = nullptr;
  cpu::QuantizeActFn quantize_ = nullptr;
  cpu::AttendFn attend_ = nullptr;
  cpu::SwigluFn swiglu_ = nullptr;
  bool int8_ = false;
  bool any_q8_ = false;  // some layer uses the int8-activation path
  bool vnni_ = false;
  std::vector<int8_t> xq_;
  std::vector<float> xd_, xgz_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<CpuLayer> layers_;
  CpuLinear lm_head_;
  std::vector<Slot> slots_;
  std::vector<float> rope_cos_, rope_sin_;
  std::vector<float> xperm_;

  // x [n, in] with each row's columns in act-order (perm) order, in xperm_;
  // x itself when there is no permutation.
  const float* permuted(const float* x, int n, int in, const std::vector<int32_t>& perm) {
    if (perm.empty()) return x;
    xperm_.resize(static_cast<size_t>(n) * in);
    for (int t = 0; t < n; ++t)
      for (int k = 0; k < in; ++k) xperm_[static_cast<size_t>(t) * in + k] = x[static_cast<size_t>(t) * in + perm[k]];
    return xperm_.data();
  }
};

}  // namespace

Result<std::unique_ptr<Backend>> make_cpu_backend(std::shared_ptr<const Weights> weights, const BackendOptions& opts) {
  if (!weights) return Error("no weights", "cpu backend");
  if (opts.n_slots < 1 || opts.n_slots > 4096) return Error(fmt::format("n_slots {} out of range (1..4096)", opts.n_slots), "cpu backend");
  const std::string& k = opts.cpu_kernels;
  if (k != "auto" && k != "avx512" && k != "avx2" && k != "portable")
    return Error(fmt::format("cpu kernels '{}' unknown (expected auto, avx512, avx2 or portable)", k), "cpu backend");
  if ((k == "avx512" && !cpu::cpu_has_avx512vnni()) || (k == "avx2" && !cpu::cpu_has_avx2()))
    return Error(fmt::format("this CPU lacks the {} kernels' instructions", k), "cpu backend");
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(std::move(weights), opts));
}

}  // namespace rewoo::engine
