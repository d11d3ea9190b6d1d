// Function calls: what `rewoo call` (and a `call` task in a batch) asks the
// model to write, in the seed's shape:
//   JSON: {"function": "NAME", "params": {...}}
//   YAML: function: NAME
//         params:
//           key: value
// parse_function_call() reads either (a ```json / ```yaml fence around it is
// allowed, as models like to add one); check_function_call() finds the tool
// and validates the params against its schema (agent/schema_validator.h);
// tool_input() turns validated params into the text Tool::invoke takes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/prompt_render.h"
#include "agent/schema_validator.h"
#include "engine/base/result.h"
#include "tools/registry.h"

namespace rewoo::agent {

struct FunctionCall {
  std::string function;
  nlohmann::json params = nlohmann::json::object();

  nlohmann::json to_json() const { return {{"function", function}, {"params", params}}; }
};

// "json" / "yaml" (case-insensitive) -> CallFormat; error names the word.
Result<CallFormat> parse_call_format(std::string_view s);

// Parses the model's text. Errors say where (line:col for JSON, line for
// YAML) and what was expected: an object with a string "function" and an
// object "params" (missing params = {}), nothing else.
Result<FunctionCall> parse_function_call(std::string_view text, CallFormat format);

// YAML scalars typed as YAML 1.2's core schema does: plain 12 / 1.5 / true /
// null become numbers, booleans and null; quoted scalars stay strings.
Result<nlohmann::json> yaml_to_json(std::string_view text);

// The function must be registered (else the nearest name is suggested) and
// the params must satisfy tool_call_schema(tool). The error lists every
// violation ("params/limit: expected integer, got string").
Status check_function_call(const FunctionCall& call, const tools::Registry& registry);

// The text passed to the tool: the "input" string for single-input tools
// (tools without a parameters schema), else the params as compact JSON.
std::string tool_input(const FunctionCall& call, const tools::Tool& tool);

// Renders a call the way the model writes it (pretty JSON / block YAML).
std::string format_function_call(const FunctionCall& call, CallFormat format);

}  // namespace rewoo::agent
