#include "tools/default_registry.h"

#include "tools/builtin_tools.h"
#include "tools/plugins/plugin_tools.h"
#include "tools/web/web_config.h"

namespace rewoo::tools {

namespace {

Status add_all(Registry& registry, std::vector<ToolPtr> tools, const std::string& what) {
  for (auto& t : tools) {
    auto st = registry.add(t);
    if (!st) return st.error().wrap(what);
  }
  return {};
}

}  // namespace

Status add_plugin_tools(Registry& registry, const Config& cfg) {
  std::string file = cfg.path.empty() ? "config" : cfg.path;
  for (auto& s : cfg.mcp_servers) {
    auto tools = plugins::make_mcp_tools(s, cfg.limits);
    if (!tools) return tools.error().wrap(file + ": MCP server '" + s.name + "'");
    REWOO_TRY(add_all(registry, std::move(*tools), file + ": MCP server '" + s.name + "'"));
  }
  for (auto& c : cfg.commands) {
    auto tool = plugins::make_command_tool(c, cfg.limits, cfg.path);
    if (!tool) return tool.error().wrap(file + ": command tool '" + c.name + "'");
    REWOO_TRY(add_all(registry, {*tool}, file + ": command tool '" + c.name + "'"));
  }
  for (auto& l : cfg.libraries) {
    auto tool = plugins::load_library_tool(l, cfg.limits);
    if (!tool) return tool.error().wrap(file + ": library tool");
    REWOO_TRY(add_all(registry, {*tool}, file + ": library tool '" + l.path + "'"));
  }
  return {};
}

Result<Registry> load_registry(const Config& cfg) {
  Registry registry;
  std::string file = cfg.path.empty() ? "config" : cfg.path;
  if (cfg.web.IsMap()) {
    auto web = web::WebConfig::from_yaml(cfg.web);
    if (!web) return web.error().wrap(file + ": web");
    register_builtin_tools(registry, *web);
  } else if (cfg.web && !cfg.web.IsNull()) {
    return Error("the 'web' section must be a map of settings", file);
  } else {
    register_builtin_tools(registry);  // web settings from the environment
  }
  REWOO_TRY(add_plugin_tools(registry, cfg));
  for (auto& name : cfg.disabled_tools) {
    if (!registry.remove(name)) {
      std::string hint = registry.nearest(name);
      return Error("tools.disable names '" + name + "', which is not a tool" +
                       (hint.empty() ? "" : " (did you mean '" + hint + "'?)"),
                   cfg.path.empty() ? "config" : cfg.path);
    }
  }
  return registry;
}

}  // namespace rewoo::tools
