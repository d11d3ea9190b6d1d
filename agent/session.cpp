#include "agent/session.h"

#include <filesystem>
#include <fstream>

#include "agent/grammar/grammar_processor.h"
#include "agent/grammar/runtime_constraints.h"
#include "tools/default_registry.h"

namespace rewoo::agent {

using nlohmann::json;

std::vector<std::string> split_names(const std::string& csv) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= csv.size()) {
    size_t j = csv.find(',', i);
    if (j == std::string::npos) j = csv.size();
    std::string name = csv.substr(i, j - i);
    size_t b = name.find_first_not_of(" \t");
    size_t e = name.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(name.substr(b, e - b + 1));
    i = j + 1;
  }
  return out;
}

bool model_is_random(const std::string& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::is_directory(model_path, ec) ? fs::path(model_path) : fs::path(model_path).parent_path();
  if (fs::exists(dir / "RANDOM_WEIGHTS", ec)) return true;
  std::ifstream f(dir / "config.json");
  if (!f) return false;
  json c = json::parse(f, nullptr, false);
  if (!c.is_object()) return false;
  for (const char* key : {"rewoo_random", "random_weights", "rewoo_random_seed"})
    if (c.contains(key) && !(c[key].is_boolean() && !c[key].get<bool>())) return true;
  if (c.contains("_name_or_path") && c["_name_or_path"].is_string() &&
      c["_name_or_path"].get<std::string>().find("random") != std::string::npos)
    return true;
  return false;
}

Result<tools::Registry> build_registry(const std::string& config_path,
                                       const std::vector<std::string>& names) {
  auto cfg = tools::load_config_for_cli(config_path);
  if (!cfg) return cfg.error();
  auto reg = tools::load_registry(*cfg);
  if (!reg) return reg.error();
  if (names.empty()) return reg;
  return reg->restricted_to(names);
}

Result<std::unique_ptr<Agent>> Session::agent_with_tools(const std::vector<std::string>& names) {
  auto reg = registry.restricted_to(names);
  if (!reg) return reg.error();
  auto a = std::make_unique<Agent>(*model, std::move(*reg), renderer);
  a->set_constraints(constraints);
  return a;
}

Result<std::unique_ptr<Session>> open_session(std::unique_ptr<LanguageModel> model,
                                              const SessionOptions& options) {
  auto s = std::make_unique<Session>();
  s->model = std::move(model);
  auto all = build_registry(options.config_path, {});
  if (!all) return all.error();
  s->registry = std::move(*all);
  s->renderer = PromptRenderer(PromptOptions{options.prompts_dir, "", "\n"});
  // Fail early on a broken template override rather than mid-task.
  for (const char* name : {"chat_preamble", "planner", "solver", "knowledge", "function_call"}) {
    auto t = load_template(name, options.prompts_dir);
    if (!t) return t.error();
  }
  if (options.grammar) {
    // Models without a tokenizer (test fakes) decode unconstrained.
    if (const engine::Tokenizer* tok = s->model->tokenizer())
      s->constraints = grammar::make_runtime_constraints(grammar::vocabulary_from_tokenizer(*tok));
  }
  tools::Registry reg = s->registry;
  if (!options.tools.empty()) {
    auto r = s->registry.restricted_to(options.tools);
    if (!r) return Error("usage: --tools: " + r.error().to_string());
    reg = std::move(*r);
  }
  s->agent = std::make_unique<Agent>(*s->model, std::move(reg), s->renderer);
  s->agent->set_constraints(s->constraints);
  return s;
}

Result<std::unique_ptr<Session>> open_session(const SessionOptions& options) {
  if (options.model_path.empty())
    return Error("usage: --model PATH is required (make one with: rewoo model random DIR --shape tiny)");
  auto device = engine::parse_device(options.device);
  if (!device) return Error("usage: --device: " + device.error().to_string());
  engine::LoadOptions lo;
  lo.tokenizer_path = options.tokenizer_path;
  lo.backend.device = *device;
  lo.backend.n_slots = std::max(1, options.slots);
  lo.backend.max_seq_len = options.context;
  lo.backend.threads = options.threads;
  auto m = engine::Model::load(options.model_path, lo);
  if (!m) return m.error().wrap("loading the model");
  EngineLanguageModelOptions eo;
  eo.label = options.model_path;
  eo.random_weights = model_is_random(options.model_path);
  eo.prefix_cache = options.prefix_cache;
  return open_session(std::make_unique<EngineLanguageModel>(std::move(*m), eo), options);
}

// ---- batch tasks -----------------------------------------------------------

BatchTaskRunner::BatchTaskRunner(Session& session, AgentOptions defaults)
    : session_(session), defaults_(std::move(defaults)) {}

std::map<std::string, TaskHandler> BatchTaskRunner::handlers() {
  return {{"ask", [this](const json& t) { return run_ask(t); }},
          {"call", [this](const json& t) { return run_call(t); }},
          {"generate", [this](const json& t) { return run_generate(t); }}};
}

Result<AgentOptions> BatchTaskRunner::options_for(const json& task) const {
  AgentOptions o = defaults_;
  try {
    if (task.contains("seed")) o.sampling.seed = task["seed"].get<uint64_t>();
    if (task.contains("temperature")) o.sampling.temperature = task["temperature"].get<float>();
    if (task.contains("max_tokens")) o.max_answer_tokens = task["max_tokens"].get<int>();
    if (task.contains("replan")) o.replan = task["replan"].get<bool>();
  } catch (const json::exception& e) {
    return Error(std::string("bad task option: ") + e.what());
  }
  return o;
}

Result<Agent*> BatchTaskRunner::agent_for(const json& task, std::unique_ptr<Agent>& holder) {
  if (!task.contains("tools")) return session_.agent.get();
  if (!task["tools"].is_array()) return Error("\"tools\" must be a list of tool names");
  std::vector<std::string> names;
  for (auto& n : task["tools"]) {
    if (!n.is_string()) return Error("\"tools\" must be a list of tool names");
    names.push_back(n.get<std::string>());
  }
  auto a = session_.agent_with_tools(names);
  if (!a) return a.error();
  holder = std::move(*a);
  return holder.get();
}

namespace {
Result<std::string> task_text(const json& task) {
  if (!task.contains("task") || !task["task"].is_string())
    return Error("the task has no \"task\" text");
  return task["task"].get<std::string>();
}
}  // namespace

TaskOutcome BatchTaskRunner::run_ask(const json& task) {
  auto text = task_text(task);
  if (!text) return TaskOutcome::failure(text.error().to_string());
  auto o = options_for(task);
  if (!o) return TaskOutcome::failure(o.error().to_string());
  std::unique_ptr<Agent> holder;
  auto agent = agent_for(task, holder);
  if (!agent) return TaskOutcome::failure(agent.error().to_string());
  auto r = (*agent)->ask(*text, *o);
  if (!r) return TaskOutcome::failure(r.error().to_string());
  json j = r->to_json();
  j.erase("task");
  return {r->plan.has_value(), j};
}

TaskOutcome BatchTaskRunner::run_call(const json& task) {
  auto text = task_text(task);
  if (!text) return TaskOutcome::failure(text.error().to_string());
  auto o = options_for(task);
  if (!o) return TaskOutcome::failure(o.error().to_string());
  auto fmt = parse_call_format(task.value("format", std::string("json")));
  if (!fmt) return TaskOutcome::failure(fmt.error().to_string());
  std::unique_ptr<Agent> holder;
  auto agent = agent_for(task, holder);
  if (!agent) return TaskOutcome::failure(agent.error().to_string());
  auto r = (*agent)->call(*text, *fmt, *o, task.value("dry_run", false));
  if (!r) return TaskOutcome::failure(r.error().to_string());
  json j = r->to_json();
  j.erase("input");
  return {r->valid && (!r->ran || r->result.ok), j};
}

TaskOutcome BatchTaskRunner::run_generate(const json& task) {
  auto text = task_text(task);
  if (!text) return TaskOutcome::failure(text.error().to_string());
  auto o = options_for(task);
  if (!o) return TaskOutcome::failure(o.error().to_string());
  Result<Completion> r = Error("unreachable");
  if (task.value("raw", false)) {
    CompletionRequest req;
    req.prompt = *text;
    req.options.max_tokens = o->max_answer_tokens;
    req.options.temperature = o->sampling.temperature;
    req.options.top_p = o->sampling.top_p;
    req.options.top_k = o->sampling.top_k;
    req.options.repetition_penalty = o->sampling.repetition_penalty;
    req.options.seed = o->sampling.seed;
    r = session_.model->complete(req);
  } else {
    r = session_.agent->chat({}, *text, *o);
  }
  if (!r) return TaskOutcome::failure(r.error().to_string());
  return {true,
          {{"text", r->text},
           {"tokens", {{"prompt", r->prompt_tokens}, {"output", r->completion_tokens}}},
           {"stop_reason", r->stop_reason}}};
}

}  // namespace rewoo::agent
