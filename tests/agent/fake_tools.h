// Small tools for agent tests: fixed text, echo, failure, delays.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "tools/tool.h"

namespace rewoo::test {

class FakeTool : public tools::Tool {
 public:
  using Fn = std::function<tools::ToolResult(const std::string&)>;
  FakeTool(std::string name, std::string description, std::string input_description = "text",
           std::optional<nlohmann::json> schema = std::nullopt, Fn fn = nullptr)
      : name_(std::move(name)),
        description_(std::move(description)),
        input_description_(std::move(input_description)),
        schema_(std::move(schema)),
        fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  std::string input_description() const override { return input_description_; }
  std::optional<nlohmann::json> parameters_schema() const override { return schema_; }
  tools::ToolResult invoke(const std::string& input, const tools::ToolContext&) override {
    ++calls;
    if (fn_) return fn_(input);
    return tools::ToolResult::success(name_ + " got: " + input);
  }
  int calls = 0;

 private:
  std::string name_, description_, input_description_;
  std::optional<nlohmann::json> schema_;
  Fn fn_;
};

}  // namespace rewoo::test
