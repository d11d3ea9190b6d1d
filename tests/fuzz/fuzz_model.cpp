// libFuzzer target: the model loaders on damaged files (model files come from
// downloads and users). The first byte picks which file of a valid tiny GPTQ
// model folder the rest replaces: 0 model.safetensors, 1 config.json,
// 2 quantize_config.json; 3 loads the rest as a llama2.c checkpoint. Loading
// must give weights or an error with a message, never a crash. Build and
// run: see tests/fuzz/CMakeLists.txt; REWOO_FUZZ_SEEDS=DIR writes seed inputs
// (the valid files) to DIR and exits.
#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "engine/model_loader.h"
#include "engine/model_writer.h"

namespace fs = std::filesystem;
using namespace rewoo::engine;
using rewoo::Error;
using rewoo::Result;

namespace {

fs::path g_good, g_work;  // the valid folder; the folder each input damages
// Removes the fuzzer's folders when the process exits.
struct Cleanup {
  fs::path root;
  ~Cleanup() {
    std::error_code ec;
    if (!root.empty()) fs::remove_all(root, ec);
  }
} g_cleanup;
const char* const kFiles[] = {"model.safetensors", "config.json", "quantize_config.json"};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const fs::path& p, const uint8_t* data, size_t size) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), (std::streamsize)size);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const fs::path root =
      fs::temp_directory_path() / ("rewoo-fuzz-model-" + std::to_string(getpid()));
  g_cleanup.root = root;
  g_good = root / "good";
  g_work = root / "work";
  fs::create_directories(g_good);
  fs::create_directories(g_work);
  ModelConfig c;
  c.dim = 32;
  c.hidden_dim = 64;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 16;
  c.vocab_size = 32;
  c.max_seq_len = 16;
  c.norm_eps = 1e-5f;
  auto w = random_weights(c, RandomOptions{4, 32, true, 7});
  if (!w.ok() || !save_model_dir(**w, g_good)) {
    std::fprintf(stderr, "fuzz_model: cannot write the tiny model\n");
    std::exit(1);
  }
  if (const char* seeds = std::getenv("REWOO_FUZZ_SEEDS")) {
    fs::create_directories(seeds);
    for (int i = 0; i < 3; ++i) {
      const std::string s = std::string(1, (char)i) + read_all(g_good / kFiles[i]);
      write_all(fs::path(seeds) / ("seed-" + std::to_string(i)),
                reinterpret_cast<const uint8_t*>(s.data()), s.size());
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 4;
  ++data;
  --size;
  Result<std::shared_ptr<Weights>> r = Error("not loaded");
  if (mode == 3) {
    write_all(g_work / "model.bin", data, size);
    r = load_llama2c(g_work / "model.bin");
  } else {
    for (int i = 0; i < 3; ++i)
      if (i != mode)
        fs::copy_file(g_good / kFiles[i], g_work / kFiles[i], fs::copy_options::overwrite_existing);
    write_all(g_work / kFiles[mode], data, size);
    r = load_weights(g_work);
  }
  if (!r.ok() && r.error().to_string().empty()) __builtin_trap();
  return 0;
}
