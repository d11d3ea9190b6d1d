// From a plan step's input text to a tool's JSON arguments.
//
// A plan writes `Tool[input]`: one string. A plugin tool with a parameter
// schema wants a JSON object. The mapping, in order:
//   1. input that is a JSON object whose keys are all parameters -> as is;
//   2. a tool with one parameter, or one required parameter among optional
//      ones -> {that: input} (converted to a number, boolean, array or object
//      when the schema says so);
//   3. a tool with no parameters -> {};
//   4. otherwise an error that says which keys to give as a JSON object.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/base/result.h"

namespace rewoo::tools::plugins {

Result<nlohmann::json> arguments_from_input(const std::string& input, const nlohmann::json& schema,
                                            const std::string& tool_name);

// The schema without `format` keywords. In JSON Schema 2020-12 `format` is an
// annotation unless a validator opts in, and the MCP server validates its own
// arguments anyway; rewoo's schema-to-grammar converter rejects keywords it
// cannot enforce, so MCP tools expose their schemas without it (a property
// *named* "format" stays).
nlohmann::json without_format_annotations(const nlohmann::json& schema);

// A plugin call's time limit: the tool's own, or the step's when that is
// shorter (a step timeout of 0 means the step sets no limit).
inline std::chrono::milliseconds call_timeout(std::chrono::milliseconds own,
                                              std::chrono::milliseconds step) {
  return step.count() > 0 ? std::min(own, step) : own;
}

// One line for the planner's tools block, e.g. "a file path", or
// "JSON object: {\"a\": number, \"b\": number}".
std::string input_description_from_schema(const nlohmann::json& schema);

// Collapses a multi-line description to one line of at most `max` bytes
// (cut at a word boundary, "..." appended).
std::string one_line(const std::string& text, size_t max = 300);

// A registry-valid tool name: characters other than letters, digits, '_',
// '-' and '.' become '_'; a leading non-letter gets "t" before it.
std::string sanitize_tool_name(const std::string& name);

}  // namespace rewoo::tools::plugins
