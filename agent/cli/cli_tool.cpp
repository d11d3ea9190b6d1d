// rewoo tools list | call: what tools a run can use, and one tool run by hand.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/cli/commands.h"
#include "engine/base/json_text.h"
#include "tools/config.h"
#include "tools/default_registry.h"

namespace rewoo::cli {

namespace {

using json = nlohmann::json;

// The registry for --config FILE; prints the error and sets the exit code
// when it cannot be built.
std::unique_ptr<tools::Registry> registry_for(const std::string& config_path, Context& ctx) {
  auto cfg = tools::load_config_for_cli(config_path);
  if (!cfg) {
    fmt::print(stderr, "rewoo: {}\n", cfg.error().to_string());
    ctx.exit_code = 2;
    return nullptr;
  }
  auto reg = tools::load_registry(*cfg);
  if (!reg) {
    fmt::print(stderr, "rewoo: {}\n", reg.error().to_string());
    ctx.exit_code = 1;
    return nullptr;
  }
  return std::make_unique<tools::Registry>(std::move(*reg));
}

struct ListArgs {
  std::string config;
  bool json = false;
};

struct CallArgs {
  std::string config;
  std::string name;
  std::string input;
  bool json = false;
  int timeout_ms = 0;
};

void run_list(const ListArgs& a, Context& ctx) {
  auto reg = registry_for(a.config, ctx);
  if (!reg) return;
  if (a.json) {
    json out = json::array();
    for (auto& t : reg->tools()) {
      json j = {{"name", t->name()},
                {"kind", t->kind()},
                {"source", t->source()},
                {"description", t->description()},
                {"input", t->input_description()}};
      auto schema = t->parameters_schema();
      j["parameters"] = schema ? *schema : json(nullptr);
      out.push_back(std::move(j));
    }
    fmt::print("{}\n", json_text(out, 2));
    return;
  }
  size_t w = 4, kw = 4;
  for (auto& t : reg->tools()) {
    w = std::max(w, t->name().size());
    kw = std::max(kw, t->kind().size());
  }
  for (auto& t : reg->tools()) {
    fmt::print("{:<{}}  {:<{}}  {}\n", t->name(), w, t->kind(), kw, t->description());
    fmt::print("{:<{}}  {:<{}}  input: {}; from: {}\n", "", w, "", kw, t->input_description(),
               t->source());
  }
  fmt::print(stderr, "{} tool{}\n", reg->size(), reg->size() == 1 ? "" : "s");
}

void run_call(const CallArgs& a, Context& ctx) {
  std::string input = a.input;
  if (input == "-") input.assign(std::istreambuf_iterator<char>(std::cin), {});
  auto reg = registry_for(a.config, ctx);
  if (!reg) return;
  auto tool = reg->get(a.name);
  if (!tool) {
    std::string hint = reg->nearest(a.name);
    fmt::print(stderr, "rewoo: unknown tool '{}'{}; `rewoo tools list` shows them all\n", a.name,
               hint.empty() ? "" : " (did you mean '" + hint + "'?)");
    ctx.exit_code = 2;
    return;
  }
  tools::ToolContext tc;
  if (a.timeout_ms > 0) tc.timeout = std::chrono::milliseconds(a.timeout_ms);
  auto start = std::chrono::steady_clock::now();
  tools::ToolResult r = tool->invoke(input, tc);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (a.json) {
    fmt::print("{}\n", json_text(json{{"tool", a.name},
                                      {"ok", r.ok},
                                      {"text", r.text},
                                      {"ms", ms},
                                      {"sources", r.sources}},
                                 2));
  } else if (r.ok) {
    fmt::print("{}{}", r.text, r.text.empty() || r.text.back() != '\n' ? "\n" : "");
  } else {
    fmt::print(stderr, "rewoo: {} failed: {}\n", a.name, r.text);
  }
  if (!r.ok) ctx.exit_code = 1;
}

}  // namespace

void register_tool_commands(CLI::App& app, Context& ctx) {
  auto* tools_cmd = app.add_subcommand("tools", "List the tools a plan may use, or run one by hand");
  tools_cmd->require_subcommand(1);
  tools_cmd->footer(
      "Tools are the built-ins plus the plugins of the configuration file (--config FILE or\n"
      "$REWOO_CONFIG): MCP servers, command tools and library tools. See README.md,\n"
      "\"Tools and plugins\".");

  auto list_args = std::make_shared<ListArgs>();
  auto* list = tools_cmd->add_subcommand("list", "Show every tool: name, kind, description, source");
  tools::add_config_option(*list, &list_args->config);
  list->add_flag("--json", list_args->json, "Print a JSON array (with each tool's parameter schema)");
  list->footer(
      "Examples:\n"
      "  rewoo tools list\n"
      "  rewoo tools list --config tests/data/plugins/commands.yaml\n"
      "  rewoo tools list --config rewoo.yaml --json | jq '.[].name'");
  list->callback([list_args, &ctx] { run_list(*list_args, ctx); });

  auto call_args = std::make_shared<CallArgs>();
  auto* call = tools_cmd->add_subcommand(
      "call", "Run one tool on an input and print its evidence (exit 1 if the tool failed)");
  call->add_option("NAME", call_args->name, "Tool name, as in `rewoo tools list`")->required();
  call->add_option("INPUT", call_args->input,
                   "The input, as a plan step gives it (`-` reads stdin); JSON arguments for a "
                   "tool with several parameters")
      ->required();
  tools::add_config_option(*call, &call_args->config);
  call->add_flag("--json", call_args->json, "Print {tool, ok, text, ms} as JSON");
  call->add_option("--timeout-ms", call_args->timeout_ms, "Time limit for the call")
      ->check(CLI::PositiveNumber);
  call->footer(
      "Examples:\n"
      "  rewoo tools call WordCount 'one two three' --config tests/data/plugins/commands.yaml\n"
      "  rewoo tools call files.read_text_file /tmp/notes/a.txt --config mcp.yaml\n"
      "  rewoo tools call ev.get-sum '{\"a\": 2, \"b\": 3}' --config mcp.yaml");
  call->callback([call_args, &ctx] { run_call(*call_args, ctx); });
}

}  // namespace rewoo::cli
