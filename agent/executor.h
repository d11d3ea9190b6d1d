// Executor: runs a Plan's tool calls as a dependency DAG.
//
//   ExecOptions opt;  opt.jobs = 4;  opt.step_timeout = std::chrono::seconds(30);
//   ExecResult r = Executor::run(plan, registry, opt);
//   std::puts(r.answer.c_str());
//
// Every step whose referenced evidence is ready runs at once, at most `jobs`
// at a time, each on its own thread. A step's input is its template with each
// `:evidenceK:` replaced by step K's evidence in a single pass: substituted
// text is never scanned again, so evidence that itself contains
// ":evidence3:" stays as it is. A failed step's evidence is an error text
// ("[error] step 2 (DuckDuckGo) failed: ...") that its dependents see, and the
// plan carries on -- unless `fail_fast`, which stops launching steps, marks
// the rest skipped and reports the run as failed. A step that runs past
// `step_timeout` gets "[error] step N (Tool) timed out after X ms" as its
// evidence; its ToolContext::cancelled flag is set and its thread is left to
// finish on its own (it owns everything it touches: the tool's shared_ptr,
// its input, and a trace proxy that stops forwarding when run() returns).
//
// Trace events (ExecOptions::trace): plan_parsed {steps, plan}, step_start
// {step, tool, input, input_bytes, depends_on}, step_end {step, tool, ok,
// status, duration_ms, output_bytes[, error]}, answer {answer, ok, total_ms}.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/plan.h"
#include "engine/base/trace.h"
#include "tools/registry.h"

namespace rewoo::agent {

struct ExecOptions {
  int jobs = 4;                                  // steps running at once (at least 1)
  std::chrono::milliseconds step_timeout{60000};  // per step; 0 = no limit
  bool fail_fast = false;
  TraceSink* trace = nullptr;  // may be null; must outlive run()
  int depth = 0;               // passed to tools (KnowledgeModel recursion)
};

enum class StepStatus { kOk, kFailed, kTimedOut, kSkipped };
const char* to_string(StepStatus s);  // "ok", "failed", "timed_out", "skipped"

struct StepOutcome {
  int index = 0;
  std::string tool;
  std::string input;     // after substitution ("" when skipped)
  std::string evidence;  // the tool's text, or the error / skip text
  StepStatus status = StepStatus::kSkipped;
  std::vector<std::string> sources;
  double start_ms = 0;     // since run() began
  double duration_ms = 0;
};

struct ExecResult {
  std::vector<StepOutcome> steps;  // steps[i] is :evidencei:
  std::string answer;              // the answer template with evidence substituted
  bool ok = true;                  // false when fail_fast stopped the run
  std::string error;               // why it stopped ("" when ok)
  double total_ms = 0;

  std::vector<std::string> evidence() const;
  bool all_steps_ok() const;
};

class Executor {
 public:
  static ExecResult run(const Plan& plan, const tools::Registry& registry,
                        const ExecOptions& options = {});
};

// Replaces each `:evidenceK:` with evidence[K] in one left-to-right pass;
// references past the end of `evidence` stay as written.
std::string substitute_evidence(std::string_view tmpl, const std::vector<std::string>& evidence);

// Execution order for --dry-run: wave w holds the steps whose longest chain
// of dependencies has w links, sorted; every step of a wave can run at once
// after the earlier waves.
std::vector<std::vector<int>> waves(const Plan& plan);

nlohmann::json exec_result_to_json(const ExecResult& r);

}  // namespace rewoo::agent
