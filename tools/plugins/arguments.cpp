#include "tools/plugins/arguments.h"

#include <cctype>
#include <cstdlib>
#include <vector>

namespace rewoo::tools::plugins {

using json = nlohmann::json;

namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string type_of(const json& prop) {
  if (!prop.is_object() || !prop.contains("type")) return "";
  const json& t = prop["type"];
  if (t.is_string()) return t.get<std::string>();
  // ["string", "null"] and the like: the first non-null type.
  if (t.is_array())
    for (auto& e : t)
      if (e.is_string() && e.get<std::string>() != "null") return e.get<std::string>();
  return "";
}

Result<json> convert(const std::string& input, const json& prop, const std::string& key,
                     const std::string& tool) {
  std::string type = type_of(prop);
  std::string t = trim(input);
  auto bad = [&](const std::string& expected) {
    return Error("the tool '" + tool + "' expects " + expected + " for '" + key + "', got '" +
                 t.substr(0, 100) + "'");
  };
  if (type == "integer") {
    char* end = nullptr;
    long long v = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end) return bad("a whole number");
    return json(v);
  }
  if (type == "number") {
    char* end = nullptr;
    double v = std::strtod(t.c_str(), &end);
    if (t.empty() || *end) return bad("a number");
    return json(v);
  }
  if (type == "boolean") {
    if (t == "true") return json(true);
    if (t == "false") return json(false);
    return bad("true or false");
  }
  if (type == "array" || type == "object") {
    json v = json::parse(t, nullptr, false);
    if (v.is_discarded() || (type == "array" ? !v.is_array() : !v.is_object()))
      return bad(type == "array" ? "a JSON array" : "a JSON object");
    return v;
  }
  return json(input);
}

}  // namespace

Result<json> arguments_from_input(const std::string& input, const json& schema,
                                  const std::string& tool_name) {
  json props = schema.is_object() && schema.contains("properties") && schema["properties"].is_object()
                   ? schema["properties"]
                   : json::object();
  std::vector<std::string> required;
  if (schema.is_object() && schema.contains("required") && schema["required"].is_array())
    for (auto& r : schema["required"])
      if (r.is_string() && props.contains(r.get<std::string>())) required.push_back(r.get<std::string>());

  std::string t = trim(input);
  if (!t.empty() && t.front() == '{') {
    json j = json::parse(t, nullptr, false);
    if (j.is_object()) {
      bool all_known = !props.empty();
      for (auto& [k, v] : j.items()) all_known = all_known && props.contains(k);
      if (all_known || props.size() > 1 || props.empty()) return j;
    } else if (props.size() > 1 && required.size() != 1) {
      return Error("the tool '" + tool_name + "' takes its input as a JSON object, and '" +
                   t.substr(0, 80) + "' is not valid JSON");
    }
  }
  if (props.empty()) return json::object();
  std::string key;
  if (props.size() == 1)
    key = props.begin().key();
  else if (required.size() == 1)
    key = required.front();
  if (!key.empty()) {
    auto v = convert(input, props[key], key, tool_name);
    if (!v) return v.error();
    return json{{key, *v}};
  }
  std::string example;
  for (auto& [k, v] : props.items())
    example += (example.empty() ? "" : ", ") + ("\"" + k + "\": " + (type_of(v).empty() ? "..." : type_of(v)));
  return Error("the tool '" + tool_name + "' takes several parameters; give its input as a JSON "
               "object: " + tool_name + "[{" + example + "}]");
}

json without_format_annotations(const json& schema) {
  if (schema.is_array()) {
    json out = json::array();
    for (auto& e : schema) out.push_back(without_format_annotations(e));
    return out;
  }
  if (!schema.is_object()) return schema;
  json out = json::object();
  for (auto& [k, v] : schema.items()) {
    if (k == "format" && v.is_string()) continue;
    if ((k == "properties" || k == "patternProperties" || k == "$defs" || k == "definitions" ||
         k == "dependentSchemas") &&
        v.is_object()) {
      json m = json::object();  // keys here are names, not keywords
      for (auto& [name, sub] : v.items()) m[name] = without_format_annotations(sub);
      out[k] = std::move(m);
    } else if (k == "enum" || k == "const" || k == "default" || k == "examples" ||
               k == "required") {
      out[k] = v;  // values, not schemas
    } else {
      out[k] = without_format_annotations(v);
    }
  }
  return out;
}

std::string input_description_from_schema(const json& schema) {
  json props = schema.is_object() && schema.contains("properties") && schema["properties"].is_object()
                   ? schema["properties"]
                   : json::object();
  if (props.empty()) return "nothing (leave empty)";
  std::vector<std::string> required;
  if (schema.contains("required") && schema["required"].is_array())
    for (auto& r : schema["required"])
      if (r.is_string() && props.contains(r.get<std::string>())) required.push_back(r.get<std::string>());
  std::string key = props.size() == 1 ? props.begin().key() : required.size() == 1 ? required[0] : "";
  if (!key.empty()) {
    const json& p = props[key];
    std::string d = p.is_object() && p.contains("description") && p["description"].is_string()
                        ? p["description"].get<std::string>()
                        : key;
    return one_line(d, 120);
  }
  std::string out = "JSON object: {";
  bool first = true;
  for (auto& [k, v] : props.items()) {
    std::string t = type_of(v);
    out += (first ? "" : ", ") + ("\"" + k + "\": " + (t.empty() ? "..." : t));
    first = false;
  }
  return out + "}";
}

std::string one_line(const std::string& text, size_t max) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() <= max) return out;
  size_t cut = out.rfind(' ', max - 3);
  if (cut == std::string::npos || cut < max / 2) cut = max - 3;
  // Never cut inside a UTF-8 sequence.
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  return out.substr(0, cut) + "...";
}

std::string sanitize_tool_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    out += ok ? c : '_';
  }
  if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0]))) out = "t" + out;
  return out;
}

}  // namespace rewoo::tools::plugins
