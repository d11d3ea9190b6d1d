// The KnowledgeModel tool's backend on a LanguageModel: a closed-context
// question (agent/prompt_render.h) whose input blocks are the evidence the
// step refers to, trimmed to fit the context window.
//
//   auto backend = std::make_shared<LlmKnowledgeBackend>(model, renderer, opts);
//   registry.set(std::make_shared<tools::KnowledgeModelTool>(backend, provider));
//
// When blocks do not fit, the longest ones are cut first (by tokens) and end
// with kTrimMarker, so the model and a reader of the trace can tell. Calls
// deeper than max_depth fail with an error the plan carries on with.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/llm.h"
#include "agent/prompt_render.h"
#include "tools/knowledge.h"

namespace rewoo::agent {

inline constexpr std::string_view kTrimMarker = "\n[... trimmed to fit the context window ...]";

struct KnowledgeOptions {
  int max_tokens = 256;  // answer length
  int max_depth = 2;     // ToolContext::depth above this is refused
  engine::GenerateOptions sampling;  // temperature, seed, ... (stop and max_tokens are set here)
};

// Cuts texts so that the sum of count_tokens over them is at most `budget`,
// longest first, each cut text ending with kTrimMarker. Returns how many
// texts were cut. Budgets below the markers' own size leave only markers.
int fit_texts(std::vector<std::string>& texts, int budget,
              const std::function<int(std::string_view)>& count_tokens);

class LlmKnowledgeBackend : public tools::KnowledgeBackend {
 public:
  LlmKnowledgeBackend(LanguageModel& model, PromptRenderer renderer, KnowledgeOptions options = {});

  Result<std::string> answer(const tools::KnowledgeQuery& query,
                             const tools::ToolContext& ctx) override;
  // The prompt answer() sends (after trimming); for tests and --trace.
  Result<std::string> build_prompt(const tools::KnowledgeQuery& query) const;

 private:
  LanguageModel& model_;
  PromptRenderer renderer_;
  KnowledgeOptions options_;
};

}  // namespace rewoo::agent
