// What a dependency between two decode kernels costs, against a grid-wide
// barrier inside one persistent kernel. A decode step of a 34B model is
// about 290 kernels in a row, each waiting for the one before (programmatic
// dependent launch); the quantized products stream their weights at 82 to
// 96% of the copy rate depending on whether they wait.
//
// Each of P phases streams its own S MB (regions cycle through 256 MB, more
// than L2 holds) with the GEMV's shape: 8 blocks of 128 threads an SM,
// 16-byte loads, the first ones issued before waiting. Phase p + 1 reads a
// value phase p wrote (a real dependency). Modes, P phases each:
//   pdl      - P kernels, programmatic dependent launch, griddepcontrol.wait
//              (what the engine does), in one CUDA graph;
//   plain    - P kernels, ordinary stream order, in one CUDA graph;
//   nowait   - P kernels with programmatic launch and no wait: the floor
//              (the dependency is not honoured; timing only);
//   barrier  - one cooperative kernel, the phases separated by a grid
//              barrier (an atomic counter), the next phase's first loads
//              issued before it.
// Prints microseconds a phase, the streaming rate, and per mode the cost of
// one dependency over the floor. --smem BYTES gives each block that much
// shared memory, to hold the blocks an SM takes at once to the 8 of a phase
// (as the GEMVs' registers do): then the next phase cannot start its blocks
// while this one runs (the barrier mode is one kernel and unchanged).
//   build/tests/bench/bench_cuda_sync [--phases P] [--mb S] [--reps R] [--smem BYTES]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/common.cuh"
#include "tests/bench/cuda_check.h"

namespace k = rewoo::kernels;

namespace {

constexpr int kThreads = 128;
constexpr int kInFlight = 4;  // 16-byte loads a thread keeps in flight

struct Phase {
  const uint4* w;    // this phase's region
  size_t words;      // uint4 a block streams
  const float* in;   // the previous phase's outputs (null for the first)
  float* out;        // [blocks]
};

// One block's share of a phase: its first kInFlight loads are issued by the
// caller (before any wait), the rest here.
__device__ __forceinline__ float stream_block(const Phase& ph, uint4 (&first)[kInFlight],
                                              float dep) {
  const uint4* p = ph.w + (size_t)blockIdx.x * ph.words + threadIdx.x;
  uint32_t acc = 0;
#pragma unroll
  for (int u = 0; u < kInFlight; ++u) acc ^= first[u].x ^ first[u].y ^ first[u].z ^ first[u].w;
  for (size_t i = (size_t)kInFlight * kThreads; i < ph.words; i += (size_t)kInFlight * kThreads) {
    uint4 v[kInFlight];
#pragma unroll
    for (int u = 0; u < kInFlight; ++u)
      v[u] =
          i + u * kThreads < ph.words ? k::ld_stream(p + i + u * kThreads) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  return (float)(acc & 0xffff) * 1e-9f + dep;
}

__device__ __forceinline__ void first_loads(const Phase& ph, uint4 (&first)[kInFlight]) {
  const uint4* p = ph.w + (size_t)blockIdx.x * ph.words + threadIdx.x;
#pragma unroll
  for (int u = 0; u < kInFlight; ++u)
    first[u] = (size_t)u * kThreads + threadIdx.x < ph.words ? k::ld_stream(p + u * kThreads)
                                                             : make_uint4(0, 0, 0, 0);
}

__device__ __forceinline__ void finish(const Phase& ph, float v) {
  __shared__ float red[kThreads / 32];
  v = k::warp_sum(v);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (int i = 0; i < kThreads / 32; ++i) s += red[i];
    ph.out[blockIdx.x] = s;
  }
}

__global__ void __launch_bounds__(kThreads) phase_kernel(const Phase ph, bool wait) {
  k::pdl_trigger();
  uint4 first[kInFlight];
  first_loads(ph, first);
  if (wait) k::pdl_wait();
  const float dep = ph.in ? __ldcg(ph.in + (blockIdx.x * 7u) % gridDim.x) : 0.0f;
  finish(ph, stream_block(ph, first, dep));
}

// Grid barrier for co-resident blocks: arrive on a counter, the last one
// bumps the generation the others spin on.
__device__ void grid_barrier(unsigned* count, volatile unsigned* gen) {
  __syncthreads();
  if (threadIdx.x == 0) {
    const unsigned g = *gen;
    __threadfence();
    if (atomicAdd(count, 1u) == gridDim.x - 1) {
      *count = 0;
      __threadfence();
      atomicAdd((unsigned*)gen, 1u);
    } else {
      while (*gen == g) {
      }
    }
    __threadfence();
  }
  __syncthreads();
}

__global__ void __launch_bounds__(kThreads) persistent_kernel(const Phase* phases, int n,
                                                              unsigned* count, unsigned* gen) {
  uint4 first[kInFlight];
  first_loads(phases[0], first);
  for (int p = 0; p < n; ++p) {
    const Phase ph = phases[p];
    const float dep = ph.in ? __ldcg(ph.in + (blockIdx.x * 7u) % gridDim.x) : 0.0f;
    const float v = stream_block(ph, first, dep);
    if (p + 1 < n) first_loads(phases[p + 1], first);  // weights: before the barrier
    finish(ph, v);
    if (p + 1 < n) grid_barrier(count, gen);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int phases = 48, mb = 32, reps = 10, smem = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> int {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", a.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (a == "--phases") phases = next();
    else if (a == "--mb") mb = next();
    else if (a == "--reps") reps = next();
    else if (a == "--smem") smem = next();
    else {
      std::fprintf(stderr, "usage: %s [--phases P] [--mb S] [--reps R] [--smem BYTES]\n",
                   argv[0]);
      return 2;
    }
  }
  if (phases < 2 || mb < 1 || reps < 1 || smem < 0 || smem > 48 * 1024) {
    std::fprintf(stderr, "--phases >= 2, --mb >= 1, --reps >= 1, 0 <= --smem <= 49152\n");
    return 2;
  }
  int dev = 0, sms = 0, coop = 0;
  CK(cudaGetDevice(&dev));
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  CK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, dev));
  int per_sm = 0;
  CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, persistent_kernel, kThreads, 0));
  const int blocks = sms * std::min(per_sm, 8);
  const size_t region_words = (size_t)mb * (1 << 20) / 16;
  const size_t words = region_words / blocks;
  const int n_regions = std::max(2, 256 / mb);
  uint4* w = nullptr;
  float* outs = nullptr;
  unsigned* bar = nullptr;
  CK(cudaMalloc(&w, region_words * 16 * n_regions));
  CK(cudaMemset(w, 0x5a, region_words * 16 * n_regions));
  CK(cudaMalloc(&outs, sizeof(float) * blocks * phases));
  CK(cudaMalloc(&bar, 2 * sizeof(unsigned)));
  CK(cudaMemset(bar, 0, 2 * sizeof(unsigned)));
  std::vector<Phase> ph(phases);
  for (int p = 0; p < phases; ++p)
    ph[p] = {w + (size_t)(p % n_regions) * region_words, words,
             p ? outs + (size_t)(p - 1) * blocks : nullptr, outs + (size_t)p * blocks};
  Phase* dph = nullptr;
  CK(cudaMalloc(&dph, sizeof(Phase) * phases));
  CK(cudaMemcpy(dph, ph.data(), sizeof(Phase) * phases, cudaMemcpyHostToDevice));
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));

  auto graph_of = [&](bool pdl, bool wait) {
    cudaGraph_t g;
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int p = 0; p < phases; ++p) {
      cudaLaunchConfig_t cfg{};
      cfg.gridDim = dim3(blocks);
      cfg.blockDim = dim3(kThreads);
      cfg.dynamicSmemBytes = smem;
      cfg.stream = st;
      cudaLaunchAttribute attr[1];
      attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
      attr[0].val.programmaticStreamSerializationAllowed = 1;
      cfg.attrs = attr;
      cfg.numAttrs = pdl ? 1 : 0;
      CK(cudaLaunchKernelEx(&cfg, phase_kernel, ph[p], wait));
    }
    CK(cudaStreamEndCapture(st, &g));
    cudaGraphExec_t x;
    CK(cudaGraphInstantiate(&x, g, 0));
    CK(cudaGraphDestroy(g));
    return x;
  };
  auto median_us = [&](auto&& launch) {
    launch();
    CK(cudaStreamSynchronize(st));
    std::vector<float> t;
    for (int r = 0; r < reps; ++r) {
      CK(cudaEventRecord(e0, st));
      launch();
      CK(cudaEventRecord(e1, st));
      CK(cudaEventSynchronize(e1));
      float ms = 0;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      t.push_back(ms * 1000.0f);
    }
    std::sort(t.begin(), t.end());
    return (double)t[t.size() / 2];
  };

  struct Row { const char* name; double us; };
  std::vector<Row> rows;
  for (auto [name, pdl, wait] : {std::tuple{"pdl", true, true}, std::tuple{"plain", false, true},
                                 std::tuple{"nowait", true, false}}) {
    cudaGraphExec_t x = graph_of(pdl, wait);
    rows.push_back({name, median_us([&] { CK(cudaGraphLaunch(x, st)); })});
    CK(cudaGraphExecDestroy(x));
  }
  if (coop) {
    int n = phases;
    unsigned *count = bar, *gen = bar + 1;
    void* args[] = {&dph, &n, &count, &gen};
    rows.push_back({"barrier", median_us([&] {
                      CK(cudaLaunchCooperativeKernel((const void*)persistent_kernel, dim3(blocks),
                                                     dim3(kThreads), args, 0, st));
                    })});
  }
  CK(cudaStreamSynchronize(st));
  CK(cudaGetLastError());
  int resident = 0;  // phase kernel blocks an SM holds at once: > 8 lets the next phase in early
  CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, phase_kernel, kThreads, smem));

  const double bytes = (double)words * 16 * blocks;
  double floor_us = 0;
  for (const Row& r : rows)
    if (!std::strcmp(r.name, "nowait")) floor_us = r.us / phases;
  std::printf(
      "device: %s; %d blocks (%d an SM, %d fit an SM) x %d threads; %d phases of %.1f MB\n",
      prop.name, blocks, blocks / sms, resident, kThreads, phases, bytes / 1e6);
  std::printf("%-8s %12s %10s %14s\n", "mode", "us a phase", "GB/s", "us over nowait");
  for (const Row& r : rows)
    std::printf("%-8s %12.2f %10.0f %14.2f\n", r.name, r.us / phases, bytes / (r.us / phases) / 1e3,
                r.us / phases - floor_us);
  std::printf("(build/tests/bench/bench_cuda_sync --phases %d --mb %d --reps %d --smem %d)\n",
              phases, mb, reps, smem);
  return 0;
}
