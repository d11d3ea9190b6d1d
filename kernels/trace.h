// Kernel timeline trace, for a profiling build only (cmake
// -DREWOO_CUDA_TRACE=ON; otherwise the kernels hold no trace code and
// trace_start() returns false). The decode step's quantized GEMVs, attention
// and SwiGLU then record, per block, when it started, when the wait on the
// previous kernel released it, two marks inside and when it ended, in
// globaltimer nanoseconds:
//   words [0, kTraceMaxSms): records written per SM (by %smid);
//   then per SM kTraceRecordsPerSm records of kTraceRecordWords words:
//     start, released, end, kind | grid.x << 3 | grid.y << 19 | (grid.z & 31) << 31 |
//     linear block << 36, mark 0, mark 1, mark 2, mark 3 (0: not reached).
// Kinds: TraceKind below.
// tests/bench/trace_timeline.py reads the words; bench_cuda_engine --trace
// writes those of one decode step.
#pragma once

#include <cstdint>
#include <vector>

namespace rewoo::kernels {

constexpr int kTraceMaxSms = 256;
constexpr int kTraceRecordsPerSm = 8192;
constexpr int kTraceRecordWords = 8;

// What a record's block was (the low 3 bits of its fourth word).
enum TraceKind : unsigned {
  kTraceGemv = 0,          // marks: x staged, products done
  kTraceAttention = 1,     // a range of keys; marks: queries staged, range combined, counted
  kTraceAttnMerged = 2,    // the range that merged; mark 3: merge weights
  kTraceAttnNoKeys = 3,    // a block past the keys
  kTraceSwiglu = 4,
};

// Whether the kernels were built with the trace.
bool trace_built();
// Starts recording into a fresh device buffer (false: not a trace build, or
// no memory); trace_stop() waits for the device, turns recording off and
// returns the buffer's words (empty when nothing was recording).
bool trace_start();
std::vector<uint64_t> trace_stop();

}  // namespace rewoo::kernels
