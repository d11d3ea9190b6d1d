#include "agent/runtime.h"

#include <chrono>
#include <map>
#include <mutex>

#include "agent/executor.h"
#include "agent/plan_parser.h"
#include "tools/knowledge.h"

namespace rewoo::agent {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return std::string();
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// What each tool of one task returned, by step: the KnowledgeModel reads the
// evidence its step refers to from here (the executor hands tools only the
// substituted input).
struct EvidenceStore {
  std::mutex mu;
  std::map<int, tools::ToolResult> by_step;

  void put(int step, const tools::ToolResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    by_step[step] = r;
  }
  std::optional<tools::ToolResult> get(int step) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = by_step.find(step);
    if (it == by_step.end()) return std::nullopt;
    return it->second;
  }
};

// Forwards to a tool and records its result under the step index.
class RecordingTool : public tools::Tool {
 public:
  RecordingTool(tools::ToolPtr inner, std::shared_ptr<EvidenceStore> store)
      : inner_(std::move(inner)), store_(std::move(store)) {}
  std::string name() const override { return inner_->name(); }
  std::string description() const override { return inner_->description(); }
  std::string input_description() const override { return inner_->input_description(); }
  std::optional<nlohmann::json> parameters_schema() const override {
    return inner_->parameters_schema();
  }
  std::string kind() const override { return inner_->kind(); }
  std::string source() const override { return inner_->source(); }
  tools::ToolResult invoke(const std::string& input, const tools::ToolContext& ctx) override {
    tools::ToolResult r = inner_->invoke(input, ctx);
    if (ctx.step >= 0) store_->put(ctx.step, r);
    return r;
  }

 private:
  tools::ToolPtr inner_;
  std::shared_ptr<EvidenceStore> store_;
};

// Context lines for an evidence block: which step, which tool, where from.
std::vector<std::pair<std::string, std::string>> evidence_context(
    int index, const std::string& tool, const std::string& status,
    const std::vector<std::string>& sources) {
  std::vector<std::pair<std::string, std::string>> c{{"evidence", ":evidence" + std::to_string(index) + ":"},
                                                     {"tool", tool}};
  if (!sources.empty()) c.push_back({"url", sources.front()});
  if (status != "ok") c.push_back({"status", status});
  return c;
}

}  // namespace

json AskResult::to_json() const {
  json ev = json::array();
  for (auto& s : evidence)
    ev.push_back({{"step", s.index},
                  {"evidence", ":evidence" + std::to_string(s.index) + ":"},
                  {"tool", s.tool},
                  {"thought", s.thought},
                  {"input", s.input},
                  {"output", s.output},
                  {"status", s.status},
                  {"ok", s.ok},
                  {"sources", s.sources},
                  {"duration_ms", s.duration_ms}});
  json plan_json = {{"text", plan_text}, {"valid", plan.has_value()}, {"plans_written", plans_written}};
  if (plan) plan_json["parsed"] = plan_to_json(*plan);
  if (!plan_errors.empty()) plan_json["errors"] = plan_errors;
  json out = {{"task", task},
              {"plan", plan_json},
              {"evidence", ev},
              {"planned_answer", planned_answer},
              {"answer", answer},
              {"timings",
               {{"plan_ms", timings.plan_ms},
                {"exec_ms", timings.exec_ms},
                {"solve_ms", timings.solve_ms},
                {"total_ms", timings.total_ms},
                // Like the times, these depend on what ran before (the
                // prefix cache), not on the task: same seed, same output.
                {"plan_prompt_cached_tokens", tokens.plan_prompt_cached},
                {"solve_prompt_cached_tokens", tokens.solve_prompt_cached}}},
              {"tokens",
               {{"plan_prompt", tokens.plan_prompt},
                {"plan", tokens.plan},
                {"plan_forced", tokens.plan_forced},
                {"solve_prompt", tokens.solve_prompt},
                {"answer", tokens.answer}}}};
  if (random_model)
    out["note"] = "the model has random weights: the plan and answer are noise";
  return out;
}

json CallResult::to_json() const {
  json out = {{"input", input}, {"output", text}, {"valid", valid}};
  if (call) out["call"] = call->to_json();
  if (!error.empty()) out["error"] = error;
  if (ran) out["result"] = {{"ok", result.ok}, {"text", result.text}, {"sources", result.sources}};
  out["tokens"] = {{"prompt", prompt_tokens}, {"output", tokens}};
  out["timings"] = {{"generate_ms", generate_ms}, {"tool_ms", tool_ms}};
  return out;
}

Agent::Agent(LanguageModel& model, tools::Registry registry, PromptRenderer renderer)
    : model_(model), registry_(std::move(registry)), renderer_(std::move(renderer)) {}

engine::GenerateOptions Agent::sampling(const AgentOptions& o, int max_tokens,
                                        uint64_t seed_offset) const {
  engine::GenerateOptions g;
  g.max_tokens = max_tokens;
  g.temperature = o.sampling.temperature;
  g.top_p = o.sampling.top_p;
  g.top_k = o.sampling.top_k;
  g.repetition_penalty = o.sampling.repetition_penalty;
  g.seed = o.sampling.seed + seed_offset;
  g.stop = {std::string(kChatStop)};
  return g;
}

Result<std::string> Agent::planner_prompt(std::string_view task) const {
  auto msg = renderer_.planner_message(registry_, task);
  if (!msg) return msg.error();
  return renderer_.chat(*msg);
}

Result<AskResult> Agent::ask(std::string_view task, const AgentOptions& options,
                             const AskCallbacks& cb, TraceSink* trace) {
  auto t0 = Clock::now();
  AskResult res;
  res.task = std::string(task);
  res.random_model = model_.is_random();
  auto note = [&](const std::string& s) {
    if (cb.on_note) cb.on_note(s);
    if (trace) trace->emit("note", {{"text", s}});
  };
  if (trace) trace->emit("task", {{"task", res.task}, {"model", model_.describe()}});

  KnowledgeOptions kopts;
  kopts.max_tokens = options.knowledge_max_tokens;
  kopts.max_depth = options.knowledge_depth;
  kopts.sampling = sampling(options, options.knowledge_max_tokens, 3);
  auto kbackend = std::make_shared<LlmKnowledgeBackend>(model_, renderer_, kopts);

  std::string failure;  // why the previous plan failed (for the replan prompt)
  ExecResult exec;
  for (int attempt = 0; attempt < (options.replan ? 2 : 1); ++attempt) {
    // ---- plan
    std::string task_text = res.task;
    if (attempt > 0)
      task_text += "\n(An earlier plan failed: " + failure + " Write a different plan.)";
    auto prompt = planner_prompt(task_text);
    if (!prompt) return prompt.error();
    CompletionRequest req;
    req.prompt = *prompt;
    req.options = sampling(options, options.max_plan_tokens, static_cast<uint64_t>(attempt));
    if (constraints_ && options.use_grammar) {
      auto p = constraints_->plan(registry_, options.max_steps);
      if (!p) return p.error().wrap("building the plan grammar");
      req.options.processor = *p;
    }
    req.on_text = cb.on_plan_text;
    auto tp = Clock::now();
    auto gen = model_.complete(req);
    res.timings.plan_ms += ms_since(tp);
    if (!gen) return gen.error().wrap("writing the plan");
    ++res.plans_written;
    res.plan_text = trim(gen->text);
    res.tokens.plan_prompt += gen->prompt_tokens;
    res.tokens.plan_prompt_cached += gen->reused_prompt_tokens;
    res.tokens.plan += gen->completion_tokens;
    res.tokens.plan_forced += gen->forced_tokens;
    if (trace) trace->emit("plan_text", {{"attempt", attempt}, {"text", res.plan_text},
                                         {"tokens", gen->completion_tokens},
                                         {"stop_reason", gen->stop_reason}});

    PlanParseResult parsed = parse_plan(res.plan_text, registry_);
    res.evidence.clear();
    res.plan.reset();
    res.plan_errors.clear();
    if (!parsed.ok()) {
      for (auto& e : parsed.errors) res.plan_errors.push_back(e.to_string());
      failure = "it did not parse (" + parsed.errors.front().to_string() + ").";
      note("the plan is not valid: " + parsed.errors.front().to_string());
      if (options.replan && attempt == 0) {
        note("writing a new plan");
        continue;
      }
      break;
    }
    res.plan = *parsed.plan;
    const Plan& plan = *res.plan;

    // ---- execute: a registry for this plan whose tools record their results,
    // and a KnowledgeModel that sees the evidence its step refers to.
    auto store = std::make_shared<EvidenceStore>();
    tools::Registry reg;
    for (auto& tool : registry_.tools())
      if (tool->name() != "KnowledgeModel") reg.set(std::make_shared<RecordingTool>(tool, store));
    if (registry_.contains("KnowledgeModel")) {
      auto provider = [&plan, store](const std::string& input, const tools::ToolContext& ctx) {
        tools::KnowledgeQuery q;
        q.question = input;
        if (ctx.step < 0 || ctx.step >= static_cast<int>(plan.steps.size())) return q;
        const PlanStep& step = plan.steps[ctx.step];
        // The question keeps its :evidenceK: names; the evidence goes in blocks.
        q.question = step.input_template;
        for (int k : step.depends_on) {
          auto r = store->get(k);
          std::string tool = plan.steps[k].tool;
          if (r)
            q.contexts.push_back({evidence_context(k, tool, r->ok ? "ok" : "failed", r->sources),
                                  r->text});
          else
            q.contexts.push_back({evidence_context(k, tool, "missing", {}),
                                  "[no result: the step did not finish]"});
        }
        return q;
      };
      reg.set(std::make_shared<RecordingTool>(
          std::make_shared<tools::KnowledgeModelTool>(kbackend, provider), store));
    }

    TraceSink local;
    std::mutex cb_mu;
    local.on_event([&](const TraceEvent& ev) {
      if (trace) trace->emit(ev.type, ev.fields);
      std::lock_guard<std::mutex> lock(cb_mu);
      if (ev.type == "step_start" && cb.on_step_start) {
        cb.on_step_start(ev.fields.value("step", -1), ev.fields.value("tool", std::string()),
                         ev.fields.value("input", std::string()));
      } else if (ev.type == "step_end" && cb.on_step_end) {
        StepRecord s;
        s.index = ev.fields.value("step", -1);
        s.tool = ev.fields.value("tool", std::string());
        s.status = ev.fields.value("status", std::string());
        s.ok = ev.fields.value("ok", false);
        s.duration_ms = ev.fields.value("duration_ms", 0.0);
        if (s.index >= 0 && s.index < static_cast<int>(plan.steps.size()))
          s.thought = plan.steps[s.index].thought;
        auto r = store->get(s.index);
        if (s.ok && r) {
          s.output = r->text;
          s.sources = r->sources;
        } else {
          s.output = ev.fields.value("error", std::string());
        }
        cb.on_step_end(s);
      }
    });
    ExecOptions eo;
    eo.jobs = options.jobs;
    eo.step_timeout = options.step_timeout;
    eo.trace = &local;
    auto te = Clock::now();
    exec = Executor::run(plan, reg, eo);
    res.timings.exec_ms += ms_since(te);
    for (auto& s : exec.steps) {
      StepRecord r;
      r.index = s.index;
      r.tool = s.tool;
      r.thought = s.index < static_cast<int>(plan.steps.size()) ? plan.steps[s.index].thought : "";
      r.input = s.input;
      r.output = s.evidence;
      r.status = to_string(s.status);
      r.ok = s.status == StepStatus::kOk;
      r.sources = s.sources;
      r.duration_ms = s.duration_ms;
      res.evidence.push_back(std::move(r));
    }
    res.planned_answer = exec.answer;
    bool any_ok = std::any_of(res.evidence.begin(), res.evidence.end(),
                              [](const StepRecord& s) { return s.ok; });
    if (!any_ok && !res.evidence.empty() && options.replan && attempt == 0) {
      failure = "every step failed (first: " + res.evidence.front().output + ").";
      note("every step of the plan failed; writing a new plan");
      continue;
    }
    break;
  }

  // ---- solve: one input block per evidence, then the task as instruction.
  std::vector<InputBlock> blocks;
  std::vector<std::string> texts;
  for (auto& s : res.evidence) {
    auto ctx = evidence_context(s.index, s.tool, s.status, s.sources);
    if (!s.thought.empty()) ctx.insert(ctx.begin() + 1, {"plan", s.thought});
    blocks.push_back({ctx, ""});
    texts.push_back(s.output);
  }
  auto instruction = renderer_.solver_instruction(res.task);
  if (!instruction) return instruction.error();
  auto skeleton = renderer_.chat(renderer_.closed_context_message(blocks, *instruction));
  if (!skeleton) return skeleton.error();
  int budget = model_.context_size() - model_.count_tokens(*skeleton) - options.max_answer_tokens -
               8 * static_cast<int>(blocks.size() + 1);
  fit_texts(texts, std::max(0, budget), [this](std::string_view s) { return model_.count_tokens(s); });
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i].text = texts[i];
  auto solve_prompt = renderer_.chat(renderer_.closed_context_message(blocks, *instruction));
  if (!solve_prompt) return solve_prompt.error();
  CompletionRequest sreq;
  sreq.prompt = *solve_prompt;
  sreq.options = sampling(options, options.max_answer_tokens, 2);
  sreq.on_text = cb.on_answer_text;
  auto ts = Clock::now();
  auto ans = model_.complete(sreq);
  res.timings.solve_ms = ms_since(ts);
  if (!ans) return ans.error().wrap("writing the answer");
  res.answer = trim(ans->text);
  res.tokens.solve_prompt = ans->prompt_tokens;
  res.tokens.solve_prompt_cached = ans->reused_prompt_tokens;
  res.tokens.answer = ans->completion_tokens;
  res.timings.total_ms = ms_since(t0);
  if (trace)
    trace->emit("final_answer", {{"answer", res.answer}, {"total_ms", res.timings.total_ms}});
  return res;
}

Result<CallResult> Agent::call(std::string_view input, CallFormat format,
                               const AgentOptions& options, bool dry_run, TraceSink* trace) {
  CallResult res;
  res.input = std::string(input);
  auto msg = renderer_.function_call_message(registry_, input, format);
  if (!msg) return msg.error();
  auto prompt = renderer_.chat(*msg);
  if (!prompt) return prompt.error();
  CompletionRequest req;
  req.prompt = *prompt;
  req.options = sampling(options, options.max_answer_tokens, 0);
  if (constraints_ && options.use_grammar) {
    auto p = constraints_->function_call(registry_, format);
    if (!p) return p.error().wrap("building the function-call grammar");
    req.options.processor = *p;
  }
  auto t0 = Clock::now();
  auto gen = model_.complete(req);
  res.generate_ms = ms_since(t0);
  if (!gen) return gen.error().wrap("writing the function call");
  res.text = trim(gen->text);
  res.prompt_tokens = gen->prompt_tokens;
  res.tokens = gen->completion_tokens;
  if (trace) trace->emit("call_text", {{"text", res.text}, {"format", call_format_name(format)}});

  auto parsed = parse_function_call(res.text, format);
  if (!parsed) {
    res.error = parsed.error().to_string();
    return res;
  }
  res.call = *parsed;
  auto ok = check_function_call(*parsed, registry_);
  if (!ok) {
    res.error = ok.error().to_string();
    return res;
  }
  res.valid = true;
  if (dry_run) return res;

  tools::ToolPtr tool = registry_.get(parsed->function);
  if (tool->name() == "KnowledgeModel") {
    KnowledgeOptions kopts;
    kopts.max_tokens = options.knowledge_max_tokens;
    kopts.max_depth = options.knowledge_depth;
    kopts.sampling = sampling(options, options.knowledge_max_tokens, 3);
    tool = std::make_shared<tools::KnowledgeModelTool>(
        std::make_shared<LlmKnowledgeBackend>(model_, renderer_, kopts));
  }
  tools::ToolContext ctx;
  ctx.trace = trace;
  ctx.timeout = options.step_timeout;
  auto t1 = Clock::now();
  res.result = tool->invoke(tool_input(*parsed, *tool), ctx);
  res.tool_ms = ms_since(t1);
  res.ran = true;
  return res;
}

Result<Completion> Agent::chat(const std::vector<ChatTurn>& history, std::string_view message,
                               const AgentOptions& options, const engine::TextCallback& on_text) {
  auto prompt = renderer_.chat(history, message);
  if (!prompt) return prompt.error();
  CompletionRequest req;
  req.prompt = *prompt;
  req.options = sampling(options, options.max_answer_tokens, history.size());
  req.on_text = on_text;
  auto r = model_.complete(req);
  if (!r) return r.error();
  r->text = trim(r->text);
  return r;
}

}  // namespace rewoo::agent
