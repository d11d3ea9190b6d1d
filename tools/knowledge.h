// KnowledgeModel: the tool that asks the language model a question about
// text (the seed's `KnowledgeModel[What is X, given :evidence1:?]`).
//
// tools/ must not know the engine, so the tool talks to a KnowledgeBackend
// that the agent provides (agent/knowledge_model.h implements it with the
// engine: a closed-context prompt whose input blocks are the referenced
// evidence, trimmed to fit the context window). A ContextProvider, set by the
// runtime for one plan, turns a step into the question and the evidence it
// refers to; without one (e.g. `rewoo tools call KnowledgeModel`) the input
// is the whole question and there are no input blocks.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/base/result.h"
#include "tools/tool.h"

namespace rewoo::tools {

// One piece of text the question is about, with its context lines
// ("evidence: :evidence1:", "tool: DuckDuckGo", "url: https://...").
struct KnowledgeContext {
  std::vector<std::pair<std::string, std::string>> context;
  std::string text;
};

struct KnowledgeQuery {
  std::string question;
  std::vector<KnowledgeContext> contexts;
  int depth = 0;  // recursion depth of this call (ToolContext::depth)
};

class KnowledgeBackend {
 public:
  virtual ~KnowledgeBackend() = default;
  // The answer text, or an error (depth limit, generation failure).
  virtual Result<std::string> answer(const KnowledgeQuery& query, const ToolContext& ctx) = 0;
};

// Given the step's substituted input and its ToolContext (ctx.step), the
// question and the evidence it refers to.
using KnowledgeContextProvider =
    std::function<KnowledgeQuery(const std::string& input, const ToolContext& ctx)>;

class KnowledgeModelTool : public Tool {
 public:
  explicit KnowledgeModelTool(std::shared_ptr<KnowledgeBackend> backend,
                              KnowledgeContextProvider provider = nullptr)
      : backend_(std::move(backend)), provider_(std::move(provider)) {}

  std::string name() const override { return "KnowledgeModel"; }
  std::string description() const override {
    return "Question answering language model, useful for answering questions from a passage "
           "of text. The input must be a question that refers to an :evidence[n]: value, e.g. "
           "What color is the cat, given :evidence1:?";
  }
  std::string input_description() const override { return "input"; }
  ToolResult invoke(const std::string& input, const ToolContext& ctx) override {
    if (!backend_) return ToolResult::failure("KnowledgeModel: no language model is loaded");
    KnowledgeQuery q = provider_ ? provider_(input, ctx) : KnowledgeQuery{input, {}, ctx.depth};
    q.depth = ctx.depth;
    std::vector<std::string> sources;
    for (auto& c : q.contexts)
      for (auto& [k, v] : c.context)
        if (k == "url" || k == "source") sources.push_back(v);
    auto r = backend_->answer(q, ctx);
    if (!r) return ToolResult::failure("KnowledgeModel: " + r.error().to_string());
    return ToolResult::success(*r, std::move(sources));
  }

 private:
  std::shared_ptr<KnowledgeBackend> backend_;
  KnowledgeContextProvider provider_;
};

}  // namespace rewoo::tools
