// build/rewoo: the command-line front end.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "agent/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "rewoo: an agent runtime for local models.\n"
      "A 4-bit GPTQ Llama writes a reWOO plan under a grammar; rewoo checks it, runs its\n"
      "tool calls (in parallel where the plan allows) and has the model answer from the\n"
      "evidence. Run `rewoo <command> --help` for each command's options.",
      "rewoo"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "rewoo 0.1.0");
  // Logs (plugin servers' stderr, restarts, warnings) go to stderr, never
  // into the command's output; REWOO_LOG=debug|info|warn|error|off sets the level.
  spdlog::set_default_logger(spdlog::stderr_color_mt("rewoo"));
  if (const char* lvl = std::getenv("REWOO_LOG")) spdlog::set_level(spdlog::level::from_str(lvl));
  rewoo::cli::Context ctx;
  rewoo::cli::register_plan_commands(app, ctx);
  rewoo::cli::register_tool_commands(app, ctx);
  rewoo::cli::register_engine_commands(app, ctx);
  rewoo::cli::register_grammar_commands(app, ctx);
  rewoo::cli::register_web_commands(app, ctx);
  rewoo::cli::register_agent_commands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "rewoo: error: out of memory (the model, its context length or an input is "
                 "larger than this machine's memory allows)\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rewoo: error: %s\n", e.what());
    return 1;
  }
  return ctx.exit_code;
}
