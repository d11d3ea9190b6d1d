#include "engine/model_loader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/base/read_file.h"
#include "engine/half.h"
#include "engine/safetensors.h"

namespace rewoo::engine {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

Result<json> read_json(const fs::path& file) {
  auto text = read_whole_file(file, file.filename().string());
  if (!text) return text.error();
  try {
    json j = json::parse(*text);
    if (!j.is_object()) return Error("expected a JSON object", file.string());
    return j;
  } catch (const std::exception& e) {
    return Error(fmt::format("not valid JSON: {}", e.what()), file.string());
  }
}

// Reads an integer field; `required` ones must be present.
Result<int> get_int(const json& j, const char* key, bool required, int dflt, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return Error(fmt::format("missing required field '{}'", key), where);
    return dflt;
  }
  if (!j[key].is_number_integer()) return Error(fmt::format("field '{}' must be an integer", key), where);
  int64_t v = j[key].get<int64_t>();
  if (v < -1 || v > (1ll << 30)) return Error(fmt::format("field '{}' = {} is out of range", key, v), where);
  return static_cast<int>(v);
}

Result<double> get_num(const json& j, const char* key, double dflt, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_number()) return Error(fmt::format("field '{}' must be a number", key), where);
  return j[key].get<double>();
}

#define REWOO_CAT2(a, b) a##b
#define REWOO_CAT(a, b) REWOO_CAT2(a, b)
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(REWOO_CAT(assign_r_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp) return tmp.error();               \
  lhs = *tmp

Status validate_config(const ModelConfig& c, const std::string& where) {
  auto bad = [&](const std::string& m) { return Status(Error(m, where)); };
  if (c.dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.hidden_dim <= 0 ||
      c.vocab_size <= 0 || c.max_seq_len <= 0)
    return bad(fmt::format("sizes must be positive: {}", c.summary()));
  // Far above any Llama (405B: hidden 16384, intermediate 53248, 126 layers,
  // 128 heads, vocabulary 128256, context 131072), and low enough that no
  // size computed from them overflows or asks for absurd memory before the
  // tensors are checked.
  struct Limit { const char* field; int64_t value, max; };
  for (const Limit& l : {Limit{"hidden_size", c.dim, 1 << 17}, Limit{"intermediate_size", c.hidden_dim, 1 << 19},
                         Limit{"num_hidden_layers", c.n_layers, 1024}, Limit{"num_attention_heads", c.n_heads, 1024},
                         Limit{"num_key_value_heads", c.n_kv_heads, 1024}, Limit{"head_dim", c.head_dim, 4096},
                         Limit{"vocab_size", c.vocab_size, 1 << 22},
                         Limit{"max_position_embeddings", c.max_seq_len, 1 << 20}})
    if (l.value > l.max)
      return bad(fmt::format("{} = {} is larger than rewoo supports (at most {})", l.field, l.value, l.max));
  if (c.n_heads % c.n_kv_heads != 0)
    return bad(fmt::format("num_attention_heads {} must be a multiple of num_key_value_heads {}", c.n_heads, c.n_kv_heads));
  if (c.head_dim <= 0 || c.head_dim % 2 != 0)
    return bad(fmt::format("head dim {} must be positive and even (RoPE rotates pairs)", c.head_dim));
  if (!(c.rope_theta > 0) || !(c.norm_eps > 0) || !(c.rope_scaling_factor > 0))
    return bad("rope_theta, rms_norm_eps and rope scaling factor must be positive");
  return {};
}

void permute_rope_rows(std::vector<float>& w, int n_heads, int head_dim, int cols) {
  // llama2.c pairs (2i, 2i+1) -> Hugging Face rotate-half pairs (i, i + hd/2).
  std::vector<float> out(w.size());
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int t = 0; t < 2; ++t) {
        size_t src = static_cast<size_t>(h * head_dim + 2 * i + t) * cols;
        size_t dst = static_cast<size_t>(h * head_dim + t * half + i) * cols;
        std::memcpy(&out[dst], &w[src], sizeof(float) * cols);
      }
  w.swap(out);
}

Result<std::vector<float>> tensor_to_float(const StTensor& t, const std::vector<int64_t>& shape,
                                           const std::string& where) {
  if (t.shape != shape)
    return Error(fmt::format("shape {} but expected [{}]", t.shape_str(), fmt::join(shape, ", ")), where);
  size_t n = static_cast<size_t>(t.numel());
  std::vector<float> v(n);
  switch (t.dtype) {
    case StDType::kF32: std::memcpy(v.data(), t.data, n * 4); break;
    case StDType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        v[i] = fp16_to_fp32(h);
      }
      break;
    case StDType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + 2 * i, 2);
        v[i] = bf16_to_fp32(h);
      }
      break;
    case StDType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, t.data + 8 * i, 8);
        v[i] = static_cast<float>(d);
      }
      break;
    default:
      return Error(fmt::format("dtype {} but expected a float type (F16, BF16, F32)", st_dtype_name(t.dtype)), where);
  }
  // A NaN or infinity in a weight makes every later logit NaN: refuse the file.
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      return Error(fmt::format("value {} at index {} is not finite (a damaged or badly converted checkpoint)",
                               v[i], i),
                   where);
  return v;
}

Result<std::vector<uint32_t>> tensor_to_i32(const StTensor& t, const std::vector<int64_t>& shape,
                                            const std::string& where) {
  if (t.dtype != StDType::kI32)
    return Error(fmt::format("dtype {} but expected I32", st_dtype_name(t.dtype)), where);
  if (t.shape != shape)
    return Error(fmt::format("shape {} but expected [{}]", t.shape_str(), fmt::join(shape, ", ")), where);
  std::vector<uint32_t> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.data, v.size() * 4);
  return v;
}

struct Ctx {
  const TensorSet* ts;
  const ModelConfig* cfg;
  const QuantConfig* qc;
  bool has_qc;
  std::string dir;
};

Result<std::vector<float>> load_float(const Ctx& c, const std::string& name, std::vector<int64_t> shape) {
  const StTensor* t = c.ts->find(name);
  std::string where = fmt::format("{}: tensor '{}'", c.ts->describe(), name);
  if (!t) return Error(fmt::format("missing (expected shape [{}])", fmt::join(shape, ", ")), where);
  return tensor_to_float(*t, shape, where);
}

Result<Linear> load_linear(const Ctx& c, const std::string& prefix, int in, int out) {
  Linear l;
  l.in = in;
  l.out = out;
  const std::string desc = c.ts->describe();
  const StTensor* qw = c.ts->find(prefix + ".qweight");
  const StTensor* bias = c.ts->find(prefix + ".bias");
  if (bias) {
    auto b = tensor_to_float(*bias, {out}, fmt::format("{}: tensor '{}.bias'", desc, prefix));
    if (!b) return b.error();
    l.bias = std::move(*b);
  }
  if (!qw) {
    const StTensor* w = c.ts->find(prefix + ".weight");
    if (!w) {
      return Error(c.has_qc ? fmt::format("missing (expected GPTQ tensors {0}.qweight/.qzeros/.scales or a float {0}.weight)", prefix)
                            : fmt::format("missing (expected shape [{}, {}])", out, in),
                   fmt::format("{}: tensor '{}.weight'", desc, prefix));
    }
    auto v = tensor_to_float(*w, {out, in}, fmt::format("{}: tensor '{}.weight'", desc, prefix));
    if (!v) return v.error();
    l.w = std::move(*v);
    return l;
  }
  const std::string wq = fmt::format("{}: tensor '{}.qweight'", desc, prefix);
  if (!c.has_qc)
    return Error("GPTQ tensor found but there is no quantize_config.json beside the model (bits and group size unknown)", wq);
  const int bits = c.qc->bits;
  if ((static_cast<int64_t>(in) * bits) % 32 != 0)
    return Error(fmt::format("in_features {} at {} bits does not fill whole int32 words", in, bits), wq);
  int64_t qrows = static_cast<int64_t>(in) * bits / 32;
  if (qw->shape.size() != 2 || qw->shape[0] != qrows || qw->shape[1] != out) {
    std::string hint;
    if (qw->shape.size() == 2 && qw->shape[1] == out && qw->shape[0] > 0 && qw->shape[0] * 32 % in == 0)
      hint = fmt::format(" (that is {} bits per weight: does quantize_config.json's bits = {} match?)", qw->shape[0] * 32 / in, bits);
    return Error(fmt::format("shape {} but expected [{}, {}] for {}-bit packing of [{} in, {} out]{}", qw->shape_str(),
                             qrows, out, bits, in, out, hint), wq);
  }
  auto qweight = tensor_to_i32(*qw, qw->shape, wq);
  if (!qweight) return qweight.error();
  const int gs = c.qc->group_size;
  if (gs != -1 && gs <= 0) return Error(fmt::format("group_size {} must be -1 or positive", gs), wq);
  const int n_groups = gs == -1 ? 1 : (in + gs - 1) / gs;
  if ((static_cast<int64_t>(out) * bits) % 32 != 0)
    return Error(fmt::format("out_features {} at {} bits does not fill whole int32 words of qzeros", out, bits), wq);
  auto need = [&](const char* suffix) -> Result<const StTensor*> {
    const StTensor* t = c.ts->find(prefix + suffix);
    if (!t) return Error("missing (GPTQ layer without it)", fmt::format("{}: tensor '{}{}'", desc, prefix, suffix));
    return t;
  };
  auto qz_t = need(".qzeros");
  if (!qz_t) return qz_t.error();
  auto sc_t = need(".scales");
  if (!sc_t) return sc_t.error();
  const std::string wsc = fmt::format("{}: tensor '{}.scales'", desc, prefix);
  if ((*sc_t)->shape.size() == 2 && (*sc_t)->shape[1] == out && (*sc_t)->shape[0] != n_groups)
    return Error(fmt::format("shape {} has {} groups but group_size {} over {} input rows needs {} (does quantize_config.json match the tensors?)",
                             (*sc_t)->shape_str(), (*sc_t)->shape[0], gs, in, n_groups), wsc);
  auto scales = tensor_to_float(**sc_t, {n_groups, out}, wsc);
  if (!scales) return scales.error();
  auto qzeros = tensor_to_i32(**qz_t, {n_groups, static_cast<int64_t>(out) * bits / 32},
                              fmt::format("{}: tensor '{}.qzeros'", desc, prefix));
  if (!qzeros) return qzeros.error();
  std::vector<uint32_t> gidx_raw;
  if (const StTensor* gi = c.ts->find(prefix + ".g_idx")) {
    auto g = tensor_to_i32(*gi, {in}, fmt::format("{}: tensor '{}.g_idx'", desc, prefix));
    if (!g) return g.error();
    gidx_raw = std::move(*g);
  } else if (c.qc->desc_act) {
    return Error("missing (quantize_config.json says desc_act: act-order layers need g_idx)",
                 fmt::format("{}: tensor '{}.g_idx'", desc, prefix));
  }
  auto q = make_quant_linear(in, out, bits, gs, qweight->data(), qzeros->data(), scales->data(),
                             gidx_raw.empty() ? nullptr : reinterpret_cast<const int32_t*>(gidx_raw.data()),
                             fmt::format("{}: layer '{}'", desc, prefix));
  if (!q) return q.error();
  (*q)->bias = l.bias;
  l.q = std::move(*q);
  return l;
}

}  // namespace

Result<std::unique_ptr<QuantLinear>> make_quant_linear(int in, int out, int bits, int group_size,
                                                       const uint32_t* qweight, const uint32_t* qzeros,
                                                       const float* scales, const int32_t* g_idx,
                                                       const std::string& where) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    return Error(fmt::format("bits {} unsupported (expected 2, 3, 4 or 8)", bits), where);
  const int n_groups = group_size == -1 ? 1 : (in + group_size - 1) / group_size;
  auto q = std::make_unique<QuantLinear>();
  q->in = in;
  q->out = out;
  q->bits = bits;
  q->n_groups = n_groups;
  q->g_idx.resize(in);
  for (int i = 0; i < in; ++i) {
    int g = g_idx ? g_idx[i] : (group_size == -1 ? 0 : i / group_size);
    if (g < 0 || g >= n_groups)
      return Error(fmt::format("g_idx[{}] = {} out of range: {} groups (group_size {}, {} input rows)", i, g, n_groups,
                               group_size, in), where);
    q->g_idx[i] = g;
  }
  std::vector<int32_t> perm(in);
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int a, int b) { return q->g_idx[a] < q->g_idx[b]; });
  bool identity = true;
  for (int i = 0; i < in; ++i) identity &= perm[i] == i;
  q->group_bounds.assign(n_groups + 1, 0);
  for (int i = 0; i < in; ++i) q->group_bounds[q->g_idx[i] + 1]++;
  for (int g = 0; g < n_groups; ++g) q->group_bounds[g + 1] += q->group_bounds[g];
  const size_t words = static_cast<size_t>(in) * bits / 32 * out;
  if (identity) {
    q->qweight.assign(qweight, qweight + words);
  } else {
    q->qweight.assign(words, 0);
    for (int k = 0; k < in; ++k) copy_packed_row(qweight, perm[k], q->qweight.data(), k, bits, out);
    q->perm = std::move(perm);
  }
  const uint32_t mask = (1u << bits) - 1;
  const int zwords = out * bits / 32;
  q->zeros.resize(static_cast<size_t>(n_groups) * out);
  q->scales.assign(scales, scales + static_cast<size_t>(n_groups) * out);
  for (int g = 0; g < n_groups; ++g) {
    const uint32_t* row = qzeros + static_cast<size_t>(g) * zwords;
    for (int j = 0; j < out; ++j) {
      size_t b = static_cast<size_t>(j) * bits, w = b / 32, s = b % 32;
      uint64_t v = row[w] >> s;
      if (s + bits > 32) v |= static_cast<uint64_t>(row[w + 1]) << (32 - s);
      // AutoGPTQ stores zero-1; the +1 wraps within `bits` like its kernels.
      q->zeros[static_cast<size_t>(g) * out + j] = static_cast<uint8_t>(((static_cast<uint32_t>(v) & mask) + 1) & mask);
    }
  }
  return q;
}

Result<ModelConfig> parse_config_json(const fs::path& file) {
  const std::string where = file.string();
  auto jr = read_json(file);
  if (!jr) return jr.error();
  const json& j = *jr;
  if (j.contains("model_type") && j["model_type"].is_string()) {
    std::string mt = j["model_type"];
    if (mt != "llama" && mt != "mistral")
      return Error(fmt::format("model_type '{}' is not supported (expected 'llama')", mt), where);
  }
  ModelConfig c;
  ASSIGN_OR_RETURN(c.dim, get_int(j, "hidden_size", true, 0, where));
  ASSIGN_OR_RETURN(c.hidden_dim, get_int(j, "intermediate_size", true, 0, where));
  ASSIGN_OR_RETURN(c.n_layers, get_int(j, "num_hidden_layers", true, 0, where));
  ASSIGN_OR_RETURN(c.n_heads, get_int(j, "num_attention_heads", true, 0, where));
  ASSIGN_OR_RETURN(c.n_kv_heads, get_int(j, "num_key_value_heads", false, c.n_heads, where));
  ASSIGN_OR_RETURN(c.vocab_size, get_int(j, "vocab_size", true, 0, where));
  ASSIGN_OR_RETURN(c.max_seq_len, get_int(j, "max_position_embeddings", false, 2048, where));
  ASSIGN_OR_RETURN(c.bos_id, get_int(j, "bos_token_id", false, 1, where));
  ASSIGN_OR_RETURN(c.eos_id, get_int(j, "eos_token_id", false, 2, where));
  if (c.n_heads <= 0) return Error("num_attention_heads must be positive", where);
  ASSIGN_OR_RETURN(c.head_dim, get_int(j, "head_dim", false, c.dim / c.n_heads, where));
  if (!j.contains("head_dim") && c.dim % c.n_heads != 0)
    return Error(fmt::format("hidden_size {} is not a multiple of num_attention_heads {}", c.dim, c.n_heads), where);
  double d;
  ASSIGN_OR_RETURN(d, get_num(j, "rope_theta", 10000.0, where));
  c.rope_theta = static_cast<float>(d);
  ASSIGN_OR_RETURN(d, get_num(j, "rms_norm_eps", 1e-6, where));
  c.norm_eps = static_cast<float>(d);
  if (j.contains("tie_word_embeddings") && !j["tie_word_embeddings"].is_null()) {
    if (!j["tie_word_embeddings"].is_boolean()) return Error("field 'tie_word_embeddings' must be true or false", where);
    c.tie_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& rs = j["rope_scaling"];
    if (!rs.is_object()) return Error("'rope_scaling' must be null or an object {type, factor}", where);
    std::string type = rs.value("type", rs.value("rope_type", std::string()));
    if (type != "linear")
      return Error(fmt::format("rope_scaling type '{}' is not supported (expected 'linear')", type), where);
    ASSIGN_OR_RETURN(d, get_num(rs, "factor", 1.0, where));
    c.rope_scaling_factor = static_cast<float>(d);
  }
  REWOO_TRY(validate_config(c, where));
  return c;
}

Result<QuantConfig> parse_quantize_config_json(const fs::path& file) {
  const std::string where = file.string();
  auto jr = read_json(file);
  if (!jr) return jr.error();
  const json& j = *jr;
  QuantConfig q;
  ASSIGN_OR_RETURN(q.bits, get_int(j, "bits", true, 0, where));
  if (q.bits != 2 && q.bits != 3 && q.bits != 4 && q.bits != 8)
    return Error(fmt::format("bits {} unsupported (expected 2, 3, 4 or 8)", q.bits), where);
  ASSIGN_OR_RETURN(q.group_size, get_int(j, "group_size", false, -1, where));
  if (q.group_size == 0 || q.group_size < -1)
    return Error(fmt::format("group_size {} must be -1 (no groups) or positive", q.group_size), where);
  for (const char* k : {"desc_act", "sym"}) {
    if (j.contains(k) && !j[k].is_boolean()) return Error(fmt::format("field '{}' must be true or false", k), where);
  }
  q.desc_act = j.value("desc_act", false);
  q.sym = j.value("sym", true);
  double d;
  ASSIGN_OR_RETURN(d, get_num(j, "damp_percent", 0.01, where));
  q.damp_percent = static_cast<float>(d);
  return q;
}

Result<std::shared_ptr<Weights>> load_llama2c(const fs::path& file) {
  const std::string where = file.string();
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return Error("cannot open", where);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  int32_t h[7];
  if (size < sizeof(h)) return Error(fmt::format("{} bytes: too short for the 28-byte llama2.c header", size), where);
  in.read(reinterpret_cast<char*>(h), sizeof(h));
  auto w = std::make_shared<Weights>();
  ModelConfig& c = w->config;
  c.dim = h[0];
  c.hidden_dim = h[1];
  c.n_layers = h[2];
  c.n_heads = h[3];
  c.n_kv_heads = h[4];
  c.tie_embeddings = h[5] > 0;
  // (negative: an untied output layer; in 64 bits, since -INT32_MIN overflows)
  const int64_t vocab = h[5] < 0 ? -static_cast<int64_t>(h[5]) : h[5];
  c.vocab_size = static_cast<int32_t>(std::min<int64_t>(vocab, INT32_MAX));
  c.max_seq_len = h[6];
  c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  if (c.n_heads <= 0 || c.dim <= 0 || c.dim % c.n_heads != 0 || c.dim > (1 << 16) || c.n_layers > 1024 ||
      c.hidden_dim > (1 << 18) || c.vocab_size > (1 << 22) || c.max_seq_len > (1 << 22))
    return Error(fmt::format("implausible llama2.c header (dim {}, hidden {}, layers {}, heads {}, kv heads {}, vocab {}, seq {})",
                             h[0], h[1], h[2], h[3], h[4], h[5], h[6]), where);
  REWOO_TRY(validate_config(c, where));
  const uint64_t D = c.dim, H = c.hidden_dim, L = c.n_layers, V = c.vocab_size, KV = c.kv_dim();
  const uint64_t floats = V * D + L * D + L * D * D + 2 * L * KV * D + L * D * D + L * D + 3 * L * D * H + D +
                          static_cast<uint64_t>(c.max_seq_len) * c.head_dim + (c.tie_embeddings ? 0 : V * D);
  if (size != 28 + floats * 4)
    return Error(fmt::format("file is {} bytes but the header (dim {}, hidden {}, {} layers, {} heads, {} kv heads, vocab {}, seq {}) "
                             "implies {} (truncated or not a llama2.c checkpoint)",
                             size, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.max_seq_len,
                             28 + floats * 4), where);
  auto rd = [&](uint64_t n) {
    std::vector<float> v(n);
    in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * 4));
    return v;
  };
  auto split = [&](uint64_t per, std::vector<std::vector<float>>& dst) {
    auto all = rd(per * L);
    dst.resize(L);
    for (uint64_t l = 0; l < L; ++l) dst[l].assign(all.begin() + l * per, all.begin() + (l + 1) * per);
  };
  w->tok_embeddings = rd(V * D);
  std::vector<std::vector<float>> rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3;
  split(D, rms_att);
  split(D * D, wq);
  split(KV * D, wk);
  split(KV * D, wv);
  split(D * D, wo);
  split(D, rms_ffn);
  split(H * D, w1);
  split(D * H, w2);
  split(H * D, w3);
  w->final_norm = rd(D);
  in.seekg(static_cast<std::streamoff>(static_cast<uint64_t>(c.max_seq_len) * c.head_dim * 4), std::ios::cur);
  if (!c.tie_embeddings) {
    w->lm_head.in = c.dim;
    w->lm_head.out = c.vocab_size;
    w->lm_head.w = rd(V * D);
  }
  if (!in) return Error("read failed", where);
  auto lin = [](std::vector<float>& v, int in_f, int out_f) {
    Linear l;
    l.in = in_f;
    l.out = out_f;
    l.w = std::move(v);
    return l;
  };
  w->layers.resize(L);
  for (uint64_t l = 0; l < L; ++l) {
    auto& lw = w->layers[l];
    lw.attn_norm = std::move(rms_att[l]);
    lw.ffn_norm = std::move(rms_ffn[l]);
    permute_rope_rows(wq[l], c.n_heads, c.head_dim, c.dim);
    permute_rope_rows(wk[l], c.n_kv_heads, c.head_dim, c.dim);
    lw.wq = lin(wq[l], c.dim, c.dim);
    lw.wk = lin(wk[l], c.dim, c.kv_dim());
    lw.wv = lin(wv[l], c.dim, c.kv_dim());
    lw.wo = lin(wo[l], c.dim, c.dim);
    lw.w1 = lin(w1[l], c.dim, c.hidden_dim);
    lw.w2 = lin(w2[l], c.hidden_dim, c.dim);
    lw.w3 = lin(w3[l], c.dim, c.hidden_dim);
  }
  return w;
}

Result<std::shared_ptr<Weights>> load_weights(const fs::path& path) {
  if (!fs::exists(path)) return Error("no such file or folder", path.string());
  if (!fs::is_directory(path) && path.extension() == ".bin") return load_llama2c(path);
  fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  auto w = std::make_shared<Weights>();
  auto cfg = parse_config_json(dir / "config.json");
  if (!cfg) return cfg.error();
  w->config = *cfg;
  bool has_qc = fs::exists(dir / "quantize_config.json");
  if (has_qc) {
    auto qc = parse_quantize_config_json(dir / "quantize_config.json");
    if (!qc) return qc.error();
    w->quant = *qc;
  }
  auto ts = TensorSet::open(path);
  if (!ts) return ts.error();
  const ModelConfig& c = w->config;
  Ctx ctx{&*ts, &c, &w->quant, has_qc, dir.string()};
  auto emb = load_float(ctx, "model.embed_tokens.weight", {c.vocab_size, c.dim});
  if (!emb) return emb.error();
  w->tok_embeddings = std::move(*emb);
  auto fn = load_float(ctx, "model.norm.weight", {c.dim});
  if (!fn) return fn.error();
  w->final_norm = std::move(*fn);
  if (!c.tie_embeddings) {
    auto lm = load_float(ctx, "lm_head.weight", {c.vocab_size, c.dim});
    if (!lm) return lm.error().wrap("config.json has tie_word_embeddings false");
    w->lm_head.in = c.dim;
    w->lm_head.out = c.vocab_size;
    w->lm_head.w = std::move(*lm);
  }
  const int qdim = c.n_heads * c.head_dim;
  // Layer by layer, so that a wrong num_hidden_layers fails at the first
  // missing tensor instead of allocating every layer first.
  for (int l = 0; l < c.n_layers; ++l) {
    auto& lw = w->layers.emplace_back();
    std::string p = fmt::format("model.layers.{}.", l);
    auto an = load_float(ctx, p + "input_layernorm.weight", {c.dim});
    if (!an) return an.error();
    lw.attn_norm = std::move(*an);
    auto fnn = load_float(ctx, p + "post_attention_layernorm.weight", {c.dim});
    if (!fnn) return fnn.error();
    lw.ffn_norm = std::move(*fnn);
    struct Item { Linear* dst; const char* name; int in, out; };
    Item items[] = {{&lw.wq, "self_attn.q_proj", c.dim, qdim},        {&lw.wk, "self_attn.k_proj", c.dim, c.kv_dim()},
                    {&lw.wv, "self_attn.v_proj", c.dim, c.kv_dim()},  {&lw.wo, "self_attn.o_proj", qdim, c.dim},
                    {&lw.w1, "mlp.gate_proj", c.dim, c.hidden_dim},   {&lw.w2, "mlp.down_proj", c.hidden_dim, c.dim},
                    {&lw.w3, "mlp.up_proj", c.dim, c.hidden_dim}};
    for (auto& it : items) {
      auto lin = load_linear(ctx, p + it.name, it.in, it.out);
      if (!lin) return lin.error();
      *it.dst = std::move(*lin);
    }
  }
  // A checkpoint with more layers than config.json names would load and
  // produce wrong text.
  const std::string next = fmt::format("model.layers.{}.", c.n_layers);
  for (const std::string& name : ts->names())
    if (name.rfind(next, 0) == 0)
      return Error(fmt::format("the checkpoint has tensor '{}' but config.json says num_hidden_layers = {}: "
                               "the config does not match the weights",
                               name, c.n_layers),
                   ts->describe());
  if (has_qc) {
    bool any = false;
    for (auto& L : w->layers) any |= L.wq.quantized();
    if (!any)
      return Error("quantize_config.json is present but the checkpoint has no GPTQ tensors (qweight); remove it or use the quantized weights",
                   (dir / "quantize_config.json").string());
  }
  return w;
}

}  // namespace rewoo::engine
