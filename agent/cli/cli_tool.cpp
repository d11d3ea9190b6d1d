#include "agent/cli/commands.h"

namespace rewoo::cli {

void register_tool_commands(CLI::App& app, Context& ctx) {
  (void)app;
  (void)ctx;
}

}  // namespace rewoo::cli
