// rewoo ask / call / chat / run: the agent from the command line.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>

#include "agent/batch_runner.h"
#include "agent/cli/commands.h"
#include "agent/cli/model_setup.h"
#include "agent/runtime.h"
#include "engine/base/json_text.h"

namespace rewoo::cli {
namespace {

using nlohmann::json;
using namespace rewoo::agent;

const char* kNoiseNote =
    "Note: this model has random weights, so the plan and the answer above are noise; every "
    "stage (planning under the grammar, tools, answer) ran for real.";

std::string one_line(std::string s, size_t max = 100) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s = s.substr(0, cut) + "...";
  }
  return s;
}

// ---- rewoo ask -------------------------------------------------------------

struct AskFlags {
  std::string task;
  bool json = false, show_plan = false, quiet = false;
  std::string trace_file;
};

void register_ask(CLI::App& app, Context& ctx) {
  auto setup = std::make_shared<ModelSetup>();
  auto f = std::make_shared<AskFlags>();
  auto* cmd = app.add_subcommand("ask", "Answer a task: plan with tools, run the plan, answer from the evidence");
  cmd->add_option("task", f->task, "The task or question")->required();
  setup->add_flags(*cmd, /*agent_flags=*/true);
  cmd->add_flag("--json", f->json, "Print one JSON object (task, plan, evidence, answer, timings, tokens)");
  cmd->add_flag("--show-plan", f->show_plan, "Print the plan and every evidence on stdout before the answer");
  cmd->add_flag("-q,--quiet", f->quiet, "No progress on stderr");
  cmd->add_option("--trace", f->trace_file, "Write trace events (JSONL) to FILE");
  cmd->footer(
      "Examples:\n"
      "  rewoo model random build/tiny --shape tiny\n"
      "  rewoo ask \"Who won the Nobel Prize in Literature in 2020?\" --model build/tiny\n"
      "  rewoo ask \"...\" --model M --tools DuckDuckGo,KnowledgeModel --seed 3 --show-plan\n"
      "  rewoo ask \"...\" --model M --json --trace run.jsonl\n"
      "Progress (plan tokens as they come, each step as it starts and ends) goes to stderr;\n"
      "the answer to stdout. A failed step's error becomes evidence the answer sees;\n"
      "--replan writes one more plan when the first fails.");
  cmd->callback([setup, f, &ctx] {
    auto env = setup->build();
    if (!env) {
      std::fprintf(stderr, "rewoo ask: %s\n", env.error().to_string().c_str());
      ctx.exit_code = env.error().message.rfind("usage:", 0) == 0 ? 2 : 1;
      return;
    }
    Agent& agent = *(*env)->agent;
    TraceSink trace;
    if (!f->trace_file.empty()) {
      auto st = trace.open_file(f->trace_file);
      if (!st) {
        std::fprintf(stderr, "rewoo ask: %s\n", st.error().to_string().c_str());
        ctx.exit_code = 2;
        return;
      }
    }
    bool progress = !f->quiet;
    std::mutex out_mu;
    bool plan_line_open = false;
    bool plan_started = false;  // the model writes a space after ASSISTANT:; not shown
    AskCallbacks cb;
    if (progress) {
      std::fprintf(stderr, "rewoo: %s\n", agent.model().describe().c_str());
      std::fprintf(stderr, "rewoo: planning with %zu tools (%s)\n", agent.registry().size(),
                   fmt::format("{}", fmt::join(agent.registry().names(), ", ")).c_str());
      cb.on_plan_text = [&](std::string_view s) {
        std::lock_guard<std::mutex> lock(out_mu);
        if (!plan_started) {
          const size_t first = s.find_first_not_of(" \t\n");
          if (first == std::string_view::npos) return true;
          s.remove_prefix(first);
          plan_started = true;
        }
        std::fwrite(s.data(), 1, s.size(), stderr);
        std::fflush(stderr);
        plan_line_open = !s.empty() && s.back() != '\n';
        return true;
      };
      auto end_plan_line = [&] {
        if (plan_line_open) std::fputc('\n', stderr);
        plan_line_open = false;
      };
      cb.on_note = [&, end_plan_line](const std::string& n) {
        std::lock_guard<std::mutex> lock(out_mu);
        end_plan_line();
        plan_started = false;  // a replan streams a new plan
        std::fprintf(stderr, "rewoo: %s\n", n.c_str());
      };
      cb.on_step_start = [&, end_plan_line](int step, const std::string& tool, const std::string& input) {
        std::lock_guard<std::mutex> lock(out_mu);
        end_plan_line();
        std::fprintf(stderr, "  > :evidence%d: = %s[%s]\n", step, tool.c_str(), one_line(input, 70).c_str());
      };
      cb.on_step_end = [&](const StepRecord& s) {
        std::lock_guard<std::mutex> lock(out_mu);
        std::fprintf(stderr, "  %s :evidence%d: %s in %.0f ms: %s\n", s.ok ? "ok" : "!!", s.index,
                     s.status.c_str(), s.duration_ms, one_line(s.output, 70).c_str());
      };
      cb.on_answer_text = [&, end_plan_line](std::string_view) {
        std::lock_guard<std::mutex> lock(out_mu);
        end_plan_line();
        return true;
      };
    }
    auto r = agent.ask(f->task, setup->agent_options(), cb, &trace);
    if (!r) {
      std::fprintf(stderr, "rewoo ask: %s\n", r.error().to_string().c_str());
      ctx.exit_code = 1;
      return;
    }
    if (progress) {
      if (plan_line_open) std::fputc('\n', stderr);
      std::fprintf(stderr, "rewoo: plan %.0f ms, tools %.0f ms, answer %.0f ms, total %.0f ms; %d plan tokens, %d answer tokens\n",
                   r->timings.plan_ms, r->timings.exec_ms, r->timings.solve_ms, r->timings.total_ms,
                   r->tokens.plan, r->tokens.answer);
    }
    if (f->json) {
      json j = r->to_json();
      j["model"] = agent.model().describe();
      j["seed"] = setup->agent_options().sampling.seed;
      std::printf("%s\n", json_text(j, 2).c_str());
    } else {
      if (f->show_plan) {
        std::printf("The plan, as the model wrote it:\n%s\n\n", r->plan_text.c_str());
        if (!r->plan_errors.empty()) {
          std::printf("The plan is not valid:\n");
          for (auto& e : r->plan_errors) std::printf("  %s\n", e.c_str());
          std::printf("\n");
        }
        for (auto& s : r->evidence)
          std::printf(":evidence%d: = %s[%s] -> %s\n%s\n\n", s.index, s.tool.c_str(),
                      one_line(s.input, 200).c_str(), s.status.c_str(), s.output.c_str());
      }
      std::printf("Answer: %s\n", r->answer.c_str());
      if (r->random_model) std::printf("\n%s\n", kNoiseNote);
    }
    ctx.exit_code = r->plan ? 0 : 1;
  });
}

// ---- rewoo call ------------------------------------------------------------

void register_call(CLI::App& app, Context& ctx) {
  auto setup = std::make_shared<ModelSetup>();
  struct Flags {
    std::string input, format = "json";
    bool dry_run = false, json = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("call", "Pick a function and its parameters for INPUT, check them against the tool's schema, run it");
  cmd->add_option("input", f->input, "What the user wants")->required();
  cmd->add_option("--format", f->format, "How the model writes the call: json or yaml")
      ->check(CLI::IsMember({"json", "yaml"}));
  cmd->add_flag("--dry-run", f->dry_run, "Print the call only; do not run the tool");
  cmd->add_flag("--json", f->json, "Print one JSON object (call, validity, result)");
  setup->add_flags(*cmd, /*agent_flags=*/false);
  cmd->footer(
      "Examples:\n"
      "  rewoo call \"search the web for rust borrow checker\" --model M --dry-run\n"
      "  rewoo call \"...\" --model M --format yaml --tools DuckDuckGo,TextScraper\n"
      "The call is generated under a grammar built from the tools' parameter schemas, then\n"
      "parsed and validated. Exit 0 valid (and the tool succeeded), 1 otherwise.");
  cmd->callback([setup, f, &ctx] {
    auto env = setup->build();
    if (!env) {
      std::fprintf(stderr, "rewoo call: %s\n", env.error().to_string().c_str());
      ctx.exit_code = env.error().message.rfind("usage:", 0) == 0 ? 2 : 1;
      return;
    }
    auto fmt_r = parse_call_format(f->format);
    auto r = (*env)->agent->call(f->input, *fmt_r, setup->agent_options(), f->dry_run);
    if (!r) {
      std::fprintf(stderr, "rewoo call: %s\n", r.error().to_string().c_str());
      ctx.exit_code = 1;
      return;
    }
    bool random = (*env)->agent->model().is_random();
    if (f->json) {
      json j = r->to_json();
      if (random) j["note"] = "the model has random weights: the call is noise (but valid)";
      std::printf("%s\n", json_text(j, 2).c_str());
    } else {
      if (r->call) std::printf("%s\n", format_function_call(*r->call, *fmt_r).c_str());
      else std::printf("%s\n", r->text.c_str());
      if (!r->valid) std::printf("\ninvalid call: %s\n", r->error.c_str());
      else std::printf("\n(valid against the schema of %s)\n", r->call->function.c_str());
      if (r->ran)
        std::printf("\n%s:\n%s\n", r->result.ok ? "Result" : "Tool failed", r->result.text.c_str());
      if (random) std::printf("\nNote: the model has random weights, so the call is noise.\n");
    }
    ctx.exit_code = r->valid && (!r->ran || r->result.ok) ? 0 : 1;
  });
}

// ---- rewoo chat ------------------------------------------------------------

void register_chat(CLI::App& app, Context& ctx) {
  auto setup = std::make_shared<ModelSetup>();
  auto* cmd = app.add_subcommand("chat", "Chat with the model (the chat format, with history)");
  setup->add_flags(*cmd, /*agent_flags=*/false);
  cmd->footer(
      "Examples:\n"
      "  rewoo chat --model M\n"
      "  printf 'Hi\\nWhat did I just say?\\n' | rewoo chat --model M\n"
      "Type /reset to forget the history, /exit (or end of input) to leave. When stdin is\n"
      "not a terminal, each line is one user turn and replies are printed one per turn.");
  cmd->callback([setup, &ctx] {
    auto env = setup->build();
    if (!env) {
      std::fprintf(stderr, "rewoo chat: %s\n", env.error().to_string().c_str());
      ctx.exit_code = env.error().message.rfind("usage:", 0) == 0 ? 2 : 1;
      return;
    }
    Agent& agent = *(*env)->agent;
    bool tty = isatty(STDIN_FILENO);
    if (tty) std::fprintf(stderr, "rewoo chat: %s. /reset, /exit.\n", agent.model().describe().c_str());
    std::vector<ChatTurn> history;
    std::string line;
    auto opts = setup->agent_options();
    while (true) {
      if (tty) {
        std::fputs("you> ", stdout);
        std::fflush(stdout);
      }
      if (!std::getline(std::cin, line)) break;
      if (line == "/exit" || line == "/quit") break;
      if (line == "/reset") {
        history.clear();
        continue;
      }
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      std::fputs(tty ? "assistant>" : "", stdout);
      bool first = true;
      auto r = agent.chat(history, line, opts, [&](std::string_view s) {
        if (first) {
          size_t b = s.find_first_not_of(' ');
          s = b == std::string_view::npos ? std::string_view() : s.substr(b);
          if (!s.empty()) first = false;
          if (tty && !s.empty()) std::fputc(' ', stdout);
        }
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
        return true;
      });
      std::fputc('\n', stdout);
      if (!r) {
        std::fprintf(stderr, "rewoo chat: %s\n", r.error().to_string().c_str());
        ctx.exit_code = 1;
        return;
      }
      history.push_back({line, r->text});
      opts.sampling.seed += 1;
    }
  });
}

// ---- rewoo run -------------------------------------------------------------

void register_run(CLI::App& app, Context& ctx) {
  auto setup = std::make_shared<ModelSetup>();
  struct Flags {
    std::string input, output;
    int jobs = 1;
    bool quiet = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("run", "Run a file of tasks (JSONL) and append one result line per task");
  cmd->add_option("--input", f->input, "Tasks, one JSON object per line ('-' = stdin)")->required();
  cmd->add_option("--output", f->output, "Results (JSONL); re-running skips ids already there")->required();
  cmd->add_option("--jobs", f->jobs, "Tasks at once (they share the model; default 1)")->check(CLI::Range(1, 256));
  cmd->add_flag("-q,--quiet", f->quiet, "No progress bar");
  setup->add_flags(*cmd, /*agent_flags=*/true, /*batch=*/true);
  cmd->footer(
      "Task lines: {\"id\": ID, \"task\": TEXT, \"mode\": \"ask\"|\"call\"|\"generate\", options...}\n"
      "  options: seed, tools (list of names), format (json|yaml, for call), dry_run (call),\n"
      "  max_tokens, temperature, raw (generate without the chat format).\n"
      "Each result line: id, mode, ok, duration_ms, and answer/plan/evidence (ask), call/result\n"
      "(call) or text (generate), or error. Lines are appended and fsync'ed as tasks finish;\n"
      "a killed run loses only unfinished tasks. Example:\n"
      "  rewoo run --input tasks.jsonl --output results.jsonl --model M --jobs 4");
  cmd->callback([setup, f, &ctx] {
    auto env = setup->build();
    if (!env) {
      std::fprintf(stderr, "rewoo run: %s\n", env.error().to_string().c_str());
      ctx.exit_code = env.error().message.rfind("usage:", 0) == 0 ? 2 : 1;
      return;
    }
    BatchTaskRunner runner(**env, setup->agent_options());
    BatchOptions bo;
    bo.input_path = f->input;
    bo.output_path = f->output;
    bo.jobs = f->jobs;
    bo.progress = !f->quiet;
    auto s = run_batch(bo, runner.handlers());
    if (!s) {
      std::fprintf(stderr, "rewoo run: %s\n", s.error().to_string().c_str());
      ctx.exit_code = 1;
      return;
    }
    std::fprintf(stderr, "rewoo run: %s; results in %s\n", s->to_string().c_str(), f->output.c_str());
    if (auto* lm = dynamic_cast<EngineLanguageModel*>((*env)->model.get()))
      std::fprintf(stderr, "rewoo run: prompt tokens %ld, prefilled %ld, reused from the prefix cache %ld\n",
                   lm->prompt_tokens_total(), lm->prompt_tokens_total() - lm->cached_tokens_total(),
                   lm->cached_tokens_total());
    ctx.exit_code = (s->failed || s->invalid_lines) ? 1 : 0;
  });
}

}  // namespace

void register_agent_commands(CLI::App& app, Context& ctx) {
  register_ask(app, ctx);
  register_call(app, ctx);
  register_chat(app, ctx);
  register_run(app, ctx);
}

}  // namespace rewoo::cli
