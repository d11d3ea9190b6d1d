// The rewoo command line: each area registers its subcommands on the app.
//
// Exit codes, everywhere: 0 success, 1 the input was checked and is bad (or
// the operation failed), 2 usage error (bad flags, missing file).
#pragma once

#include <CLI/CLI.hpp>

namespace rewoo::cli {

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
