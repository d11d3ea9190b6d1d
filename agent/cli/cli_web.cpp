#include "agent/cli/commands.h"

namespace rewoo::cli {

void register_local_commands(CLI::App& app, Context& ctx);  // cli_local.cpp: rewoo index

void register_web_commands(CLI::App& app, Context& ctx) {
  register_local_commands(app, ctx);
}

}  // namespace rewoo::cli
