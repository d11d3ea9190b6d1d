// Small device helpers shared by the kernels in this folder: warp
// reductions, vector loads that bypass L1, fp16 packing. Header-only; no
// kernels of its own.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "kernels/trace.h"

namespace rewoo::kernels {

constexpr int kWarp = 32;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// c += A B on tensor cores (mma.sync m16n8k16, fp16 in, fp32 accumulate).
// Thread (g = lane / 4, t = lane % 4) holds a[0] = A[g][2t, 2t+1],
// a[1] = A[g+8][2t, 2t+1], a[2] = A[g][2t+8, 2t+9], a[3] = A[g+8][2t+8, 2t+9];
// b0 = B[2t, 2t+1][g], b1 = B[2t+8, 2t+9][g] (each a half2, the lower index
// in the low half); c[0..1] = C[g][2t, 2t+1], c[2..3] = C[g+8][2t, 2t+1].
__device__ __forceinline__ void mma_16816(float* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Streams 16 bytes that are read once (weights): no L1 allocation.
__device__ __forceinline__ uint4 ld_stream(const uint4* p) {
  uint4 r;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

// A half2 as its 32 bits, and back (mma operands are 32-bit registers).
__device__ __forceinline__ half2 as_h2(uint32_t u) {
  return *reinterpret_cast<half2*>(&u);
}
__device__ __forceinline__ uint32_t as_u32(half2 h) {
  return *reinterpret_cast<uint32_t*>(&h);
}

// The 8 fp16 values of a 16-byte word as floats.
__device__ __forceinline__ void unpack_half8(uint4 u, float* f) {
  const half2* h = reinterpret_cast<const half2*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __half22float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

// N consecutive floats (16-byte aligned, N % 4 == 0) in 16-byte loads
// through L2: for data the previous kernel wrote, which under programmatic
// dependent launch the non-coherent path could serve stale.
template <int N>
__device__ __forceinline__ void ldcg_floats(const float* p, float* f) {
#pragma unroll
  for (int i = 0; i < N / 4; ++i) {
    const float4 v = __ldcg(reinterpret_cast<const float4*>(p) + i);
    f[4 * i] = v.x;
    f[4 * i + 1] = v.y;
    f[4 * i + 2] = v.z;
    f[4 * i + 3] = v.w;
  }
}

// Programmatic dependent launch (Hopper and newer). Every kernel starts with
// pdl_enter(): it lets the next kernel in the stream be scheduled at once
// (its blocks take SM slots as this kernel's blocks retire) and then waits
// until the previous kernel has finished and its writes are visible. Work
// before pdl_wait() may only read memory no kernel writes (weights), which is
// how the GEMV prefetches its first weight tiles while the previous kernel
// drains. Without a programmatic launch both instructions are no-ops.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
// Flags and counters shared between the blocks of a grid, at GPU scope: a
// load with acquire semantics, an atomic add with acquire and release, and
// a fire-and-forget add with release.
__device__ __forceinline__ uint32_t ld_acquire(const uint32_t* p) {
  uint32_t v;
  asm volatile("ld.acquire.gpu.global.b32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ uint32_t atom_add_acq_rel(uint32_t* p, uint32_t v) {
  uint32_t old;
  asm volatile("atom.acq_rel.gpu.global.add.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
  return old;
}
__device__ __forceinline__ void red_add_release(uint32_t* p, uint32_t v) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
// Kernel timeline trace (kernels/trace.h): TRACE_BEGIN at a kernel's start,
// TRACE_RELEASED after its wait, TRACE_MARK(i) inside, TRACE_END(kind) before
// each return of a block; thread 0 records. Nothing without REWOO_TRACE.
#ifdef REWOO_TRACE
// One per translation unit; REWOO_TRACE_SETTER(name) defines the host
// function that points it at the buffer (kernels/trace.cu calls them all).
static __device__ unsigned long long* g_trace = nullptr;
#define REWOO_TRACE_SETTER(name) \
  void trace_set_##name(void* p) { cudaMemcpyToSymbol(g_trace, &p, sizeof(p)); }
__device__ __forceinline__ unsigned long long trace_now() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
struct TraceBlock {
  unsigned long long t0 = 0, t1 = 0, slot = 0, m[4] = {0, 0, 0, 0};
  unsigned smid = 0;
  __device__ __forceinline__ void begin() {
    t0 = trace_now();
    if (threadIdx.x == 0 && g_trace) {
      asm("mov.u32 %0, %%smid;" : "=r"(smid));
      // The slot is needed only at the end: the atomic's trip overlaps the work.
      slot = atomicAdd(g_trace + smid % kTraceMaxSms, 1ull);
    }
  }
  __device__ __forceinline__ void released() { t1 = trace_now(); }
  __device__ __forceinline__ void mark(int i) { m[i] = trace_now(); }
  __device__ __forceinline__ void end(unsigned kind) {
    if (threadIdx.x != 0 || !g_trace || slot >= kTraceRecordsPerSm) return;
    unsigned long long* r =
        g_trace + kTraceMaxSms +
        ((smid % kTraceMaxSms) * (unsigned long long)kTraceRecordsPerSm + slot) * kTraceRecordWords;
    const unsigned long long b =
        blockIdx.x + (unsigned long long)gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    r[0] = t0;
    r[1] = t1;
    r[2] = trace_now();
    r[3] = kind | (unsigned long long)gridDim.x << 3 | (unsigned long long)gridDim.y << 19 |
           (unsigned long long)(gridDim.z & 31) << 31 | b << 36;
    for (int i = 0; i < 4; ++i) r[4 + i] = m[i];
  }
};
#define TRACE_BEGIN \
  TraceBlock trace_; \
  trace_.begin()
#define TRACE_RELEASED trace_.released()
#define TRACE_MARK(i) trace_.mark(i)
#define TRACE_END(kind) trace_.end(kind)
#else
#define REWOO_TRACE_SETTER(name)
#define TRACE_BEGIN
#define TRACE_RELEASED
#define TRACE_MARK(i)
#define TRACE_END(kind)
#endif

__device__ __forceinline__ void pdl_enter() {
  pdl_trigger();
  pdl_wait();
}

// Whether launches use programmatic stream serialization: compute capability
// 9.0 or newer, unless REWOO_CUDA_PDL=0.
inline bool pdl_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("REWOO_CUDA_PDL");
    if (env && std::strcmp(env, "0") == 0) return false;
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) return false;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
      return false;
    return major >= 9;
  }();
  return on;
}

// kernel<<<grid, block, smem, stream>>>(args...), as a programmatic
// dependent launch where pdl_enabled().
template <typename... P, typename... A>
inline void launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                          cudaStream_t stream, A&&... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
}

__host__ __device__ constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

}  // namespace rewoo::kernels
