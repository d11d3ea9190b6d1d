// Softmax attention of one query over n_ctx cached keys, written once for
// every instruction set: each kernel file instantiates it with its own dot
// product and axpy (compiled with that file's target flags).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace rewoo::engine::cpu {

// att[j] = softmax_j(q . K_j * scale); out = sum_j att[j] V_j. K and V rows
// are `stride` floats apart; att holds n_ctx floats.
template <class Dot, class Axpy>
inline void attend_generic(Dot dot, Axpy axpy, const float* q, const float* K, const float* V,
                           size_t stride, int n_ctx, int hd, float scale, float* att, float* out) {
  float mx = -INFINITY;
  for (int j = 0; j < n_ctx; ++j) {
    att[j] = dot(q, K + j * stride, hd) * scale;
    mx = std::max(mx, att[j]);
  }
  float sum = 0.0f;
  for (int j = 0; j < n_ctx; ++j) {
    att[j] = expf(att[j] - mx);
    sum += att[j];
  }
  std::fill(out, out + hd, 0.0f);
  for (int j = 0; j < n_ctx; ++j) axpy(att[j] / sum, V + j * stride, out, hd);
}

}  // namespace rewoo::engine::cpu
