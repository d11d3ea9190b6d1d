// JSON text for output that must not throw. nlohmann::json::dump() throws on
// a string holding invalid UTF-8, and strings here come from outside: model
// output, tool and plugin output, HTTP headers, plan and YAML files. Such
// bytes become U+FFFD instead.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace rewoo {

inline std::string json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace rewoo
