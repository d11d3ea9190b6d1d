#include "tools/builtin_tools.h"

#include <memory>
#include <string>

#include "tools/hyperlink_extractor.h"
#include "tools/web/web_tools.h"

namespace rewoo::tools {
namespace {

// Stands in for a seed tool that is not implemented yet.
class UnavailableTool : public Tool {
 public:
  UnavailableTool(std::string name, std::string description, std::string input)
      : name_(std::move(name)), description_(std::move(description)), input_(std::move(input)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  std::string input_description() const override { return input_; }
  std::string kind() const override { return "placeholder"; }
  ToolResult invoke(const std::string&, const ToolContext&) override {
    return ToolResult::failure(name_ +
                               " is not available in this build: its implementation has not "
                               "landed yet (only the name is registered)");
  }

 private:
  std::string name_, description_, input_;
};

// A web tool whose configuration (REWOO_WEB_CONFIG etc.) is invalid: every
// call reports the configuration error.
class MisconfiguredTool : public UnavailableTool {
 public:
  MisconfiguredTool(const Tool& real, std::string error)
      : UnavailableTool(real.name(), real.description(), real.input_description()),
        error_(std::move(error)) {}
  ToolResult invoke(const std::string&, const ToolContext&) override {
    return ToolResult::failure(name() + ": web configuration error: " + error_);
  }

 private:
  std::string error_;
};

}  // namespace

void register_builtin_tools(Registry& registry) {
  auto config = web::WebConfig::from_env();
  register_builtin_tools(registry, config ? *config : web::WebConfig{});
  if (!config) {
    for (ToolPtr t : {registry.get("DuckDuckGo"), registry.get("TextScraper")})
      registry.set(std::make_shared<MisconfiguredTool>(*t, config.error().to_string()));
  }
}

void register_builtin_tools(Registry& registry, const web::WebConfig& web_config) {
  // Descriptions are the seed model's (Airoboros 2.1) own tool texts.
  registry.set(std::make_shared<web::SearchTool>(web_config));
  registry.set(std::make_shared<web::TextScraperTool>(web_config));
  registry.set(std::make_shared<HyperlinkExtractor>());
  registry.set(std::make_shared<UnavailableTool>(
      "KnowledgeModel",
      "Question answering language model, particularly useful in answering questions based on "
      "an input passage of text. The input must be a text question that references an "
      ":evidence[n]: variable, e.g. What color is the cat, given :evidence1:?",
      "a question that refers to earlier evidence"));
}

}  // namespace rewoo::tools
