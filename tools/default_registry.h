// load_registry: every tool a run may use, from the built-ins and the
// configuration's plugins.
//
//   auto cfg = tools::load_config_for_cli(config_path);   // --config FILE
//   auto reg = tools::load_registry(*cfg);
//   if (!reg) { fmt::print(stderr, "{}\n", reg.error().to_string()); return 1; }
//
// MCP servers are started here (listing their tools is their first use) and
// stopped when the last of their tools is released with the registry.
#pragma once

#include "engine/base/result.h"
#include "tools/config.h"
#include "tools/registry.h"

namespace rewoo::tools {

// Built-in tools (the web tools configured by the `web:` section, or by the
// environment without one) + add_plugin_tools(); then `tools: disable:`
// removes names.
Result<Registry> load_registry(const Config& cfg);

// Adds the configuration's MCP, command and library tools. An error names the
// plugin that failed and why; a name clash with a registered tool is an error.
Status add_plugin_tools(Registry& registry, const Config& cfg);

}  // namespace rewoo::tools
