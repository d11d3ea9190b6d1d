#include "agent/grammar/function_call_grammar.h"

#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>

#include "agent/grammar/regex_to_gbnf.h"
#include "engine/base/json_text.h"

namespace rewoo::agent::grammar {

namespace {

using json = nlohmann::json;

// A schema that is just "a string" (no constraint a plain scalar could break).
bool plain_string_schema(const json& s) {
  if (!s.is_object() || s.value("type", json()) != "string") return false;
  for (auto it = s.begin(); it != s.end(); ++it) {
    const std::string& k = it.key();
    if (k != "type" && k != "description" && k != "title" && k != "examples" && k != "default" && k != "$comment")
      return false;
  }
  return true;
}

bool plain_key(const std::string& k) {
  if (k.empty() || !std::isalpha(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  static const std::set<std::string> kReserved = {"true", "True", "TRUE", "false", "False",
                                                   "FALSE", "null", "Null", "NULL"};
  return !kReserved.count(k);
}

// Plain YAML scalars that read back as strings: they start with a letter,
// avoid ':' and '#', and a single word is none of the core schema's
// true/false/null spellings. max_chars > 0 bounds the length (about that
// many characters, at most 3x with spaces).
void add_yaml_plain_rules(SchemaGrammarBuilder& b, int max_chars) {
  const std::string rep = gbnf_repeat(0, max_chars);
  const std::string safe_ascii = "A-Za-z0-9_.,;!?'()/+=@%&*$<>^~|";
  b.add_rule("yaml-c", "[" + safe_ascii + "-] | [\\u0080-\\U0010FFFF]");
  static const std::vector<std::string> kWords = {"true", "True", "TRUE", "false", "False",
                                                  "FALSE", "null", "Null", "NULL"};
  // Trie over the reserved words; node rule = rest of a word with that prefix.
  std::function<std::string(const std::string&)> node = [&](const std::string& prefix) -> std::string {
    std::set<char> next;
    bool terminal = false;
    for (const auto& w : kWords) {
      if (w.compare(0, prefix.size(), prefix) != 0) continue;
      if (w.size() == prefix.size()) terminal = true;
      else next.insert(w[prefix.size()]);
    }
    std::vector<std::string> alts;
    if (!prefix.empty() && !terminal) alts.push_back("\"\"");
    for (char c : next) alts.push_back(fmt::format("\"{}\" {}", c, node(prefix + c)));
    // any other allowed character, then a free tail
    std::string cls;
    auto allowed = [&](char c) {
      if (prefix.empty()) return std::isalpha(static_cast<unsigned char>(c)) != 0;
      return std::isalnum(static_cast<unsigned char>(c)) || std::string("_.,;!?'()/+=@%&*$<>^~|-").find(c) != std::string::npos;
    };
    for (int c = 33; c < 127; ++c) {
      if (!allowed(static_cast<char>(c)) || next.count(static_cast<char>(c))) continue;
      if (c == '-' || c == ']' || c == '\\' || c == '^' || c == '[') cls += fmt::format("\\x{:02X}", c);
      else cls += static_cast<char>(c);
    }
    std::string other = "[" + cls + "]";
    if (!prefix.empty()) other = "(" + other + " | [\\u0080-\\U0010FFFF])";
    alts.push_back(other + " yaml-c" + rep);
    std::string body;
    for (size_t i = 0; i < alts.size(); ++i) body += (i ? " | " : "") + alts[i];
    return b.add_rule("yaml-word", "(" + body + ")");
  };
  std::string single = node("");
  // Several words: no leading, trailing or double spaces.
  const std::string words = max_chars > 0 ? fmt::format("[A-Za-z] yaml-c{{0,{0}}} \" \" yaml-c (yaml-c | \" \" yaml-c){{0,{0}}}", max_chars)
                                          : "[A-Za-z] yaml-c* (\" \" yaml-c+)+";
  b.add_rule("yaml-plain", words + " | " + single);
}

}  // namespace

Result<std::string> function_call_gbnf(const tools::Registry& registry, CallFormat format,
                                       const SchemaOptions& params_options) {
  if (registry.size() == 0) return Error("function-call grammar: the registry has no tools");
  // Objects that declare properties get only those (as in YAML): a schema
  // that leaves additionalProperties open would let a model write undeclared
  // params without end.
  SchemaOptions options = params_options;
  options.close_declared_objects = true;
  SchemaGrammarBuilder b(options);
  std::vector<std::string> alts;
  bool yaml = format == CallFormat::kYaml;
  if (yaml) add_yaml_plain_rules(b, params_options.max_string_chars);
  for (const tools::ToolPtr& tool : registry.tools()) {
    json schema = tool_call_schema(*tool);
    const std::string name = tool->name();
    if (!yaml) {
      auto e = b.add_schema(schema);
      if (!e) return e.error().wrap("tool '" + name + "' parameters");
      if (!*e) continue;  // no params validate: the tool cannot be called
      alts.push_back(gbnf_literal(name + "\", \"params\": ") + " " + **e);
      continue;
    }
    // YAML: the top-level params object in block style, schema order.
    if (!schema.is_object() || schema.value("type", json("object")) != "object")
      return Error("function-call grammar: tool '" + name + "' parameters are not an object schema");
    for (auto it = schema.begin(); it != schema.end(); ++it) {
      static const std::set<std::string> kOk = {"type", "properties", "required", "additionalProperties",
                                                "description", "title", "$schema", "$defs", "definitions"};
      if (!kOk.count(it.key()))
        return Error(fmt::format("function-call grammar (YAML): tool '{}' parameters: unsupported keyword '{}'",
                                 name, it.key()));
    }
    std::set<std::string> required;
    for (const json& r : schema.value("required", json::array())) required.insert(r.get<std::string>());
    std::vector<std::pair<std::string, bool>> members;  // GBNF for "\n  key: value", required
    json props = schema.value("properties", json::object());
    for (auto it = props.begin(); it != props.end(); ++it) {
      std::string value;
      if (plain_string_schema(it.value())) {
        value = "(yaml-plain | " + b.json_string() + ")";
      } else {
        // refs inside a property resolve against the whole params schema
        json sub = it.value();
        if (schema.contains("$defs")) sub["$defs"] = schema["$defs"];
        if (schema.contains("definitions")) sub["definitions"] = schema["definitions"];
        auto e = b.add_schema(sub);
        if (!e) return e.error().wrap("tool '" + name + "' parameter '" + it.key() + "'");
        if (!*e) {
          if (required.count(it.key())) goto next_tool;
          continue;
        }
        value = **e;
      }
      {
        std::string key = plain_key(it.key()) ? it.key() : json_text(json(it.key()));
        members.push_back({gbnf_literal("\n  " + key + ": ") + " " + value, required.count(it.key()) > 0});
      }
    }
    {
      // Members in any order, each at most once (states = members written so
      // far) when there are few; else in key order. " {}" when none is written.
      const size_t n = members.size();
      uint32_t req = 0;
      for (size_t i = 0; i < n; ++i)
        if (members[i].second) req |= 1u << i;
      std::string params;
      if (n <= 8) {
        std::map<uint32_t, std::string> memo;
        std::function<std::string(uint32_t)> state = [&](uint32_t used) -> std::string {
          if (auto it = memo.find(used); it != memo.end()) return it->second;
          std::vector<std::string> a;
          if ((used & req) == req) a.push_back(used == 0 ? "\" {}\"" : "\"\"");
          for (size_t i = 0; i < n; ++i)
            if (!(used & (1u << i))) a.push_back(members[i].first + " " + state(used | (1u << i)));
          std::string body;
          for (size_t i = 0; i < a.size(); ++i) body += (i ? " | " : "") + a[i];
          return memo[used] = b.add_rule("yaml-params", body);
        };
        params = state(0);
      } else {
        std::string seq;
        bool any_required = req != 0;
        for (const auto& [m, r] : members) seq += r ? " " + m : " (" + m + ")?";
        params = any_required ? "(" + seq + ")" : "(\" {}\" | " + seq + ")";
      }
      alts.push_back(gbnf_literal(name + "\nparams:") + " " + params);
    }
  next_tool:;
  }
  if (alts.empty()) return Error("function-call grammar: no tool can be called (every params schema is unsatisfiable)");
  std::string calls;
  for (size_t i = 0; i < alts.size(); ++i) calls += (i ? " | " : "") + alts[i];
  if (yaml) return b.build("\"function: \" (" + calls + ") \"\\n\"?");
  return b.build("\"{\\\"function\\\": \\\"\" (" + calls + ") \"}\"");
}

}  // namespace rewoo::agent::grammar
