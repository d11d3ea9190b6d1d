// rewoo plan check / rewoo exec: check and run reWOO plans.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/cli/commands.h"
#include "agent/executor.h"
#include "agent/plan_parser.h"
#include "engine/base/json_text.h"
#include "engine/base/read_file.h"
#include "engine/base/trace.h"
#include "tools/builtin_tools.h"
#include "tools/config.h"
#include "tools/default_registry.h"

namespace rewoo::cli {
namespace {

struct PlanInput {
  std::string file = "-";
  std::string tools_csv;  // --tools A,B
  std::string config;     // --config FILE: plugins and web settings (tools/config.h)
  bool json = false;
};

std::string display_name(const std::string& file) { return file == "-" ? "<stdin>" : file; }

// Text as it is, NUL bytes included (a plan may carry them into its answer).
void put(std::FILE* f, std::string_view text) { std::fwrite(text.data(), 1, text.size(), f); }

// The built-in tools and the --config file's plugins, restricted to --tools
// when given.
Result<tools::Registry> make_registry(const std::string& csv, const std::string& config) {
  auto cfg = tools::load_config_for_cli(config);
  if (!cfg) return cfg.error();
  auto loaded = tools::load_registry(*cfg);
  if (!loaded) return loaded.error();
  tools::Registry reg = std::move(*loaded);
  if (csv.empty()) return reg;
  std::vector<std::string> only;
  std::stringstream ss(csv);
  for (std::string name; std::getline(ss, name, ',');) {
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (!name.empty()) only.push_back(name);
  }
  auto r = reg.restricted_to(only);
  if (!r) return r.error().wrap("--tools");
  return r;
}

void print_json(const nlohmann::json& j) {
  std::printf("%s\n", json_text(j, 2).c_str());
}

std::string clip(const std::string& s, size_t n) {
  std::string one_line;
  for (char c : s) one_line += (c == '\n' || c == '\r') ? ' ' : c;
  if (one_line.size() <= n) return one_line;
  size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(one_line[cut]) & 0xC0) == 0x80) --cut;
  return one_line.substr(0, cut) + "...";
}

std::string ev(int k) { return ":evidence" + std::to_string(k) + ":"; }

// Reads and parses; on failure prints why to `out` and returns the exit code
// (1 for a bad plan, 2 for an unreadable file or unknown --tools).
struct Loaded {
  std::optional<agent::Plan> plan;
  tools::Registry registry;
  int exit_code = 0;
};

Loaded load(const PlanInput& in, std::FILE* out, bool json_errors) {
  Loaded l;
  auto reg = make_registry(in.tools_csv, in.config);
  if (!reg) {
    std::fprintf(stderr, "rewoo: %s\n", reg.error().to_string().c_str());
    l.exit_code = 2;
    return l;
  }
  l.registry = std::move(*reg);
  auto text = read_whole_file(in.file, "the plan file");
  if (!text) {
    std::fprintf(stderr, "rewoo: %s\n", text.error().to_string().c_str());
    l.exit_code = 2;
    return l;
  }
  auto r = agent::parse_plan(*text, l.registry);
  if (!r.ok()) {
    l.exit_code = 1;
    if (json_errors) {
      print_json({{"ok", false},
                  {"file", display_name(in.file)},
                  {"errors", agent::plan_errors_to_json(r.errors)}});
    } else {
      for (const auto& e : r.errors) std::fprintf(out, "%s\n", e.to_string().c_str());
      std::fprintf(out, "%s: %zu error%s\n", display_name(in.file).c_str(), r.errors.size(),
                   r.errors.size() == 1 ? "" : "s");
    }
    return l;
  }
  l.plan = std::move(r.plan);
  return l;
}

int run_check(const PlanInput& in) {
  Loaded l = load(in, stdout, in.json);
  if (!l.plan) return l.exit_code;
  const agent::Plan& p = *l.plan;
  auto w = agent::waves(p);
  if (in.json) {
    print_json({{"ok", true}, {"file", display_name(in.file)}, {"plan", agent::plan_to_json(p)},
                {"waves", w}});
    return 0;
  }
  std::vector<std::string> seen;
  std::string tools;
  for (const auto& s : p.steps) {
    if (std::find(seen.begin(), seen.end(), s.tool) != seen.end()) continue;
    seen.push_back(s.tool);
    tools += (tools.empty() ? "" : ", ") + s.tool;
  }
  std::printf("%s: ok: %zu step%s in %zu wave%s (%s); answer: ", display_name(in.file).c_str(),
              p.steps.size(), p.steps.size() == 1 ? "" : "s", w.size(), w.size() == 1 ? "" : "s",
              tools.c_str());
  put(stdout, p.answer_template);
  std::printf("\n");
  return 0;
}

struct ExecInput : PlanInput {
  int jobs = 4;
  double timeout_s = 60;
  bool fail_fast = false;
  bool dry_run = false;
  std::string trace_file;
};

int run_dry(const ExecInput& in, const agent::Plan& p) {
  auto w = agent::waves(p);
  if (in.json) {
    print_json({{"ok", true}, {"waves", w}, {"plan", agent::plan_to_json(p)}});
    return 0;
  }
  for (size_t i = 0; i < w.size(); ++i) {
    std::printf("wave %zu:\n", i + 1);
    for (int k : w[i]) {
      const auto& s = p.steps[k];
      std::printf("  %s = %s[", ev(k).c_str(), s.tool.c_str());
      put(stdout, s.input_template);
      std::printf("]\n");
    }
  }
  std::printf("answer: ");
  put(stdout, p.answer_template);
  std::printf("\n");
  return 0;
}

int run_exec(const ExecInput& in) {
  if (in.jobs < 1) {
    std::fprintf(stderr, "rewoo: --jobs must be at least 1\n");
    return 2;
  }
  if (auto why = step_limit_problem(in.timeout_s); !why.empty()) {
    std::fprintf(stderr, "rewoo: --timeout %s\n", why.c_str());
    return 2;
  }
  Loaded l = load(in, stderr, in.json);
  if (!l.plan) return l.exit_code;
  const agent::Plan& p = *l.plan;
  if (in.dry_run) return run_dry(in, p);

  TraceSink sink;
  if (!in.trace_file.empty()) {
    if (auto st = sink.open_file(in.trace_file); !st) {
      std::fprintf(stderr, "rewoo: --trace: %s\n", st.error().to_string().c_str());
      return 2;
    }
  }
  sink.on_event([&p](const TraceEvent& e) {
    const auto& f = e.fields;
    if (e.type == "step_start") {
      int k = f["step"];
      std::fprintf(stderr, "[start] %s %s[%s]\n", ev(k).c_str(), p.steps[k].tool.c_str(),
                   clip(f["input"].get<std::string>(), 70).c_str());
    } else if (e.type == "step_end") {
      int k = f["step"];
      std::string status = f["status"];
      double ms = f["duration_ms"];
      if (status == "ok")
        std::fprintf(stderr, "[done]  %s %s in %.0f ms, %zu bytes\n", ev(k).c_str(),
                     p.steps[k].tool.c_str(), ms, f["output_bytes"].get<size_t>());
      else
        std::fprintf(stderr, "[%s] %s %s in %.0f ms: %s\n",
                     status == "timed_out" ? "timeout" : "failed", ev(k).c_str(),
                     p.steps[k].tool.c_str(), ms, clip(f.value("error", ""), 200).c_str());
    }
  });

  agent::ExecOptions opt;
  opt.jobs = in.jobs;
  opt.step_timeout = std::chrono::milliseconds(static_cast<long long>(in.timeout_s * 1000));
  opt.fail_fast = in.fail_fast;
  opt.trace = &sink;
  agent::ExecResult r = agent::Executor::run(p, l.registry, opt);

  if (in.json) {
    auto j = agent::exec_result_to_json(r);
    j["plan"] = agent::plan_to_json(p);
    print_json(j);
  } else if (r.ok) {
    put(stdout, r.answer);
    std::printf("\n");
  }
  int code = 0;
  if (!r.ok) {
    std::fprintf(stderr, "rewoo: %s\n", r.error.c_str());
    code = 1;
  }
  // A timed-out step's thread may still be inside its tool; leaving through
  // main() would run static destructors under it. Everything is written
  // (the trace sink flushes each event), so end the process here.
  for (const auto& s : r.steps) {
    if (s.status == agent::StepStatus::kTimedOut) {
      std::fflush(nullptr);
      std::_Exit(code);
    }
  }
  return code;
}

void add_common(CLI::App* cmd, PlanInput& in) {
  cmd->add_option("file", in.file, "plan file, or - for standard input")->capture_default_str();
  cmd->add_option("--tools", in.tools_csv,
                  "only these tools may be used (comma-separated names; default: all built-in)");
  tools::add_config_option(*cmd, &in.config);
  cmd->add_flag("--json", in.json, "machine-readable output on stdout");
}

}  // namespace

void register_plan_commands(CLI::App& app, Context& ctx) {
  auto* plan = app.add_subcommand("plan", "Work with reWOO plans (see `rewoo plan check --help`)");
  plan->require_subcommand(1);

  auto check_in = std::make_shared<PlanInput>();
  auto* check = plan->add_subcommand(
      "check",
      "Parse and validate a plan. Prints a one-line summary and exits 0 when it is valid;\n"
      "prints every error as `line:col: message` (with a hint) and exits 1 when not;\n"
      "exits 2 on usage errors (bad flags, unreadable file, unknown --tools name).");
  add_common(check, *check_in);
  check->footer(
      "\nExamples:\n"
      "  rewoo plan check tests/data/plans/nobel.plan\n"
      "  rewoo plan check --json plan.txt           # steps, inputs, dependencies, waves\n"
      "  model-output | rewoo plan check -          # read the plan from stdin\n"
      "  rewoo plan check --tools HyperlinkExtractor,TextScraper plan.txt\n"
      "\nThe format (Airoboros 2.1):\n"
      "  Plan: <what to do>\n"
      "  :evidence0: = DuckDuckGo[<input>]\n"
      "  Plan: <next>\n"
      "  :evidence1: = KnowledgeModel[<question>, given :evidence0:?]\n"
      "  Answer: :evidence1:\n");
  check->callback([check_in, &ctx] { ctx.exit_code = run_check(*check_in); });

  auto exec_in = std::make_shared<ExecInput>();
  auto* exec = app.add_subcommand(
      "exec",
      "Parse a plan and run its tool calls: every step whose evidence is ready runs at once\n"
      "(up to --jobs). Each step is shown on stderr as it starts and finishes; the answer\n"
      "(the Answer: line with evidence substituted) goes to stdout. A failed step's evidence\n"
      "is its error text and the plan carries on, unless --fail-fast. Exit 0 when the run\n"
      "completes, 1 for an invalid plan or a --fail-fast stop, 2 for usage errors.");
  add_common(exec, *exec_in);
  exec->add_option("-j,--jobs", exec_in->jobs, "steps running at once")->capture_default_str();
  exec->add_option("--timeout", exec_in->timeout_s,
                   "per-step time limit in seconds (0 = none); a step past it gets an error "
                   "text as evidence")
      ->capture_default_str();
  exec->add_flag("--fail-fast", exec_in->fail_fast,
                 "stop at the first failed step: skip the rest and exit 1");
  exec->add_option("--trace", exec_in->trace_file,
                   "write the trace events (plan_parsed, step_start, step_end, answer) as JSONL");
  exec->add_flag("--dry-run", exec_in->dry_run,
                 "print the execution order (waves of steps that run in parallel) without "
                 "running any tool");
  exec->footer(
      "\nExamples:\n"
      "  rewoo exec tests/data/plans/links_demo.plan\n"
      "  rewoo exec --dry-run tests/data/plans/nobel.plan\n"
      "  rewoo exec --jobs 8 --timeout 30 --trace run.jsonl --json plan.txt\n"
      "  rewoo exec --fail-fast plan.txt || echo 'a step failed'\n");
  exec->callback([exec_in, &ctx] { ctx.exit_code = run_exec(*exec_in); });
}

}  // namespace rewoo::cli
