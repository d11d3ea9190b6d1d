#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/base/json_text.h"
#include "engine/base/read_file.h"

namespace rewoo::engine {

using json = nlohmann::json;

const char* st_dtype_name(StDType t) {
  switch (t) {
    case StDType::kF64: return "F64";
    case StDType::kF32: return "F32";
    case StDType::kF16: return "F16";
    case StDType::kBF16: return "BF16";
    case StDType::kI64: return "I64";
    case StDType::kI32: return "I32";
    case StDType::kI16: return "I16";
    case StDType::kI8: return "I8";
    case StDType::kU8: return "U8";
    case StDType::kBool: return "BOOL";
  }
  return "?";
}

size_t st_dtype_size(StDType t) {
  switch (t) {
    case StDType::kF64: case StDType::kI64: return 8;
    case StDType::kF32: case StDType::kI32: return 4;
    case StDType::kF16: case StDType::kBF16: case StDType::kI16: return 2;
    case StDType::kI8: case StDType::kU8: case StDType::kBool: return 1;
  }
  return 0;
}

namespace {
bool parse_dtype(const std::string& s, StDType* out) {
  static const std::pair<const char*, StDType> kTable[] = {
      {"F64", StDType::kF64}, {"F32", StDType::kF32}, {"F16", StDType::kF16},
      {"BF16", StDType::kBF16}, {"I64", StDType::kI64}, {"I32", StDType::kI32},
      {"I16", StDType::kI16}, {"I8", StDType::kI8}, {"U8", StDType::kU8}, {"BOOL", StDType::kBool}};
  for (auto& [n, t] : kTable) {
    if (s == n) { *out = t; return true; }
  }
  return false;
}
}  // namespace

int64_t StTensor::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string StTensor::shape_str() const { return fmt::format("[{}]", fmt::join(shape, ", ")); }

SafetensorsFile::~SafetensorsFile() {
  if (map_ && map_size_) munmap(map_, map_size_);
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string where = path.string();
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Error(fmt::format("cannot open: {}", std::strerror(errno)), where);
  struct stat st {};
  const char* why = fstat(fd, &st) != 0      ? "cannot stat file"
                    : S_ISDIR(st.st_mode)    ? "is a directory, not a safetensors file"
                    : !S_ISREG(st.st_mode)   ? "is not a regular file (a FIFO, socket or device)"
                                             : nullptr;
  if (why) {
    ::close(fd);
    return Error(why, where);
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    return Error(fmt::format("file is {} bytes; a safetensors file starts with an 8-byte header length", size), where);
  }
  void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return Error(fmt::format("cannot memory-map file: {}", std::strerror(errno)), where);
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());  // private ctor
  f->path_ = path;
  f->map_ = m;
  f->map_size_ = size;
  const auto* base = static_cast<const uint8_t*>(m);

  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | base[i];
  if (n > kMaxHeaderBytes)
    return Error(fmt::format("header length {} exceeds the {} byte limit (corrupt or not safetensors)", n, kMaxHeaderBytes), where);
  if (n > size - 8)
    return Error(fmt::format("header length {} runs past the end of the {}-byte file (truncated?)", n, size), where);
  if (n < 2) return Error(fmt::format("header length {} is too short for a JSON object", n), where);

  std::string header(reinterpret_cast<const char*>(base + 8), n);
  // Duplicate top-level keys are silently merged by JSON parsers; catch them.
  std::set<std::string> seen;
  std::string dup;
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1) {
      std::string k = parsed.get<std::string>();
      if (!seen.insert(k).second && dup.empty()) dup = k;
    }
    return true;
  };
  json h;
  try {
    h = json::parse(header, cb);
  } catch (const std::exception& e) {
    return Error(fmt::format("header is not valid JSON: {}", e.what()), where);
  }
  if (!dup.empty()) return Error(fmt::format("tensor '{}' appears twice in the header", dup), where);
  if (!h.is_object()) return Error("header must be a JSON object", where);

  const size_t data_size = size - 8 - n;
  const uint8_t* data = base + 8 + n;
  struct Span { size_t b, e; std::string name; };
  std::vector<Span> spans;
  for (auto& [name, v] : h.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) return Error("__metadata__ must be an object of strings", where);
      for (auto& [k, mv] : v.items())
        if (!mv.is_string()) return Error(fmt::format("__metadata__ value '{}' must be a string", k), where);
      continue;
    }
    const std::string tw = fmt::format("{}: tensor '{}'", where, name);
    if (!v.is_object()) return Error("entry must be an object {dtype, shape, data_offsets}", tw);
    StTensor t;
    t.name = name;
    t.file = path.filename().string();
    if (!v.contains("dtype") || !v["dtype"].is_string()) return Error("missing string 'dtype'", tw);
    if (!parse_dtype(v["dtype"].get<std::string>(), &t.dtype))
      return Error(fmt::format("unknown dtype '{}' (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)",
                               v["dtype"].get<std::string>()), tw);
    if (!v.contains("shape") || !v["shape"].is_array()) return Error("missing array 'shape'", tw);
    unsigned __int128 numel = 1;
    for (auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) return Error("shape entries must be non-negative integers", tw);
      uint64_t dv = d.get<uint64_t>();
      t.shape.push_back(static_cast<int64_t>(dv));
      numel *= dv;
      if (numel > (static_cast<unsigned __int128>(1) << 62)) return Error("shape is absurdly large", tw);
    }
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2 ||
        !v["data_offsets"][0].is_number_unsigned() || !v["data_offsets"][1].is_number_unsigned())
      return Error("'data_offsets' must be [begin, end] with non-negative integers", tw);
    uint64_t b = v["data_offsets"][0].get<uint64_t>(), e = v["data_offsets"][1].get<uint64_t>();
    if (b > e) return Error(fmt::format("data_offsets [{}, {}]: begin after end", b, e), tw);
    if (e > data_size)
      return Error(fmt::format("data_offsets [{}, {}] out of range: the data buffer has {} bytes", b, e, data_size), tw);
    unsigned __int128 want = numel * st_dtype_size(t.dtype);
    if (want != e - b)
      return Error(fmt::format("shape {} x {} ({} bytes each) needs {} bytes but data_offsets span {}",
                               t.shape_str(), st_dtype_name(t.dtype), st_dtype_size(t.dtype),
                               static_cast<uint64_t>(want), e - b), tw);
    t.data = data + b;
    t.nbytes = e - b;
    spans.push_back({b, e, name});
    f->tensors_.emplace(name, std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.b != b.b ? a.b < b.b : a.e < b.e;
  });
  size_t cur = 0;
  for (auto& s : spans) {
    if (s.b < cur)
      return Error(fmt::format("tensor '{}' data [{}, {}] overlaps the previous tensor (ends at {})", s.name, s.b, s.e, cur), where);
    if (s.b > cur)
      return Error(fmt::format("gap in the data buffer: bytes [{}, {}) belong to no tensor (before '{}')", cur, s.b, s.name), where);
    cur = s.e;
  }
  if (cur != data_size)
    return Error(fmt::format("data buffer is {} bytes but tensors cover only {} (trailing bytes)", data_size, cur), where);
  return f;
}

const StTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Result<TensorSet> TensorSet::open(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  TensorSet ts;
  std::vector<fs::path> files;
  std::map<std::string, std::string> weight_map;
  if (fs::is_directory(path)) {
    fs::path index = path / "model.safetensors.index.json";
    if (fs::exists(path / "model.safetensors")) {
      files.push_back(path / "model.safetensors");
    } else if (fs::exists(index)) {
      auto text = read_whole_file(index, "the index");
      if (!text) return text.error();
      json j;
      try {
        j = json::parse(*text);
      } catch (const std::exception& e) {
        return Error(fmt::format("not valid JSON: {}", e.what()), index.string());
      }
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        return Error("expected an object with a 'weight_map' {tensor: file}", index.string());
      std::set<std::string> shard_names;
      for (auto& [k, v] : j["weight_map"].items()) {
        if (!v.is_string()) return Error(fmt::format("weight_map['{}'] must be a file name", k), index.string());
        std::string fn = v.get<std::string>();
        if (fn.find('/') != std::string::npos || fn == ".." )
          return Error(fmt::format("weight_map['{}'] = '{}' must be a file name in the same folder", k, fn), index.string());
        weight_map[k] = fn;
        shard_names.insert(fn);
      }
      if (shard_names.empty()) return Error("'weight_map' lists no tensors", index.string());
      for (auto& s : shard_names) files.push_back(path / s);
    } else {
      for (auto& e : fs::directory_iterator(path))
        if (e.path().extension() == ".safetensors") files.push_back(e.path());
      if (files.size() != 1)
        return Error(files.empty() ? "no model.safetensors (or model.safetensors.index.json) in this folder"
                                   : "several .safetensors files but no model.safetensors.index.json",
                     path.string());
    }
  } else {
    files.push_back(path);
  }
  for (auto& fp : files) {
    auto f = SafetensorsFile::open(fp);
    if (!f) return f.error();
    ts.files_.push_back(std::shared_ptr<SafetensorsFile>(std::move(*f)));
  }
  for (auto& f : ts.files_) {
    for (auto& [name, t] : f->tensors()) {
      auto [it, fresh] = ts.index_.emplace(name, &t);
      if (!fresh)
        return Error(fmt::format("tensor '{}' is in both {} and {}", name, it->second->file, t.file), path.string());
    }
  }
  for (auto& [name, fn] : weight_map) {
    auto it = ts.index_.find(name);
    if (it == ts.index_.end() || it->second->file != fn)
      return Error(fmt::format("model.safetensors.index.json maps tensor '{}' to {} but that file does not hold it", name, fn),
                   path.string());
  }
  return ts;
}

const StTensor* TensorSet::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<std::string> TensorSet::names() const {
  std::vector<std::string> v;
  for (auto& [k, t] : index_) v.push_back(k);
  return v;
}

std::string TensorSet::describe() const {
  std::vector<std::string> n;
  for (auto& f : files_) n.push_back(f->path().string());
  return fmt::format("{}", fmt::join(n, ", "));
}

Status write_safetensors(const std::filesystem::path& path, const std::vector<StWriteTensor>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (auto& t : tensors) {
    int64_t numel = 1;
    for (auto d : t.shape) numel *= d;
    if (static_cast<size_t>(numel) * st_dtype_size(t.dtype) != t.bytes.size())
      return Error(fmt::format("tensor '{}': {} bytes do not match its shape", t.name, t.bytes.size()), path.string());
    h[t.name] = {{"dtype", st_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string hs = json_text(h);
  while ((hs.size() + 8) % 8) hs.push_back(' ');  // keep the data 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Error("cannot create file", path.string());
  uint64_t n = hs.size();
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(hs.data(), static_cast<std::streamsize>(hs.size()));
  for (auto& t : tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
  if (!out) return Error("write failed (disk full?)", path.string());
  return {};
}

}  // namespace rewoo::engine
