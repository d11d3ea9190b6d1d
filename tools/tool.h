// The Tool interface: what a plan step calls.
//
// A tool has a name (the word a plan writes before `[`), a description and an
// input description for the planner's tools block, and optionally a JSON
// Schema of its parameters (for function calls). invoke() gets the step's
// input with evidence already substituted and returns a ToolResult: text, or
// an error that the plan carries on with as evidence. A tool never throws for
// bad input or a failed fetch; it returns ToolResult::failure.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rewoo {
class TraceSink;
}

namespace rewoo::tools {

struct ToolResult {
  bool ok = true;
  std::string text;                  // the evidence (or the error message when !ok)
  std::vector<std::string> sources;  // URLs or doc:// ids the text came from, if any

  static ToolResult success(std::string text, std::vector<std::string> sources = {}) {
    return {true, std::move(text), std::move(sources)};
  }
  static ToolResult failure(std::string message) { return {false, std::move(message), {}}; }
};

// What the runtime hands a tool for one call.
struct ToolContext {
  TraceSink* trace = nullptr;                 // may be null
  std::chrono::milliseconds timeout{60000};   // the step's time budget
  const std::atomic<bool>* cancelled = nullptr;  // set when the step timed out or the run stops
  int depth = 0;                              // recursion depth (KnowledgeModel)
  int step = -1;                              // plan step index, -1 outside a plan

  bool is_cancelled() const { return cancelled && cancelled->load(); }
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // One line on what the input is ("a search query", "newline-separated URLs").
  virtual std::string input_description() const { return "text"; }
  // JSON Schema of the parameters for function calls; nullopt = one string input.
  virtual std::optional<nlohmann::json> parameters_schema() const { return std::nullopt; }
  // "builtin", "mcp", "command", "library", ...
  virtual std::string kind() const { return "builtin"; }
  // Where it comes from (a config file, an MCP server command, a .so path).
  virtual std::string source() const { return "rewoo"; }
  virtual ToolResult invoke(const std::string& input, const ToolContext& ctx) = 0;
};

using ToolPtr = std::shared_ptr<Tool>;

}  // namespace rewoo::tools
