// CPU backend vs a float64 Llama forward pass written here, independent of
// the engine's code: it reads the AutoGPTQ tensors from the written
// safetensors bytes and dequantizes them with DESIGN.md's formula.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "engine/backend.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/half.h"
#include "engine/model_loader.h"
#include "engine/model_writer.h"
#include "engine/safetensors.h"
#include "engine/sampler.h"
#include "tests/engine/engine_test_util.h"

using namespace rewoo::engine;
using Mat = std::vector<double>;  // row-major

namespace {

struct RefLinear {
  int in = 0, out = 0;
  Mat w;  // [in, out]: y[j] = sum_i x[i] w[i][j]
};

struct RefModel {
  ModelConfig c;
  Mat emb, final_norm, lm_head;  // lm_head [vocab, dim]
  struct Layer {
    Mat an, fn;
    RefLinear q, k, v, o, gate, up, down;
  };
  std::vector<Layer> layers;
};

const rewoo::engine::StTensor& get(const SafetensorsFile& f, const std::string& n) {
  const StTensor* t = f.find(n);
  REQUIRE_MESSAGE(t != nullptr, n);
  return *t;
}

Mat f16_vec(const StTensor& t) {
  Mat v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, t.data + 2 * i, 2);
    v[i] = fp16_to_fp32(h);
  }
  return v;
}

uint32_t word(const StTensor& t, size_t i) {
  uint32_t w;
  std::memcpy(&w, t.data + 4 * i, 4);
  return w;
}

// Bit-stream read, as AutoGPTQ's packer lays values out (also 3-bit).
uint32_t unpack(const StTensor& t, int bits, size_t cols, size_t r, size_t c) {
  size_t b = r * bits, w = b / 32, s = b % 32;
  uint64_t v = word(t, w * cols + c) >> s;
  if (s + bits > 32) v |= static_cast<uint64_t>(word(t, (w + 1) * cols + c)) << (32 - s);
  return static_cast<uint32_t>(v & ((1u << bits) - 1));
}

RefLinear ref_linear(const SafetensorsFile& f, const std::string& p, int in, int out, int bits) {
  RefLinear l;
  l.in = in;
  l.out = out;
  l.w.assign(static_cast<size_t>(in) * out, 0);
  if (bits == 0) {
    Mat w = f16_vec(get(f, p + ".weight"));  // [out, in]
    for (int i = 0; i < in; ++i)
      for (int j = 0; j < out; ++j) l.w[static_cast<size_t>(i) * out + j] = w[static_cast<size_t>(j) * in + i];
    return l;
  }
  const StTensor& qw = get(f, p + ".qweight");
  const StTensor& qz = get(f, p + ".qzeros");
  Mat sc = f16_vec(get(f, p + ".scales"));
  const StTensor& gi = get(f, p + ".g_idx");
  const uint32_t mask = (1u << bits) - 1;
  for (int i = 0; i < in; ++i) {
    uint32_t g = word(gi, i);
    for (int j = 0; j < out; ++j) {
      uint32_t q = unpack(qw, bits, out, i, j);
      // qzeros row g: a bit stream over columns (zero - 1 stored).
      size_t zcols = static_cast<size_t>(out) * bits / 32;
      size_t b = static_cast<size_t>(j) * bits, w = b / 32, s = b % 32;
      uint64_t zv = word(qz, g * zcols + w) >> s;
      if (s + bits > 32) zv |= static_cast<uint64_t>(word(qz, g * zcols + w + 1)) << (32 - s);
      uint32_t zero = ((static_cast<uint32_t>(zv) & mask) + 1) & mask;
      // AutoGPTQ dequantizes in fp16: the weight is the fp16 nearest to scale*(q-zero).
      l.w[static_cast<size_t>(i) * out + j] =
          fp16_to_fp32(fp32_to_fp16(static_cast<float>(sc[static_cast<size_t>(g) * out + j] * (static_cast<double>(q) - zero))));
    }
  }
  return l;
}

RefModel read_ref(const std::filesystem::path& dir, const ModelConfig& c, int bits) {
  auto f = SafetensorsFile::open(dir / "model.safetensors");
  REQUIRE(f.ok());
  RefModel m;
  m.c = c;
  m.emb = f16_vec(get(**f, "model.embed_tokens.weight"));
  m.final_norm = f16_vec(get(**f, "model.norm.weight"));
  m.lm_head = c.tie_embeddings ? m.emb : f16_vec(get(**f, "lm_head.weight"));
  const int qd = c.n_heads * c.head_dim, kvd = c.kv_dim();
  for (int l = 0; l < c.n_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    RefModel::Layer L;
    L.an = f16_vec(get(**f, p + "input_layernorm.weight"));
    L.fn = f16_vec(get(**f, p + "post_attention_layernorm.weight"));
    L.q = ref_linear(**f, p + "self_attn.q_proj", c.dim, qd, bits);
    L.k = ref_linear(**f, p + "self_attn.k_proj", c.dim, kvd, bits);
    L.v = ref_linear(**f, p + "self_attn.v_proj", c.dim, kvd, bits);
    L.o = ref_linear(**f, p + "self_attn.o_proj", qd, c.dim, bits);
    L.gate = ref_linear(**f, p + "mlp.gate_proj", c.dim, c.hidden_dim, bits);
    L.up = ref_linear(**f, p + "mlp.up_proj", c.dim, c.hidden_dim, bits);
    L.down = ref_linear(**f, p + "mlp.down_proj", c.hidden_dim, c.dim, bits);
    m.layers.push_back(std::move(L));
  }
  return m;
}

Mat matvec(const RefLinear& l, const Mat& x) {
  Mat y(l.out, 0.0);
  for (int i = 0; i < l.in; ++i)
    for (int j = 0; j < l.out; ++j) y[j] += x[i] * l.w[static_cast<size_t>(i) * l.out + j];
  return y;
}

Mat rmsnorm(const Mat& x, const Mat& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  double r = 1.0 / std::sqrt(ss / x.size() + eps);
  Mat o(x.size());
  for (size_t i = 0; i < x.size(); ++i) o[i] = w[i] * x[i] * r;
  return o;
}

void rope(Mat& x, int heads, int hd, int pos, double theta) {
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < hd / 2; ++i) {
      double f = std::pow(theta, -2.0 * i / hd) * pos;
      double a = x[h * hd + i], b = x[h * hd + i + hd / 2];
      x[h * hd + i] = a * std::cos(f) - b * std::sin(f);
      x[h * hd + i + hd / 2] = a * std::sin(f) + b * std::cos(f);
    }
}

// Logits after every token of `toks` (rows of vocab).
std::vector<Mat> ref_forward(const RefModel& m, const std::vector<int32_t>& toks) {
  const ModelConfig& c = m.c;
  const int hd = c.head_dim, kvd = c.kv_dim();
  std::vector<std::vector<Mat>> K(c.n_layers), V(c.n_layers);
  std::vector<Mat> out;
  for (size_t p = 0; p < toks.size(); ++p) {
    Mat x(m.emb.begin() + static_cast<long>(toks[p]) * c.dim, m.emb.begin() + static_cast<long>(toks[p] + 1) * c.dim);
    for (int l = 0; l < c.n_layers; ++l) {
      const auto& L = m.layers[l];
      Mat xn = rmsnorm(x, L.an, c.norm_eps);
      Mat q = matvec(L.q, xn), k = matvec(L.k, xn), v = matvec(L.v, xn);
      rope(q, c.n_heads, hd, static_cast<int>(p), c.rope_theta);
      rope(k, c.n_kv_heads, hd, static_cast<int>(p), c.rope_theta);
      K[l].push_back(k);
      V[l].push_back(v);
      Mat att(c.n_heads * hd, 0.0);
      for (int h = 0; h < c.n_heads; ++h) {
        int kh = h / (c.n_heads / c.n_kv_heads);
        std::vector<double> s(p + 1);
        double mx = -1e300;
        for (size_t j = 0; j <= p; ++j) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += q[h * hd + i] * K[l][j][kh * hd + i];
          s[j] = d / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (size_t j = 0; j <= p; ++j)
          for (int i = 0; i < hd; ++i) att[h * hd + i] += s[j] / sum * V[l][j][kh * hd + i];
      }
      (void)kvd;
      Mat o = matvec(L.o, att);
      for (int i = 0; i < c.dim; ++i) x[i] += o[i];
      xn = rmsnorm(x, L.fn, c.norm_eps);
      Mat g = matvec(L.gate, xn), u = matvec(L.up, xn);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      Mat d = matvec(L.down, g);
      for (int i = 0; i < c.dim; ++i) x[i] += d[i];
    }
    Mat xn = rmsnorm(x, m.final_norm, c.norm_eps);
    Mat lg(c.vocab_size, 0.0);
    for (int t = 0; t < c.vocab_size; ++t)
      for (int i = 0; i < c.dim; ++i) lg[t] += xn[i] * m.lm_head[static_cast<size_t>(t) * c.dim + i];
    out.push_back(lg);
  }
  return out;
}

struct Case {
  const char* name;
  ModelConfig c;
  int bits, group;
  bool act_order;
};

}  // namespace

TEST_CASE("CPU forward matches a float64 reference on random GPTQ models") {
  using rewoo::test::small_config;
  std::vector<Case> cases = {
      {"4-bit g32 act-order, GQA", small_config(64, 96, 2, 4, 2, 160), 4, 32, true},
      {"4-bit no group", small_config(64, 128, 2, 4, 4, 96), 4, -1, true},
      {"3-bit g64 act-order", small_config(128, 192, 1, 8, 2, 128), 3, 64, true},
      {"3-bit no group, MQA", small_config(128, 160, 2, 4, 1, 64), 3, -1, false},
      {"2-bit g32", small_config(64, 96, 1, 2, 1, 64), 2, 32, false},
      {"8-bit g32 act-order", small_config(64, 96, 1, 4, 2, 64), 8, 32, true},
      {"4-bit g16 (unpackable groups: float fallback)", small_config(64, 96, 1, 4, 2, 64), 4, 16, true},
      {"float (fp16 weights)", small_config(64, 96, 2, 4, 2, 96), 0, -1, false},
  };
  cases[1].c.rope_theta = 1e6f;
  cases[3].c.tie_embeddings = true;
  int seed = 0;
  for (auto& cs : cases) {
    CAPTURE(cs.name);
    rewoo::test::TempDir tmp;
    RandomOptions ro{cs.bits, cs.group, cs.act_order, static_cast<uint64_t>(++seed)};
    auto w = random_weights(cs.c, ro);
    REQUIRE(w.ok());
    REQUIRE(save_model_dir(**w, tmp.path()).ok());
    auto loaded = load_weights(tmp.path());
    REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().to_string()));
    RefModel ref = read_ref(tmp.path(), cs.c, cs.bits);
    std::vector<int32_t> toks;
    for (int i = 0; i < 9; ++i) toks.push_back((i * 37 + seed * 11) % cs.c.vocab_size);
    auto want = ref_forward(ref, toks);

    for (int threads : {1, 2}) {
      BackendOptions bo;
      bo.device = Device::kCpu;
      bo.exact = true;
      bo.n_slots = 2;
      bo.threads = threads;
      auto be = make_backend(*loaded, bo);
      REQUIRE(be.ok());
      // Slot 0: prefill 6 with all logits, then 3 decode steps. Slot 1: the
      // whole sequence one token at a time, batched alongside.
      Logits out;
      SeqBatchEntry a{0, std::span<const int32_t>(toks.data(), 6), 0, true};
      SeqBatchEntry b{1, std::span<const int32_t>(toks.data(), 1), 0, false};
      SeqBatchEntry batch[2] = {a, b};
      REQUIRE((*be)->forward(batch, out).ok());
      for (int t = 0; t < 6; ++t) CHECK(rewoo::test::rel_err(out.row(0, t), want[t]) < 1e-4);
      CHECK(rewoo::test::rel_err(out.row(1), want[0]) < 1e-4);
      for (int p = 1; p < 9; ++p) {
        std::vector<SeqBatchEntry> bt;
        if (p >= 6) bt.push_back({0, std::span<const int32_t>(toks.data() + p, 1), p, false});
        bt.push_back({1, std::span<const int32_t>(toks.data() + p, 1), p, false});
        REQUIRE((*be)->forward(bt, out).ok());
        for (size_t e = 0; e < bt.size(); ++e) {
          double err = rewoo::test::rel_err(out.row(e), want[p]);
          CHECK(err < 1e-4);
        }
      }
    }
  }
}

TEST_CASE("int8-activation CPU mode agrees with the exact mode on a random 4-bit model") {
  auto cfg = rewoo::test::small_config(128, 256, 2, 4, 2, 256);
  auto w = random_weights(cfg, {4, 64, true, 9});
  REQUIRE(w.ok());
  BackendOptions exact, fast;
  exact.device = fast.device = Device::kCpu;
  exact.exact = true;
  auto a = make_backend(*w, exact), b = make_backend(*w, fast);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK((*b)->name().find("int8") != std::string::npos);
  std::vector<int32_t> toks = {1, 17, 33, 99, 200, 5, 64, 128};
  Logits la, lb;
  SeqBatchEntry e{0, toks, 0, true};
  REQUIRE((*a)->forward({&e, 1}, la).ok());
  REQUIRE((*b)->forward({&e, 1}, lb).ok());
  double err = rewoo::test::rel_err(lb.data, la.data);
  MESSAGE("int8 activations vs exact: logits relative error " << err);
  CHECK(err < 5e-2);
}

namespace {

// A CPU backend over a small random 4-bit g32 act-order model (vocabulary 64,
// 16 positions a slot).
std::unique_ptr<Backend> small_cpu_backend(uint64_t seed, int n_slots) {
  auto w = random_weights(rewoo::test::small_config(64, 96, 2, 4, 2, 64), {4, 32, true, seed});
  REQUIRE(w.ok());
  BackendOptions bo;
  bo.device = Device::kCpu;
  bo.n_slots = n_slots;
  bo.max_seq_len = 16;
  auto be = make_backend(*w, bo);
  REQUIRE(be.ok());
  return std::move(*be);
}

}  // namespace

TEST_CASE("Backend KV-cache slots: copy_slot prefix reuse, rewinding, errors") {
  auto be = small_cpu_backend(7, 3);
  Backend& B = *be;
  CHECK(B.n_slots() == 3);
  CHECK(B.max_seq_len() == 16);
  std::vector<int32_t> t = {1, 5, 9, 13, 17, 21};
  Logits full, part;
  SeqBatchEntry e{0, t, 0, false};
  REQUIRE(B.forward({&e, 1}, full).ok());
  std::vector<float> want(full.row(0).begin(), full.row(0).end());
  // Prefix of 4 copied to slot 2, then the last 2 tokens there.
  REQUIRE(B.copy_slot(0, 2, 4).ok());
  SeqBatchEntry e2{2, std::span<const int32_t>(t.data() + 4, 2), 4, false};
  REQUIRE(B.forward({&e2, 1}, part).ok());
  CHECK(rewoo::test::rel_err(part.row(0), want) < 1e-6);
  // Rewind slot 0 to 3 tokens and replay.
  SeqBatchEntry e3{0, std::span<const int32_t>(t.data() + 3, 3), 3, false};
  REQUIRE(B.forward({&e3, 1}, part).ok());
  CHECK(rewoo::test::rel_err(part.row(0), want) < 1e-6);

  SeqBatchEntry bad_slot{5, t, 0, false};
  CHECK_FALSE(B.forward({&bad_slot, 1}, part).ok());
  SeqBatchEntry bad_pos{1, t, 3, false};  // slot 1 is empty
  CHECK_FALSE(B.forward({&bad_pos, 1}, part).ok());
  std::vector<int32_t> longer(17, 1);
  SeqBatchEntry too_long{1, longer, 0, false};
  auto st = B.forward({&too_long, 1}, part);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().to_string().find("context") != std::string::npos);
  std::vector<int32_t> badtok = {1, 64};
  SeqBatchEntry bt{1, badtok, 0, false};
  CHECK_FALSE(B.forward({&bt, 1}, part).ok());
  SeqBatchEntry dup[2] = {{1, t, 0, false}, {1, t, 0, false}};
  CHECK_FALSE(B.forward(dup, part).ok());
  CHECK_FALSE(B.copy_slot(1, 2, 3).ok());  // slot 1 holds nothing
}

TEST_CASE("Backend::forward_greedy: each entry's last-row argmax, errors as forward()") {
  auto be = small_cpu_backend(11, 2);
  Backend& B = *be;
  std::vector<int32_t> a = {1, 5, 9, 13}, b = {1, 7};
  // all_logits on one entry: ignored, the pick is still its last row's
  SeqBatchEntry batch[2] = {{0, a, 0, true}, {1, b, 0, false}};
  Logits out;
  REQUIRE(B.forward(batch, out).ok());
  std::vector<int32_t> picks = {42, 42, 42};
  REQUIRE(B.forward_greedy(batch, picks).ok());  // same positions again: same cache
  REQUIRE(picks.size() == 2);
  CHECK(picks[0] == Sampler::argmax(out.row(0)));
  CHECK(picks[1] == Sampler::argmax(out.row(1)));
  SeqBatchEntry bad{0, a, 9, false};  // past what slot 0 holds
  CHECK_FALSE(B.forward_greedy({&bad, 1}, picks).ok());
}

TEST_CASE("make_backend: cuda without a CUDA build is a clear error; auto falls back to cpu") {
  auto w = random_weights(rewoo::test::small_config(64, 96, 1, 4, 2, 64), {4, 32, false, 1});
  REQUIRE(w.ok());
  BackendOptions bo;
  bo.device = Device::kAuto;
  auto a = make_backend(*w, bo);
  REQUIRE(a.ok());
#ifndef REWOO_HAVE_CUDA
  CHECK((*a)->name().rfind("cpu", 0) == 0);
  bo.device = Device::kCuda;
  auto c = make_backend(*w, bo);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().to_string().find("CUDA") != std::string::npos);
#endif
  CHECK_FALSE(parse_device("tpu").ok());
  CHECK(*parse_device("cpu") == Device::kCpu);
}

TEST_CASE("CPU kernel sets agree end to end: portable, AVX2 and AVX-512, int8 and exact paths") {
  BackendOptions bad;
  bad.device = Device::kCpu;
  bad.cpu_kernels = "sse9";
  auto w0 = random_weights(rewoo::test::small_config(64, 96, 1, 4, 2, 32), {4, 32, true, 3});
  REQUIRE(w0.ok());
  auto e = make_backend(*w0, bad);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().to_string().find("sse9") != std::string::npos);

  std::vector<std::string> sets = {"portable"};
  if (cpu::cpu_has_avx2()) sets.push_back("avx2");
  if (cpu::cpu_has_avx512vnni()) sets.push_back("avx512");
  if (sets.size() == 1) MESSAGE("only the portable kernels run on this CPU");
  struct Q { int bits, group; };
  for (Q qc : {Q{4, 32}, Q{3, 64}}) {
    auto w = random_weights(rewoo::test::small_config(128, 256, 2, 4, 2, 64), {qc.bits, qc.group, true, 21});
    REQUIRE(w.ok());
    const std::vector<int32_t> toks = {1, 17, 33, 50, 2, 5, 63};
    for (bool exact : {false, true}) {
      CAPTURE(qc.bits);
      CAPTURE(exact);
      std::vector<float> want;
      for (const auto& k : sets) {
        CAPTURE(k);
        BackendOptions bo;
        bo.device = Device::kCpu;
        bo.exact = exact;
        bo.cpu_kernels = k;
        auto be = make_backend(*w, bo);
        REQUIRE(be.ok());
        Logits out;
        SeqBatchEntry en{0, toks, 0, true};
        REQUIRE((*be)->forward({&en, 1}, out).ok());
        if (want.empty()) want = out.data;
        else CHECK(rewoo::test::rel_err(out.data, want) < 1e-5);
      }
    }
  }
}
