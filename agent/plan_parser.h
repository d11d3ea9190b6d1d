// Plan parser and validator: plan text -> Plan, or every error in it.
//
//   tools::Registry reg;  tools::register_builtin_tools(reg);
//   PlanParseResult r = parse_plan(text, reg);
//   if (!r.ok()) for (auto& e : r.errors) std::puts(e.to_string().c_str());
//   else run(*r.plan);
//
// Exact where the format is exact: `:evidenceN:` numbered 0, 1, 2, ... in
// order, `Tool[input]` with the input ending at the `]` that balances the
// first `[` on the same line, references only to earlier steps, one final
// `Answer:` line, tool names from the registry. Forgiving where models are
// sloppy in harmless ways: CRLF line ends, a UTF-8 BOM, blank lines, spaces
// or tabs around `=`, before `[` and around each line. Other dialects
// (LangChain's `#E1`) are rejected with a hint.
//
// Positions are 1-based; columns count characters (UTF-8 code points) of the
// original line. Errors come sorted by position.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/plan.h"
#include "engine/base/result.h"
#include "tools/registry.h"

namespace rewoo::agent {

struct PlanError {
  int line = 0;
  int col = 0;
  std::string message;  // what is wrong, e.g. "unknown tool 'DuckDuckGoo'"
  std::string hint;     // how to fix it ("" if nothing useful to say)

  // "line:col: message", then "\n  hint: ..." when there is a hint.
  std::string to_string() const;
};

struct PlanParseResult {
  std::optional<Plan> plan;       // set exactly when errors is empty
  std::vector<PlanError> errors;  // all of them, sorted by (line, col)

  bool ok() const { return errors.empty(); }
  // The plan, or one Error whose message lists every error (one per line).
  Result<Plan> to_result() const;
};

// Parses and validates `text`; tool names must be registered in `registry`.
PlanParseResult parse_plan(std::string_view text, const tools::Registry& registry);
// The same without a registry: any well-formed tool name is accepted.
PlanParseResult parse_plan_any_tools(std::string_view text);

nlohmann::json plan_errors_to_json(const std::vector<PlanError>& errors);

}  // namespace rewoo::agent
