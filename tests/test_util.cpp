#include "tests/test_util.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace rewoo::test {

std::filesystem::path data_dir() { return REWOO_DATA_DIR; }
std::filesystem::path llama2_tokenizer() { return data_dir() / "tokenizers" / "llama2" / "tokenizer.model"; }
std::filesystem::path source_dir() { return REWOO_SOURCE_DIR; }
std::filesystem::path binary_dir() { return REWOO_BINARY_DIR; }

std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::filesystem::path demo_model_dir() { return source_dir() / "tests" / "data" / "demo" / "model"; }

std::filesystem::path copy_demo_corpus(const TempDir& dir) {
  const auto dst = dir / "corpus";
  std::filesystem::copy(source_dir() / "tests" / "data" / "demo" / "corpus", dst,
                        std::filesystem::copy_options::recursive);
  std::filesystem::remove(dst / ".rewoo-index.db");
  return dst;
}

TempDir::TempDir() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto p = base / ("rewoo-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

int run_command(const std::string& cmd, std::string* output) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::string out;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  if (output) *output = std::move(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace rewoo::test
