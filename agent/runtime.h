// The agent runtime: planner -> workers -> solver, plus the other ways the
// CLI and batch runs use a model (function calls, chat, plain generation).
//
//   Agent agent(model, registry);              // model: agent/llm.h
//   agent.set_constraints(grammars);           // plan / call grammars (optional)
//   auto r = agent.ask("Who won the 2020 Nobel Prize in Literature?", opts, callbacks);
//   print(r->answer);
//
// ask(): the planner prompt (prompts/planner.txt inside the chat format) is
// generated under the plan grammar, parsed (agent/plan_parser.h) and run by
// the executor (agent/executor.h): independent steps in parallel, failed
// steps become error evidence. KnowledgeModel steps get the evidence they
// refer to as input blocks (agent/knowledge_model.h). The solver then answers
// from a closed-context prompt with one input block per evidence (step, tool,
// source URL as context). With `replan`, a plan that fails to parse, or whose
// every step failed, is written once more with the failure named.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/function_call.h"
#include "agent/knowledge_model.h"
#include "agent/llm.h"
#include "agent/plan.h"
#include "agent/prompt_render.h"
#include "engine/base/trace.h"
#include "tools/registry.h"

namespace rewoo::agent {

struct SamplingOptions {
  // The seed model's recommended settings.
  float temperature = 0.7f;
  float top_p = 0.95f;
  int top_k = 0;
  float repetition_penalty = 1.15f;
  uint64_t seed = 0;
};

struct AgentOptions {
  SamplingOptions sampling;
  int max_plan_tokens = 1024;
  int max_answer_tokens = 384;
  int max_steps = 8;          // the plan grammar's limit
  int jobs = 4;               // plan steps at once
  std::chrono::milliseconds step_timeout{120000};
  bool replan = false;        // one more plan when the first fails
  int knowledge_max_tokens = 256;
  int knowledge_depth = 2;
  bool use_grammar = true;    // constrain plans and calls (when constraints are set)
};

// Grammar-constrained decoding for plans and function calls (the grammar
// engine implements it; agent/grammar/runtime_constraints.h).
class Constraints {
 public:
  virtual ~Constraints() = default;
  virtual Result<std::shared_ptr<engine::LogitsProcessor>> plan(const tools::Registry& registry,
                                                                int max_steps) = 0;
  virtual Result<std::shared_ptr<engine::LogitsProcessor>> function_call(
      const tools::Registry& registry, CallFormat format) = 0;
};

struct StepRecord {
  int index = 0;
  std::string tool;
  std::string thought;  // the plan's "Plan:" line for this step
  std::string input;    // after substitution
  std::string output;   // evidence text (an error text when !ok)
  std::string status;   // ok, failed, timed_out, skipped
  bool ok = false;
  std::vector<std::string> sources;
  double duration_ms = 0;
};

struct AskTimings {
  double plan_ms = 0, exec_ms = 0, solve_ms = 0, total_ms = 0;
};
struct AskTokens {
  int plan_prompt = 0, plan = 0, plan_forced = 0, solve_prompt = 0, answer = 0;
  // Of plan_prompt / solve_prompt, tokens whose KV state came from the
  // engine's prefix cache instead of being prefilled.
  int plan_prompt_cached = 0, solve_prompt_cached = 0;
};

struct AskResult {
  std::string task;
  std::string plan_text;            // the (last) plan as generated
  std::optional<Plan> plan;         // parsed; empty when no plan parsed
  std::vector<std::string> plan_errors;  // of the last plan that failed to parse
  int plans_written = 0;            // 2 after a replan
  std::vector<StepRecord> evidence;
  std::string planned_answer;       // the plan's Answer: line, substituted
  std::string answer;               // the solver's answer
  AskTimings timings;
  AskTokens tokens;
  bool random_model = false;        // the model's weights are random: answer is noise

  nlohmann::json to_json() const;
};

struct AskCallbacks {
  engine::TextCallback on_plan_text;     // plan tokens as they come
  std::function<void(const std::string& note)> on_note;  // "plan invalid; replanning"
  std::function<void(int step, const std::string& tool, const std::string& input)> on_step_start;
  std::function<void(const StepRecord&)> on_step_end;
  engine::TextCallback on_answer_text;   // answer tokens as they come
};

struct CallResult {
  std::string input;
  std::string text;                 // the model's output
  std::optional<FunctionCall> call; // parsed
  std::string error;                // parse / validation error ("" when valid)
  bool valid = false;               // parsed and validated against the schema
  bool ran = false;
  tools::ToolResult result;         // when ran
  int prompt_tokens = 0, tokens = 0;
  double generate_ms = 0, tool_ms = 0;

  nlohmann::json to_json() const;
};

class Agent {
 public:
  // `registry` is copied; the agent adds its KnowledgeModel (on `model`) to it.
  Agent(LanguageModel& model, tools::Registry registry, PromptRenderer renderer = PromptRenderer());

  void set_constraints(std::shared_ptr<Constraints> c) { constraints_ = std::move(c); }
  const tools::Registry& registry() const { return registry_; }
  LanguageModel& model() { return model_; }
  const PromptRenderer& renderer() const { return renderer_; }

  // Errors only for what stops the whole task (the model fails to generate,
  // a template is broken); bad plans and failed steps are in the result.
  Result<AskResult> ask(std::string_view task, const AgentOptions& options,
                        const AskCallbacks& callbacks = {}, TraceSink* trace = nullptr);

  // Function selection: generate (under the call grammar), parse, validate,
  // and unless dry_run, invoke the tool.
  Result<CallResult> call(std::string_view input, CallFormat format, const AgentOptions& options,
                          bool dry_run = false, TraceSink* trace = nullptr);

  // One chat turn with history; the reply without leading/trailing spaces.
  Result<Completion> chat(const std::vector<ChatTurn>& history, std::string_view message,
                          const AgentOptions& options, const engine::TextCallback& on_text = {});

  // The planner's chat prompt for `task` (for --show-prompt and tests).
  Result<std::string> planner_prompt(std::string_view task) const;

 private:
  engine::GenerateOptions sampling(const AgentOptions& o, int max_tokens, uint64_t seed_offset) const;

  LanguageModel& model_;
  tools::Registry registry_;
  PromptRenderer renderer_;
  std::shared_ptr<Constraints> constraints_;
};

}  // namespace rewoo::agent
