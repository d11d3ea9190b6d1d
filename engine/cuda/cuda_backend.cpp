// The CUDA backend: weights uploaded once (GPTQ layers in the kernels' layout,
// q/k/v and gate/up fused when they share an act-order permutation), an fp16
// KV cache of fixed slots, and a forward pass that runs every entry of a
// batch as one set of tokens. Decode steps (one token per entry, up to
// kGptqGemvMaxRows entries) are captured once per batch size in a CUDA graph
// and replayed; prefill chunks run eagerly and use dequantize + cuBLAS above
// that row count.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/cuda/device_buffer.h"
#include "kernels/attention.cuh"
#include "kernels/dense_gemv.cuh"
#include "kernels/embedding.cuh"
#include "kernels/gptq_gemv.cuh"
#include "kernels/norm.cuh"
#include "kernels/rope.cuh"
#include "kernels/sampling.cuh"
#include "kernels/swiglu.cuh"

namespace rewoo::engine {
namespace {

namespace k = rewoo::kernels;
using cuda::DeviceBuffer;

constexpr int kPrefillChunk = 512;      // tokens per eager forward
constexpr int kDecodeAttnChunk = 32;    // keys per attention split (graphs), at least
constexpr int kPrefillAttnChunk = 256;  // keys per attention split (prefill), at least
constexpr int kMaxPrefillSplits = 16;   // longer contexts get longer splits (bounds scratch)
// Largest decode step that folds the RMSNorms into the products (at most
// kGptqGemvNormedMaxRows). Measured on an H200 (34B shape): one sequence
// +1.5 to 2.3% (7B: +5%), four sequences 1.3% slower (the fold stages fp32
// rows and norm weights per row, four times the bytes of the staged fp16).
constexpr int kFoldNormsMaxRows = 1;
static_assert(kFoldNormsMaxRows <= k::kGptqGemvNormedMaxRows);

#define REWOO_CUDA_TRY(expr)                                                            \
  do {                                                                                  \
    const cudaError_t e_ = (expr);                                                      \
    if (e_ != cudaSuccess)                                                              \
      return Error(fmt::format("{} failed: {}", #expr, cudaGetErrorString(e_)), "cuda"); \
  } while (0)
#define REWOO_CUBLAS_TRY(expr)                                                     \
  do {                                                                             \
    const cublasStatus_t s_ = (expr);                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                               \
      return Error(fmt::format("{} failed: cuBLAS status {}", #expr, (int)s_), "cuda"); \
  } while (0)

bool is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }
int ceil_div(int a, int b) { return (a + b - 1) / b; }

// One GPU linear layer (possibly several source layers side by side along N).
struct GpuLinear {
  int K = 0, N = 0;
  int bits = 0;        // 0: dense
  int group_size = 0;  // quantized: rows per group (K when none)
  DeviceBuffer<uint32_t> qweight;
  DeviceBuffer<half2> sz;
  DeviceBuffer<int32_t> dest;  // staged-input order (gptq_input_order)
  DeviceBuffer<int32_t> perm;  // act-order permutation (GEMM path), may be empty
  DeviceBuffer<int32_t> src;   // gptq_staged_sources(dest_host) where perm is not empty
  std::vector<int32_t> dest_host;
  DeviceBuffer<half> w16;      // dense [N, K]
  DeviceBuffer<float> w32;     // dense [N, K] (small models)
  DeviceBuffer<float> bias;    // [N] or empty
  size_t bytes() const {
    return qweight.bytes() + sz.bytes() + w16.bytes() + w32.bytes();
  }
};

// Output columns [col, col + N) of a buffer with row stride ld.
struct LinearPart {
  GpuLinear lin;
  int col = 0;
};

struct GpuLayer {
  DeviceBuffer<float> attn_norm, ffn_norm;
  std::vector<LinearPart> qkv, o, gate_up, down;
  // q/k/v and gate/up are GPTQ without bias: single-sequence decode steps
  // fold both RMSNorms into those products (gptq_gemv_normed).
  bool norms_folded = false;
  // And o is one GPTQ product without bias: those steps let attention add
  // its key ranges' shares into an fp32 accumulator that the o product
  // stages itself (AttentionArgs::accumulate), no merge.
  bool o_accumulates = false;
};

bool foldable(const std::vector<LinearPart>& parts) {
  for (const LinearPart& p : parts)
    if (!p.lin.bits || p.lin.bias.size()) return false;
  return !parts.empty();
}

// Act-order with groups permutes the input rows: a folded product would
// gather x and the norm weights element by element in every block of every
// column tile, where the RMSNorm kernel gathers each row once.
// REWOO_CUDA_FOLD_PERMUTED=1 folds them anyway (for measuring).
bool permuted(const std::vector<LinearPart>& parts) {
  static const bool fold_anyway = [] {
    const char* e = std::getenv("REWOO_CUDA_FOLD_PERMUTED");
    return e && std::strcmp(e, "1") == 0;
  }();
  if (fold_anyway) return false;
  for (const LinearPart& p : parts)
    if (p.lin.src.size()) return true;
  return false;
}

bool same_quant_layout(const QuantLinear& a, const QuantLinear& b) {
  return a.bits == b.bits && a.in == b.in && a.perm == b.perm && a.group_bounds == b.group_bounds;
}

// Uniform power-of-two groups (or none) in the kernels' sense; 0 if not.
int uniform_group(const QuantLinear& q) {
  if (q.n_groups <= 1) return q.in;
  const int gs = q.group_bounds.size() > 1 ? q.group_bounds[1] - q.group_bounds[0] : 0;
  if (gs < 32 || !is_pow2(gs)) return 0;
  for (int g = 0; g <= q.n_groups; ++g)
    if (q.group_bounds[g] != std::min(g * gs, q.in)) return 0;
  return gs;
}

bool gptq_supported(const QuantLinear& q) {
  return (q.bits == 4 || q.bits == 3) && q.in % 32 == 0 && q.out % 4 == 0 && uniform_group(q) > 0;
}

// Accumulating decode attention (AttentionArgs::accumulate) has the blocks
// of one attention grid wait for each other, which is safe while every
// block is resident; two such grids on the GPU at once (two backends'
// streams) could each hold SMs the other's waiting blocks need. So one
// backend of the process at a time uses it: the first to ask, until it is
// destroyed; others merge.
std::atomic<bool> g_attn_acc_taken{false};
bool take_attn_acc() {
  bool expected = false;
  return g_attn_acc_taken.compare_exchange_strong(expected, true);
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(std::shared_ptr<const Weights> w, const BackendOptions& o) : w_(std::move(w)) {
    const ModelConfig& c = w_->config;
    max_seq_ = o.max_seq_len > 0 ? o.max_seq_len : c.max_seq_len;
    n_slots_ = std::max(1, o.n_slots);
    slot_len_.assign(n_slots_, 0);
    const char* fold = std::getenv("REWOO_CUDA_FOLD_NORMS");
    fold_norms_ = !(fold && std::strcmp(fold, "0") == 0);
    const char* acc = std::getenv("REWOO_ATTN_ACC");
    attn_acc_ = !(acc && std::strcmp(acc, "0") == 0) && take_attn_acc();
  }
  ~CudaBackend() override {
    if (stream_) cudaStreamSynchronize(stream_);  // (nothing of ours still waits on the GPU)
    if (attn_acc_) g_attn_acc_taken.store(false);
    for (auto& [n, g] : graphs_) cudaGraphExecDestroy(g);
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  Status init();

  std::string name() const override { return fmt::format("cuda ({})", device_name_); }
  int n_slots() const override { return n_slots_; }
  int max_seq_len() const override { return max_seq_; }
  void clear_slot(int slot) override {
    if (slot >= 0 && slot < n_slots_) slot_len_[slot] = 0;
  }
  Status copy_slot(int src, int dst, int n_tokens) override;
  Status forward(std::span<const SeqBatchEntry> batch, Logits& out) override {
    return forward_impl(batch, &out, nullptr);
  }
  Status forward_greedy(std::span<const SeqBatchEntry> batch,
                        std::vector<int32_t>& tokens) override {
    return forward_impl(batch, nullptr, &tokens);
  }

 private:
  // Exactly one of out (logits) and picks (argmax tokens, picked on the
  // device) is given.
  Status forward_impl(std::span<const SeqBatchEntry> batch, Logits* out,
                      std::vector<int32_t>* picks);
  Status upload_linear(const std::vector<const Linear*>& srcs, GpuLinear& out);
  Status add_parts(const std::vector<const Linear*>& srcs, std::vector<LinearPart>& parts);
  template <typename T>
  Status upload_floats(const std::vector<float>& h, DeviceBuffer<T>& d);
  // out[:, part.col ...] += in · W for every part (in: fp32 [T, K]; in_h: the
  // staged fp16 form for parts whose dest matches staged_dest, else null).
  Status run_linear(const std::vector<LinearPart>& parts, const float* in, const half* in_h,
                    const std::vector<int32_t>* staged_dest, float* out, int ldo, int T);
  // The forward pass over T tokens already in tok_/pos_/slot_ on the device;
  // logits for the R rows listed in rows_. decode: one token per sequence,
  // RoPE and the KV-cache write fused into attention.
  Status run_tokens(int T, int R, int attn_splits, bool decode);
  // One step on the stream: the ids in from h_ids_, run_tokens(), and the R
  // logit rows out to h_logits_, or (greedy) their argmax tokens out to
  // h_tokens_ (a decode step is captured whole).
  Status enqueue_step(int T, int R, int attn_splits, bool decode, bool greedy);
  // Attention splits per (token, head group) of a decode step of T tokens: one
  // wave of blocks (fewer at short contexts, see AttentionArgs::min_chunk).
  int decode_splits(int T) const;
  Status launch_decode(int T, bool greedy);

  std::shared_ptr<const Weights> w_;
  int max_seq_ = 0, n_slots_ = 0;
  std::vector<int> slot_len_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  bool dense32_ = false;  // dense tensors in fp32 (small models) or fp16

  std::vector<GpuLayer> layers_;
  DeviceBuffer<float> emb32_, final_norm_;
  DeviceBuffer<half> emb16_;
  std::vector<LinearPart> lm_head_;
  DeviceBuffer<float> cos_sin_;
  DeviceBuffer<float> ones_;  // [n_heads * hd] 1.0f: the o product's "norm weights"
  DeviceBuffer<half> k_cache_, v_cache_;  // [n_layers][n_slots, max_seq, n_kv, hd]
  size_t layer_cache_ = 0;

  // activations (rows up to kPrefillChunk)
  int max_rows_ = 0, wide_ = 0;
  DeviceBuffer<float> x_, xn_, qkv_, q_, ao_, gu_, act_, attn_scratch_, rows_n_, logits_;
  DeviceBuffer<half> xh_, xh2_, w16_scratch_;
  // ids_ = [tokens | positions | slots | logit rows], max_rows_ each, filled
  // by one copy from h_ids_ (same layout); tok_ ... point into it.
  DeviceBuffer<int32_t> ids_, attn_counters_;
  int32_t *tok_ = nullptr, *pos_ = nullptr, *slot_ = nullptr, *rows_ = nullptr;
  DeviceBuffer<uint8_t> cublas_ws_;
  cuda::PinnedBuffer<int32_t> h_ids_;
  cuda::PinnedBuffer<float> h_logits_;
  // greedy steps: the sampling kernel's per-row parameters (temperature 0,
  // top-k 0, top-p 1, uniform 0) and the picked tokens
  DeviceBuffer<float> pick_f_;  // [temperature | top_p | uniform], max_rows_ each
  DeviceBuffer<int32_t> pick_k_, pick_tok_;
  cuda::PinnedBuffer<int32_t> h_tokens_;
  std::map<int, cudaGraphExec_t> graphs_;  // decode graphs by 2 T + greedy
  // RMSNorms folded into the products of small decode steps (see run_tokens);
  // REWOO_CUDA_FOLD_NORMS=0 runs them as kernels of their own.
  bool fold_norms_ = true;
  // Accumulating decode attention: off with REWOO_ATTN_ACC=0 (for
  // comparison) or while another backend of the process uses it.
  bool attn_acc_ = true;
};

int CudaBackend::decode_splits(int T) const {
  const ModelConfig& c = w_->config;
  return k::attention_decode_splits(T, c.n_heads, c.n_kv_heads, c.head_dim,
                                    ceil_div(max_seq_, kDecodeAttnChunk));
}

template <typename T>
Status CudaBackend::upload_floats(const std::vector<float>& h, DeviceBuffer<T>& d) {
  REWOO_TRY(d.alloc(h.size()));
  if constexpr (std::is_same_v<T, float>) {
    return d.upload(h.data(), h.size());
  } else {
    std::vector<half> tmp(h.size());
    for (size_t i = 0; i < h.size(); ++i) tmp[i] = __float2half_rn(h[i]);
    return d.upload(tmp.data(), tmp.size());
  }
}

Status CudaBackend::upload_linear(const std::vector<const Linear*>& srcs, GpuLinear& out) {
  const Linear& first = *srcs[0];
  out.K = first.in;
  out.N = 0;
  for (const Linear* l : srcs) out.N += l->out;
  const bool quant = first.quantized() && gptq_supported(*first.q);
  std::vector<float> bias;
  bool has_bias = false;
  for (const Linear* l : srcs) {
    const auto& b = l->quantized() ? l->q->bias : l->bias;
    has_bias |= !b.empty();
  }
  if (has_bias) {
    for (const Linear* l : srcs) {
      const auto& b = l->quantized() ? l->q->bias : l->bias;
      if (b.empty()) bias.insert(bias.end(), l->out, 0.0f);
      else bias.insert(bias.end(), b.begin(), b.end());
    }
    REWOO_TRY(upload_floats(bias, out.bias));
  }
  if (quant) {
    const QuantLinear& q0 = *first.q;
    out.bits = q0.bits;
    out.group_size = uniform_group(q0);
    const int rows = q0.in * q0.bits / 32;
    const int G = q0.n_groups;
    std::vector<uint32_t> qw((size_t)rows * out.N);
    std::vector<half2> sz((size_t)G * out.N);
    int col = 0;
    for (const Linear* l : srcs) {
      const QuantLinear& q = *l->q;
      for (int r = 0; r < rows; ++r)
        std::memcpy(&qw[(size_t)r * out.N + col], &q.qweight[(size_t)r * q.out], q.out * 4);
      for (int g = 0; g < G; ++g)
        for (int j = 0; j < q.out; ++j)
          sz[(size_t)g * out.N + col + j] =
              __halves2half2(__float2half_rn(q.scales[(size_t)g * q.out + j]),
                             __float2half_rn((float)q.zeros[(size_t)g * q.out + j]));
      col += q.out;
    }
    {
      DeviceBuffer<uint32_t> raw;
      REWOO_TRY(raw.alloc(qw.size()));
      REWOO_TRY(raw.upload(qw.data(), qw.size()));
      REWOO_TRY(out.qweight.alloc(k::gptq_packed_words(out.K, out.N, out.bits)));
      k::gptq_pack(stream_, raw.get(), out.qweight.get(), out.K, out.N, out.bits);
      REWOO_CUDA_TRY(cudaStreamSynchronize(stream_));
      REWOO_CUDA_TRY(cudaGetLastError());
    }
    REWOO_TRY(out.sz.alloc(sz.size()));
    REWOO_TRY(out.sz.upload(sz.data(), sz.size()));
    out.dest_host = k::gptq_input_order(q0.perm.empty() ? nullptr : q0.perm.data(), out.K, out.bits);
    REWOO_TRY(out.dest.alloc(out.dest_host.size()));
    REWOO_TRY(out.dest.upload(out.dest_host.data(), out.dest_host.size()));
    if (!q0.perm.empty()) {
      REWOO_TRY(out.perm.alloc(q0.perm.size()));
      REWOO_TRY(out.perm.upload(q0.perm.data(), q0.perm.size()));
      const std::vector<int32_t> src = k::gptq_staged_sources(out.dest_host);
      REWOO_TRY(out.src.alloc(src.size()));
      REWOO_TRY(out.src.upload(src.data(), src.size()));
    }
    return {};
  }
  // Dense: fp32 [N, K] rows stacked (GPTQ layers the kernels can't take are
  // dequantized here).
  std::vector<float> w;
  w.reserve((size_t)out.N * out.K);
  for (const Linear* l : srcs) {
    if (l->quantized()) {
      const std::vector<float> d = l->q->dequantize();  // [in, out], original order
      for (int j = 0; j < l->out; ++j)
        for (int i = 0; i < l->in; ++i) w.push_back(d[(size_t)i * l->out + j]);
    } else {
      w.insert(w.end(), l->w.begin(), l->w.end());
    }
  }
  if (dense32_) return upload_floats(w, out.w32);
  return upload_floats(w, out.w16);
}

Status CudaBackend::add_parts(const std::vector<const Linear*>& srcs,
                              std::vector<LinearPart>& parts) {
  // Fuse when every source is a supported GPTQ layer of one layout, or all
  // are float; otherwise one part each.
  bool fuse = true;
  for (const Linear* l : srcs) {
    fuse &= l->quantized() == srcs[0]->quantized();
    if (l->quantized())
      fuse &= gptq_supported(*l->q) && same_quant_layout(*l->q, *srcs[0]->q);
  }
  if (fuse) {
    parts.emplace_back();
    return upload_linear(srcs, parts.back().lin);
  }
  int col = 0;
  for (const Linear* l : srcs) {
    parts.emplace_back();
    parts.back().col = col;
    REWOO_TRY(upload_linear({l}, parts.back().lin));
    col += l->out;
  }
  return {};
}

Status CudaBackend::init() {
  const ModelConfig& c = w_->config;
  int n_dev = 0;
  if (cudaGetDeviceCount(&n_dev) != cudaSuccess || n_dev == 0)
    return Error("no CUDA device is available (cudaGetDeviceCount found none)", "device cuda");
  cudaDeviceProp prop{};
  REWOO_CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
  device_name_ = prop.name;
  if (prop.major < 8)
    return Error(fmt::format("{} has compute capability {}.{}; the CUDA backend needs 8.0 or newer",
                             prop.name, prop.major, prop.minor), "device cuda");
  const int hd = c.head_dim, G = c.n_kv_heads > 0 ? c.n_heads / c.n_kv_heads : 0;
  if (!is_pow2(hd) || hd < 8 || hd > k::kAttnMaxHeadDim || G < 1 || G > k::kAttnMaxGroup ||
      c.n_heads % c.n_kv_heads != 0)
    return Error(fmt::format("unsupported attention shape for CUDA: head_dim {} (need a power of "
                             "two 8..256), {} heads per KV head (need 1..8)", hd, G),
                 "device cuda");
  if (max_seq_ <= 0) return Error("max_seq_len must be positive", "device cuda");
  REWOO_CUDA_TRY(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  REWOO_CUBLAS_TRY(cublasCreate(&cublas_));
  REWOO_CUBLAS_TRY(cublasSetStream(cublas_, stream_));
  REWOO_TRY(cublas_ws_.alloc(32u << 20));
  REWOO_CUBLAS_TRY(cublasSetWorkspace(cublas_, cublas_ws_.get(), cublas_ws_.bytes()));

  // Small models keep dense tensors in fp32 (exact vs the CPU backend),
  // larger ones in fp16.
  size_t float_params = w_->tok_embeddings.size() + w_->lm_head.w.size();
  for (const LayerWeights& L : w_->layers)
    for (const Linear* l : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3})
      if (!l->quantized()) float_params += l->w.size();
  dense32_ = float_params <= ((size_t)64 << 20);

  layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w_->layers[l];
    GpuLayer& g = layers_[l];
    REWOO_TRY(upload_floats(L.attn_norm, g.attn_norm));
    REWOO_TRY(upload_floats(L.ffn_norm, g.ffn_norm));
    REWOO_TRY(add_parts({&L.wq, &L.wk, &L.wv}, g.qkv));
    REWOO_TRY(add_parts({&L.wo}, g.o));
    REWOO_TRY(add_parts({&L.w1, &L.w3}, g.gate_up));
    REWOO_TRY(add_parts({&L.w2}, g.down));
    g.norms_folded = foldable(g.qkv) && foldable(g.gate_up) && !permuted(g.qkv) &&
                     !permuted(g.gate_up);
    g.o_accumulates = g.norms_folded && g.o.size() == 1 && foldable(g.o);
  }
  REWOO_TRY(upload_floats(w_->final_norm, final_norm_));
  if (dense32_) REWOO_TRY(upload_floats(w_->tok_embeddings, emb32_));
  else REWOO_TRY(upload_floats(w_->tok_embeddings, emb16_));
  lm_head_.emplace_back();
  if (c.tie_embeddings || (w_->lm_head.w.empty() && !w_->lm_head.quantized())) {
    Linear tied;
    tied.in = c.dim;
    tied.out = c.vocab_size;
    tied.w = w_->tok_embeddings;
    REWOO_TRY(upload_linear({&tied}, lm_head_.back().lin));
  } else {
    REWOO_TRY(upload_linear({&w_->lm_head}, lm_head_.back().lin));
  }

  // RoPE table exactly as the CPU backend computes it (float powf/cosf/sinf).
  std::vector<float> cs((size_t)max_seq_ * hd);
  for (int p = 0; p < max_seq_; ++p)
    for (int i = 0; i < hd / 2; ++i) {
      const float freq = 1.0f / powf(c.rope_theta, (float)(2 * i) / (float)hd);
      const float val = ((float)p / c.rope_scaling_factor) * freq;
      cs[(size_t)p * hd + 2 * i] = cosf(val);
      cs[(size_t)p * hd + 2 * i + 1] = sinf(val);
    }
  REWOO_TRY(upload_floats(cs, cos_sin_));

  layer_cache_ = (size_t)n_slots_ * max_seq_ * c.n_kv_heads * hd;
  REWOO_TRY(k_cache_.alloc(layer_cache_ * c.n_layers));
  REWOO_TRY(v_cache_.alloc(layer_cache_ * c.n_layers));

  max_rows_ = kPrefillChunk;
  const int qkv_n = (c.n_heads + 2 * c.n_kv_heads) * hd;
  wide_ = std::max({c.dim, c.hidden_dim, c.n_heads * hd});
  REWOO_TRY(x_.alloc((size_t)max_rows_ * c.dim));
  REWOO_TRY(xn_.alloc((size_t)max_rows_ * wide_));
  // (+ max_rows_: the rows' sums of squares follow the accumulators when the
  // norms are folded into the products.)
  // (and then, 64-float aligned, attention's accumulator for the o product:
  // see run_tokens())
  REWOO_TRY(qkv_.alloc((size_t)max_rows_ * (qkv_n + 1) + 64 + (size_t)max_rows_ * c.n_heads * hd));
  REWOO_TRY(ones_.alloc((size_t)c.n_heads * hd));
  {
    const std::vector<float> ones((size_t)c.n_heads * hd, 1.0f);
    REWOO_TRY(ones_.upload(ones.data(), ones.size()));
  }
  REWOO_TRY(q_.alloc((size_t)max_rows_ * c.n_heads * hd));
  REWOO_TRY(ao_.alloc((size_t)max_rows_ * c.n_heads * hd));
  REWOO_TRY(gu_.alloc((size_t)max_rows_ * (2 * c.hidden_dim + 1)));
  REWOO_TRY(act_.alloc((size_t)max_rows_ * c.hidden_dim));
  REWOO_TRY(xh_.alloc((size_t)max_rows_ * wide_));
  REWOO_TRY(xh2_.alloc((size_t)max_rows_ * wide_));
  size_t scratch = k::attention_scratch_floats(
      max_rows_, c.n_heads, hd, std::min(ceil_div(max_seq_, kPrefillAttnChunk), kMaxPrefillSplits));
  for (int T = 1; T <= k::kGptqGemvMaxRows; ++T)
    scratch = std::max(scratch, k::attention_scratch_floats(T, c.n_heads, hd, decode_splits(T)));
  REWOO_TRY(attn_scratch_.alloc(scratch));
  REWOO_TRY(attn_counters_.alloc(k::attention_counters(max_rows_, c.n_heads)));
  REWOO_CUDA_TRY(cudaMemsetAsync(attn_counters_.get(), 0, attn_counters_.bytes(), stream_));
  REWOO_TRY(rows_n_.alloc((size_t)max_rows_ * c.dim));
  REWOO_TRY(logits_.alloc((size_t)max_rows_ * c.vocab_size));
  size_t max_kn = 0;
  for (const GpuLayer& g : layers_)
    for (const auto* parts : {&g.qkv, &g.o, &g.gate_up, &g.down})
      for (const LinearPart& p : *parts)
        if (p.lin.bits) max_kn = std::max(max_kn, (size_t)p.lin.K * p.lin.N);
  if (max_kn) REWOO_TRY(w16_scratch_.alloc(max_kn));
  REWOO_TRY(ids_.alloc(4 * (size_t)max_rows_));
  tok_ = ids_.get();
  pos_ = tok_ + max_rows_;
  slot_ = pos_ + max_rows_;
  rows_ = slot_ + max_rows_;
  REWOO_TRY(h_ids_.alloc(4 * (size_t)max_rows_));
  REWOO_TRY(h_logits_.alloc((size_t)max_rows_ * c.vocab_size));
  {
    std::vector<float> f(3 * (size_t)max_rows_, 0.0f);
    std::fill(f.begin() + max_rows_, f.begin() + 2 * max_rows_, 1.0f);  // top_p
    REWOO_TRY(pick_f_.alloc(f.size()));
    REWOO_TRY(pick_f_.upload(f.data(), f.size()));
    const std::vector<int32_t> zeros(max_rows_, 0);
    REWOO_TRY(pick_k_.alloc(zeros.size()));
    REWOO_TRY(pick_k_.upload(zeros.data(), zeros.size()));
    REWOO_TRY(pick_tok_.alloc(max_rows_));
    REWOO_TRY(h_tokens_.alloc(max_rows_));
  }
  REWOO_CUDA_TRY(cudaStreamSynchronize(stream_));
  return {};
}

Status CudaBackend::run_linear(const std::vector<LinearPart>& parts, const float* in,
                               const half* in_h, const std::vector<int32_t>* staged_dest,
                               float* out, int ldo, int T) {
  for (const LinearPart& part : parts) {
    const GpuLinear& L = part.lin;
    float* o = out + part.col;
    if (L.bits) {
      if (T <= k::kGptqGemvMaxRows) {
        const half* xh = in_h;
        if (!xh || !staged_dest || *staged_dest != L.dest_host) {
          k::gptq_stage_input(stream_, in, L.dest.get(), xh2_.get(), T, L.K);
          xh = xh2_.get();
        }
        k::gptq_gemv(stream_, xh, L.qweight.get(), L.sz.get(), L.bias.get(), o, T, L.K, L.N, ldo,
                     L.bits, L.group_size);
      } else if (L.bias.size()) {
        for (int m0 = 0; m0 < T; m0 += k::kGptqGemvMaxRows) {
          const int rows = std::min(k::kGptqGemvMaxRows, T - m0);
          k::gptq_stage_input(stream_, in + (size_t)m0 * L.K, L.dest.get(), xh2_.get(), rows, L.K);
          k::gptq_gemv(stream_, xh2_.get(), L.qweight.get(), L.sz.get(), L.bias.get(),
                       o + (size_t)m0 * ldo, rows, L.K, L.N, ldo, L.bits, L.group_size);
        }
      } else {
        // Prefill: fp16 weights in reordered-row order times the permuted input.
        k::gptq_dequant(stream_, L.qweight.get(), L.sz.get(), w16_scratch_.get(), L.K, L.N, L.bits,
                        L.group_size);
        k::gptq_permute_half(stream_, in, L.perm.size() ? L.perm.get() : nullptr, xh2_.get(), T,
                             L.K);
        const float alpha = 1.0f, beta = 1.0f;
        REWOO_CUBLAS_TRY(cublasGemmEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, L.N, T, L.K, &alpha,
                                      w16_scratch_.get(), CUDA_R_16F, L.N, xh2_.get(), CUDA_R_16F,
                                      L.K, &beta, o, CUDA_R_32F, ldo, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
      }
    } else if (L.w32.size()) {
      k::dense_gemv(stream_, in, L.w32.get(), L.bias.get(), o, T, L.K, L.N, ldo, true);
    } else if (T <= 8 || L.bias.size()) {
      k::dense_gemv(stream_, in, L.w16.get(), L.bias.get(), o, T, L.K, L.N, ldo, true);
    } else {
      k::gptq_permute_half(stream_, in, nullptr, xh2_.get(), T, L.K);
      const float alpha = 1.0f, beta = 1.0f;
      REWOO_CUBLAS_TRY(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, L.N, T, L.K, &alpha,
                                    L.w16.get(), CUDA_R_16F, L.K, xh2_.get(), CUDA_R_16F, L.K,
                                    &beta, o, CUDA_R_32F, ldo, CUBLAS_COMPUTE_32F,
                                    CUBLAS_GEMM_DEFAULT));
    }
  }
  return {};
}

Status CudaBackend::run_tokens(int T, int R, int attn_splits, bool decode) {
  const ModelConfig& c = w_->config;
  const int hd = c.head_dim, qkv_n = (c.n_heads + 2 * c.n_kv_heads) * hd;
  const float scale = 1.0f / std::sqrt((float)hd);
  const bool small = T <= k::kGptqGemvMaxRows;
  if (dense32_) k::embedding(stream_, tok_, emb32_.get(), x_.get(), T, c.dim, c.vocab_size);
  else k::embedding(stream_, tok_, emb16_.get(), x_.get(), T, c.dim, c.vocab_size);
  // Decode steps of up to kFoldNormsMaxRows sequences fold each RMSNorm into
  // the products that read it (GpuLayer::norms_folded): they stage x times
  // the norm weights themselves and sum the rows' squares after their
  // accumulator, and attention and SwiGLU apply the factor. The accumulators
  // are zeroed a kernel ahead: q/k/v by the previous layer's SwiGLU (here for
  // layer 0), gate/up by attention.
  const bool fold_step = decode && T <= kFoldNormsMaxRows && fold_norms_;
  auto folded = [&](int l) { return fold_step && l < c.n_layers && layers_[l].norms_folded; };
  float* ss_attn = qkv_.get() + (size_t)T * qkv_n;
  float* ss_ffn = gu_.get() + (size_t)T * 2 * c.hidden_dim;
  // The q/k/v accumulator and its sums of squares, then (64-float aligned)
  // attention's accumulator for the o product: zeroed together.
  const size_t o_off = ((size_t)T * (qkv_n + 1) + 63) / 64 * 64;
  float* o_acc = qkv_.get() + o_off;
  const size_t qkv_acc = o_off + (size_t)T * c.n_heads * hd;
  const size_t gu_acc = (size_t)T * (2 * c.hidden_dim + 1);
  if (folded(0))
    REWOO_CUDA_TRY(cudaMemsetAsync(qkv_.get(), 0, qkv_acc * sizeof(float), stream_));
  auto run_folded = [&](const std::vector<LinearPart>& parts, const float* norm, float* ss,
                        float* out, int ldo) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const GpuLinear& L = parts[i].lin;
      k::GemvNorm nrm;
      nrm.x = x_.get();
      nrm.g = norm;
      nrm.src = L.src.size() ? L.src.get() : nullptr;
      nrm.sumsq = i == 0 ? ss : nullptr;
      k::gptq_gemv_normed(stream_, nrm, L.qweight.get(), L.sz.get(), out + parts[i].col, T, L.K,
                          L.N, ldo, L.bits, L.group_size);
    }
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const GpuLayer& g = layers_[l];
    const bool fold = folded(l);
    half* kc = k_cache_.get() + layer_cache_ * l;
    half* vc = v_cache_.get() + layer_cache_ * l;
    // attention block
    const GpuLinear& q0 = g.qkv[0].lin;
    if (fold) {
      run_folded(g.qkv, g.attn_norm.get(), ss_attn, qkv_.get(), qkv_n);
    } else {
      const bool stage_qkv = small && q0.bits;
      k::rmsnorm(stream_, x_.get(), g.attn_norm.get(), xn_.get(), T, c.dim, c.norm_eps, qkv_.get(),
                 (size_t)T * qkv_n, stage_qkv ? xh_.get() : nullptr,
                 stage_qkv ? q0.dest.get() : nullptr);
      REWOO_TRY(run_linear(g.qkv, xn_.get(), stage_qkv ? xh_.get() : nullptr,
                           stage_qkv ? &q0.dest_host : nullptr, qkv_.get(), qkv_n, T));
    }
    const GpuLinear& o0 = g.o[0].lin;
    const bool stage_o = small && o0.bits;
    const bool o_from_acc = fold && g.o_accumulates && attn_acc_;
    k::AttentionArgs at;
    if (decode) {
      at.qkv = qkv_.get();
      at.cos_sin = cos_sin_.get();
    } else {
      k::rope_kv_write(stream_, qkv_.get(), pos_, slot_, cos_sin_.get(), q_.get(), kc,
                       vc, T, c.n_heads, c.n_kv_heads, hd, max_seq_, false);
      at.q = q_.get();
    }
    at.k_cache = kc;
    at.v_cache = vc;
    at.pos = pos_;
    at.slot = slot_;
    if (o_from_acc) {
      at.out = o_acc;
      at.accumulate = true;
    } else {
      at.out = stage_o ? nullptr : ao_.get();  // (the o GEMV reads out_h)
      at.out_h = stage_o ? xh_.get() : nullptr;
      at.dest = stage_o ? o0.dest.get() : nullptr;
    }
    at.scratch = attn_scratch_.get();
    at.counters = attn_counters_.get();
    at.T = T;
    at.n_heads = c.n_heads;
    at.n_kv = c.n_kv_heads;
    at.hd = hd;
    at.max_seq = max_seq_;
    at.min_chunk = decode ? kDecodeAttnChunk : kPrefillAttnChunk;
    at.n_splits = attn_splits;
    at.scale = scale;
    if (fold) {
      at.qkv_ss = ss_attn;
      at.norm_dim = c.dim;
      at.norm_eps = c.norm_eps;
      at.zero = gu_.get();
      at.zero_n = gu_acc;
    }
    k::attention_decode(stream_, at);
    if (o_from_acc) {
      k::GemvNorm nrm;
      nrm.x = o_acc;
      nrm.g = ones_.get();
      nrm.src = o0.src.size() ? o0.src.get() : nullptr;
      k::gptq_gemv_normed(stream_, nrm, o0.qweight.get(), o0.sz.get(), x_.get(), T, o0.K, o0.N,
                          c.dim, o0.bits, o0.group_size);
    } else {
      REWOO_TRY(run_linear(g.o, ao_.get(), stage_o ? xh_.get() : nullptr,
                           stage_o ? &o0.dest_host : nullptr, x_.get(), c.dim, T));
    }
    // FFN block
    if (fold) {
      run_folded(g.gate_up, g.ffn_norm.get(), ss_ffn, gu_.get(), 2 * c.hidden_dim);
    } else {
      const GpuLinear& gu0 = g.gate_up[0].lin;
      const bool stage_gu = small && gu0.bits;
      k::rmsnorm(stream_, x_.get(), g.ffn_norm.get(), xn_.get(), T, c.dim, c.norm_eps, gu_.get(),
                 (size_t)T * 2 * c.hidden_dim, stage_gu ? xh_.get() : nullptr,
                 stage_gu ? gu0.dest.get() : nullptr);
      REWOO_TRY(run_linear(g.gate_up, xn_.get(), stage_gu ? xh_.get() : nullptr,
                           stage_gu ? &gu0.dest_host : nullptr, gu_.get(), 2 * c.hidden_dim, T));
    }
    const GpuLinear& d0 = g.down[0].lin;
    const bool stage_d = small && d0.bits;
    const bool fold_next = folded(l + 1);
    k::swiglu(stream_, gu_.get(), 2 * c.hidden_dim, c.hidden_dim, act_.get(), T, c.hidden_dim,
              fold_next ? qkv_.get() : nullptr, fold_next ? qkv_acc : 0,
              stage_d ? xh_.get() : nullptr, stage_d ? d0.dest.get() : nullptr,
              fold ? ss_ffn : nullptr, c.dim, c.norm_eps);
    REWOO_TRY(run_linear(g.down, act_.get(), stage_d ? xh_.get() : nullptr,
                         stage_d ? &d0.dest_host : nullptr, x_.get(), c.dim, T));
  }
  // Logit rows: final norm of the listed rows, lm_head.
  k::rmsnorm(stream_, x_.get(), final_norm_.get(), rows_n_.get(), R, c.dim, c.norm_eps,
             logits_.get(), (size_t)R * c.vocab_size, nullptr, nullptr, rows_);
  REWOO_TRY(run_linear(lm_head_, rows_n_.get(), nullptr, nullptr, logits_.get(), c.vocab_size, R));
  return {};
}


Status CudaBackend::enqueue_step(int T, int R, int attn_splits, bool decode, bool greedy) {
  REWOO_CUDA_TRY(cudaMemcpyAsync(ids_.get(), h_ids_.get(), ids_.bytes(), cudaMemcpyHostToDevice,
                                 stream_));
  REWOO_TRY(run_tokens(T, R, attn_splits, decode));
  if (R == 0) return {};
  if (greedy) {
    const float* f = pick_f_.get();
    k::sample(stream_, logits_.get(), f, pick_k_.get(), f + max_rows_, f + 2 * max_rows_,
              pick_tok_.get(), R, w_->config.vocab_size);
    REWOO_CUDA_TRY(cudaMemcpyAsync(h_tokens_.get(), pick_tok_.get(), (size_t)R * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, stream_));
  } else {
    REWOO_CUDA_TRY(cudaMemcpyAsync(h_logits_.get(), logits_.get(),
                                   (size_t)R * w_->config.vocab_size * sizeof(float),
                                   cudaMemcpyDeviceToHost, stream_));
  }
  return {};
}

Status CudaBackend::launch_decode(int T, bool greedy) {
  const int key = 2 * T + (greedy ? 1 : 0);
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    // Capture the whole step once for this batch size; replays copy in the
    // ids the host writes to the pinned h_ids_ before each launch.
    cudaGraph_t graph = nullptr;
    const int splits = decode_splits(T);  // (device queries: before the capture)
    REWOO_CUDA_TRY(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    const Status st = enqueue_step(T, T, splits, true, greedy);
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    if (!st) {
      if (graph) cudaGraphDestroy(graph);
      return st;
    }
    REWOO_CUDA_TRY(end);
    cudaGraphExec_t exec = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    REWOO_CUDA_TRY(inst);
    it = graphs_.emplace(key, exec).first;
  }
  REWOO_CUDA_TRY(cudaGraphLaunch(it->second, stream_));
  return {};
}

Status CudaBackend::forward_impl(std::span<const SeqBatchEntry> batch, Logits* out,
                                 std::vector<int32_t>* picks) {
  const ModelConfig& c = w_->config;
  // Validate the whole batch before touching the cache.
  std::vector<char> used(n_slots_, 0);
  size_t total = 0;
  for (size_t e = 0; e < batch.size(); ++e) {
    const SeqBatchEntry& b = batch[e];
    const std::string where = fmt::format("batch entry {}", e);
    if (b.slot < 0 || b.slot >= n_slots_)
      return Error(fmt::format("slot {} out of range (backend has {} slots)", b.slot, n_slots_), where);
    if (used[b.slot]) return Error(fmt::format("slot {} appears twice in one batch", b.slot), where);
    used[b.slot] = 1;
    if (b.tokens.empty()) return Error("no tokens", where);
    if (b.pos < 0 || (size_t)b.pos + b.tokens.size() > (size_t)max_seq_)
      return Error(fmt::format("positions {}..{} past max_seq_len {}", b.pos,
                               b.pos + b.tokens.size() - 1, max_seq_), where);
    if (b.pos > slot_len_[b.slot])
      return Error(fmt::format("pos {} but slot {} holds only {} tokens", b.pos, b.slot,
                               slot_len_[b.slot]), where);
    for (int32_t t : b.tokens)
      if (t < 0 || t >= c.vocab_size)
        return Error(fmt::format("token id {} outside the vocabulary (0..{})", t, c.vocab_size - 1),
                     where);
    total += b.tokens.size();
  }
  if (out) out->resize_for(batch, c.vocab_size);
  else picks->assign(batch.size(), 0);
  const bool decode = total == batch.size() && total <= (size_t)k::kGptqGemvMaxRows;

  // Flatten into chunks of at most max_rows_ tokens.
  struct Tok { int32_t id, pos, slot; long out_row; };
  std::vector<Tok> toks;
  toks.reserve(total);
  for (size_t e = 0; e < batch.size(); ++e) {
    const SeqBatchEntry& b = batch[e];
    for (size_t j = 0; j < b.tokens.size(); ++j) {
      long row = -1;
      // logit rows, or (picks) the entry's index for its last token
      if (!out) row = j + 1 == b.tokens.size() ? (long)e : -1;
      else if (b.all_logits) row = (long)(out->offsets[e] + j);
      else if (j + 1 == b.tokens.size()) row = (long)out->offsets[e];
      toks.push_back({b.tokens[j], b.pos + (int32_t)j, b.slot, row});
    }
  }
  for (size_t c0 = 0; c0 < toks.size(); c0 += max_rows_) {
    const int T = (int)std::min<size_t>(max_rows_, toks.size() - c0);
    int32_t* h = h_ids_.get();
    std::vector<long> out_rows;
    int max_pos = 0;
    for (int i = 0; i < T; ++i) {
      const Tok& t = toks[c0 + i];
      h[i] = t.id;
      h[max_rows_ + i] = t.pos;
      h[2 * max_rows_ + i] = t.slot;
      max_pos = std::max(max_pos, (int)t.pos);
      if (t.out_row >= 0) {
        h[3 * max_rows_ + (int)out_rows.size()] = i;
        out_rows.push_back(t.out_row);
      }
    }
    const int R = (int)out_rows.size();
    if (decode) {
      REWOO_TRY(launch_decode(T, picks != nullptr));  // R == T
    } else {
      const int splits = std::min(ceil_div(max_pos + 1, kPrefillAttnChunk), kMaxPrefillSplits);
      REWOO_TRY(enqueue_step(T, R, splits, false, picks != nullptr));
    }
    REWOO_CUDA_TRY(cudaStreamSynchronize(stream_));
    REWOO_CUDA_TRY(cudaGetLastError());
    for (int r = 0; r < R; ++r) {
      if (out)
        std::memcpy(out->data.data() + (size_t)out_rows[r] * c.vocab_size,
                    h_logits_.get() + (size_t)r * c.vocab_size,
                    (size_t)c.vocab_size * sizeof(float));
      else
        (*picks)[out_rows[r]] = h_tokens_.get()[r];
    }
  }
  for (const SeqBatchEntry& b : batch) slot_len_[b.slot] = b.pos + (int)b.tokens.size();
  return {};
}

Status CudaBackend::copy_slot(int src, int dst, int n_tokens) {
  if (src < 0 || src >= n_slots_ || dst < 0 || dst >= n_slots_)
    return Error(fmt::format("copy_slot({}, {}): slots are 0..{}", src, dst, n_slots_ - 1), "cuda");
  if (n_tokens < 0 || n_tokens > slot_len_[src])
    return Error(fmt::format("copy_slot: slot {} holds {} tokens, asked for {}", src,
                             slot_len_[src], n_tokens), "cuda");
  const ModelConfig& c = w_->config;
  const size_t per_slot = (size_t)max_seq_ * c.n_kv_heads * c.head_dim;
  const size_t bytes = (size_t)n_tokens * c.n_kv_heads * c.head_dim * sizeof(half);
  if (src != dst && bytes > 0)
    for (int l = 0; l < c.n_layers; ++l)
      for (half* base : {k_cache_.get(), v_cache_.get()})
        REWOO_CUDA_TRY(cudaMemcpyAsync(base + layer_cache_ * l + per_slot * dst,
                                       base + layer_cache_ * l + per_slot * src, bytes,
                                       cudaMemcpyDeviceToDevice, stream_));
  REWOO_CUDA_TRY(cudaStreamSynchronize(stream_));
  slot_len_[dst] = n_tokens;
  return {};
}

}  // namespace

Result<std::unique_ptr<Backend>> make_cuda_backend(std::shared_ptr<const Weights> weights,
                                                   const BackendOptions& opts) {
  if (!weights) return Error("no weights", "device cuda");
  auto be = std::make_unique<CudaBackend>(std::move(weights), opts);
  if (Status st = be->init(); !st) return st.error();
  return std::unique_ptr<Backend>(std::move(be));
}

}  // namespace rewoo::engine
