// Config: rewoo's YAML configuration file (tools, plugins, limits, web).
//
//   limits:                    # defaults for every tool call
//     tool_timeout_ms: 60000
//     max_output_bytes: 1048576
//   plugins:
//     mcp_servers:             # Model Context Protocol servers over stdio
//       - name: files
//         command: npx
//         args: [-y, "@modelcontextprotocol/server-filesystem", "${HOME}/notes"]
//         prefix: "files."     # tool names become files.read_text_file, ...
//     commands:                # external programs, one tool each
//       - name: WordCount
//         description: Counts the words of the input text.
//         command: wc
//         args: [-w]
//     libraries:               # shared libraries built against tools/plugins/rewoo_plugin.h
//       - path: ./libtitle_case.so
//   web: {...}                 # read by the web tools (tools/web)
//
// Strings may use ${VAR} (an environment variable; an error if unset) and
// ${CONFIG_DIR} (the folder of the config file). Relative paths (commands
// with a '/', library paths, cwd) are relative to the config file's folder.
// Unknown keys inside the sections above are errors (typos are caught); other
// top-level sections are kept for the areas that read them (section()).
//
// The CLI's `--config FILE` option: add_config_option() adds it to a
// command, load_config_for_cli() reads the file it names (or $REWOO_CONFIG,
// or nothing: the defaults).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "engine/base/result.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace rewoo::tools {

struct Limits {
  std::chrono::milliseconds tool_timeout{60000};  // per tool call, unless the tool says less
  size_t max_output_bytes = 1u << 20;             // evidence from one command tool call
  size_t max_message_bytes = 16u << 20;           // one JSON-RPC message from an MCP server
  std::chrono::milliseconds startup_timeout{30000};  // an MCP server's initialize + tools/list
};

struct McpServerConfig {
  std::string name;                 // the server's name in messages and logs
  std::string command;              // program to run (looked up in PATH without a '/')
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // set for the server
  // copied from rewoo's environment; nullopt = default_env_allowlist() (HOME, PATH, ...)
  std::optional<std::vector<std::string>> env_allowlist;
  std::string cwd;
  std::string prefix;               // prepended to each tool name; default "<name>."
  std::vector<std::string> include; // only these tools (by the server's names); empty = all
  std::optional<std::chrono::milliseconds> timeout;          // per call
  std::optional<std::chrono::milliseconds> startup_timeout;  // initialize + tools/list
};

struct CommandToolConfig {
  enum class Input { kStdin, kArgument };
  std::string name;
  std::string description;
  std::string input_description = "text";
  std::string command;
  std::vector<std::string> args;  // with kArgument, "{input}" in an argument is replaced
                                  // by the input; without one, the input is appended
  Input input = Input::kStdin;
  std::optional<nlohmann::json> parameters_schema;
  std::optional<std::chrono::milliseconds> timeout;
  // copied from rewoo's environment; nullopt = default_env_allowlist() (HOME, PATH, ...)
  std::optional<std::vector<std::string>> env_allowlist;
  std::map<std::string, std::string> env;  // set for the command
  std::string cwd;
  std::optional<size_t> max_output_bytes;
};

struct LibraryToolConfig {
  std::string path;  // the .so file
  std::string name;  // registered name; empty = the plugin's own
  std::optional<std::chrono::milliseconds> timeout;
};

struct Config {
  std::string path;  // the file it came from ("" for the defaults)
  std::string dir;   // its folder (relative paths are resolved against it)
  Limits limits;
  std::vector<McpServerConfig> mcp_servers;
  std::vector<CommandToolConfig> commands;
  std::vector<LibraryToolConfig> libraries;
  std::vector<std::string> disabled_tools;  // tools: {disable: [...]}: left out of the registry
  YAML::Node web;  // the `web:` section, for WebConfig::from_yaml (null when absent)
  std::map<std::string, YAML::Node> sections;  // every top-level section, by key

  // A top-level section by name (a null node when absent: test IsNull()).
  YAML::Node section(const std::string& key) const;
};

// Parses YAML text; `path` names the file in errors and sets dir.
Result<Config> parse_config(const std::string& yaml_text, const std::string& path = "");
// Reads and parses a file.
Result<Config> load_config(const std::string& path);

// Adds `--config FILE` to a command, storing the path in *path.
CLI::Option* add_config_option(CLI::App& app, std::string* path);
// The file named by --config, else $REWOO_CONFIG, else the defaults.
Result<Config> load_config_for_cli(const std::string& path);

}  // namespace rewoo::tools
