// Quantized GEMV bandwidth on the GPU for the linear layers of Llama-2-7B and
// CodeLlama-34B shapes (random weights generated on the device), next to the
// measured device-to-device copy bandwidth.
//   build/tests/bench/bench_cuda_gemv [--layers N] [--shape 7B|34B] [--batch M]
//                                     [--variants] [--reps R]
// --variants times each tile-shape variant of the batch <= 8 kernels instead
// (kernels/gptq_gemv.cuh, detail::) and checks each against the default.
// Prints, per shape, bits, group and batch: microseconds per product, GB/s of
// weight bytes and the fraction of copy bandwidth; then a decode-step
// projection (all linear layers of the model, batch 1). Last, per shape, the
// fp16 output layer (32000 x dim, dense_gemv) at batch 1.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/dense_gemv.cuh"
#include "kernels/gptq_gemv.cuh"
#include "tests/bench/cuda_check.h"

namespace {

__global__ void fill_u32(uint32_t* p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    h *= 3266489917u;
    h ^= h >> 16;
    p[i] = h;
  }
}
__global__ void fill_sz(half2* p, size_t n, int zmax) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    p[i] = __halves2half2(__float2half(0.001f + 0.00001f * (i % 97)),
                          __float2half((float)(1 + i % zmax)));
}
__global__ void fill_h(half* p, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x)
    p[i] = __float2half(0.01f * (float)((int)(i % 201) - 100));
}

struct Mat {
  int K, N;
  uint32_t* q = nullptr;
  half2* sz = nullptr;
  int32_t* perm = nullptr;
};

// Milliseconds per call of run() over `reps` calls, timed with events after
// one untimed call.
template <typename F>
double ms_per_call(int reps, F&& run) {
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  run();
  CK(cudaEventRecord(e0));
  for (int r = 0; r < reps; ++r) run();
  CK(cudaEventRecord(e1));
  CK(cudaEventSynchronize(e1));
  CK(cudaGetLastError());
  float ms;
  CK(cudaEventElapsedTime(&ms, e0, e1));
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  return ms / reps;
}

double copy_bandwidth() {
  const size_t bytes = size_t(2) << 30;
  void *a, *b;
  CK(cudaMalloc(&a, bytes));
  CK(cudaMalloc(&b, bytes));
  CK(cudaMemset(a, 1, bytes));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
  std::vector<float> ts;
  for (int i = 0; i < 10; ++i) {
    CK(cudaEventRecord(e0));
    CK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    ts.push_back(ms);
  }
  std::sort(ts.begin(), ts.end());
  CK(cudaFree(a));
  CK(cudaFree(b));
  return 2.0 * bytes / (ts[ts.size() / 2] * 1e-3) / 1e9;  // read + write
}

}  // namespace

int main(int argc, char** argv) {
  int layers = 6, only_m = 0, reps_arg = 20;
  bool variants = false;
  std::string only_shape;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--layers") && i + 1 < argc)
      layers = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--shape") && i + 1 < argc)
      only_shape = argv[++i];
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc)
      only_m = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc)
      reps_arg = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--variants"))
      variants = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--layers N] [--shape 7B|34B] [--batch M] [--variants] [--reps R]\n",
                   argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  const double bw = copy_bandwidth();
  std::printf("device: %s, %d SMs; device-to-device copy %.0f GB/s (read+write)\n", prop.name,
              prop.multiProcessorCount, bw);
  struct Shape {
    const char* model;
    int dim, hidden, nh, nkv, n_layers;
  };
  const Shape shapes[] = {{"7B", 4096, 11008, 32, 32, 32}, {"34B", 8192, 22016, 64, 8, 48}};
  struct Quant {
    int bits, group;
  };
  const Quant quants[] = {{4, -1}, {4, 128}, {3, 128}};
  std::printf("%-4s %-6s %-10s %5s %9s %9s %7s\n", "model", "quant", "matrix", "batch", "us",
              "GB/s", "of copy");
  for (const Shape& s : shapes)
    for (const Quant& qz : quants) {
      if (!only_shape.empty() && only_shape != s.model) continue;
      const int hd = s.dim / s.nh;
      struct Lin {
        const char* name;
        int K, N;
      };
      const Lin lins[] = {{"qkv", s.dim, (s.nh + 2 * s.nkv) * hd},
                          {"o", s.dim, s.dim},
                          {"gate_up", s.dim, 2 * s.hidden},
                          {"down", s.hidden, s.dim}};
      std::vector<std::vector<Mat>> mats(layers);
      size_t layer_bytes = 0;
      for (int l = 0; l < layers; ++l)
        for (const Lin& li : lins) {
          Mat m{li.K, li.N};
          const int group = qz.group > 0 ? qz.group : li.K;
          const int G = (li.K + group - 1) / group;
          // random words straight into the packed layout (gptq_pack)
          const size_t nq = rewoo::kernels::gptq_packed_words(li.K, li.N, qz.bits);
          CK(cudaMalloc(&m.q, nq * 4));
          CK(cudaMalloc(&m.sz, (size_t)G * li.N * sizeof(half2)));
          fill_u32<<<1024, 256>>>(m.q, nq, 1234u + l);
          fill_sz<<<1024, 256>>>(m.sz, (size_t)G * li.N, 1 << qz.bits);
          if (l == 0) layer_bytes += nq * 4 + (size_t)G * li.N * 4;
          mats[l].push_back(m);
        }
      half* x;
      float* out;
      CK(cudaMalloc(&x, (size_t)32 * 2 * s.hidden * 2));
      CK(cudaMalloc(&out, (size_t)32 * 2 * s.hidden * 4));
      fill_h<<<256, 256>>>(x, (size_t)32 * 2 * s.hidden);
      CK(cudaDeviceSynchronize());
      // Microseconds per product: run(l) over every layer once to warm up,
      // then reps_arg rounds, timed.
      auto time_us = [&](auto&& run) {
        return ms_per_call(reps_arg, [&] {
                 for (int l = 0; l < layers; ++l) run(l);
               }) *
               1e3 / layers;
      };
      // Weight bytes of linear li: packed values plus (scale, zero) per group.
      auto matrix_bytes = [&](int li, int group) {
        return (double)lins[li].K * qz.bits / 8 * lins[li].N +
               (double)((lins[li].K + group - 1) / group) * lins[li].N * 4;
      };
      if (variants) {
        const int Ms[] = {1, 4};  // the variants are batch <= 8 shapes
        float* ref;
        CK(cudaMalloc(&ref, (size_t)32 * 2 * s.hidden * 4));
        std::vector<float> h_ref, h_out;
        for (int M : Ms) {
          if (only_m && M != only_m) continue;
          for (int v = 0; v < rewoo::kernels::detail::kGemvVariantCount; ++v) {
            // variant names start with their bit width ("4b ...", "3b ...")
            if (rewoo::kernels::detail::gemv_variant_name(v)[0] - '0' != qz.bits) continue;
            double layer_us = 0, max_err = 0;
            std::printf("%-4s %d-bit %-4s M=%-2d %-22s", s.model, qz.bits,
                        qz.group > 0 ? "g128" : "", M,
                        rewoo::kernels::detail::gemv_variant_name(v));
            for (int li = 0; li < 4; ++li) {
              const Mat& m0 = mats[0][li];
              const int group = qz.group > 0 ? qz.group : m0.K;
              // check against the default kernel
              CK(cudaMemset(ref, 0, (size_t)M * m0.N * 4));
              CK(cudaMemset(out, 0, (size_t)M * m0.N * 4));
              rewoo::kernels::gptq_gemv(nullptr, x, m0.q, m0.sz, nullptr, ref, M, m0.K, m0.N, m0.N,
                                        qz.bits, group);
              rewoo::kernels::detail::gptq_gemv_variant(v, nullptr, x, m0.q, m0.sz, out, M, m0.K,
                                                        m0.N, group);
              h_ref.resize((size_t)M * m0.N);
              h_out.resize((size_t)M * m0.N);
              CK(cudaMemcpy(h_ref.data(), ref, h_ref.size() * 4, cudaMemcpyDeviceToHost));
              CK(cudaMemcpy(h_out.data(), out, h_out.size() * 4, cudaMemcpyDeviceToHost));
              double scale = 1e-30;
              for (size_t i = 0; i < h_ref.size(); ++i)
                scale = std::max(scale, (double)std::fabs(h_ref[i]));
              for (size_t i = 0; i < h_ref.size(); ++i)
                max_err = std::max(max_err, std::fabs((double)h_out[i] - h_ref[i]) / scale);
              const double us = time_us([&](int l) {
                const Mat& m = mats[l][li];
                rewoo::kernels::detail::gptq_gemv_variant(v, nullptr, x, m.q, m.sz, out, M, m.K,
                                                          m.N, group);
              });
              const double bytes = matrix_bytes(li, group);
              layer_us += us;
              std::printf(" %s %5.0f", lins[li].name, bytes / us / 1e3);
            }
            std::printf(" | all %5.0f GB/s %3.0f%% | err %.1e\n", layer_bytes / layer_us / 1e3,
                        100.0 * layer_bytes / layer_us / 1e3 / bw, max_err);
          }
        }
        CK(cudaFree(ref));
      }
      for (int M : {1, 4, 16, 32}) {
        if (variants || (only_m && M != only_m)) continue;
        double layer_us = 0;
        for (int li = 0; li < 4; ++li) {
          const int group = qz.group > 0 ? qz.group : lins[li].K;
          const double us = time_us([&](int l) {
            const Mat& m = mats[l][li];
            rewoo::kernels::gptq_gemv(nullptr, x, m.q, m.sz, nullptr, out, M, m.K, m.N, m.N,
                                      qz.bits, group);
          });
          const double bytes = matrix_bytes(li, group);
          layer_us += us;
          std::printf("%-4s %d-bit %-4s %-10s %5d %9.1f %9.0f %6.0f%%\n", s.model, qz.bits,
                      qz.group > 0 ? "g128" : "", lins[li].name, M, us, bytes / us / 1e3,
                      100.0 * bytes / us / 1e3 / bw);
        }
        std::printf(
            "  -> %s %d-bit%s batch %d: linear layers %.2f ms/token-step (%.0f GB/s, %.0f%% of "
            "copy), "
            "ceiling %.0f steps/s\n",
            s.model, qz.bits, qz.group > 0 ? " g128" : "", M, layer_us * s.n_layers / 1e3,
            layer_bytes / layer_us / 1e3, 100.0 * layer_bytes / layer_us / 1e3 / bw,
            1e6 / (layer_us * s.n_layers));
      }
      for (auto& L : mats)
        for (auto& m : L) {
          cudaFree(m.q);
          cudaFree(m.sz);
        }
      cudaFree(x);
      cudaFree(out);
    }
  if (variants) return 0;
  for (const Shape& s : shapes) {
    if (!only_shape.empty() && only_shape != s.model) continue;
    const int vocab = 32000;
    half* w;
    float *x, *out;
    CK(cudaMalloc(&w, (size_t)vocab * s.dim * 2));
    CK(cudaMalloc(&x, (size_t)s.dim * 4));
    CK(cudaMalloc(&out, (size_t)vocab * 4));
    fill_h<<<1024, 256>>>(w, (size_t)vocab * s.dim);
    CK(cudaMemset(x, 0, (size_t)s.dim * 4));
    CK(cudaMemset(out, 0, (size_t)vocab * 4));
    const double us = 1e3 * ms_per_call(reps_arg, [&] {
      rewoo::kernels::dense_gemv(nullptr, x, w, nullptr, out, 1, s.dim, vocab, vocab, true);
    });
    const double bytes = (double)vocab * s.dim * 2;
    std::printf("%-4s fp16        %-10s %5d %9.1f %9.0f %6.0f%%\n", s.model, "output", 1, us,
                bytes / us / 1e3, 100.0 * bytes / us / 1e3 / bw);
    cudaFree(w);
    cudaFree(x);
    cudaFree(out);
  }
  return 0;
}
