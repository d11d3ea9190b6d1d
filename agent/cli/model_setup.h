// The model, tool and sampling flags shared by ask, call, chat and run.
#pragma once

#include <algorithm>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "agent/cli/commands.h"
#include "agent/session.h"
#include "tools/config.h"

namespace rewoo::cli {

class ModelSetup {
 public:
  void add_flags(CLI::App& cmd, bool agent_flags, bool batch = false) {
    cmd.add_option("-m,--model", so_.model_path, "Model directory (GPTQ safetensors + config.json + tokenizer.model)")
        ->required();
    cmd.add_option("--tokenizer", so_.tokenizer_path, "tokenizer.model (default: beside the weights)");
    cmd.add_option("--device", so_.device, "cpu, cuda or auto")->capture_default_str();
    cmd.add_option("--threads", so_.threads, "CPU threads (0: all cores)");
    cmd.add_option("--context", so_.context, "Context window in tokens (0: the model's)");
    cmd.add_option("--tools", tools_csv_, "Only these tools, comma-separated (e.g. DuckDuckGo,KnowledgeModel)");
    tools::add_config_option(cmd, &so_.config_path);
    cmd.add_option("--prompts", so_.prompts_dir, "Directory of prompt templates overriding the built-in ones (NAME.txt)");
    cmd.add_flag("--no-grammar", no_grammar_, "Do not constrain plans and calls with a grammar");
    cmd.add_flag("--no-prefix-cache", no_prefix_cache_,
                 "Prefill every prompt whole instead of reusing the KV state of a prefix an earlier prompt "
                 "shared (the planner's tools block); same output, slower");
    cmd.add_option("--seed", ao_.sampling.seed, "Sampling seed: same seed, same output")->capture_default_str();
    cmd.add_option("--temperature", ao_.sampling.temperature, "0 = greedy")->capture_default_str();
    cmd.add_option("--top-p", ao_.sampling.top_p)->capture_default_str();
    cmd.add_option("--top-k", ao_.sampling.top_k, "0 = off")->capture_default_str();
    cmd.add_option("--repeat-penalty", ao_.sampling.repetition_penalty)->capture_default_str();
    cmd.add_option("--max-tokens", ao_.max_answer_tokens,
                   "Longest answer / call / reply (and KnowledgeModel answer, which is at most 256)")
        ->capture_default_str();
    if (agent_flags) {
      cmd.add_option("--max-plan-tokens", ao_.max_plan_tokens)->capture_default_str();
      cmd.add_option("--max-steps", ao_.max_steps,
                     "Most steps a plan may have (the plan grammar's limit, 1 to 100)")
          ->capture_default_str()
          ->check(CLI::Range(1, 100));
      cmd.add_option(batch ? "--step-jobs" : "--jobs,-j", ao_.jobs, "Plan steps run at once (per task)")
          ->capture_default_str();
      cmd.add_option("--step-timeout", step_timeout_s_, "Seconds per step before its evidence becomes an error")
          ->capture_default_str()
          ->check(CLI::Validator(
              [](std::string& v) {
                try {
                  return step_limit_problem(std::stod(v));
                } catch (const std::exception&) {
                  return std::string("not a number of seconds");
                }
              },
              "SECONDS"));
      cmd.add_flag("--replan", ao_.replan, "Write one more plan when the first does not parse or all its steps fail");
      cmd.add_option("--knowledge-depth", ao_.knowledge_depth, "KnowledgeModel recursion limit")->capture_default_str();
      cmd.add_option("--slots", so_.slots, "KV-cache slots (KnowledgeModel steps ready together run as one batch)")
          ->capture_default_str();
    }
  }

  Result<std::unique_ptr<agent::Session>> build() {
    so_.tools = agent::split_names(tools_csv_);
    so_.grammar = !no_grammar_;
    so_.prefix_cache = !no_prefix_cache_;
    ao_.use_grammar = !no_grammar_;
    ao_.knowledge_max_tokens = std::min(ao_.knowledge_max_tokens, ao_.max_answer_tokens);
    ao_.step_timeout = std::chrono::milliseconds(static_cast<long>(step_timeout_s_ * 1000));
    return agent::open_session(so_);
  }
  const agent::AgentOptions& agent_options() const { return ao_; }

 private:
  agent::SessionOptions so_;
  agent::AgentOptions ao_;
  std::string tools_csv_;
  bool no_grammar_ = false;
  bool no_prefix_cache_ = false;
  double step_timeout_s_ = 120;
};

}  // namespace rewoo::cli
