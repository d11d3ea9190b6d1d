// Kernel timeline trace: the buffer and the switch (see trace.h).
#include "kernels/trace.h"

#include <cuda_runtime.h>

namespace rewoo::kernels {

#ifdef REWOO_TRACE
// Defined by REWOO_TRACE_SETTER in the kernels' translation units.
void trace_set_gemv(void* p);
void trace_set_attention(void* p);
void trace_set_swiglu(void* p);

namespace {

void* g_buffer = nullptr;

size_t trace_words() {
  return kTraceMaxSms + (size_t)kTraceMaxSms * kTraceRecordsPerSm * kTraceRecordWords;
}

void point_kernels_at(void* p) {
  trace_set_gemv(p);
  trace_set_attention(p);
  trace_set_swiglu(p);
}

}  // namespace

bool trace_built() { return true; }

bool trace_start() {
  trace_stop();
  if (cudaMalloc(&g_buffer, trace_words() * sizeof(uint64_t)) != cudaSuccess) {
    g_buffer = nullptr;
    return false;
  }
  if (cudaMemset(g_buffer, 0, trace_words() * sizeof(uint64_t)) != cudaSuccess) {
    cudaFree(g_buffer);
    g_buffer = nullptr;
    return false;
  }
  point_kernels_at(g_buffer);
  return true;
}

std::vector<uint64_t> trace_stop() {
  if (!g_buffer) return {};
  cudaDeviceSynchronize();
  point_kernels_at(nullptr);
  std::vector<uint64_t> words(trace_words());
  if (cudaMemcpy(words.data(), g_buffer, words.size() * sizeof(uint64_t),
                 cudaMemcpyDeviceToHost) != cudaSuccess)
    words.clear();
  cudaFree(g_buffer);
  g_buffer = nullptr;
  return words;
}
#else
bool trace_built() { return false; }
bool trace_start() { return false; }
std::vector<uint64_t> trace_stop() { return {}; }
#endif

}  // namespace rewoo::kernels
