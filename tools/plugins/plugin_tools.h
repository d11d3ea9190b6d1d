// The three kinds of plugin tools, as tools::Tool objects.
//
// - McpTool: one tool of an MCP server (kind "mcp"); many share one McpClient.
// - CommandTool: an external program run once per call (kind "command").
// - LibraryTool: a shared library built against rewoo_plugin.h (kind "library").
//
// Each is made from its section of the YAML configuration (tools/config.h);
// tools/default_registry.h puts them all into a Registry.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/base/result.h"
#include "tools/config.h"
#include "tools/plugins/mcp_client.h"
#include "tools/tool.h"

namespace rewoo::tools::plugins {

class McpTool : public Tool {
 public:
  // `registered_name` is the prefixed, sanitized name the registry uses.
  McpTool(std::shared_ptr<McpClient> client, McpToolInfo info, std::string registered_name,
          std::chrono::milliseconds timeout);
  std::string name() const override { return name_; }
  std::string description() const override;
  std::string input_description() const override;
  // The server's inputSchema, less `format` annotations (see
  // without_format_annotations in arguments.h).
  std::optional<nlohmann::json> parameters_schema() const override { return schema_; }
  std::string kind() const override { return "mcp"; }
  std::string source() const override;
  ToolResult invoke(const std::string& input, const ToolContext& ctx) override;

  const std::string& server_tool_name() const { return info_.name; }
  McpClient& client() { return *client_; }

 private:
  std::shared_ptr<McpClient> client_;
  McpToolInfo info_;
  nlohmann::json schema_;
  std::string name_;
  std::chrono::milliseconds timeout_;
};

// Starts the server (if needed), lists its tools and makes one McpTool per
// tool: name = prefix + the server's name (sanitized), filtered by `include`.
Result<std::vector<ToolPtr>> make_mcp_tools(const McpServerConfig& cfg, const Limits& limits);

class CommandTool : public Tool {
 public:
  CommandTool(CommandToolConfig cfg, Limits limits, std::string config_path);
  std::string name() const override { return cfg_.name; }
  std::string description() const override { return cfg_.description; }
  std::string input_description() const override { return cfg_.input_description; }
  std::optional<nlohmann::json> parameters_schema() const override { return cfg_.parameters_schema; }
  std::string kind() const override { return "command"; }
  std::string source() const override;
  ToolResult invoke(const std::string& input, const ToolContext& ctx) override;

 private:
  CommandToolConfig cfg_;
  Limits limits_;
  std::string config_path_;
};

// Checks the configuration (the program exists, the name is valid).
Result<ToolPtr> make_command_tool(const CommandToolConfig& cfg, const Limits& limits,
                                  const std::string& config_path);

// dlopens the library, checks its API version and schema, and wraps it.
Result<ToolPtr> load_library_tool(const LibraryToolConfig& cfg, const Limits& limits);

}  // namespace rewoo::tools::plugins
