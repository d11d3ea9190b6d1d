#include "prompts/prompts.h"

#include <cstddef>
#include <fstream>
#include <sstream>

namespace rewoo::prompts {
namespace detail {
struct Embedded {
  const char* name;
  const unsigned char* data;
  std::size_t size;
};
extern const Embedded kEmbedded[];
}  // namespace detail

std::optional<std::string_view> builtin(std::string_view name) {
  for (const detail::Embedded* e = detail::kEmbedded; e->name; ++e)
    if (name == e->name) return std::string_view(reinterpret_cast<const char*>(e->data), e->size);
  return std::nullopt;
}

std::vector<std::string> builtin_names() {
  std::vector<std::string> out;
  for (const detail::Embedded* e = detail::kEmbedded; e->name; ++e) out.emplace_back(e->name);
  return out;
}

std::optional<std::string> load(std::string_view name, const std::string& override_dir) {
  if (!override_dir.empty()) {
    std::ifstream f(override_dir + "/" + std::string(name) + ".txt", std::ios::binary);
    if (f) {
      std::ostringstream ss;
      ss << f.rdbuf();
      return ss.str();
    }
  }
  if (auto b = builtin(name)) return std::string(*b);
  return std::nullopt;
}

}  // namespace rewoo::prompts
