// Helpers for the engine tests: .npy reading, random test configs, errors.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/config.h"
#include "tests/test_util.h"

namespace rewoo::test {

// A NumPy .npy v1.0 array (little-endian, C order): '<f8', '<f4', '<i8' or '<i4'.
struct Npy {
  std::string descr;
  std::vector<size_t> shape;
  std::vector<double> data;  // converted to double
};

inline Npy read_npy(const std::filesystem::path& p) {
  std::string s = read_file(p);
  if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error("not a .npy file: " + p.string());
  size_t hlen = static_cast<uint8_t>(s[8]) | (static_cast<size_t>(static_cast<uint8_t>(s[9])) << 8);
  std::string h = s.substr(10, hlen);
  Npy n;
  auto d = h.find("'descr': '");
  n.descr = h.substr(d + 10, 3);
  if (h.find("'fortran_order': False") == std::string::npos) throw std::runtime_error("fortran order npy");
  auto sp = h.find("'shape': (");
  auto se = h.find(')', sp);
  std::string dims = h.substr(sp + 10, se - sp - 10);
  size_t count = 1;
  for (size_t i = 0; i < dims.size();) {
    if (isdigit(static_cast<unsigned char>(dims[i]))) {
      size_t j = i;
      while (j < dims.size() && isdigit(static_cast<unsigned char>(dims[j]))) ++j;
      n.shape.push_back(std::stoul(dims.substr(i, j - i)));
      count *= n.shape.back();
      i = j;
    } else {
      ++i;
    }
  }
  const char* data = s.data() + 10 + hlen;
  size_t avail = s.size() - 10 - hlen;
  size_t es = n.descr == "<f8" || n.descr == "<i8" ? 8 : 4;
  if (avail != count * es) throw std::runtime_error("npy size mismatch: " + p.string());
  n.data.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (n.descr == "<f8") { double v; std::memcpy(&v, data + 8 * i, 8); n.data[i] = v; }
    else if (n.descr == "<f4") { float v; std::memcpy(&v, data + 4 * i, 4); n.data[i] = v; }
    else if (n.descr == "<i8") { int64_t v; std::memcpy(&v, data + 8 * i, 8); n.data[i] = static_cast<double>(v); }
    else if (n.descr == "<i4") { int32_t v; std::memcpy(&v, data + 4 * i, 4); n.data[i] = v; }
    else throw std::runtime_error("unsupported npy dtype " + n.descr);
  }
  return n;
}

// max |a - b| / max |b|: the relative error the acceptance criteria use.
template <class A, class B>
double rel_err(const A& a, const B& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    den = std::max(den, std::fabs(static_cast<double>(b[i])));
  }
  return den == 0 ? num : num / den;
}

inline engine::ModelConfig small_config(int dim, int hidden, int layers, int heads, int kv, int vocab) {
  engine::ModelConfig c;
  c.dim = dim;
  c.hidden_dim = hidden;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv;
  c.head_dim = dim / heads;
  c.vocab_size = vocab;
  c.max_seq_len = 128;
  c.norm_eps = 1e-5f;
  return c;
}

inline std::filesystem::path stories_dir() { return data_dir() / "models" / "stories260K"; }
inline std::filesystem::path gptq_dir(const std::string& v) { return data_dir() / "models" / "stories260K-gptq" / v; }

}  // namespace rewoo::test
