// McpTool and make_mcp_tools (see plugin_tools.h).
#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "tools/plugins/arguments.h"
#include "tools/plugins/plugin_tools.h"
#include "tools/plugins/subprocess.h"
#include "tools/registry.h"

namespace rewoo::tools::plugins {

using json = nlohmann::json;
using std::chrono::milliseconds;

McpTool::McpTool(std::shared_ptr<McpClient> client, McpToolInfo info, std::string registered_name,
                 milliseconds timeout)
    : client_(std::move(client)),
      info_(std::move(info)),
      schema_(without_format_annotations(info_.input_schema)),
      name_(std::move(registered_name)),
      timeout_(timeout) {}

std::string McpTool::description() const {
  std::string d = one_line(info_.description);
  if (d.empty()) d = one_line(info_.title);
  return d.empty() ? "the '" + info_.name + "' tool of the MCP server '" + client_->options().name + "'"
                   : d;
}

std::string McpTool::input_description() const {
  return input_description_from_schema(info_.input_schema);
}

std::string McpTool::source() const {
  std::string cmd;
  for (auto& a : client_->options().argv) cmd += (cmd.empty() ? "" : " ") + a;
  return "MCP server '" + client_->options().name + "' (" + one_line(cmd, 160) + "), tool '" +
         info_.name + "'";
}

ToolResult McpTool::invoke(const std::string& input, const ToolContext& ctx) {
  auto args = arguments_from_input(input, info_.input_schema, name_);
  if (!args) return ToolResult::failure(args.error().to_string());
  milliseconds t = call_timeout(timeout_, ctx.timeout);
  auto r = client_->call_tool(info_.name, *args, t, ctx.cancelled);
  if (!r) return ToolResult::failure(r.error().to_string());
  if (r->is_error)
    return ToolResult::failure("the tool '" + name_ + "' reported an error: " + r->text);
  return ToolResult::success(std::move(r->text));
}

Result<std::vector<ToolPtr>> make_mcp_tools(const McpServerConfig& cfg, const Limits& limits) {
  McpServerOptions o;
  o.name = cfg.name;
  o.argv.push_back(cfg.command);
  o.argv.insert(o.argv.end(), cfg.args.begin(), cfg.args.end());
  o.env = clean_environment(cfg.env_allowlist.value_or(default_env_allowlist()), cfg.env);
  o.cwd = cfg.cwd;
  o.startup_timeout = cfg.startup_timeout.value_or(limits.startup_timeout);
  o.call_timeout = cfg.timeout.value_or(limits.tool_timeout);
  o.max_message_bytes = limits.max_message_bytes;
  auto client = std::make_shared<McpClient>(std::move(o));
  auto listed = client->list_tools();
  if (!listed) return listed.error();

  std::set<std::string> have;
  for (auto& t : *listed) have.insert(t.name);
  for (auto& want : cfg.include) {
    if (!have.count(want)) {
      std::string names;
      for (auto& h : have) names += (names.empty() ? "" : ", ") + h;
      return Error("the MCP server '" + cfg.name + "' has no tool '" + want +
                   "' (listed in 'include'); it has: " + names);
    }
  }
  std::vector<ToolPtr> out;
  for (auto& info : *listed) {
    if (!cfg.include.empty() &&
        std::find(cfg.include.begin(), cfg.include.end(), info.name) == cfg.include.end())
      continue;
    std::string name = cfg.prefix + sanitize_tool_name(info.name);
    if (!Registry::is_valid_name(name)) {
      spdlog::warn("mcp[{}]: tool '{}' left out: '{}' is not a valid tool name (too long? "
                   "try a shorter 'prefix')",
                   cfg.name, info.name, name);
      continue;
    }
    out.push_back(std::make_shared<McpTool>(client, info, name, o.call_timeout));
  }
  return out;
}

}  // namespace rewoo::tools::plugins
