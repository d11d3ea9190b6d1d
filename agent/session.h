// Session: everything `rewoo ask/call/chat/run` needs, built from options:
// the model (engine behind agent/engine_llm.h), the tool registry (built-in
// tools, restricted by --tools), the grammar constraints, and the Agent.
// Also the batch task handlers that `rewoo run` gives agent/batch_runner.h.
//
//   SessionOptions so;  so.model_path = "build/tiny";
//   auto s = open_session(so);             // Result<std::unique_ptr<Session>>
//   auto r = (*s)->agent->ask("...", AgentOptions{});
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/batch_runner.h"
#include "agent/engine_llm.h"
#include "agent/runtime.h"
#include "engine/base/result.h"
#include "tools/registry.h"

namespace rewoo::agent {

struct SessionOptions {
  std::string model_path;
  std::string tokenizer_path;
  std::string device = "auto";     // cpu | cuda | auto
  int threads = 0;                 // CPU threads (0: all)
  int slots = 4;                   // KV-cache slots: concurrent KnowledgeModel steps batch
  int context = 0;                 // tokens (0: the model's maximum)
  std::vector<std::string> tools;  // restrict to these (empty: all)
  std::string config_path;         // --config FILE (else $REWOO_CONFIG, else defaults)
  std::string prompts_dir;         // template overrides
  bool grammar = true;             // grammar-constrained plans and calls
  bool prefix_cache = true;        // reuse KV state of shared prompt prefixes (--no-prefix-cache)
};

struct Session {
  std::unique_ptr<LanguageModel> model;
  tools::Registry registry;  // all tools (before --tools)
  std::shared_ptr<Constraints> constraints;
  PromptRenderer renderer;
  std::unique_ptr<Agent> agent;  // with the --tools restriction

  // An agent over a further restricted registry (a batch task's "tools").
  Result<std::unique_ptr<Agent>> agent_with_tools(const std::vector<std::string>& names);
};

// "A,B" -> {"A", "B"} (spaces trimmed, empties dropped).
std::vector<std::string> split_names(const std::string& csv);

// True when the model directory says its weights are random (written by
// `rewoo model random`).
bool model_is_random(const std::string& model_path);

// The tools every session starts with: built-ins (web tools configured by the
// config's `web:` section) and the config's plugins, restricted to `names`.
Result<tools::Registry> build_registry(const std::string& config_path,
                                       const std::vector<std::string>& names);

Result<std::unique_ptr<Session>> open_session(const SessionOptions& options);
// A session over a model that is already loaded (tests).
Result<std::unique_ptr<Session>> open_session(std::unique_ptr<LanguageModel> model,
                                              const SessionOptions& options);

// The `rewoo run` task handlers (ask, call, generate) over a session.
class BatchTaskRunner {
 public:
  BatchTaskRunner(Session& session, AgentOptions defaults);
  std::map<std::string, TaskHandler> handlers();

  TaskOutcome run_ask(const nlohmann::json& task);
  TaskOutcome run_call(const nlohmann::json& task);
  TaskOutcome run_generate(const nlohmann::json& task);

 private:
  Result<AgentOptions> options_for(const nlohmann::json& task) const;
  Result<Agent*> agent_for(const nlohmann::json& task, std::unique_ptr<Agent>& holder);

  Session& session_;
  AgentOptions defaults_;
};

}  // namespace rewoo::agent
