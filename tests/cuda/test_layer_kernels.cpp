// Layer kernels (RMSNorm, RoPE + KV write, SwiGLU, embedding, dense GEMV,
// split-K attention) vs float64 CPU references: random inputs, odd sizes,
// poisoned outputs, fresh inputs for every check.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "kernels/attention.cuh"
#include "kernels/dense_gemv.cuh"
#include "kernels/embedding.cuh"
#include "kernels/gptq_gemv.cuh"
#include "kernels/norm.cuh"
#include "kernels/rope.cuh"
#include "kernels/swiglu.cuh"
#include "tests/cuda/cuda_test_util.h"

using namespace rewoo::test::cuda;
namespace k = rewoo::kernels;

TEST_CASE("rmsnorm normalises rows and zeroes the next accumulator") {
  uint32_t seed = 1;
  for (int T : {1, 3, 17, 70})  // 70: the narrow blocks of prefill
    for (int dim : {8, 100, 8192}) {
      CAPTURE(T);
      CAPTURE(dim);
      std::mt19937 rng(seed++);
      const auto x = randn(rng, (size_t)T * dim, 3.0f), w = randn(rng, dim);
      std::vector<double> ref((size_t)T * dim);
      for (int t = 0; t < T; ++t) {
        double ss = 0;
        for (int i = 0; i < dim; ++i) ss += (double)x[t * dim + i] * x[t * dim + i];
        const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
        for (int i = 0; i < dim; ++i) ref[t * dim + i] = x[t * dim + i] * inv * w[i];
      }
      DeviceBuffer<float> dx(x), dw(w), out((size_t)T * dim), z(1234);
      out.poison();
      z.poison();
      k::rmsnorm(nullptr, dx.get(), dw.get(), out.get(), T, dim, 1e-5f, z.get(), z.size());
      CHECK(rel_err(out.download(), ref) < 1e-5);
      const auto zz = z.download();
      CHECK(std::all_of(zz.begin(), zz.end(), [](float v) { return v == 0.0f; }));
      // Rows picked through an index list (the logit rows), here reversed.
      std::vector<int32_t> rows(T);
      std::vector<double> ref_rows((size_t)T * dim);
      for (int t = 0; t < T; ++t) {
        rows[t] = T - 1 - t;
        std::copy(ref.begin() + (size_t)rows[t] * dim, ref.begin() + (size_t)(rows[t] + 1) * dim,
                  ref_rows.begin() + (size_t)t * dim);
      }
      DeviceBuffer<int32_t> drows(rows);
      out.poison();
      k::rmsnorm(nullptr, dx.get(), dw.get(), out.get(), T, dim, 1e-5f, nullptr, 0, nullptr,
                 nullptr, drows.get());
      CHECK(rel_err(out.download(), ref_rows) < 1e-5);
    }
}

TEST_CASE("swiglu and embedding") {
  std::mt19937 rng(7);
  const int T = 5, hidden = 172;
  const auto gu = randn(rng, (size_t)T * 2 * hidden, 2.0f);
  std::vector<double> ref((size_t)T * hidden);
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < hidden; ++j) {
      const double g = gu[t * 2 * hidden + j], u = gu[t * 2 * hidden + hidden + j];
      ref[t * hidden + j] = g / (1 + std::exp(-g)) * u;
    }
  DeviceBuffer<float> dgu(gu), out((size_t)T * hidden);
  out.poison();
  k::swiglu(nullptr, dgu.get(), 2 * hidden, hidden, out.get(), T, hidden);
  CHECK(rel_err(out.download(), ref) < 1e-5);
  {
    // Gate and up projected without the RMSNorm factor: rows times s_t, sums
    // of squares that make the factor 1 / s_t; and a buffer to zero.
    const int norm_dim = 64;
    const float eps = 1e-6f;
    std::vector<float> scaled = gu, ss(T);
    for (int t = 0; t < T; ++t) {
      const float st = 2.5f + t;
      ss[t] = norm_dim * (st * st - eps);
      for (int j = 0; j < 2 * hidden; ++j) scaled[(size_t)t * 2 * hidden + j] *= st;
    }
    DeviceBuffer<float> dsc(scaled), dss(ss), zero(777);
    out.poison();
    zero.poison();
    k::swiglu(nullptr, dsc.get(), 2 * hidden, hidden, out.get(), T, hidden, zero.get(),
              zero.size(), nullptr, nullptr, dss.get(), norm_dim, eps);
    CHECK(rel_err(out.download(), ref) < 1e-5);
    const auto z = zero.download();
    CHECK(std::all_of(z.begin(), z.end(), [](float v) { return v == 0.0f; }));
  }

  const int vocab = 37, dim = 24;
  const auto table = randn(rng, (size_t)vocab * dim);
  const std::vector<int32_t> ids = {3, 0, 36, 37, -1, 3};
  DeviceBuffer<float> dtab(table), e((size_t)ids.size() * dim);
  DeviceBuffer<__half> htab(to_half(table));
  DeviceBuffer<int32_t> dids(ids);
  for (int half_table = 0; half_table < 2; ++half_table) {
    e.poison();
    if (half_table)
      k::embedding(nullptr, dids.get(), htab.get(), e.get(), (int)ids.size(), dim, vocab);
    else
      k::embedding(nullptr, dids.get(), dtab.get(), e.get(), (int)ids.size(), dim, vocab);
    const auto got = e.download();
    for (size_t t = 0; t < ids.size(); ++t)
      for (int i = 0; i < dim; ++i) {
        const bool ok = ids[t] >= 0 && ids[t] < vocab;
        float want = ok ? table[(size_t)ids[t] * dim + i] : 0.0f;
        if (half_table) want = round_half(want);
        CHECK(got[t * dim + i] == want);
      }
  }
}

TEST_CASE("dense_gemv fp16 and fp32 weights") {
  uint32_t seed = 11;
  // (M, K) with M * K * 4 <= 48 KiB and K % 8 == 0 take the staged kernel.
  for (int M : {1, 2, 5, 9, 17})
    for (int K : {64, 100, 4096, 8200})
      for (int N : {1, 33, 131}) {
        for (int accumulate = 0; accumulate < 2; ++accumulate) {
          CAPTURE(M);
          CAPTURE(K);
          CAPTURE(N);
          std::mt19937 rng(seed++);
          const auto x = randn(rng, (size_t)M * K), w = randn(rng, (size_t)N * K, 0.05f);
          const auto bias = randn(rng, N), init = randn(rng, (size_t)M * N);
          const auto wh = to_half(w);
          for (int as_half = 0; as_half < 2; ++as_half) {
            std::vector<double> ref((size_t)M * N);
            for (int m = 0; m < M; ++m)
              for (int n = 0; n < N; ++n) {
                double s = bias[n] + (accumulate ? init[m * N + n] : 0.0);
                for (int kk = 0; kk < K; ++kk)
                  s += (double)x[m * K + kk] *
                       (as_half ? __half2float(wh[(size_t)n * K + kk]) : w[(size_t)n * K + kk]);
                ref[m * N + n] = s;
              }
            DeviceBuffer<float> dx(x), dw(w), db(bias), out((size_t)M * N);
            DeviceBuffer<__half> dwh(wh);
            if (accumulate) out.upload(init);
            else out.poison();
            if (as_half)
              k::dense_gemv(nullptr, dx.get(), dwh.get(), db.get(), out.get(), M, K, N, N, accumulate);
            else
              k::dense_gemv(nullptr, dx.get(), dw.get(), db.get(), out.get(), M, K, N, N, accumulate);
            CHECK(rel_err(out.download(), ref) < 1e-5);
          }
        }
      }
}

namespace {

std::vector<float> cos_sin_table(int max_seq, int hd, double theta) {
  std::vector<float> cs((size_t)max_seq * hd);
  for (int p = 0; p < max_seq; ++p)
    for (int i = 0; i < hd / 2; ++i) {
      const double a = p * std::pow(theta, -2.0 * i / hd);
      cs[(size_t)p * hd + 2 * i] = (float)std::cos(a);
      cs[(size_t)p * hd + 2 * i + 1] = (float)std::sin(a);
    }
  return cs;
}

}  // namespace

TEST_CASE("rope_kv_write rotates q and k and fills the cache") {
  for (bool interleaved : {false, true}) {
    CAPTURE(interleaved);
    std::mt19937 rng(interleaved ? 21 : 22);
    const int T = 4, nh = 6, nkv = 2, hd = 16, max_seq = 40, slots = 3;
    const int row = (nh + 2 * nkv) * hd;
    const auto qkv = randn(rng, (size_t)T * row);
    const std::vector<int32_t> pos = {0, 7, 39, 5}, slot = {2, 0, 1, 2};
    const auto cs = cos_sin_table(max_seq, hd, 10000.0);
    DeviceBuffer<float> dqkv(qkv), dcs(cs), q((size_t)T * nh * hd);
    DeviceBuffer<int32_t> dpos(pos), dslot(slot);
    const size_t cache_n = (size_t)slots * max_seq * nkv * hd;
    DeviceBuffer<__half> kc(cache_n), vc(cache_n);
    q.poison();
    kc.poison();
    vc.poison();
    k::rope_kv_write(nullptr, dqkv.get(), dpos.get(), dslot.get(), dcs.get(), q.get(), kc.get(),
                     vc.get(), T, nh, nkv, hd, max_seq, interleaved);
    const auto qo = q.download();
    const auto ko = kc.download(), vo = vc.download();
    double q_err = 0;
    int k_bad = 0;
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < nh + nkv; ++h)
        for (int i = 0; i < hd / 2; ++i) {
          const int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + hd / 2;
          const double ang = pos[t] * std::pow(10000.0, -2.0 * i / hd);
          const double x0 = qkv[t * row + h * hd + a], x1 = qkv[t * row + h * hd + b];
          const double y0 = x0 * std::cos(ang) - x1 * std::sin(ang);
          const double y1 = x0 * std::sin(ang) + x1 * std::cos(ang);
          if (h < nh) {
            q_err = std::max({q_err, std::fabs(qo[(t * nh + h) * hd + a] - y0),
                              std::fabs(qo[(t * nh + h) * hd + b] - y1)});
          } else {
            const size_t base = (((size_t)slot[t] * max_seq + pos[t]) * nkv + (h - nh)) * hd;
            if (!(std::fabs(__half2float(ko[base + a]) - y0) <= 1e-3 * std::fabs(y0) + 1e-4)) ++k_bad;
            if (!(std::fabs(__half2float(ko[base + b]) - y1) <= 1e-3 * std::fabs(y1) + 1e-4)) ++k_bad;
          }
        }
    CHECK(q_err < 1e-5);
    CHECK(k_bad == 0);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < nkv * hd; ++i) {
        const size_t base = ((size_t)slot[t] * max_seq + pos[t]) * nkv * hd;
        CHECK(__half2float(vo[base + i]) == round_half(qkv[t * row + (nh + nkv) * hd + i]));
      }
  }
}

namespace {

// float64 causal attention of token t (query q_t [nh, hd]) over keys 0..pos of
// a slot of the given fp16 caches.
void attention_ref(const std::vector<double>& q_t, const std::vector<__half>& kh,
                   const std::vector<__half>& vh, int slot, int pos, int nh, int nkv, int hd,
                   int max_seq, double scale, double* out) {
  const int G = nh / nkv, L = pos + 1;
  for (int h = 0; h < nh; ++h) {
    const int kvh = h / G;
    std::vector<double> s(L);
    double mx = -1e300;
    for (int j = 0; j < L; ++j) {
      const size_t base = (((size_t)slot * max_seq + j) * nkv + kvh) * hd;
      double d = 0;
      for (int i = 0; i < hd; ++i) d += q_t[(size_t)h * hd + i] * __half2float(kh[base + i]);
      s[j] = d * scale;
      mx = std::max(mx, s[j]);
    }
    double l = 0;
    for (auto& v : s) l += (v = std::exp(v - mx));
    for (int i = 0; i < hd; ++i) {
      double o = 0;
      for (int j = 0; j < L; ++j)
        o += s[j] * __half2float(vh[(((size_t)slot * max_seq + j) * nkv + kvh) * hd + i]);
      out[(size_t)h * hd + i] = o / l;
    }
  }
}

// Staging positions for n values per row: a random permutation, every third
// position flagged kStagedDiv16.
std::vector<int32_t> random_dest(std::mt19937& rng, int n) {
  std::vector<int32_t> d(n);
  std::iota(d.begin(), d.end(), 0);
  std::shuffle(d.begin(), d.end(), rng);
  for (int i = 0; i < n; i += 3) d[i] |= k::kStagedDiv16;
  return d;
}

// Rows of `staged` (fp16, n per row) hold exactly half(v) or half(v / 16) of
// the fp32 rows `v` at their dest positions.
int staged_mismatches(const std::vector<float>& v, const std::vector<__half>& staged,
                      const std::vector<int32_t>& dest, int rows, int n) {
  int bad = 0;
  for (int r = 0; r < rows; ++r)
    for (int i = 0; i < n; ++i) {
      const int32_t d = dest[i];
      const float x = v[(size_t)r * n + i];
      const float want = round_half(d & k::kStagedDiv16 ? x * 0.0625f : x);
      if (__half2float(staged[(size_t)r * n + (d & (k::kStagedDiv16 - 1))]) != want) ++bad;
    }
  return bad;
}

// The arguments both attention tests share (queries and outputs are set by
// the caller).
struct AttentionShape { int T, nh, nkv, hd, max_seq, splits; };
k::AttentionArgs attention_args(const AttentionShape& c, float scale, DeviceBuffer<__half>& kc,
                                DeviceBuffer<__half>& vc, DeviceBuffer<int32_t>& pos,
                                DeviceBuffer<int32_t>& slot, DeviceBuffer<float>& scratch,
                                DeviceBuffer<int32_t>& counters) {
  k::AttentionArgs a;
  a.k_cache = kc.get();
  a.v_cache = vc.get();
  a.pos = pos.get();
  a.slot = slot.get();
  a.scratch = scratch.get();
  a.counters = counters.get();
  a.T = c.T;
  a.n_heads = c.nh;
  a.n_kv = c.nkv;
  a.hd = c.hd;
  a.max_seq = c.max_seq;
  a.n_splits = c.splits;
  a.scale = scale;
  return a;
}

bool same_bits(const std::vector<__half>& a, const std::vector<__half>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(__half)) == 0;
}

}  // namespace

TEST_CASE("attention_decode matches causal softmax attention (GQA, split keys)") {
  // n_splits small enough for ranges of several sub-chunks (online softmax),
  // and large enough for many single-chunk ranges and the last-block merge.
  struct Case { int T, nh, nkv, hd, max_seq, chunk, splits; };
  const Case cases[] = {{3, 8, 4, 8, 64, 32, 2},        {5, 4, 4, 64, 300, 64, 5},
                        {2, 64, 8, 128, 1100, 128, 9},  {2, 64, 8, 128, 1100, 32, 2},
                        {6, 16, 2, 128, 257, 256, 2},   {1, 2, 1, 256, 100, 32, 4},
                        {4, 32, 32, 128, 700, 32, 300}, {1, 64, 8, 128, 2000, 32, 1},
                        {3, 12, 4, 64, 200, 32, 3},     {2, 12, 2, 64, 300, 64, 4},
                        // more than 32 ranges to merge
                        {2, 16, 4, 64, 3000, 32, 200},  {1, 8, 2, 64, 1100, 32, 256},
                        {2, 8, 2, 64, 1056, 32, 33},    {2, 64, 8, 128, 4000, 32, 250}};
  uint32_t seed = 31;
  for (const Case& c : cases) {
    CAPTURE(c.nh);
    CAPTURE(c.nkv);
    CAPTURE(c.hd);
    CAPTURE(c.chunk);
    CAPTURE(c.splits);
    std::mt19937 rng(seed++);
    const int slots = 3;
    const size_t cache_n = (size_t)slots * c.max_seq * c.nkv * c.hd;
    const auto kh = to_half(randn(rng, cache_n)), vh = to_half(randn(rng, cache_n));
    const auto q = randn(rng, (size_t)c.T * c.nh * c.hd);
    std::vector<int32_t> pos(c.T), slot(c.T);
    std::uniform_int_distribution<int> pd(0, c.max_seq - 1), sd(0, slots - 1);
    for (int t = 0; t < c.T; ++t) {
      pos[t] = t == 0 ? c.max_seq - 1 : pd(rng);
      slot[t] = sd(rng);
    }
    const float scale = 1.0f / std::sqrt((float)c.hd);
    const size_t per_t = (size_t)c.nh * c.hd;
    std::vector<double> ref(c.T * per_t);
    for (int t = 0; t < c.T; ++t)
      attention_ref(std::vector<double>(q.begin() + t * per_t, q.begin() + (t + 1) * per_t), kh, vh,
                    slot[t], pos[t], c.nh, c.nkv, c.hd, c.max_seq, scale, ref.data() + t * per_t);
    DeviceBuffer<__half> dk(kh), dv(vh);
    DeviceBuffer<float> dq(q), out(ref.size()),
        scratch(k::attention_scratch_floats(c.T, c.nh, c.hd, c.splits));
    DeviceBuffer<int32_t> dpos(pos), dslot(slot),
        counters(std::vector<int32_t>(k::attention_counters(c.T, c.nh), 0));
    scratch.poison();
    k::AttentionArgs a = attention_args({c.T, c.nh, c.nkv, c.hd, c.max_seq, c.splits}, scale, dk, dv,
                                        dpos, dslot, scratch, counters);
    a.q = dq.get();
    a.out = out.get();
    a.min_chunk = c.chunk;
    for (int rep = 0; rep < 2; ++rep) {  // the counters must be ready for a second call
      out.poison();
      k::attention_decode(nullptr, a);
      const double err = rel_err(out.download(), ref);
      CAPTURE(rep);
      CAPTURE(err);
      CHECK(err < 1e-4);
    }
    const auto cnt = counters.download();
    CHECK(std::all_of(cnt.begin(), cnt.end(), [](int32_t v) { return (v & 0xFFFF) == 0; }));
    CHECK(same_bits(kh, dk.download()));  // prefill mode never writes the cache
  }
}

TEST_CASE("attention_decode in decode mode ropes q and the new key and writes the cache") {
  struct Case { int T, nh, nkv, hd, max_seq, splits; bool interleaved; };
  const Case cases[] = {{1, 64, 8, 128, 600, 66, false}, {3, 32, 32, 128, 300, 4, false},
                        {2, 8, 2, 64, 1000, 1, true},     {4, 16, 4, 128, 97, 17, true},
                        {1, 16, 2, 256, 300, 3, false},   {2, 8, 8, 64, 200, 5, false},
                        {2, 4, 2, 8, 50, 2, false},       {2, 4, 2, 8, 50, 2, true},
                        {2, 4, 1, 16, 70, 3, false},      {2, 6, 2, 64, 120, 3, false},
                        {2, 12, 2, 64, 150, 3, false},    {2, 8, 2, 8, 60, 2, true},
                        // 34B's decode shape, as split for one and two tokens
                        {1, 64, 8, 128, 600, 16, false},  {2, 64, 8, 128, 1100, 8, false},
                        {3, 8, 2, 64, 300, 7, true}};
  uint32_t seed = 77;
  int accumulating = 0;  // third steps that added from each key range
  for (const Case& c : cases) {
    CAPTURE(c.nh);
    CAPTURE(c.nkv);
    CAPTURE(c.splits);
    CAPTURE(c.interleaved);
    std::mt19937 rng(seed++);
    const int slots = c.T + 1, row = (c.nh + 2 * c.nkv) * c.hd;
    const size_t cache_n = (size_t)slots * c.max_seq * c.nkv * c.hd;
    auto kh = to_half(randn(rng, cache_n)), vh = to_half(randn(rng, cache_n));
    const auto cs = cos_sin_table(c.max_seq, c.hd, 10000.0);
    std::vector<int32_t> pos(c.T), slot(c.T);
    // (five steps: the last writes position pos + 4)
    std::uniform_int_distribution<int> pd(0, c.max_seq - 5);
    for (int t = 0; t < c.T; ++t) {
      pos[t] = t == 0 ? c.max_seq - 5 : t == 1 ? 0 : pd(rng);
      slot[t] = (t + 1) % slots;  // distinct slots
    }
    const auto dest = random_dest(rng, c.nh * c.hd);
    DeviceBuffer<__half> dk(kh), dv(vh);
    DeviceBuffer<float> dcs(cs);
    DeviceBuffer<int32_t> ddest(dest),
        counters(std::vector<int32_t>(k::attention_counters(c.T, c.nh), 0));
    const float scale = 1.0f / std::sqrt((float)c.hd);
    auto rope = [&](const float* x, int p, std::vector<double>& y) {
      y.assign(c.hd, 0.0);
      for (int i = 0; i < c.hd / 2; ++i) {
        const int a = c.interleaved ? 2 * i : i, b = c.interleaved ? 2 * i + 1 : i + c.hd / 2;
        const double ang = p * std::pow(10000.0, -2.0 * i / c.hd);
        y[a] = x[a] * std::cos(ang) - x[b] * std::sin(ang);
        y[b] = x[a] * std::sin(ang) + x[b] * std::cos(ang);
      }
    };
    // Five steps: each attends over the keys the ones before wrote; all but
    // the first get their projections without their RMSNorm factor
    // (AttentionArgs::qkv_ss: each token's rows times s_t, with sums of
    // squares that make the factor 1 / s_t) and a buffer to zero; the third
    // and fifth ask to accumulate into a zeroed fp32 output (AttentionArgs::
    // accumulate), which solo launches do, the fourth merges in between on
    // the same counters.
    for (int step = 0; step < 5; ++step) {
      CAPTURE(step);
      const bool fold = step >= 1, accum = step == 2 || step == 4;
      const auto k_before = kh;
      const auto qkv = randn(rng, (size_t)c.T * row);
      // Reference: rope in float64 from the fp32 inputs; the new key and
      // value as the fp16 the cache holds.
      const size_t per_t = (size_t)c.nh * c.hd;
      std::vector<double> ref(c.T * per_t);
      for (int t = 0; t < c.T; ++t) {
        std::vector<double> qt(per_t), y;
        for (int h = 0; h < c.nh; ++h) {
          rope(&qkv[(size_t)t * row + h * c.hd], pos[t], y);
          std::copy(y.begin(), y.end(), qt.begin() + (size_t)h * c.hd);
        }
        for (int h = 0; h < c.nkv; ++h) {
          rope(&qkv[(size_t)t * row + (c.nh + h) * c.hd], pos[t], y);
          const size_t base = (((size_t)slot[t] * c.max_seq + pos[t]) * c.nkv + h) * c.hd;
          for (int i = 0; i < c.hd; ++i) {
            kh[base + i] = __float2half_rn((float)y[i]);
            vh[base + i] = __float2half_rn(qkv[(size_t)t * row + (c.nh + c.nkv + h) * c.hd + i]);
          }
        }
        attention_ref(qt, kh, vh, slot[t], pos[t], c.nh, c.nkv, c.hd, c.max_seq, scale,
                      ref.data() + t * per_t);
      }
      const int norm_dim = 96;
      const float eps = 1e-5f;
      std::vector<float> qkv_in = qkv, ss(c.T);
      if (fold) {
        std::uniform_real_distribution<float> sd(3.0f, 20.0f);
        for (int t = 0; t < c.T; ++t) {
          const float st = sd(rng);
          ss[t] = norm_dim * (st * st - eps);
          for (int i = 0; i < row; ++i) qkv_in[(size_t)t * row + i] *= st;
        }
      }
      DeviceBuffer<float> dqkv(qkv_in), out(ref.size()), dss(ss), zero(1000),
          scratch(k::attention_scratch_floats(c.T, c.nh, c.hd, c.splits));
      zero.poison();
      DeviceBuffer<__half> out_h(ref.size());
      DeviceBuffer<int32_t> dpos(pos), dslot(slot);
      if (accum)
        CUDA_OK(cudaMemset(out.get(), 0, out.size() * sizeof(float)));
      else
        out.poison();
      out_h.poison();
      scratch.poison();
      k::AttentionArgs a = attention_args({c.T, c.nh, c.nkv, c.hd, c.max_seq, c.splits}, scale, dk,
                                          dv, dpos, dslot, scratch, counters);
      a.qkv = dqkv.get();
      a.cos_sin = dcs.get();
      a.interleaved = c.interleaved;
      a.out = out.get();
      a.out_h = accum ? nullptr : out_h.get();
      a.dest = accum ? nullptr : ddest.get();
      a.accumulate = accum;
      if (accum && k::attention_decode_accumulates(a)) ++accumulating;
      if (fold) {
        a.qkv_ss = dss.get();
        a.norm_dim = norm_dim;
        a.norm_eps = eps;
        a.zero = zero.get();
        a.zero_n = zero.size();
      }
      k::attention_decode(nullptr, a);
      const auto got = out.download();
      const double err = rel_err(got, ref);
      CAPTURE(err);
      CHECK(err < 1e-4);
      if (fold) {
        const auto z = zero.download();
        CHECK(std::all_of(z.begin(), z.end(), [](float v) { return v == 0.0f; }));
      }
      // The staged copy for the output projection holds the same values.
      if (!accum) CHECK(staged_mismatches(got, out_h.download(), dest, c.T, c.nh * c.hd) == 0);
      // The cache now holds the new keys (roped, within fp16 rounding of the
      // float64 value) and values (exactly), and nothing else changed.
      const auto ko = dk.download(), vo = dv.download();
      int kv_bad = 0;
      for (size_t i = 0; i < cache_n; ++i) {
        const float gk = __half2float(ko[i]), wk = __half2float(kh[i]);
        if (!(std::fabs(gk - wk) <= 1e-3 * std::fabs(wk) + 1e-4)) ++kv_bad;
        const float gv = __half2float(vo[i]), wv = __half2float(vh[i]);
        // (values exact unless scaled by the folded norm's factor: then within
        // one fp16 rounding)
        if (fold ? !(std::fabs(gv - wv) <= 1e-3 * std::fabs(wv) + 1e-4) : gv != wv) ++kv_bad;
      }
      CHECK(kv_bad == 0);
      CHECK(!same_bits(k_before, kh));
      const auto cnt = counters.download();
      CHECK(std::all_of(cnt.begin(), cnt.end(), [](int32_t v) { return (v & 0xFFFF) == 0; }));
      // Continue from the device's cache (its keys may differ from kh by an
      // fp16 rounding step).
      kh = ko;
      for (int32_t& p : pos) ++p;
    }
  }
  // 34B's one-token split (16 ranges of 8 KV heads) runs solo on a GPU of
  // 128 SMs or more whose shared memory lets the padding keep a second block
  // out (an H100 or H200), unless the environment turns a part of it off: so
  // there that case took the accumulating path.
  int dev = 0, sms = 0, smem = 0;
  CUDA_OK(cudaGetDevice(&dev));
  CUDA_OK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  CUDA_OK(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  bool env_off = false;
  for (const char* v : {"REWOO_ATTN_ACC", "REWOO_ATTN_SOLO", "REWOO_ATTN_MMA"}) {
    const char* e = std::getenv(v);
    env_off = env_off || (e && std::strcmp(e, "0") == 0);
  }
  CAPTURE(sms);
  CAPTURE(smem);
  if (sms >= 128 && smem >= 200 * 1024 && !env_off) CHECK(accumulating > 0);
}

TEST_CASE("swiglu and rmsnorm write the staged fp16 input of the next product") {
  std::mt19937 rng(99);
  const int T = 3, hidden = 200, dim = 96;
  const auto gu = randn(rng, (size_t)T * 2 * hidden, 2.0f);
  const auto dest = random_dest(rng, hidden);
  DeviceBuffer<float> dgu(gu), out((size_t)T * hidden);
  DeviceBuffer<__half> out_h((size_t)T * hidden);
  DeviceBuffer<int32_t> ddest(dest);
  out.poison();
  out_h.poison();
  k::swiglu(nullptr, dgu.get(), 2 * hidden, hidden, out.get(), T, hidden, nullptr, 0, out_h.get(),
            ddest.get());
  CHECK(staged_mismatches(out.download(), out_h.download(), dest, T, hidden) == 0);

  const auto x = randn(rng, (size_t)T * dim, 3.0f), w = randn(rng, dim);
  const auto ndest = random_dest(rng, dim);
  DeviceBuffer<float> dx(x), dw(w), nout((size_t)T * dim);
  DeviceBuffer<__half> nout_h((size_t)T * dim);
  DeviceBuffer<int32_t> dndest(ndest);
  nout.poison();
  nout_h.poison();
  k::rmsnorm(nullptr, dx.get(), dw.get(), nout.get(), T, dim, 1e-5f, nullptr, 0, nout_h.get(),
             dndest.get());
  CHECK(staged_mismatches(nout.download(), nout_h.download(), ndest, T, dim) == 0);
}
