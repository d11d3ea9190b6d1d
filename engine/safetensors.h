// safetensors: memory-mapped reader with strict header validation, and a
// writer. Format: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data buffer; offsets are relative to the buffer, must tile it
// exactly (no gaps, no overlaps) and match shape x dtype size.
//
//   auto f = SafetensorsFile::open("model.safetensors");
//   const StTensor* t = (*f)->find("model.norm.weight");
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/result.h"

namespace rewoo::engine {

enum class StDType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };
const char* st_dtype_name(StDType t);
size_t st_dtype_size(StDType t);

struct StTensor {
  std::string name;
  StDType dtype = StDType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping
  size_t nbytes = 0;
  std::string file;  // file name, for error messages

  int64_t numel() const;
  std::string shape_str() const;  // "[4096, 11008]"
};

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const StTensor* find(const std::string& name) const;
  const std::map<std::string, StTensor>& tensors() const { return tensors_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  std::filesystem::path path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, StTensor> tensors_;
};

// All tensors of a checkpoint: one file, or shards listed by
// model.safetensors.index.json.
class TensorSet {
 public:
  // dir: a folder with model.safetensors or model.safetensors.index.json (or
  // exactly one *.safetensors); or a .safetensors file.
  static Result<TensorSet> open(const std::filesystem::path& path);
  const StTensor* find(const std::string& name) const;
  std::vector<std::string> names() const;
  std::string describe() const;  // file name(s) for messages

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const StTensor*> index_;
};

// A tensor to write: raw little-endian bytes.
struct StWriteTensor {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
// Writes tensors (in the given order) with optional string metadata.
Status write_safetensors(const std::filesystem::path& path, const std::vector<StWriteTensor>& tensors,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace rewoo::engine
