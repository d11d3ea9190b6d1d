// Prompt templates, embedded from prompts/*.txt at build time.
//
// builtin(name) returns the embedded text of prompts/<name>.txt. load(name,
// dir) prefers <dir>/<name>.txt when dir is given and the file exists, so a
// user can override any template without rebuilding.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rewoo::prompts {

std::optional<std::string_view> builtin(std::string_view name);
std::vector<std::string> builtin_names();
// Override directory first (if non-empty and the file exists), then builtin.
std::optional<std::string> load(std::string_view name, const std::string& override_dir = {});

}  // namespace rewoo::prompts
