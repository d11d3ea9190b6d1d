#include "engine/config.h"

#include <fmt/format.h>

namespace rewoo::engine {

std::string ModelConfig::summary() const {
  return fmt::format("dim {}, {} layers, {} heads ({} kv, head_dim {}), ffn {}, vocab {}, ctx {}, "
                     "rope_theta {:g}{}, norm_eps {:g}{}",
                     dim, n_layers, n_heads, n_kv_heads, head_dim, hidden_dim, vocab_size,
                     max_seq_len, rope_theta,
                     rope_scaling_factor != 1.0f ? fmt::format(" (linear scaling {:g})", rope_scaling_factor) : "",
                     norm_eps, tie_embeddings ? ", tied embeddings" : "");
}

std::string QuantConfig::summary() const {
  if (bits == 0) return "float";
  std::string g = group_size < 0 ? "no group" : fmt::format("g{}", group_size);
  return fmt::format("GPTQ {}-bit {}{}{}", bits, g, desc_act ? " act-order" : "", sym ? " sym" : " asym");
}

}  // namespace rewoo::engine
