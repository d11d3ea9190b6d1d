// CommandTool (see plugin_tools.h): one external program run per call.
#include <csignal>
#include <cstring>

#include "tools/plugins/arguments.h"
#include "tools/plugins/plugin_tools.h"
#include "tools/plugins/subprocess.h"
#include "tools/registry.h"

namespace rewoo::tools::plugins {

using std::chrono::milliseconds;

namespace {

std::string trim_end(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  return s;
}

std::string tail(const std::string& s, size_t n) {
  std::string t = trim_end(s);
  return t.size() <= n ? t : "..." + t.substr(t.size() - n);
}

}  // namespace

CommandTool::CommandTool(CommandToolConfig cfg, Limits limits, std::string config_path)
    : cfg_(std::move(cfg)), limits_(limits), config_path_(std::move(config_path)) {}

std::string CommandTool::source() const {
  std::string cmd = cfg_.command;
  for (auto& a : cfg_.args) cmd += " " + a;
  return one_line(cmd, 160) + (config_path_.empty() ? "" : " (from " + config_path_ + ")");
}

ToolResult CommandTool::invoke(const std::string& input, const ToolContext& ctx) {
  SpawnOptions o;
  o.argv.push_back(cfg_.command);
  bool placed = false;
  for (auto& a : cfg_.args) {
    if (cfg_.input == CommandToolConfig::Input::kArgument && a.find("{input}") != std::string::npos) {
      std::string v = a;
      for (size_t p = 0; (p = v.find("{input}", p)) != std::string::npos; p += input.size())
        v.replace(p, 7, input);
      o.argv.push_back(v);
      placed = true;
    } else {
      o.argv.push_back(a);
    }
  }
  if (cfg_.input == CommandToolConfig::Input::kArgument && !placed) o.argv.push_back(input);
  o.env = clean_environment(cfg_.env_allowlist.value_or(default_env_allowlist()), cfg_.env);
  o.cwd = cfg_.cwd;
  milliseconds timeout = call_timeout(cfg_.timeout.value_or(limits_.tool_timeout), ctx.timeout);
  size_t cap = cfg_.max_output_bytes.value_or(limits_.max_output_bytes);
  std::string_view in = cfg_.input == CommandToolConfig::Input::kStdin ? std::string_view(input)
                                                                       : std::string_view();
  auto r = run_process(o, in, timeout, cap, ctx.cancelled);
  const std::string& n = cfg_.name;
  if (!r) return ToolResult::failure("the command tool '" + n + "' could not run: " + r.error().message);
  if (r->timed_out)
    return ToolResult::failure("the command tool '" + n + "' timed out after " +
                               std::to_string(timeout.count()) + " ms and was stopped");
  if (r->cancelled) return ToolResult::failure("the command tool '" + n + "' was cancelled");
  if (r->output_over_cap)
    return ToolResult::failure("the command tool '" + n + "' wrote more than " +
                               std::to_string(cap) +
                               " bytes on stdout and was stopped (raise max_output_bytes if that "
                               "is expected)");
  std::string err = tail(r->err, 800);
  if (r->signal) {
    const char* s = strsignal(r->signal);
    return ToolResult::failure("the command tool '" + n + "' was killed by signal " +
                               std::to_string(r->signal) + (s ? std::string(" (") + s + ")" : "") +
                               (err.empty() ? "" : ": " + err));
  }
  if (r->exit_code != 0) {
    std::string why = err.empty() ? tail(r->out, 800) : err;
    return ToolResult::failure("the command tool '" + n + "' exited with status " +
                               std::to_string(r->exit_code) + (why.empty() ? "" : ": " + why));
  }
  return ToolResult::success(trim_end(std::move(r->out)));
}

Result<ToolPtr> make_command_tool(const CommandToolConfig& cfg, const Limits& limits,
                                  const std::string& config_path) {
  if (!Registry::is_valid_name(cfg.name))
    return Error("invalid command tool name '" + cfg.name +
                 "': expected a letter, then letters, digits, '_', '-' or '.'");
  auto exe = find_executable(cfg.command);
  if (!exe) return exe.error().wrap("command tool '" + cfg.name + "'");
  CommandToolConfig c = cfg;
  c.command = *exe;
  return ToolPtr(std::make_shared<CommandTool>(std::move(c), limits, config_path));
}

}  // namespace rewoo::tools::plugins
