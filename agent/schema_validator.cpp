#include "agent/schema_validator.h"

#include <cmath>
#include <set>

#include <re2/re2.h>

#include "engine/base/json_text.h"

namespace rewoo::agent {
namespace {

using json = nlohmann::json;

const std::set<std::string>& supported_keywords() {
  static const std::set<std::string> k = {
      "type",        "enum",          "const",        "properties",       "required",
      "additionalProperties", "items", "prefixItems", "minItems",         "maxItems",
      "minLength",   "maxLength",     "pattern",      "minimum",          "maximum",
      "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf",           "allOf",
      "$ref",        "$defs",         "definitions",  "nullable",
      // annotations: no effect on validity
      "title",       "description",   "default",      "examples",         "format",
      "$comment",    "$schema",       "readOnly",     "writeOnly",        "deprecated",
      "contentMediaType", "contentEncoding"};
  return k;
}

std::string escape_pointer_token(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Resolves a local $ref ("#", "#/a/b") against the root; nullptr if it does not.
const json* resolve_ref(const json& root, const std::string& ref) {
  if (ref.empty() || ref[0] != '#') return nullptr;
  std::string ptr = percent_decode(ref.substr(1));
  if (ptr.empty()) return &root;
  if (ptr[0] != '/') return nullptr;
  try {
    const json& target = root.at(json::json_pointer(ptr));
    return &target;
  } catch (const std::exception&) {
    return nullptr;
  }
}

Status check_schema(const json& root, const json& s, const std::string& at, bool is_root);

Status check_subschemas(const json& root, const json& list, const std::string& at,
                        const char* key) {
  if (!list.is_array() || list.empty())
    return Error(std::string("'") + key + "' must be a non-empty array of schemas", at);
  for (size_t i = 0; i < list.size(); ++i)
    REWOO_TRY(check_schema(root, list[i], at + "/" + key + "/" + std::to_string(i), false));
  return {};
}

Status check_schema(const json& root, const json& s, const std::string& at, bool is_root) {
  if (s.is_boolean()) return {};
  if (!s.is_object()) return Error("a schema must be an object or a boolean", at.empty() ? "/" : at);
  for (auto& [key, value] : s.items()) {
    std::string here = at + "/" + escape_pointer_token(key);
    if (key == "$id" && is_root) continue;
    if (!supported_keywords().count(key))
      return Error("unsupported JSON Schema keyword '" + key + "'", here);
    if (key == "type") {
      auto ok_type = [](const json& t) {
        static const std::set<std::string> types = {"null",   "boolean", "object", "array",
                                                    "number", "string",  "integer"};
        return t.is_string() && types.count(t.get<std::string>());
      };
      bool ok = ok_type(value) ||
                (value.is_array() && !value.empty() &&
                 std::all_of(value.begin(), value.end(), ok_type));
      if (!ok) return Error("'type' must be a type name or a list of them", here);
    } else if (key == "enum") {
      if (!value.is_array()) return Error("'enum' must be an array", here);
    } else if (key == "properties" || key == "$defs" || key == "definitions") {
      if (!value.is_object()) return Error("'" + key + "' must be an object of schemas", here);
      for (auto& [name, sub] : value.items())
        REWOO_TRY(check_schema(root, sub, here + "/" + escape_pointer_token(name), false));
    } else if (key == "required") {
      if (!value.is_array() ||
          !std::all_of(value.begin(), value.end(), [](const json& x) { return x.is_string(); }))
        return Error("'required' must be an array of property names", here);
    } else if (key == "additionalProperties" || key == "items") {
      REWOO_TRY(check_schema(root, value, here, false));
    } else if (key == "prefixItems") {
      REWOO_TRY(check_subschemas(root, value, at, "prefixItems"));
    } else if (key == "anyOf" || key == "oneOf" || key == "allOf") {
      REWOO_TRY(check_subschemas(root, value, at, key.c_str()));
    } else if (key == "minItems" || key == "maxItems" || key == "minLength" ||
               key == "maxLength") {
      bool ok = value.is_number_unsigned() ||
                (value.is_number() && value.get<double>() >= 0 &&
                 std::floor(value.get<double>()) == value.get<double>());
      if (!ok) return Error("'" + key + "' must be a non-negative integer", here);
    } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" ||
               key == "exclusiveMaximum") {
      if (!value.is_number()) return Error("'" + key + "' must be a number", here);
    } else if (key == "pattern") {
      if (!value.is_string()) return Error("'pattern' must be a string", here);
      RE2 re(value.get<std::string>(), RE2::Quiet);
      if (!re.ok()) return Error("bad 'pattern': " + re.error(), here);
    } else if (key == "$ref") {
      if (!value.is_string()) return Error("'$ref' must be a string", here);
      if (!resolve_ref(root, value.get<std::string>()))
        return Error(
            "'$ref' " + json_text(value) +
                " does not resolve (only local refs such as \"#/$defs/name\" are supported)",
            here);
    } else if (key == "nullable") {
      if (!value.is_boolean()) return Error("'nullable' must be true or false", here);
    }
  }
  return {};
}

std::string type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    default: return "unknown";
  }
}

bool has_type(const json& v, const std::string& t) {
  if (t == "number") return v.is_number();
  if (t == "integer") {
    if (v.is_number_integer()) return true;
    if (v.is_number_float()) {
      double d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d;
    }
    return false;
  }
  return type_of(v) == t;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

// Numbers compare by value (1 == 1.0), everything else structurally.
bool json_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) return a.get<double>() == b.get<double>();
    if (a.is_number_unsigned() && b.is_number_unsigned())
      return a.get<uint64_t>() == b.get<uint64_t>();
    if (a.is_number_unsigned() || b.is_number_unsigned()) {
      const json& u = a.is_number_unsigned() ? a : b;
      const json& i = a.is_number_unsigned() ? b : a;
      return i.get<int64_t>() >= 0 && static_cast<uint64_t>(i.get<int64_t>()) == u.get<uint64_t>();
    }
    return a.get<int64_t>() == b.get<int64_t>();
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!json_equal(a[i], b[i])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto& [k, v] : a.items()) {
      auto it = b.find(k);
      if (it == b.end() || !json_equal(v, *it)) return false;
    }
    return true;
  }
  return a == b;
}

class Checker {
 public:
  explicit Checker(const json& root) : root_(root) {}

  void check(const json& s, const json& v, const std::string& path,
             std::vector<SchemaViolation>& out, int depth = 0) {
    if (depth > 200) {
      out.push_back({path, "schema recursion too deep"});
      return;
    }
    if (s.is_boolean()) {
      if (!s.get<bool>()) out.push_back({path, "no value is allowed here (schema false)"});
      return;
    }
    if (!s.is_object()) return;
    if (auto it = s.find("nullable"); it != s.end() && it->get<bool>() && v.is_null()) return;
    if (auto it = s.find("$ref"); it != s.end()) {
      if (const json* target = resolve_ref(root_, it->get<std::string>()))
        check(*target, v, path, out, depth + 1);
    }
    if (auto it = s.find("type"); it != s.end()) {
      bool ok = false;
      if (it->is_string()) ok = has_type(v, it->get<std::string>());
      else
        for (auto& t : *it) ok = ok || has_type(v, t.get<std::string>());
      if (!ok) {
        out.push_back({path, "expected " +
                                 (it->is_string() ? it->get<std::string>() : json_text(*it)) +
                                 ", got " + type_of(v)});
        return;
      }
    }
    if (auto it = s.find("enum"); it != s.end()) {
      bool found = false;
      for (auto& e : *it) found = found || json_equal(e, v);
      if (!found)
        out.push_back({path, "expected one of " + json_text(*it) + ", got " + json_text(v)});
    }
    if (auto it = s.find("const"); it != s.end() && !json_equal(*it, v))
      out.push_back({path, "expected " + json_text(*it) + ", got " + json_text(v)});

    if (v.is_number()) check_number(s, v, path, out);
    if (v.is_string()) check_string(s, v.get_ref<const std::string&>(), path, out);
    if (v.is_array()) check_array(s, v, path, out, depth);
    if (v.is_object()) check_object(s, v, path, out, depth);

    if (auto it = s.find("allOf"); it != s.end())
      for (auto& sub : *it) check(sub, v, path, out, depth + 1);
    if (auto it = s.find("anyOf"); it != s.end()) {
      bool any = false;
      for (auto& sub : *it) any = any || passes(sub, v, path, depth);
      if (!any) out.push_back({path, "matches none of the anyOf alternatives"});
    }
    if (auto it = s.find("oneOf"); it != s.end()) {
      int n = 0;
      for (auto& sub : *it) n += passes(sub, v, path, depth) ? 1 : 0;
      if (n != 1)
        out.push_back({path, n == 0 ? "matches none of the oneOf alternatives"
                                    : "matches " + std::to_string(n) +
                                          " oneOf alternatives (expected exactly one)"});
    }
  }

 private:
  bool passes(const json& s, const json& v, const std::string& path, int depth) {
    std::vector<SchemaViolation> tmp;
    check(s, v, path, tmp, depth + 1);
    return tmp.empty();
  }

  void check_number(const json& s, const json& v, const std::string& path,
                    std::vector<SchemaViolation>& out) {
    double x = v.get<double>();
    auto bound = [&](const char* key, auto bad, const char* what) {
      if (auto it = s.find(key); it != s.end() && bad(x, it->template get<double>()))
        out.push_back({path, std::string("expected a number ") + what + " " + json_text(*it) +
                                 ", got " + json_text(v)});
    };
    bound("minimum", [](double a, double b) { return a < b; }, ">=");
    bound("maximum", [](double a, double b) { return a > b; }, "<=");
    bound("exclusiveMinimum", [](double a, double b) { return a <= b; }, ">");
    bound("exclusiveMaximum", [](double a, double b) { return a >= b; }, "<");
  }

  void check_string(const json& s, const std::string& v, const std::string& path,
                    std::vector<SchemaViolation>& out) {
    size_t n = utf8_length(v);
    if (auto it = s.find("minLength"); it != s.end() && n < it->get<double>())
      out.push_back(
          {path, "expected at least " + json_text(*it) + " characters, got " + std::to_string(n)});
    if (auto it = s.find("maxLength"); it != s.end() && n > it->get<double>())
      out.push_back(
          {path, "expected at most " + json_text(*it) + " characters, got " + std::to_string(n)});
    if (auto it = s.find("pattern"); it != s.end()) {
      RE2 re(it->get<std::string>(), RE2::Quiet);
      if (re.ok() && !RE2::PartialMatch(v, re))
        out.push_back({path, "expected a string matching /" + it->get<std::string>() + "/"});
    }
  }

  void check_array(const json& s, const json& v, const std::string& path,
                   std::vector<SchemaViolation>& out, int depth) {
    if (auto it = s.find("minItems"); it != s.end() && v.size() < it->get<double>())
      out.push_back({path, "expected at least " + json_text(*it) + " items, got " +
                               std::to_string(v.size())});
    if (auto it = s.find("maxItems"); it != s.end() && v.size() > it->get<double>())
      out.push_back(
          {path, "expected at most " + json_text(*it) + " items, got " + std::to_string(v.size())});
    size_t prefix = 0;
    if (auto it = s.find("prefixItems"); it != s.end()) {
      prefix = std::min(it->size(), v.size());
      for (size_t i = 0; i < prefix; ++i)
        check((*it)[i], v[i], path + "/" + std::to_string(i), out, depth + 1);
    }
    if (auto it = s.find("items"); it != s.end())
      for (size_t i = prefix; i < v.size(); ++i)
        check(*it, v[i], path + "/" + std::to_string(i), out, depth + 1);
  }

  void check_object(const json& s, const json& v, const std::string& path,
                    std::vector<SchemaViolation>& out, int depth) {
    if (auto it = s.find("required"); it != s.end())
      for (auto& name : *it)
        if (!v.contains(name.get<std::string>()))
          out.push_back({path, "missing required property '" + name.get<std::string>() + "'"});
    const json* props = nullptr;
    if (auto it = s.find("properties"); it != s.end()) props = &*it;
    auto extra = s.find("additionalProperties");
    for (auto& [key, value] : v.items()) {
      std::string here = path + "/" + escape_pointer_token(key);
      if (props && props->contains(key)) {
        check((*props)[key], value, here, out, depth + 1);
      } else if (extra != s.end()) {
        if (extra->is_boolean() && !extra->get<bool>())
          out.push_back({path, "unexpected property '" + key + "'"});
        else
          check(*extra, value, here, out, depth + 1);
      }
    }
  }

  const json& root_;
};

}  // namespace

Result<SchemaValidator> SchemaValidator::compile(nlohmann::json schema) {
  REWOO_TRY(check_schema(schema, schema, "", true));
  return SchemaValidator(std::move(schema));
}

std::vector<SchemaViolation> SchemaValidator::validate(const nlohmann::json& instance) const {
  std::vector<SchemaViolation> out;
  Checker(schema_).check(schema_, instance, "", out);
  return out;
}

}  // namespace rewoo::agent
