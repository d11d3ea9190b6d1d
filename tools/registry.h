// Registry: the tools a task may use, by name.
//
// The registry decides what a plan may call: the plan parser rejects a tool
// name that is not registered (and suggests the nearest one), the plan
// grammar offers only registered names, and the planner prompt lists them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/base/result.h"
#include "tools/tool.h"

namespace rewoo::tools {

class Registry {
 public:
  // Adds a tool; an error if the name is taken or is not a valid tool name
  // (letters, digits, '_', '-', '.', starting with a letter).
  Status add(ToolPtr tool);
  // Adds or replaces.
  void set(ToolPtr tool);
  bool remove(const std::string& name);

  Tool* find(const std::string& name) const;
  ToolPtr get(const std::string& name) const;
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const;  // sorted
  std::vector<ToolPtr> tools() const;      // sorted by name
  size_t size() const { return tools_.size(); }

  // The registered name closest to `name` (case-insensitive edit distance), or
  // "" if none is reasonably close.
  std::string nearest(const std::string& name) const;

  // A registry with only the named tools; an error naming any unknown one.
  Result<Registry> restricted_to(const std::vector<std::string>& names) const;

  // The planner's tools block: one "Name[input]: description" line per tool.
  std::string render_tools_block() const;

  static bool is_valid_name(const std::string& name);

 private:
  std::map<std::string, ToolPtr> tools_;
};

}  // namespace rewoo::tools
