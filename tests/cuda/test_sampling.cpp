// GPU sampling steps vs CPU references: argmax with ties, bitmask,
// repetition penalty with repeated ids, temperature/top-k/top-p draws.
#include <algorithm>
#include <numeric>

#include "kernels/sampling.cuh"
#include "tests/cuda/cuda_test_util.h"

using namespace rewoo::test::cuda;
namespace k = rewoo::kernels;

TEST_CASE("greedy pick, token bitmask and repetition penalty") {
  std::mt19937 rng(41);
  const int M = 3, V = 1000;
  auto logits = randn(rng, (size_t)M * V, 2.0f);
  logits[0 * V + 17] = logits[0 * V + 400] = 50.0f;  // a tie: lowest index wins
  // Row 1: mask everything but a few tokens.
  const int words = (V + 31) / 32;
  std::vector<uint32_t> mask((size_t)M * words, 0xFFFFFFFFu);
  for (int w = 0; w < words; ++w) mask[words + w] = 0;
  for (int id : {5, 999, 640}) mask[words + id / 32] |= 1u << (id % 32);
  // Penalty on row 2 with repeated ids, and on row 0 (an empty list on row 1).
  const std::vector<int32_t> ids = {1, 2, 2, 700, 700, 700, -5, 3};
  const std::vector<int32_t> offs = {0, 1, 1, 8};
  const std::vector<float> pen = {1.3f, 1.0f, 1.5f};
  std::vector<float> want = logits;
  for (int m : {0, 2})
    for (int i = offs[m]; i < offs[m + 1]; ++i) {
      const int id = ids[i];
      if (id < 0 || std::find(ids.begin() + offs[m], ids.begin() + i, id) != ids.begin() + i) continue;
      float& l = want[(size_t)m * V + id];
      l = l < 0 ? l * pen[m] : l / pen[m];
    }
  for (int i = 0; i < V; ++i)
    if (!((mask[words + i / 32] >> (i % 32)) & 1u)) want[V + i] = -INFINITY;

  DeviceBuffer<float> dl(logits), dpen(pen), temp(std::vector<float>(M, 0.0f)),
      topp(std::vector<float>(M, 1.0f)), u(std::vector<float>(M, 0.5f));
  DeviceBuffer<int32_t> dids(ids), doffs(offs), topk(std::vector<int32_t>(M, 0)), tok(M);
  DeviceBuffer<uint32_t> dmask(mask);
  k::repetition_penalty(nullptr, dl.get(), dids.get(), doffs.get(), dpen.get(), M, V);
  k::token_bitmask(nullptr, dl.get(), dmask.get(), M, V);
  const auto got = dl.download();
  CHECK(got == want);
  tok.poison();
  k::sample(nullptr, dl.get(), temp.get(), topk.get(), topp.get(), u.get(), tok.get(), M, V);
  const auto t = tok.download();
  for (int m = 0; m < M; ++m) {
    const auto b = want.begin() + (size_t)m * V;
    CHECK(t[m] == std::max_element(b, b + V) - b);  // first maximum
  }
}

TEST_CASE("temperature, top-k and top-p draws follow the inverse CDF in index order") {
  const int V = 3000, M = 16;
  std::mt19937 rng(43);
  for (int round = 0; round < 3; ++round) {
    const auto logits = randn(rng, (size_t)M * V, 3.0f);
    std::vector<float> temp(M), topp(M), u(M);
    std::vector<int32_t> topk(M);
    std::uniform_real_distribution<float> ud(0.0f, 1.0f);
    for (int m = 0; m < M; ++m) {
      temp[m] = 0.5f + ud(rng);
      topk[m] = m % 4 == 0 ? 0 : 1 + (int)(ud(rng) * 50);
      topp[m] = m % 3 == 0 ? 1.0f : 0.5f + 0.45f * ud(rng);
      u[m] = ud(rng);
    }
    DeviceBuffer<float> dl(logits), dt(temp), dp(topp), du(u);
    DeviceBuffer<int32_t> dk(topk), tok(M);
    tok.poison();
    k::sample(nullptr, dl.get(), dt.get(), dk.get(), dp.get(), du.get(), tok.get(), M, V);
    const auto got = tok.download();
    for (int m = 0; m < M; ++m) {
      CAPTURE(m);
      std::vector<double> z(V);
      for (int i = 0; i < V; ++i) z[i] = logits[(size_t)m * V + i] / temp[m];
      std::vector<int> order(V);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int a, int b) { return z[a] > z[b]; });
      const int kk = topk[m] > 0 ? topk[m] : V;
      double mass_k = 0;
      for (int i = 0; i < kk; ++i) mass_k += std::exp(z[order[i]] - z[order[0]]);
      std::vector<char> keep(V, 0);
      double acc = 0;
      for (int i = 0; i < kk; ++i) {
        keep[order[i]] = 1;
        acc += std::exp(z[order[i]] - z[order[0]]);
        if (acc >= topp[m] * mass_k * (1 - 1e-6)) break;
      }
      double total = 0;
      for (int i = 0; i < V; ++i)
        if (keep[i]) total += std::exp(z[i] - z[order[0]]);
      REQUIRE(got[m] >= 0);
      REQUIRE(got[m] < V);
      CHECK(keep[got[m]]);
      // The draw is the first kept index whose cumulative mass passes u * total.
      double before = 0;
      for (int i = 0; i < got[m]; ++i)
        if (keep[i]) before += std::exp(z[i] - z[order[0]]);
      const double after = before + std::exp(z[got[m]] - z[order[0]]);
      CHECK(before / total <= u[m] + 1e-4);
      CHECK(after / total >= u[m] - 1e-4);
    }
  }
}
