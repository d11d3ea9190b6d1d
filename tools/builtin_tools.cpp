#include "tools/builtin_tools.h"

#include <memory>
#include <string>

#include "tools/hyperlink_extractor.h"

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

}  // namespace

void register_builtin_tools(Registry& registry) {
  // Descriptions are the seed model's (Airoboros 2.1) own tool texts.
  registry.set(std::make_shared<UnavailableTool>(
      "DuckDuckGo",
      "Tool that allows the user to search for information using the DuckDuckGo search engine. "
      "This tool is useful in finding an appropriate list of sites that may include the answer "
      "to the user's question. The function doesn't directly answer the question; it finds a "
      "list of sites that may have the answer.",
      "a search query"));
  registry.set(std::make_shared<UnavailableTool>(
      "TextScraper",
      "Load one or more websites from the input string containing newline delimited links, "
      "where input is one or more links, and produces plain text output containing the content "
      "of the links.",
      "newline-separated URLs"));
  registry.set(std::make_shared<HyperlinkExtractor>());
  registry.set(std::make_shared<UnavailableTool>(
      "KnowledgeModel",
      "Question answering language model, particularly useful in answering questions based on "
      "an input passage of text. The input must be a text question that references an "
      ":evidence[n]: variable, e.g. What color is the cat, given :evidence1:?",
      "a question that refers to earlier evidence"));
}

}  // namespace rewoo::tools
