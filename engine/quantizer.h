// GPTQ quantizer: float weights -> GPTQ weights in the seed's format.
//
// The real algorithm (Frantar et al. 2022, as AutoGPTQ implements it): per
// linear layer, the Hessian H = 2/N sum x x^T of its inputs on calibration
// tokens, dampening (damp * mean diag H), optional act-order (columns by
// descending diag H), then column-by-column quantization with the error
// spread over the remaining columns through the Cholesky factor of H^-1.
// Layers are quantized in order inside each block, each from inputs computed
// with the already-quantized layers before it ("true sequential").
// Round-to-nearest is the fast alternative (--rtn).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/result.h"
#include "engine/weights.h"

namespace rewoo::engine {

struct QuantizeOptions {
  int bits = 4;             // 2, 3, 4 or 8
  int group_size = 128;     // -1: no groups
  bool act_order = true;    // desc_act
  float damp = 0.1f;        // fraction of mean(diag H) added to the diagonal
  bool rtn = false;         // round-to-nearest instead of GPTQ
  // Calibration sequences (token ids, BOS first). Empty: the quantizer
  // samples its own from the float model (16 x 256 tokens, temperature 1).
  std::vector<std::vector<int32_t>> calib;
  std::function<void(const std::string&)> progress;  // optional
};

// Pads FFN width to a multiple of 32 where needed (zero gate/up rows and
// zero down columns: the output is unchanged), then quantizes every linear
// layer of every block. The embedding, norms and lm_head stay float.
Result<std::shared_ptr<Weights>> quantize_model(const Weights& fp, const QuantizeOptions& opts);

// One layer (W fp32 [out, in], H [in, in] row-major float64); exposed for tests.
Result<std::unique_ptr<QuantLinear>> gptq_quantize_layer(const std::vector<float>& w, int in, int out,
                                                         std::vector<double> h, const QuantizeOptions& opts,
                                                         double* sq_error = nullptr);

}  // namespace rewoo::engine
