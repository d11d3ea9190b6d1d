// Sampling steps on the GPU, applied to fp32 logits [M, vocab] in the order a
// generator uses them: repetition penalty, grammar token mask, then the pick
// (greedy, or temperature + top-k + top-p with a caller-supplied uniform).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace rewoo::kernels {

// Hugging Face semantics: for each distinct id in ids[offsets[m] ..
// offsets[m+1]) of row m: logit < 0 ? logit * p : logit / p, p = penalty[m]
// (repeated ids count once). Ids outside [0, vocab) are ignored.
void repetition_penalty(cudaStream_t stream, float* logits, const int32_t* ids,
                        const int32_t* offsets, const float* penalty, int M, int vocab);

// Token mask as a bitmask: bit (i % 32) of bitmask[m * words + i / 32] set =
// token i allowed; disallowed logits become -inf. words = ceil(vocab / 32).
void token_bitmask(cudaStream_t stream, float* logits, const uint32_t* bitmask, int M, int vocab);

// tokens[m] = argmax (lowest index among ties) when temperature[m] <= 0;
// otherwise a draw from softmax(logits / T) restricted to the top_k[m]
// tokens (0 = no limit) and then to the smallest top set whose probability
// reaches top_p[m] (1 = no limit), using uniform[m] in [0, 1).
void sample(cudaStream_t stream, const float* logits, const float* temperature,
            const int32_t* top_k, const float* top_p, const float* uniform, int32_t* tokens,
            int M, int vocab);

}  // namespace rewoo::kernels
