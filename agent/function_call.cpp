#include "agent/function_call.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "engine/base/json_text.h"

namespace rewoo::agent {
namespace {

using json = nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Drops surrounding whitespace and a ```lang ... ``` fence.
std::string strip_fence(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  std::string_view s = trim(text);
  if (s.substr(0, 3) == "```") {
    size_t nl = s.find('\n');
    if (nl != std::string_view::npos) {
      s.remove_prefix(nl + 1);
      size_t end = s.rfind("```");
      if (end != std::string_view::npos) s = s.substr(0, end);
      s = trim(s);
    }
  }
  return std::string(s);
}

// YAML 1.2 core schema resolution of a plain scalar.
json plain_scalar(const std::string& v) {
  static const std::vector<std::string> nulls = {"", "~", "null", "Null", "NULL"};
  if (std::find(nulls.begin(), nulls.end(), v) != nulls.end()) return nullptr;
  if (v == "true" || v == "True" || v == "TRUE") return true;
  if (v == "false" || v == "False" || v == "FALSE") return false;
  // integers: [-+]?[0-9]+
  size_t i = (v[0] == '-' || v[0] == '+') ? 1 : 0;
  if (i < v.size() && std::all_of(v.begin() + static_cast<long>(i), v.end(),
                                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    try {
      if (v[0] == '-') return std::stoll(v);
      return std::stoull(v[0] == '+' ? v.substr(1) : v);
    } catch (const std::exception&) {
      // too large for 64 bits: a float below
    }
  }
  // floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  {
    size_t p = (v[0] == '-' || v[0] == '+') ? 1 : 0;
    size_t digits = 0;
    while (p < v.size() && std::isdigit(static_cast<unsigned char>(v[p]))) ++p, ++digits;
    if (p < v.size() && v[p] == '.') {
      ++p;
      while (p < v.size() && std::isdigit(static_cast<unsigned char>(v[p]))) ++p, ++digits;
    }
    bool ok = digits > 0;
    if (ok && p < v.size() && (v[p] == 'e' || v[p] == 'E')) {
      ++p;
      if (p < v.size() && (v[p] == '-' || v[p] == '+')) ++p;
      size_t e = 0;
      while (p < v.size() && std::isdigit(static_cast<unsigned char>(v[p]))) ++p, ++e;
      ok = e > 0;
    }
    if (ok && p == v.size()) {
      // Beyond a double's range JSON has no number for it (it would print as
      // null): the text stays a string, and a schema asking for a number says so.
      const double d = std::strtod(v.c_str(), nullptr);
      if (std::isfinite(d)) return d;
    }
  }
  return v;
}

json node_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return nullptr;
    case YAML::NodeType::Scalar:
      // Tag "!" marks a quoted (non-plain) scalar: always a string.
      if (n.Tag() == "!") return n.Scalar();
      return plain_scalar(n.Scalar());
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& item : n) a.push_back(node_to_json(item));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = node_to_json(kv.second);
      return o;
    }
    default: return nullptr;
  }
}

Result<FunctionCall> from_json_value(const json& v, const char* what) {
  if (!v.is_object())
    return Error(std::string("expected a ") + what +
                 " object with \"function\" and \"params\", got " +
                 (v.is_null() ? std::string("nothing") : v.type_name()));
  FunctionCall call;
  auto f = v.find("function");
  if (f == v.end()) return Error("missing \"function\" (the name of the tool to call)");
  if (!f->is_string() || f->get<std::string>().empty())
    return Error("\"function\" must be a tool name (a non-empty string), got " + json_text(*f));
  call.function = f->get<std::string>();
  if (auto p = v.find("params"); p != v.end()) {
    if (p->is_null()) call.params = json::object();
    else if (!p->is_object())
      return Error("\"params\" must be an object of parameter values, got " +
                   std::string(p->type_name()));
    else call.params = *p;
  }
  for (auto& [k, val] : v.items())
    if (k != "function" && k != "params")
      return Error("unexpected key \"" + k + "\" (a call has only \"function\" and \"params\")");
  return call;
}

// "line N, column M" from nlohmann's byte offset.
std::string json_location(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

// Double-quoted (with escapes) where a plain scalar would read back as
// another type or another text: control characters (a YAML reader folds
// line breaks and carriage returns), a leading or trailing space.
void emit_yaml_string(YAML::Emitter& e, const std::string& s) {
  bool quote = s.empty() || s.front() == ' ' || s.back() == ' ' || !plain_scalar(s).is_string();
  for (unsigned char c : s) quote = quote || c < 0x20 || c == 0x7F;
  if (quote) e << YAML::DoubleQuoted << s;
  else e << s;
}

void emit_yaml(YAML::Emitter& e, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      e << YAML::BeginMap;
      for (auto& [k, x] : v.items()) {
        // A plain mapping key is at most 1024 characters in YAML; longer ones
        // are written as explicit keys ("? key").
        if (k.size() > 200) e << YAML::LongKey;
        e << YAML::Key;
        emit_yaml_string(e, k);
        e << YAML::Value;
        emit_yaml(e, x);
      }
      e << YAML::EndMap;
      break;
    case json::value_t::array:
      e << YAML::BeginSeq;
      for (auto& x : v) emit_yaml(e, x);
      e << YAML::EndSeq;
      break;
    case json::value_t::string: emit_yaml_string(e, v.get_ref<const std::string&>()); break;
    case json::value_t::null: e << YAML::Null; break;
    default:
      e << json_text(v);
      break;
  }
}

}  // namespace

Result<CallFormat> parse_call_format(std::string_view s) {
  std::string l = lower(s);
  if (l == "json") return CallFormat::kJson;
  if (l == "yaml" || l == "yml") return CallFormat::kYaml;
  return Error("unknown call format '" + std::string(s) + "' (expected json or yaml)");
}

Result<nlohmann::json> yaml_to_json(std::string_view text) {
  try {
    YAML::Node n = YAML::Load(std::string(text));
    return node_to_json(n);
  } catch (const YAML::Exception& e) {
    return Error("bad YAML: " + e.msg, "line " + std::to_string(e.mark.line + 1) + ", column " +
                                           std::to_string(e.mark.column + 1));
  }
}

Result<FunctionCall> parse_function_call(std::string_view text, CallFormat format) {
  std::string body = strip_fence(text);
  if (body.empty()) return Error("empty function call (expected " +
                                 std::string(format == CallFormat::kJson ? "a JSON object" : "YAML") + ")");
  if (format == CallFormat::kJson) {
    try {
      json v = json::parse(body);
      return from_json_value(v, "JSON");
    } catch (const json::parse_error& e) {
      std::string msg = e.what();
      // nlohmann's text: "[json.exception.parse_error.101] parse error at line 1, column 9: ..."
      size_t colon = msg.find(": ");
      std::string detail = colon == std::string::npos ? msg : msg.substr(colon + 2);
      return Error("bad JSON: " + detail, json_location(body, e.byte ? e.byte - 1 : 0));
    } catch (const json::out_of_range& e) {
      // A number beyond double's range: nlohmann names it ("number overflow
      // parsing '1e999'") but gives no position, so find it in the text.
      std::string msg = e.what();
      const size_t q0 = msg.find('\''), q1 = msg.rfind('\'');
      if (q0 == std::string::npos || q1 <= q0) return Error("bad JSON: " + msg);
      const std::string number = msg.substr(q0 + 1, q1 - q0 - 1);
      const size_t at = body.find(number);
      return Error("bad JSON: number " + number + " is out of range (beyond double)",
                   at == std::string::npos ? std::string() : json_location(body, at));
    }
  }
  auto v = yaml_to_json(body);
  if (!v) return v.error();
  return from_json_value(*v, "YAML");
}

Status check_function_call(const FunctionCall& call, const tools::Registry& registry) {
  tools::Tool* tool = registry.find(call.function);
  if (!tool) {
    std::string hint = registry.nearest(call.function);
    std::string names;
    for (auto& n : registry.names()) names += (names.empty() ? "" : ", ") + n;
    return Error("unknown function '" + call.function + "'" +
                 (hint.empty() ? "" : " (did you mean '" + hint + "'?)") + "; available: " + names);
  }
  auto validator = SchemaValidator::compile(tool_call_schema(*tool));
  if (!validator) return validator.error().wrap("the parameters schema of tool '" + call.function + "'");
  auto problems = validator->validate(call.params);
  if (problems.empty()) return {};
  std::string msg = "params do not match the schema of '" + call.function + "':";
  for (auto& p : problems) msg += "\n  params" + (p.path.empty() ? std::string() : p.path) + ": " + p.message;
  return Error(msg);
}

std::string tool_input(const FunctionCall& call, const tools::Tool& tool) {
  if (!tool.parameters_schema()) {
    auto it = call.params.find("input");
    if (it != call.params.end()) return it->is_string() ? it->get<std::string>() : json_text(*it);
    return std::string();
  }
  return json_text(call.params);
}

std::string format_function_call(const FunctionCall& call, CallFormat format) {
  if (format == CallFormat::kJson) return json_text(call.to_json(), 2);
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "function" << YAML::Value;
  emit_yaml_string(e, call.function);
  e << YAML::Key << "params" << YAML::Value;
  if (call.params.empty()) e << YAML::Flow << YAML::BeginMap << YAML::EndMap;
  else emit_yaml(e, call.params);
  e << YAML::EndMap;
  return e.c_str();
}

}  // namespace rewoo::agent
