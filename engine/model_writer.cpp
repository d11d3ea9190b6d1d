#include "engine/model_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/base/json_text.h"
#include "engine/half.h"
#include "engine/model_loader.h"
#include "engine/safetensors.h"

namespace rewoo::engine {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

StWriteTensor float_tensor(const std::string& name, const std::vector<float>& v, std::vector<int64_t> shape, bool f32) {
  StWriteTensor t{name, f32 ? StDType::kF32 : StDType::kF16, std::move(shape), {}};
  if (f32) {
    t.bytes.resize(v.size() * 4);
    std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  } else {
    t.bytes.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h = fp32_to_fp16(v[i]);
      std::memcpy(&t.bytes[2 * i], &h, 2);
    }
  }
  return t;
}

StWriteTensor u32_tensor(const std::string& name, const std::vector<uint32_t>& v, std::vector<int64_t> shape) {
  StWriteTensor t{name, StDType::kI32, std::move(shape), {}};
  t.bytes.resize(v.size() * 4);
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

void put_quant(std::vector<StWriteTensor>& out, const std::string& p, const QuantLinear& q) {
  const int bits = q.bits, in = q.in, outf = q.out;
  // Back to the original row order.
  std::vector<uint32_t> qw(q.qweight.size(), 0);
  if (q.perm.empty()) {
    qw = q.qweight;
  } else {
    for (int k = 0; k < in; ++k) copy_packed_row(q.qweight.data(), k, qw.data(), q.perm[k], bits, outf);
  }
  out.push_back(u32_tensor(p + ".qweight", qw, {static_cast<int64_t>(in) * bits / 32, outf}));
  const int zw = outf * bits / 32;
  std::vector<uint32_t> qz(static_cast<size_t>(q.n_groups) * zw, 0);
  const uint32_t mask = (1u << bits) - 1;
  for (int g = 0; g < q.n_groups; ++g)
    for (int j = 0; j < outf; ++j) {
      uint32_t z = (q.zeros[static_cast<size_t>(g) * outf + j] + mask) & mask;  // zero-1, wrapped
      // Row g of qzeros is a bit stream over columns: column j at bit j*bits.
      size_t b = static_cast<size_t>(j) * bits, w = b / 32, s = b % 32;
      qz[static_cast<size_t>(g) * zw + w] |= z << s;
      if (s + bits > 32) qz[static_cast<size_t>(g) * zw + w + 1] |= z >> (32 - s);
    }
  out.push_back(u32_tensor(p + ".qzeros", qz, {q.n_groups, zw}));
  out.push_back(float_tensor(p + ".scales", q.scales, {q.n_groups, outf}, false));
  std::vector<uint32_t> gi(q.g_idx.begin(), q.g_idx.end());
  out.push_back(u32_tensor(p + ".g_idx", gi, {in}));
  if (!q.bias.empty()) out.push_back(float_tensor(p + ".bias", q.bias, {outf}, false));
}

}  // namespace

Status save_model_dir(const Weights& w, const fs::path& dir, bool float32) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error(fmt::format("cannot create folder: {}", ec.message()), dir.string());
  const ModelConfig& c = w.config;
  json cfg = {{"architectures", {"LlamaForCausalLM"}},
              {"model_type", "llama"},
              {"bos_token_id", c.bos_id},
              {"eos_token_id", c.eos_id},
              {"hidden_act", "silu"},
              {"hidden_size", c.dim},
              {"intermediate_size", c.hidden_dim},
              {"max_position_embeddings", c.max_seq_len},
              {"num_attention_heads", c.n_heads},
              {"num_hidden_layers", c.n_layers},
              {"num_key_value_heads", c.n_kv_heads},
              {"rms_norm_eps", c.norm_eps},
              {"rope_theta", c.rope_theta},
              {"rope_scaling", nullptr},
              {"tie_word_embeddings", c.tie_embeddings},
              {"torch_dtype", float32 ? "float32" : "float16"},
              {"vocab_size", c.vocab_size}};
  if (c.rope_scaling_factor != 1.0f) cfg["rope_scaling"] = {{"type", "linear"}, {"factor", c.rope_scaling_factor}};
  {
    std::ofstream f(dir / "config.json");
    f << json_text(cfg, 2) << "\n";
    if (!f) return Error("cannot write", (dir / "config.json").string());
  }
  if (w.quant.quantized()) {
    json q = {{"bits", w.quant.bits}, {"group_size", w.quant.group_size}, {"damp_percent", w.quant.damp_percent},
              {"desc_act", w.quant.desc_act}, {"static_groups", false}, {"sym", w.quant.sym},
              {"true_sequential", true}, {"model_name_or_path", nullptr}, {"model_file_base_name", "model"}};
    std::ofstream f(dir / "quantize_config.json");
    f << json_text(q, 2) << "\n";
    if (!f) return Error("cannot write", (dir / "quantize_config.json").string());
  } else {
    fs::remove(dir / "quantize_config.json", ec);
  }
  std::vector<StWriteTensor> t;
  t.push_back(float_tensor("model.embed_tokens.weight", w.tok_embeddings, {c.vocab_size, c.dim}, float32));
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[l];
    std::string p = fmt::format("model.layers.{}.", l);
    t.push_back(float_tensor(p + "input_layernorm.weight", L.attn_norm, {c.dim}, float32));
    t.push_back(float_tensor(p + "post_attention_layernorm.weight", L.ffn_norm, {c.dim}, float32));
    std::pair<const Linear*, const char*> lins[] = {{&L.wq, "self_attn.q_proj"}, {&L.wk, "self_attn.k_proj"},
                                                    {&L.wv, "self_attn.v_proj"}, {&L.wo, "self_attn.o_proj"},
                                                    {&L.w1, "mlp.gate_proj"},   {&L.w3, "mlp.up_proj"},
                                                    {&L.w2, "mlp.down_proj"}};
    for (auto& [lin, name] : lins) {
      if (lin->q) {
        put_quant(t, p + name, *lin->q);
      } else {
        t.push_back(float_tensor(p + name + ".weight", lin->w, {lin->out, lin->in}, float32));
        if (!lin->bias.empty()) t.push_back(float_tensor(p + name + ".bias", lin->bias, {lin->out}, float32));
      }
    }
  }
  t.push_back(float_tensor("model.norm.weight", w.final_norm, {c.dim}, float32));
  if (!c.tie_embeddings) t.push_back(float_tensor("lm_head.weight", w.lm_head.w, {c.vocab_size, c.dim}, float32));
  return write_safetensors(dir / "model.safetensors", t, {{"format", "pt"}});
}

std::vector<std::string> shape_names() { return {"tiny", "small", "1b", "7b", "13b", "34b", "70b"}; }

Result<ModelConfig> shape_by_name(const std::string& name) {
  ModelConfig c;
  c.vocab_size = 32000;
  c.norm_eps = 1e-5f;
  auto set = [&](int dim, int hidden, int layers, int heads, int kv, int ctx) {
    c.dim = dim;
    c.hidden_dim = hidden;
    c.n_layers = layers;
    c.n_heads = heads;
    c.n_kv_heads = kv;
    c.head_dim = dim / heads;
    c.max_seq_len = ctx;
  };
  if (name == "tiny") set(64, 128, 2, 4, 2, 2048);
  else if (name == "small") set(256, 768, 4, 8, 4, 2048);
  else if (name == "1b") set(2048, 5632, 22, 32, 4, 2048);     // TinyLlama-1.1B
  else if (name == "7b") set(4096, 11008, 32, 32, 32, 4096);   // Llama-2-7B
  else if (name == "13b") set(5120, 13824, 40, 40, 40, 4096);  // Llama-2-13B
  else if (name == "34b") {                                    // CodeLlama-34B
    set(8192, 22016, 48, 64, 8, 16384);
    c.rope_theta = 1e6f;
  } else if (name == "70b") set(8192, 28672, 80, 64, 8, 4096);  // Llama-2-70B
  else return Error(fmt::format("unknown shape '{}' (expected tiny, small, 1b, 7b, 13b, 34b or 70b)", name));
  return c;
}

namespace {
// splitmix64: fast, good enough for random weights.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24); }  // [0,1)
  float sym() { return uniform() * 2.0f - 1.0f; }
};
}  // namespace

Result<std::shared_ptr<Weights>> random_weights(const ModelConfig& shape, const RandomOptions& o) {
  if (o.bits != 0 && o.bits != 2 && o.bits != 3 && o.bits != 4 && o.bits != 8)
    return Error(fmt::format("bits {} unsupported (expected 0 for float, 2, 3, 4 or 8)", o.bits));
  auto w = std::make_shared<Weights>();
  w->config = shape;
  ModelConfig& c = w->config;
  if (c.head_dim == 0) c.head_dim = c.dim / c.n_heads;
  w->quant.bits = o.bits;
  w->quant.group_size = o.group_size;
  w->quant.desc_act = o.bits != 0 && o.act_order;
  w->quant.sym = true;
  Rng rng{o.seed * 0x2545f4914f6cdd1dull + 12345};
  auto rand_vec = [&](size_t n, float scale, float offset) {
    std::vector<float> v(n);
    for (auto& x : v) x = fp16_round(offset + scale * rng.sym());
    return v;
  };
  w->tok_embeddings = rand_vec(static_cast<size_t>(c.vocab_size) * c.dim, 1.0f, 0.0f);
  w->final_norm = rand_vec(c.dim, 0.1f, 1.0f);
  if (!c.tie_embeddings) {
    w->lm_head.in = c.dim;
    w->lm_head.out = c.vocab_size;
    w->lm_head.w = rand_vec(static_cast<size_t>(c.vocab_size) * c.dim, std::sqrt(3.0f / c.dim), 0.0f);
  }
  auto make_linear = [&](int in, int out, const std::string& where) -> Result<Linear> {
    Linear l;
    l.in = in;
    l.out = out;
    // Uniform weights with variance 1/in.
    const float amp = std::sqrt(3.0f / static_cast<float>(in));
    if (o.bits == 0) {
      l.w = rand_vec(static_cast<size_t>(in) * out, amp, 0.0f);
      return l;
    }
    if ((static_cast<int64_t>(in) * o.bits) % 32 || (static_cast<int64_t>(out) * o.bits) % 32)
      return Error(fmt::format("{}: {}x{} does not pack at {} bits", where, in, out, o.bits));
    const int gs = o.group_size;
    const int n_groups = gs == -1 ? 1 : (in + gs - 1) / gs;
    std::vector<uint32_t> qweight(static_cast<size_t>(in) * o.bits / 32 * out);
    for (auto& x : qweight) x = static_cast<uint32_t>(rng.next());
    const uint32_t maxq = (1u << o.bits) - 1, zero = (maxq + 1) / 2;
    std::vector<uint32_t> qzeros(static_cast<size_t>(n_groups) * out * o.bits / 32, 0);
    // Fill qzeros rows: value zero-1 at column j (bit stream along columns).
    const int zw = out * o.bits / 32;
    for (int g = 0; g < n_groups; ++g)
      for (int j = 0; j < out; ++j) {
        size_t b = static_cast<size_t>(j) * o.bits, wi = b / 32, s = b % 32;
        uint32_t z = zero - 1;
        qzeros[static_cast<size_t>(g) * zw + wi] |= z << s;
        if (s + o.bits > 32) qzeros[static_cast<size_t>(g) * zw + wi + 1] |= z >> (32 - s);
      }
    // Uniform q in [0, maxq] has std ~ (maxq+1)/sqrt(12); scale to variance 1/in.
    const float base = amp / (static_cast<float>(maxq + 1) / 2.0f);
    std::vector<float> scales(static_cast<size_t>(n_groups) * out);
    for (auto& s : scales) s = fp16_round(base * (0.75f + 0.5f * rng.uniform()));
    std::vector<int32_t> g_idx(in);
    for (int i = 0; i < in; ++i) g_idx[i] = gs == -1 ? 0 : i / gs;
    if (o.act_order && gs != -1) {
      for (int i = in - 1; i > 0; --i) std::swap(g_idx[i], g_idx[static_cast<int>(rng.next() % (i + 1))]);
    }
    auto q = make_quant_linear(in, out, o.bits, gs, qweight.data(), qzeros.data(), scales.data(), g_idx.data(), where);
    if (!q) return q.error();
    l.q = std::move(*q);
    return l;
  };
  w->layers.resize(c.n_layers);
  const int qd = c.n_heads * c.head_dim;
  for (int l = 0; l < c.n_layers; ++l) {
    auto& L = w->layers[l];
    L.attn_norm = rand_vec(c.dim, 0.1f, 1.0f);
    L.ffn_norm = rand_vec(c.dim, 0.1f, 1.0f);
    struct It { Linear* d; int in, out; const char* n; };
    It its[] = {{&L.wq, c.dim, qd, "q_proj"},         {&L.wk, c.dim, c.kv_dim(), "k_proj"},
                {&L.wv, c.dim, c.kv_dim(), "v_proj"}, {&L.wo, qd, c.dim, "o_proj"},
                {&L.w1, c.dim, c.hidden_dim, "gate_proj"}, {&L.w2, c.hidden_dim, c.dim, "down_proj"},
                {&L.w3, c.dim, c.hidden_dim, "up_proj"}};
    for (auto& it : its) {
      auto lin = make_linear(it.in, it.out, fmt::format("layer {} {}", l, it.n));
      if (!lin) return lin.error();
      *it.d = std::move(*lin);
    }
  }
  return w;
}

}  // namespace rewoo::engine
