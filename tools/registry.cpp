#include "tools/registry.h"

#include <algorithm>
#include <cctype>

namespace rewoo::tools {

bool Registry::is_valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || !std::isalpha(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

Status Registry::add(ToolPtr tool) {
  if (!tool) return Error("cannot register a null tool");
  std::string n = tool->name();
  if (!is_valid_name(n))
    return Error("invalid tool name '" + n +
                 "': expected a letter, then letters, digits, '_', '-' or '.' (at most 64)");
  if (tools_.count(n)) return Error("a tool named '" + n + "' is already registered");
  tools_.emplace(n, std::move(tool));
  return {};
}

void Registry::set(ToolPtr tool) { tools_[tool->name()] = std::move(tool); }

bool Registry::remove(const std::string& name) { return tools_.erase(name) > 0; }

Tool* Registry::find(const std::string& name) const {
  auto it = tools_.find(name);
  return it == tools_.end() ? nullptr : it->second.get();
}

ToolPtr Registry::get(const std::string& name) const {
  auto it = tools_.find(name);
  return it == tools_.end() ? nullptr : it->second;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (auto& [n, t] : tools_) out.push_back(n);
  return out;
}

std::vector<ToolPtr> Registry::tools() const {
  std::vector<ToolPtr> out;
  for (auto& [n, t] : tools_) out.push_back(t);
  return out;
}

namespace {
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                  std::tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string Registry::nearest(const std::string& name) const {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (auto& [n, t] : tools_) {
    size_t d = edit_distance(name, n);
    if (d < best_d) best_d = d, best = n;
  }
  // Close enough: at most a third of the longer name differs.
  size_t limit = std::max<size_t>(2, std::max(name.size(), best.size()) / 3);
  return best_d <= limit ? best : std::string();
}

Result<Registry> Registry::restricted_to(const std::vector<std::string>& names) const {
  Registry r;
  for (auto& n : names) {
    auto t = get(n);
    if (!t) {
      std::string hint = nearest(n);
      return Error("unknown tool '" + n + "'" +
                   (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
    }
    r.set(t);
  }
  return r;
}

std::string Registry::render_tools_block() const {
  std::string out;
  for (auto& [n, t] : tools_)
    out += n + "[" + t->input_description() + "]: " + t->description() + "\n";
  return out;
}

}  // namespace rewoo::tools
