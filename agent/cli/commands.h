// The rewoo command line: each area registers its subcommands on the app.
//
// Exit codes, everywhere: 0 success, 1 the input was checked and is bad (or
// the operation failed), 2 usage error (bad flags, missing file).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace rewoo::cli {

// A per-step time limit in seconds (exec --timeout, the agent's
// --step-timeout): 0 for none, else 0.001 to a week. Returns what is wrong
// with `seconds` ("" when it is fine): NaN, infinities and values under a
// millisecond (which round to no limit at all) are refused.
inline std::string step_limit_problem(double seconds) {
  constexpr double kMax = 7 * 24 * 3600;
  if (seconds == 0 || (seconds >= 0.001 && seconds <= kMax)) return "";
  char buf[96];
  std::snprintf(buf, sizeof buf, "must be 0 (no limit) or 0.001 to %.0f seconds, got %g", kMax, seconds);
  return buf;
}

// Set by a subcommand's callback; main() returns it.
struct Context {
  int exit_code = 0;
};

void register_plan_commands(CLI::App& app, Context& ctx);     // plan check, exec
void register_tool_commands(CLI::App& app, Context& ctx);     // tools list/call
void register_engine_commands(CLI::App& app, Context& ctx);   // generate, model, quantize
void register_grammar_commands(CLI::App& app, Context& ctx);  // grammar check/match/from-schema
void register_web_commands(CLI::App& app, Context& ctx);      // fetch, extract, search, index
void register_agent_commands(CLI::App& app, Context& ctx);    // ask, call, chat, run

}  // namespace rewoo::cli
