// A scripted LanguageModel for agent tests: replies come from a function of
// the prompt; tokens are counted as whitespace-separated words.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "agent/llm.h"

namespace rewoo::test {

class FakeModel : public agent::LanguageModel {
 public:
  using ReplyFn = std::function<std::string(const agent::CompletionRequest&)>;
  explicit FakeModel(ReplyFn fn, int context = 4096) : fn_(std::move(fn)), context_(context) {}

  Result<agent::Completion> complete(const agent::CompletionRequest& r) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      prompts.push_back(r.prompt);
      requests.push_back(r);
    }
    std::string text = fn_(r);
    if (text == "<error>") return Error("fake model failure");
    if (r.on_text) {
      // Stream word by word, as a tokenizer would.
      size_t i = 0;
      while (i < text.size()) {
        size_t j = text.find(' ', i + 1);
        if (j == std::string::npos) j = text.size();
        if (!r.on_text(std::string_view(text).substr(i, j - i))) break;
        i = j;
      }
    }
    agent::Completion c;
    c.text = text;
    c.prompt_tokens = count_tokens(r.prompt);
    c.completion_tokens = count_tokens(text);
    c.stop_reason = "stop";
    return c;
  }
  int count_tokens(std::string_view text) const override {
    std::istringstream ss{std::string(text)};
    std::string w;
    int n = 0;
    while (ss >> w) ++n;
    return n;
  }
  int context_size() const override { return context_; }
  std::string describe() const override { return "fake model"; }

  std::mutex mu_;
  std::vector<std::string> prompts;
  std::vector<agent::CompletionRequest> requests;

 private:
  ReplyFn fn_;
  int context_;
};

}  // namespace rewoo::test
