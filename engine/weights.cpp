#include "engine/weights.h"

#include <stdexcept>

#include "engine/half.h"

namespace rewoo::engine {

uint32_t quant_get(const uint32_t* packed, int bits, int cols, int row, int col) {
  // Each column is a little-endian bit stream of its rows: row r occupies
  // stream bits [r*bits, (r+1)*bits), word b/32 of that column.
  size_t b = static_cast<size_t>(row) * bits;
  size_t word = b / 32, shift = b % 32;
  uint64_t v = packed[word * cols + col] >> shift;
  if (shift + bits > 32) v |= static_cast<uint64_t>(packed[(word + 1) * cols + col]) << (32 - shift);
  return static_cast<uint32_t>(v & ((1u << bits) - 1));
}

void quant_put(uint32_t* packed, int bits, int cols, int row, int col, uint32_t v) {
  size_t b = static_cast<size_t>(row) * bits;
  size_t word = b / 32, shift = b % 32;
  v &= (1u << bits) - 1;
  packed[word * cols + col] |= v << shift;
  if (shift + bits > 32) packed[(word + 1) * cols + col] |= v >> (32 - shift);
}

// Copies row `srow` of a packed [rows*bits/32, cols] buffer into row `drow`
// of another (destination slot zeroed).
void copy_packed_row(const uint32_t* src, int srow, uint32_t* dst, int drow, int bits, int cols) {
  const uint32_t mask = (1u << bits) - 1;
  size_t sb = static_cast<size_t>(srow) * bits, db = static_cast<size_t>(drow) * bits;
  size_t sw = sb / 32, ss = sb % 32, dw = db / 32, ds = db % 32;
  const uint32_t* s0 = src + sw * cols;
  uint32_t* d0 = dst + dw * cols;
  for (int j = 0; j < cols; ++j) {
    uint64_t v = s0[j] >> ss;
    if (ss + bits > 32) v |= static_cast<uint64_t>(s0[j + cols]) << (32 - ss);
    uint32_t x = static_cast<uint32_t>(v) & mask;
    d0[j] |= x << ds;
    if (ds + bits > 32) d0[j + cols] |= x >> (32 - ds);
  }
}

uint32_t QuantLinear::get(int k, int j) const { return quant_get(qweight.data(), bits, out, k, j); }

std::vector<float> QuantLinear::dequantize() const {
  std::vector<float> w(static_cast<size_t>(in) * out);
  for (int g = 0; g < n_groups; ++g) {
    for (int k = group_bounds[g]; k < group_bounds[g + 1]; ++k) {
      int row = perm.empty() ? k : perm[k];
      for (int j = 0; j < out; ++j) {
        size_t gi = static_cast<size_t>(g) * out + j;
        // As AutoGPTQ dequantizes: in fp16 (scale*q and scale*zero are exact in fp32).
        w[static_cast<size_t>(row) * out + j] =
            fp16_round(scales[gi] * static_cast<float>(get(k, j)) - scales[gi] * static_cast<float>(zeros[gi]));
      }
    }
  }
  return w;
}

namespace {
size_t linear_bytes(const Linear& l) {
  if (l.q) {
    return l.q->qweight.size() * 4 + l.q->scales.size() * 2 + l.q->zeros.size() * l.q->bits / 8 +
           l.q->bias.size() * 2;
  }
  return l.w.size() * 2 + l.bias.size() * 2;  // counted as fp16, as checkpoints store them
}
size_t linear_params(const Linear& l) { return static_cast<size_t>(l.in) * l.out; }
}  // namespace

size_t Weights::decode_bytes() const {
  size_t b = final_norm.size() * 4;
  for (const auto& L : layers) {
    b += (L.attn_norm.size() + L.ffn_norm.size()) * 4;
    for (const Linear* l : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3}) b += linear_bytes(*l);
  }
  b += config.tie_embeddings ? tok_embeddings.size() * 2 : linear_bytes(lm_head);
  return b;
}

size_t Weights::n_params() const {
  size_t n = tok_embeddings.size() + final_norm.size();
  for (const auto& L : layers) {
    n += L.attn_norm.size() + L.ffn_norm.size();
    for (const Linear* l : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3}) n += linear_params(*l);
  }
  if (!config.tie_embeddings) n += linear_params(lm_head);
  return n;
}

}  // namespace rewoo::engine
