// GPTQ quantizer: beats round-to-nearest on the layer objective, keeps
// stories260K's perplexity within 5% at 4-bit g32, round-trips through the
// seed's file format.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "engine/generator.h"
#include "engine/model.h"
#include "engine/model_loader.h"
#include "engine/model_writer.h"
#include "engine/quantizer.h"
#include "tests/engine/engine_test_util.h"

using namespace rewoo::engine;

namespace {
// tr((W - Q) H (W - Q)^T): the output error GPTQ minimises.
double layer_loss(const std::vector<float>& w, const QuantLinear& q, const std::vector<double>& h, int in, int out) {
  auto d = q.dequantize();  // [in, out]
  double loss = 0;
  std::vector<double> e(in);
  for (int j = 0; j < out; ++j) {
    for (int i = 0; i < in; ++i) e[i] = w[static_cast<size_t>(j) * in + i] - d[static_cast<size_t>(i) * out + j];
    for (int a = 0; a < in; ++a)
      for (int b = 0; b < in; ++b) loss += e[a] * h[static_cast<size_t>(a) * in + b] * e[b];
  }
  return loss;
}
}  // namespace

TEST_CASE("GPTQ layer: lower output error than round-to-nearest, correct packing") {
  const int in = 64, out = 32, n = 256;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  std::vector<float> w(static_cast<size_t>(in) * out);
  for (auto& v : w) v = nd(rng) * 0.1f;
  // Correlated inputs with uneven scales (what makes act-order matter).
  std::vector<double> h(static_cast<size_t>(in) * in, 0.0);
  std::vector<float> x(in);
  for (int t = 0; t < n; ++t) {
    float common = nd(rng);
    for (int i = 0; i < in; ++i) x[i] = (nd(rng) + common) * (1.0f + static_cast<float>(i % 7));
    for (int a = 0; a < in; ++a)
      for (int b = 0; b < in; ++b) h[static_cast<size_t>(a) * in + b] += 2.0 * x[a] * x[b] / n;
  }
  for (int bits : {4, 3}) {
    for (int gs : {-1, 32}) {
      CAPTURE(bits);
      CAPTURE(gs);
      QuantizeOptions o;
      o.bits = bits;
      o.group_size = gs;
      o.act_order = true;
      o.damp = 0.01f;
      auto g = gptq_quantize_layer(w, in, out, h, o);
      o.rtn = true;
      auto r = gptq_quantize_layer(w, in, out, h, o);
      REQUIRE(g.ok());
      REQUIRE(r.ok());
      double lg = layer_loss(w, **g, h, in, out), lr = layer_loss(w, **r, h, in, out);
      MESSAGE("bits " << bits << " group " << gs << ": GPTQ loss " << lg << ", RTN loss " << lr);
      CHECK(lg < 0.8 * lr);
      CHECK((*g)->n_groups == (gs == -1 ? 1 : in / gs));
      // RTN values are the nearest grid points of the unmodified weights.
      auto d = (*r)->dequantize();
      float s = (*r)->scales[0];
      CHECK(std::fabs(d[0] - w[0]) <= 0.5f * s + 1e-3f);
    }
  }
}

TEST_CASE("stories260K quantized with GPTQ 4-bit g32 act-order stays within 5% perplexity") {
  auto fp = load_weights(rewoo::test::stories_dir() / "stories260K.bin");
  REQUIRE(fp.ok());
  QuantizeOptions o;
  o.bits = 4;
  o.group_size = 32;
  o.act_order = true;
  auto q = quantize_model(**fp, o);
  REQUIRE_MESSAGE(q.ok(), (q.ok() ? "" : q.error().to_string()));
  CHECK((*q)->config.hidden_dim == 192);  // 172 padded
  CHECK((*q)->layers[0].w2.q->g_idx.size() == 192);
  // Through the file format and back.
  rewoo::test::TempDir tmp;
  REQUIRE(save_model_dir(**q, tmp.path()).ok());
  auto tok = rewoo::test::stories_dir() / "tok512.model";
  LoadOptions lo;
  lo.tokenizer_path = tok;
  lo.backend.device = Device::kCpu;
  lo.backend.exact = true;  // the quantizer's quality, not the int8 path's
  auto mq = Model::load(tmp.path(), lo);
  REQUIRE(mq.ok());
  auto mf = Model::load(rewoo::test::stories_dir() / "stories260K.bin", lo);
  REQUIRE(mf.ok());
  CHECK((*mq)->quant().desc_act);
  auto text = rewoo::test::read_file(rewoo::test::stories_dir() / "golden_greedy_256.txt");
  auto ids = (*mf)->tokenizer().encode(text, true);
  Generator gq(**mq), gf(**mf);
  double pq = *gq.perplexity(ids), pf = *gf.perplexity(ids);
  MESSAGE("perplexity fp32 " << pf << ", GPTQ 4-bit g32 act-order " << pq);
  CHECK(pq <= pf * 1.05);
  CHECK(pq > pf * 0.99);
}
