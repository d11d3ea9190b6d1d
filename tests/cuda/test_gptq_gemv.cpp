// GPTQ kernels vs a float64 CPU reference on random AutoGPTQ-packed layers:
// 4-bit and 3-bit, with and without groups, act-order permutations, odd
// sizes, batches 1..32, outputs pre-filled so unwritten columns show.
#include <algorithm>
#include <numeric>

#include "kernels/gptq_gemv.cuh"
#include "tests/cuda/cuda_test_util.h"

using namespace rewoo::test::cuda;
namespace k = rewoo::kernels;

namespace {

struct Layer {
  int K, N, bits, group;
  std::vector<uint32_t> q;       // [K][N] values
  std::vector<float> scale, zero;  // [G][N], scale already fp16-exact
  std::vector<int32_t> perm;     // [K] or empty
  std::vector<uint32_t> packed;  // AutoGPTQ layout
  std::vector<__half2> sz;
};

// AutoGPTQ's QuantLinear.pack along input rows.
std::vector<uint32_t> pack(const std::vector<uint32_t>& q, int K, int N, int bits) {
  std::vector<uint32_t> w((size_t)K * bits / 32 * N, 0);
  for (int n = 0; n < N; ++n) {
    if (bits == 4) {
      for (int kk = 0; kk < K; ++kk) w[(size_t)(kk / 8) * N + n] |= q[(size_t)kk * N + n] << (4 * (kk % 8));
      continue;
    }
    for (int u = 0; u < K / 32; ++u) {
      auto v = [&](int i) { return q[(size_t)(u * 32 + i) * N + n]; };
      uint32_t* r0 = &w[(size_t)(u * 3 + 0) * N + n];
      uint32_t* r1 = &w[(size_t)(u * 3 + 1) * N + n];
      uint32_t* r2 = &w[(size_t)(u * 3 + 2) * N + n];
      for (int j = 0; j < 10; ++j) *r0 |= v(j) << (3 * j);
      *r0 |= v(10) << 30;
      *r1 |= (v(10) >> 2) & 1;
      for (int j = 0; j < 10; ++j) *r1 |= v(11 + j) << (3 * j + 1);
      *r1 |= v(21) << 31;
      *r2 |= (v(21) >> 1) & 3;
      for (int j = 0; j < 10; ++j) *r2 |= v(22 + j) << (3 * j + 2);
    }
  }
  return w;
}

Layer make_layer(std::mt19937& rng, int K, int N, int bits, int group, bool act_order) {
  Layer L{K, N, bits, group, {}, {}, {}, {}, {}, {}};
  const int G = (K + group - 1) / group;
  std::uniform_int_distribution<uint32_t> qd(0, (1u << bits) - 1), zd(1, 1u << bits);
  std::uniform_real_distribution<float> sd(0.002f, 0.02f);
  L.q.resize((size_t)K * N);
  for (auto& v : L.q) v = qd(rng);
  L.scale.resize((size_t)G * N);
  L.zero.resize((size_t)G * N);
  for (auto& s : L.scale) s = round_half(sd(rng));
  for (auto& z : L.zero) z = (float)zd(rng);
  if (act_order) {
    L.perm.resize(K);
    std::iota(L.perm.begin(), L.perm.end(), 0);
    std::shuffle(L.perm.begin(), L.perm.end(), rng);
  }
  L.packed = pack(L.q, K, N, bits);
  L.sz.resize((size_t)G * N);
  for (size_t i = 0; i < L.sz.size(); ++i)
    L.sz[i] = __halves2half2(__float2half_rn(L.scale[i]), __float2half_rn(L.zero[i]));
  return L;
}

double weight(const Layer& L, int kk, int n) {
  const size_t g = (size_t)(kk / L.group) * L.N + n;
  return (double)L.scale[g] * ((double)L.q[(size_t)kk * L.N + n] - L.zero[g]);
}

// Uploads qweight in the kernel layout (gptq_pack).
DeviceBuffer<uint32_t> upload_qweight(const Layer& L) {
  DeviceBuffer<uint32_t> d(L.packed);
  DeviceBuffer<uint32_t> r(k::gptq_packed_words(L.K, L.N, L.bits));
  k::gptq_pack(nullptr, d.get(), r.get(), L.K, L.N, L.bits);
  CUDA_OK(cudaDeviceSynchronize());
  CUDA_OK(cudaGetLastError());
  return r;
}

void check_gemv(uint32_t seed, int M, int K, int N, int bits, int group, bool act_order,
                bool with_bias) {
  CAPTURE(M);
  CAPTURE(K);
  CAPTURE(N);
  CAPTURE(bits);
  CAPTURE(group);
  CAPTURE(act_order);
  std::mt19937 rng(seed);
  const Layer L = make_layer(rng, K, N, bits, group, act_order);
  const auto x = randn(rng, (size_t)M * K);
  const auto init = randn(rng, (size_t)M * N);
  const auto bias = randn(rng, N);
  std::vector<double> ref((size_t)M * N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = init[(size_t)m * N + n] + (with_bias ? bias[n] : 0.0);
      for (int kk = 0; kk < K; ++kk)
        s += (double)x[(size_t)m * K + (L.perm.empty() ? kk : L.perm[kk])] * weight(L, kk, n);
      ref[(size_t)m * N + n] = s;
    }
  auto qw = upload_qweight(L);
  DeviceBuffer<__half2> sz(L.sz);
  DeviceBuffer<float> dx(x), dout(init), dbias(bias);
  DeviceBuffer<int32_t> dest(k::gptq_input_order(L.perm.empty() ? nullptr : L.perm.data(), K, bits));
  DeviceBuffer<__half> xh((size_t)M * K);
  xh.poison();
  k::gptq_stage_input(nullptr, dx.get(), dest.get(), xh.get(), M, K);
  k::gptq_gemv(nullptr, xh.get(), qw.get(), sz.get(), with_bias ? dbias.get() : nullptr,
               dout.get(), M, K, N, N, bits, group);
  const auto out = dout.download();
  const double err = rel_err(out, ref);
  CAPTURE(err);
  CHECK(err < 2e-3);
}

// gptq_gemv_normed(): raw rows x (residual-sized values), norm weights g;
// out += (x * g) W and sumsq += sum x^2, against float64.
void check_gemv_normed(uint32_t seed, int M, int K, int N, int bits, int group, bool act_order) {
  INFO("M=" << M << " K=" << K << " N=" << N << " bits=" << bits << " group=" << group
                << " act_order=" << act_order);
  std::mt19937 rng(seed);
  const Layer L = make_layer(rng, K, N, bits, group, act_order);
  const auto x = randn(rng, (size_t)M * K, 30.0f);
  const auto g = randn(rng, K, 0.5f);
  const auto init = randn(rng, (size_t)M * N);
  const auto ss0 = randn(rng, M);
  std::vector<double> ref((size_t)M * N), ref_ss(M);
  for (int m = 0; m < M; ++m) {
    ref_ss[m] = ss0[m];
    for (int kk = 0; kk < K; ++kk) ref_ss[m] += (double)x[(size_t)m * K + kk] * x[(size_t)m * K + kk];
    for (int n = 0; n < N; ++n) {
      double s = init[(size_t)m * N + n];
      for (int kk = 0; kk < K; ++kk) {
        const int r = L.perm.empty() ? kk : L.perm[kk];
        s += (double)x[(size_t)m * K + r] * g[r] * weight(L, kk, n);
      }
      ref[(size_t)m * N + n] = s;
    }
  }
  auto qw = upload_qweight(L);
  DeviceBuffer<__half2> sz(L.sz);
  DeviceBuffer<float> dx(x), dg(g), dout(init), dss(ss0);
  const auto dest = k::gptq_input_order(L.perm.empty() ? nullptr : L.perm.data(), K, bits);
  DeviceBuffer<int32_t> dsrc(k::gptq_staged_sources(dest));
  k::GemvNorm nrm;
  nrm.x = dx.get();
  nrm.g = dg.get();
  nrm.src = L.perm.empty() ? nullptr : dsrc.get();
  nrm.sumsq = dss.get();
  k::gptq_gemv_normed(nullptr, nrm, qw.get(), sz.get(), dout.get(), M, K, N, N, bits, group);
  CUDA_OK(cudaDeviceSynchronize());
  CUDA_OK(cudaGetLastError());
  const double err = rel_err(dout.download(), ref), ss_err = rel_err(dss.download(), ref_ss);
  CAPTURE(err);
  CAPTURE(ss_err);
  CHECK(err < 2e-3);
  CHECK(ss_err < 1e-5);
}

}  // namespace

TEST_CASE("gptq_gemv_normed folds the norm weights in and sums the rows' squares") {
  // The staged-source inverse of every order the kernels use.
  for (int bits : {4, 3}) {
    std::mt19937 rng(700 + bits);
    std::vector<int32_t> perm(256);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (const int32_t* p : {(const int32_t*)nullptr, (const int32_t*)perm.data()}) {
      const auto dest = k::gptq_input_order(p, 256, bits);
      const auto src = k::gptq_staged_sources(dest);
      int bad = 0;
      for (int i = 0; i < 256; ++i)
        if (src[dest[i] & (k::kStagedDiv16 - 1)] != (i | (dest[i] & k::kStagedDiv16))) ++bad;
      CHECK(bad == 0);
    }
  }
  uint32_t seed = 710;
  for (int M : {1, 3, 8}) {
    // 34B's q/k/v and gate/up shapes (K 8192) at batch 1 run below as well.
    check_gemv_normed(seed++, M, 2080, 260, 4, 2080, false);
    check_gemv_normed(seed++, M, 2080, 132, 4, 64, true);
    check_gemv_normed(seed++, M, 2048, 516, 4, 2048, true);
    check_gemv_normed(seed++, M, 2080, 260, 3, 2080, false);
    check_gemv_normed(seed++, M, 1280, 132, 3, 128, true);
  }
  check_gemv_normed(seed++, 1, 8192, 10240, 4, 8192, false);
  check_gemv_normed(seed++, 1, 8192, 2048, 4, 128, true);
  check_gemv_normed(seed++, 2, 12320, 8708, 4, 12320, false);
}

TEST_CASE("gptq_gemv 4-bit matches a float64 reference") {
  uint32_t seed = 100;
  check_gemv(seed++, 1, 4096, 4096, 4, 128, true, false);
  check_gemv(seed++, 1, 96, 36, 4, 32, true, true);
  check_gemv(seed++, 3, 320, 260, 4, 320, false, false);
  check_gemv(seed++, 8, 4128, 132, 4, 64, true, false);
  check_gemv(seed++, 9, 1056, 100, 4, 32, true, true);
  check_gemv(seed++, 16, 2048, 516, 4, 128, false, false);
  check_gemv(seed++, 17, 1024, 260, 4, 1024, true, false);
  check_gemv(seed++, 32, 3072, 1028, 4, 128, true, false);
  // batch 1 and 2 without groups (the decode shape of act-order checkpoints)
  check_gemv(seed++, 1, 1408, 512, 4, 1408, true, false);
  check_gemv(seed++, 1, 512, 768, 4, 512, true, true);
  check_gemv(seed++, 2, 512, 2816, 4, 512, false, false);
  check_gemv(seed++, 1, 4096, 4096, 4, 4096, false, false);
  // a K split made finer than the waves ask, to fit x in shared memory
  check_gemv(seed++, 8, 12288, 8704, 4, 128, true, false);
}

TEST_CASE("gptq_gemv every batch size from 1 to 32, both widths, odd N") {
  // 3-bit K % 128 != 0: the last k-block is partial in every K chunk split.
  uint32_t seed = 500;
  for (int M = 1; M <= 32; ++M) {
    check_gemv(seed++, M, 2080, 260, 3, 32, true, M % 2);
    check_gemv(seed++, M, 2080, 260, 3, 2080, false, false);
    check_gemv(seed++, M, 2080, 132, 4, 64, true, M % 3 == 0);
    check_gemv(seed++, M, 2080, 132, 4, 2080, false, false);
  }
}

TEST_CASE("gptq_gemv with the K chunk capped by the shared-memory x") {
  check_gemv(600, 8, 12320, 8704, 3, 32, false, true);
  check_gemv(601, 8, 12320, 8708, 4, 12320, false, false);
}

TEST_CASE("gptq_gemv 3-bit matches a float64 reference") {
  uint32_t seed = 200;
  check_gemv(seed++, 1, 4096, 4096, 3, 128, true, false);
  check_gemv(seed++, 1, 96, 36, 3, 32, true, true);
  check_gemv(seed++, 5, 1280, 260, 3, 1280, false, false);
  check_gemv(seed++, 12, 4128, 132, 3, 4128, true, false);
  check_gemv(seed++, 19, 640, 100, 3, 128, true, true);
  check_gemv(seed++, 32, 2048, 516, 3, 64, false, false);
}

TEST_CASE("gptq_dequant and gptq_permute_half give the GEMM operands") {
  for (int bits : {4, 3}) {
    CAPTURE(bits);
    std::mt19937 rng(300 + bits);
    const int K = 320, N = 132, group = 64, M = 5;
    const Layer L = make_layer(rng, K, N, bits, group, true);
    auto qw = upload_qweight(L);
    DeviceBuffer<__half2> sz(L.sz);
    DeviceBuffer<__half> w((size_t)K * N);
    w.poison();
    k::gptq_dequant(nullptr, qw.get(), sz.get(), w.get(), K, N, bits, group);
    const auto wh = w.download();
    int bad = 0;
    for (int kk = 0; kk < K; ++kk)
      for (int n = 0; n < N; ++n) {
        const float want = round_half((float)weight(L, kk, n));
        const float got = __half2float(wh[(size_t)kk * N + n]);
        if (!(std::fabs(got - want) <= 1e-3f * std::fabs(want) + 1e-7f)) ++bad;
      }
    CHECK(bad == 0);

    const auto x = randn(rng, (size_t)M * K);
    DeviceBuffer<float> dx(x);
    DeviceBuffer<int32_t> dperm(L.perm);
    DeviceBuffer<__half> xh((size_t)M * K);
    xh.poison();
    k::gptq_permute_half(nullptr, dx.get(), dperm.get(), xh.get(), M, K);
    const auto xo = xh.download();
    bad = 0;
    for (int m = 0; m < M; ++m)
      for (int kk = 0; kk < K; ++kk)
        if (__half2float(xo[(size_t)m * K + kk]) != round_half(x[(size_t)m * K + L.perm[kk]])) ++bad;
    CHECK(bad == 0);
  }
}
