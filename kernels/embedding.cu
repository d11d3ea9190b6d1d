#include "kernels/embedding.cuh"

#include "kernels/common.cuh"

namespace rewoo::kernels {
namespace {

template <typename W>
__global__ void embedding_kernel(const int32_t* __restrict__ tokens, const W* __restrict__ table,
                                 float* __restrict__ out, int dim, int vocab) {
  pdl_enter();
  const int id = tokens[blockIdx.x];
  const bool ok = id >= 0 && id < vocab;
  float* o = out + (size_t)blockIdx.x * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x)
    o[i] = ok ? static_cast<float>(table[(size_t)id * dim + i]) : 0.0f;
}

}  // namespace

void embedding(cudaStream_t stream, const int32_t* tokens, const float* table, float* out, int T,
               int dim, int vocab) {
  if (T > 0) embedding_kernel<<<T, 256, 0, stream>>>(tokens, table, out, dim, vocab);
}
void embedding(cudaStream_t stream, const int32_t* tokens, const half* table, float* out, int T,
               int dim, int vocab) {
  if (T > 0) embedding_kernel<<<T, 256, 0, stream>>>(tokens, table, out, dim, vocab);
}

}  // namespace rewoo::kernels
