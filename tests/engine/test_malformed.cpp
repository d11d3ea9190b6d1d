// Malformed model files: each a clear error naming the file / tensor and the
// expectation, never a crash.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/model.h"
#include "engine/model_loader.h"
#include "engine/model_writer.h"
#include "engine/safetensors.h"
#include "tests/engine/engine_test_util.h"

using namespace rewoo::engine;
namespace fs = std::filesystem;

namespace {

void write_bytes(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
}

std::string st_bytes(const std::string& header, const std::string& data, uint64_t hlen_override = 0) {
  uint64_t n = hlen_override ? hlen_override : header.size();
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s + header + data;
}

std::string open_error(const fs::path& p) {
  auto f = SafetensorsFile::open(p);
  REQUIRE_FALSE(f.ok());
  return f.error().to_string();
}

bool has(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

// A valid tiny GPTQ model folder to break in various ways.
void make_model(const fs::path& dir, int bits = 4, int group = 32) {
  auto w = random_weights(rewoo::test::small_config(64, 96, 1, 4, 2, 64), {bits, group, true, 3});
  REQUIRE(w.ok());
  REQUIRE(save_model_dir(**w, dir).ok());
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(rewoo::test::read_file(p)); }
void write_json(const fs::path& p, const nlohmann::json& j) { write_bytes(p, j.dump()); }

// Rewrites model.safetensors with one tensor changed by `edit`.
void rewrite_tensors(const fs::path& dir, const std::function<void(std::vector<StWriteTensor>&)>& edit) {
  auto f = SafetensorsFile::open(dir / "model.safetensors");
  REQUIRE(f.ok());
  std::vector<StWriteTensor> ts;
  for (auto& [name, t] : (*f)->tensors())
    ts.push_back({name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)});
  f = rewoo::Result<std::unique_ptr<SafetensorsFile>>(rewoo::Error("closed"));
  edit(ts);
  REQUIRE(write_safetensors(dir / "model.safetensors", ts).ok());
}

std::string load_error(const fs::path& dir) {
  auto w = load_weights(dir);
  REQUIRE_FALSE(w.ok());
  return w.error().to_string();
}

}  // namespace

TEST_CASE("safetensors header validation") {
  rewoo::test::TempDir tmp;
  auto p = tmp / "x.safetensors";
  const std::string ok_hdr = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

  write_bytes(p, st_bytes(ok_hdr, std::string(8, '\0')));
  auto f = SafetensorsFile::open(p);
  REQUIRE(f.ok());
  CHECK((*f)->find("a")->shape == std::vector<int64_t>{2});

  write_bytes(p, "abc");
  CHECK(has(open_error(p), "8-byte header length"));
  write_bytes(p, st_bytes(ok_hdr, std::string(8, '\0'), 1000));
  CHECK(has(open_error(p), "runs past the end"));
  write_bytes(p, st_bytes(ok_hdr, std::string(8, '\0'), uint64_t(1) << 40));
  CHECK(has(open_error(p), "limit"));
  write_bytes(p, st_bytes("{not json", ""));
  CHECK(has(open_error(p), "not valid JSON"));
  write_bytes(p, st_bytes("[1,2]", ""));
  CHECK(has(open_error(p), "JSON object"));
  // truncated data
  write_bytes(p, st_bytes(ok_hdr, std::string(4, '\0')));
  CHECK(has(open_error(p), "out of range"));
  // unknown dtype
  write_bytes(p, st_bytes(R"({"a":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", std::string(2, '\0')));
  CHECK(has(open_error(p), "unknown dtype 'F8'"));
  // shape x dtype != byte length
  write_bytes(p, st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')));
  {
    std::string e = open_error(p);
    CHECK(has(e, "tensor 'a'"));
    CHECK(has(e, "needs 12 bytes"));
  }
  // overlap
  write_bytes(p, st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          std::string(12, '\0')));
  CHECK(has(open_error(p), "overlaps"));
  // gap
  write_bytes(p, st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                          std::string(12, '\0')));
  CHECK(has(open_error(p), "gap"));
  // trailing bytes
  write_bytes(p, st_bytes(ok_hdr, std::string(12, '\0')));
  CHECK(has(open_error(p), "trailing"));
  // duplicate names
  write_bytes(p, st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                          std::string(8, '\0')));
  CHECK(has(open_error(p), "appears twice"));
  // begin > end, negative shape
  write_bytes(p, st_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", std::string(4, '\0')));
  CHECK(has(open_error(p), "begin after end"));
  write_bytes(p, st_bytes(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, '\0')));
  CHECK(has(open_error(p), "non-negative"));
  write_bytes(p, st_bytes(R"({"a":{"dtype":"F32","shape":[1]}})", std::string(4, '\0')));
  CHECK(has(open_error(p), "data_offsets"));
  // missing file
  CHECK(has(open_error(tmp / "nope.safetensors"), "cannot open"));
}

TEST_CASE("model folder errors name the file, tensor and expectation") {
  SUBCASE("valid model loads") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    CHECK(load_weights(tmp.path()).ok());
  }
  SUBCASE("missing tensor") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    rewrite_tensors(tmp.path(), [](auto& ts) {
      std::erase_if(ts, [](const StWriteTensor& t) { return t.name == "model.layers.0.mlp.up_proj.scales"; });
    });
    std::string e = load_error(tmp.path());
    CHECK(has(e, "model.layers.0.mlp.up_proj.scales"));
    CHECK(has(e, "missing"));
  }
  SUBCASE("wrong shape") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    rewrite_tensors(tmp.path(), [](auto& ts) {
      for (auto& t : ts)
        if (t.name == "model.norm.weight") { t.shape = {32}; t.bytes.resize(64); }
    });
    std::string e = load_error(tmp.path());
    CHECK(has(e, "model.norm.weight"));
    CHECK(has(e, "expected [64]"));
  }
  SUBCASE("wrong dtype for qweight") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    rewrite_tensors(tmp.path(), [](auto& ts) {
      for (auto& t : ts)
        if (t.name == "model.layers.0.self_attn.q_proj.qweight") t.dtype = StDType::kF32;
    });
    std::string e = load_error(tmp.path());
    CHECK(has(e, "q_proj.qweight"));
    CHECK(has(e, "expected I32"));
  }
  SUBCASE("g_idx out of range") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    rewrite_tensors(tmp.path(), [](auto& ts) {
      for (auto& t : ts)
        if (t.name == "model.layers.0.self_attn.k_proj.g_idx") { int32_t v = 99; std::memcpy(t.bytes.data(), &v, 4); }
    });
    std::string e = load_error(tmp.path());
    CHECK(has(e, "k_proj"));
    CHECK(has(e, "g_idx[0] = 99 out of range"));
  }
  SUBCASE("quantize_config bits disagree with the tensors") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    auto q = read_json(tmp / "quantize_config.json");
    q["bits"] = 3;
    write_json(tmp / "quantize_config.json", q);
    std::string e = load_error(tmp.path());
    CHECK(has(e, "qweight"));
    CHECK(has(e, "4 bits per weight"));
  }
  SUBCASE("quantize_config group_size disagrees with the tensors") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    auto q = read_json(tmp / "quantize_config.json");
    q["group_size"] = 64;
    write_json(tmp / "quantize_config.json", q);
    std::string e = load_error(tmp.path());
    CHECK(has(e, "scales"));
    CHECK(has(e, "groups"));
  }
  SUBCASE("bad quantize_config values") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    auto q = read_json(tmp / "quantize_config.json");
    q["bits"] = 5;
    write_json(tmp / "quantize_config.json", q);
    CHECK(has(load_error(tmp.path()), "bits 5 unsupported"));
    q["bits"] = 4;
    q["group_size"] = 0;
    write_json(tmp / "quantize_config.json", q);
    CHECK(has(load_error(tmp.path()), "group_size 0"));
    write_bytes(tmp / "quantize_config.json", "{\"bits\": ");
    CHECK(has(load_error(tmp.path()), "quantize_config.json"));
  }
  SUBCASE("GPTQ tensors without quantize_config.json") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    fs::remove(tmp / "quantize_config.json");
    CHECK(has(load_error(tmp.path()), "no quantize_config.json"));
  }
  SUBCASE("config.json mismatches and bad values") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    auto c = read_json(tmp / "config.json");
    auto c2 = c;
    c2["hidden_size"] = 128;
    write_json(tmp / "config.json", c2);
    CHECK(has(load_error(tmp.path()), "model.embed_tokens.weight"));
    c2 = c;
    c2["num_key_value_heads"] = 3;
    write_json(tmp / "config.json", c2);
    CHECK(has(load_error(tmp.path()), "multiple of num_key_value_heads"));
    c2 = c;
    c2.erase("num_hidden_layers");
    write_json(tmp / "config.json", c2);
    CHECK(has(load_error(tmp.path()), "missing required field 'num_hidden_layers'"));
    c2 = c;
    c2["rope_scaling"] = {{"type", "yarn"}, {"factor", 2.0}};
    write_json(tmp / "config.json", c2);
    CHECK(has(load_error(tmp.path()), "rope_scaling type 'yarn'"));
    c2 = c;
    c2["tie_word_embeddings"] = true;  // lm_head present is fine; now drop it and untie
    c2["tie_word_embeddings"] = false;
    write_json(tmp / "config.json", c2);
    rewrite_tensors(tmp.path(), [](auto& ts) {
      std::erase_if(ts, [](const StWriteTensor& t) { return t.name == "lm_head.weight"; });
    });
    CHECK(has(load_error(tmp.path()), "lm_head.weight"));
    write_bytes(tmp / "config.json", "not json");
    CHECK(has(load_error(tmp.path()), "config.json"));
    fs::remove(tmp / "config.json");
    CHECK(has(load_error(tmp.path()), "config.json"));
  }
  SUBCASE("truncated safetensors in a model folder") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    std::string bytes = rewoo::test::read_file(tmp / "model.safetensors");
    write_bytes(tmp / "model.safetensors", bytes.substr(0, bytes.size() / 2));
    std::string e = load_error(tmp.path());
    CHECK(has(e, "model.safetensors"));
    CHECK(has(e, "out of range"));
  }
  SUBCASE("sharded checkpoint with an index") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    auto f = SafetensorsFile::open(tmp / "model.safetensors");
    REQUIRE(f.ok());
    std::vector<StWriteTensor> a, b;
    nlohmann::json idx;
    int i = 0;
    for (auto& [name, t] : (*f)->tensors()) {
      auto& dst = (i++ % 2) ? a : b;
      dst.push_back({name, t.dtype, t.shape, std::vector<uint8_t>(t.data, t.data + t.nbytes)});
      idx["weight_map"][name] = (&dst == &a) ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    f = rewoo::Result<std::unique_ptr<SafetensorsFile>>(rewoo::Error("closed"));
    REQUIRE(write_safetensors(tmp / "model-00001-of-00002.safetensors", a).ok());
    REQUIRE(write_safetensors(tmp / "model-00002-of-00002.safetensors", b).ok());
    fs::remove(tmp / "model.safetensors");
    write_json(tmp / "model.safetensors.index.json", idx);
    CHECK(load_weights(tmp.path()).ok());
    idx["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";
    idx["weight_map"]["lm_head.weight"] = "model-00001-of-00002.safetensors";
    write_json(tmp / "model.safetensors.index.json", idx);
    std::string e = load_error(tmp.path());
    CHECK(has(e, "does not hold it"));
    idx["weight_map"]["x"] = "../evil.safetensors";
    write_json(tmp / "model.safetensors.index.json", idx);
    CHECK(has(load_error(tmp.path()), "same folder"));
  }
}

TEST_CASE("llama2.c checkpoint errors") {
  rewoo::test::TempDir tmp;
  std::string good = rewoo::test::read_file(rewoo::test::stories_dir() / "stories260K.bin");
  write_bytes(tmp / "t.bin", good.substr(0, good.size() - 100));
  std::string e = load_error(tmp / "t.bin");
  CHECK(has(e, "t.bin"));
  CHECK(has(e, "truncated"));
  write_bytes(tmp / "h.bin", good.substr(0, 10));
  CHECK(has(load_error(tmp / "h.bin"), "28-byte"));
  std::string bad = good;
  int32_t heads = 7;
  std::memcpy(&bad[12], &heads, 4);
  write_bytes(tmp / "b.bin", bad);
  CHECK(has(load_error(tmp / "b.bin"), "implausible"));
  // The most negative vocab size (an untied output layer of 2^31 entries).
  std::string v = good;
  const int32_t vocab_min = INT32_MIN;
  std::memcpy(&v[20], &vocab_min, 4);
  write_bytes(tmp / "v.bin", v);
  CHECK(has(load_error(tmp / "v.bin"), "vocab -2147483648"));
  CHECK(has(load_error(tmp / "missing.bin"), "no such file"));
}

TEST_CASE("Model::load: tokenizer problems") {
  rewoo::test::TempDir tmp;
  make_model(tmp.path());
  auto m = Model::load(tmp.path(), {});
  REQUIRE_FALSE(m.ok());
  CHECK(has(m.error().to_string(), "tokenizer"));
  LoadOptions lo;
  lo.tokenizer_path = rewoo::test::llama2_tokenizer();
  m = Model::load(tmp.path(), lo);  // vocab 64 vs 32000 pieces
  REQUIRE_FALSE(m.ok());
  CHECK(has(m.error().to_string(), "vocab_size is 64"));
  write_bytes(tmp / "bad.model", "garbage");
  lo.tokenizer_path = tmp / "bad.model";
  m = Model::load(tmp.path(), lo);
  REQUIRE_FALSE(m.ok());
  CHECK(has(m.error().to_string(), "bad.model"));
}

TEST_CASE("config sizes past any Llama, layer counts that disagree, non-finite weights") {
  SUBCASE("a huge num_hidden_layers fails at the first missing layer, allocating nothing first") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    auto cfg = read_json(tmp / "config.json");
    cfg["num_hidden_layers"] = 1000;
    write_json(tmp / "config.json", cfg);
    std::string e = load_error(tmp.path());
    CHECK(has(e, "model.layers.1.input_layernorm.weight"));
    CHECK(has(e, "missing"));
  }
  SUBCASE("limits name the field") {
    for (auto [field, value] : std::initializer_list<std::pair<const char*, int64_t>>{
             {"num_hidden_layers", 4194304}, {"max_position_embeddings", 1 << 24},
             {"head_dim", 1 << 28}, {"vocab_size", 1 << 30}}) {
      rewoo::test::TempDir tmp;
      make_model(tmp.path());
      auto cfg = read_json(tmp / "config.json");
      cfg[field] = value;
      write_json(tmp / "config.json", cfg);
      std::string e = load_error(tmp.path());
      CHECK_MESSAGE(has(e, std::string(field) + " = " + std::to_string(value) +
                               " is larger than rewoo supports"),
                    e);
    }
  }
  SUBCASE("tensors of layers past num_hidden_layers") {
    rewoo::test::TempDir tmp;
    auto w = random_weights(rewoo::test::small_config(64, 96, 2, 4, 2, 64), {4, 32, true, 3});
    REQUIRE(w.ok());
    REQUIRE(save_model_dir(**w, tmp.path()).ok());
    auto cfg = read_json(tmp / "config.json");
    cfg["num_hidden_layers"] = 1;
    write_json(tmp / "config.json", cfg);
    std::string e = load_error(tmp.path());
    CHECK(has(e, "the checkpoint has tensor 'model.layers.1."));
    CHECK(has(e, "num_hidden_layers = 1"));
  }
  SUBCASE("a NaN scale or an infinite norm weight") {
    for (const char* name : {"model.layers.0.self_attn.q_proj.scales", "model.norm.weight"}) {
      rewoo::test::TempDir tmp;
      make_model(tmp.path());
      rewrite_tensors(tmp.path(), [&](auto& ts) {
        for (auto& t : ts)
          if (t.name == name) {
            const bool f16 = t.dtype == StDType::kF16;
            const uint32_t bad = f16 ? 0x7fffu : 0x7f800000u;  // NaN, +inf
            std::memcpy(t.bytes.data() + (f16 ? 2 : 4) * 3, &bad, f16 ? 2 : 4);
          }
      });
      std::string e = load_error(tmp.path());
      CHECK_MESSAGE(has(e, name), e);
      CHECK_MESSAGE(has(e, "at index 3 is not finite"), e);
    }
  }
  SUBCASE("a tokenizer path that is a directory") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    LoadOptions lo;
    lo.tokenizer_path = tmp.path();
    auto m = Model::load(tmp.path(), lo);
    REQUIRE_FALSE(m.ok());
    CHECK(has(m.error().to_string(), "is a directory (expected a tokenizer.model file)"));
  }
}

TEST_CASE("a model folder whose files are not files") {
  SUBCASE("model.safetensors is a directory, or a FIFO (which must not block)") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    fs::remove(tmp / "model.safetensors");
    fs::create_directory(tmp / "model.safetensors");
    CHECK(has(load_error(tmp.path()), "is a directory, not a safetensors file"));
    fs::remove(tmp / "model.safetensors");
    REQUIRE(mkfifo((tmp / "model.safetensors").c_str(), 0600) == 0);
    CHECK(has(load_error(tmp.path()), "is not a regular file (a FIFO, socket or device)"));
  }
  SUBCASE("an index with an empty weight_map, a missing config.json") {
    rewoo::test::TempDir tmp;
    make_model(tmp.path());
    fs::rename(tmp / "model.safetensors", tmp / "model-00001-of-00001.safetensors");
    write_bytes(tmp / "model.safetensors.index.json", R"({"weight_map": {}})");
    std::string e = load_error(tmp.path());
    CHECK(has(e, "model.safetensors.index.json: 'weight_map' lists no tensors"));
    fs::remove(tmp / "config.json");
    e = load_error(tmp.path());
    CHECK(has(e, "config.json"));
    CHECK(has(e, "No such file or directory"));
  }
}
