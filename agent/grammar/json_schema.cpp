#include "agent/grammar/json_schema.h"

#include <algorithm>
#include <functional>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "agent/grammar/grammar.h"
#include "agent/grammar/number_range.h"
#include "agent/grammar/regex_to_gbnf.h"
#include "engine/base/json_text.h"

namespace rewoo::agent::grammar {

namespace {

using json = nlohmann::json;
using Expr = std::optional<std::string>;  // nullopt: no JSON text matches ("never")

const std::set<std::string> kAnnotations = {"title",      "description", "default", "examples", "$comment",
                                            "$schema",    "deprecated",  "readOnly", "writeOnly", "$defs",
                                            "definitions", "$id"};
const std::set<std::string> kKeywords = {
    "type",     "enum",      "const",     "properties", "required",         "additionalProperties",
    "items",    "prefixItems", "minItems", "maxItems",   "minLength",        "maxLength",
    "pattern",  "minimum",   "maximum",   "exclusiveMinimum", "exclusiveMaximum", "anyOf",
    "oneOf",    "allOf",     "$ref",      "nullable"};
const std::vector<std::string> kTypes = {"null", "boolean", "object", "array", "string", "number", "integer"};

bool is_constraint(const std::string& k) { return kKeywords.count(k) && k != "$ref"; }

// JSON Schema equality: numbers by value, objects regardless of key order.
bool json_equal(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_integer() && b.is_number_integer()) {
      if (a.is_number_unsigned() || b.is_number_unsigned()) return a.get<uint64_t>() == b.get<uint64_t>();
      return a.get<int64_t>() == b.get<int64_t>();
    }
    return a.get<double>() == b.get<double>();
  }
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto jt = b.find(it.key());
      if (jt == b.end() || !json_equal(it.value(), *jt)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!json_equal(a[i], b[i])) return false;
    return true;
  }
  return a == b;
}

std::string sanitize(const std::string& hint) {
  std::string out;
  for (char c : hint) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) out += c;
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty()) out = "r";
  if (out.size() > 40) out.resize(40);
  return out;
}

std::string alt(const std::vector<std::string>& alts) {
  if (alts.size() == 1) return alts[0];
  std::string s = "(";
  for (size_t i = 0; i < alts.size(); ++i) s += (i ? " | " : "") + alts[i];
  return s + ")";
}

std::set<std::string> types_of(const json& s) {
  std::set<std::string> out;
  auto it = s.find("type");
  if (it == s.end()) {
    out.insert(kTypes.begin(), kTypes.end());
  } else if (it->is_string()) {
    out.insert(it->get<std::string>());
  } else if (it->is_array()) {
    for (const auto& t : *it)
      if (t.is_string()) out.insert(t.get<std::string>());
  }
  if (s.value("nullable", false)) out.insert("null");
  return out;
}

bool type_matches(const json& v, const std::set<std::string>& types) {
  if (v.is_null()) return types.count("null");
  if (v.is_boolean()) return types.count("boolean");
  if (v.is_string()) return types.count("string");
  if (v.is_array()) return types.count("array");
  if (v.is_object()) return types.count("object");
  if (types.count("number")) return true;
  if (!types.count("integer")) return false;
  return v.is_number_integer() || std::floor(v.get<double>()) == v.get<double>();
}

}  // namespace

class SchemaConverter {
 public:
  explicit SchemaConverter(const SchemaOptions& o) : o_(o) { w_ = o_.whitespace.empty() ? " " : " ws "; }

  Result<Expr> add(const json& schema) {
    if (nested_deeper_than(schema, 256)) return err("#", "schema nested more than 256 levels deep");
    root_ = &schema;
    ++schema_count_;
    Result<Expr> e = Expr();
    try {
      e = visit(schema, "#", 0);
    } catch (const json::exception& x) {  // a shape check missed: still an error, not a crash
      e = err("#", std::string("malformed schema: ") + x.what());
    }
    root_ = nullptr;
    return e;
  }

  std::string never() {
    if (!names_.count("nothing")) {
      names_.insert("nothing");
      rules_.push_back({"nothing", "\"\\x00\" nothing"});
    }
    return "nothing";
  }

  std::string build(const std::string& root_body) const {
    std::string out = "root ::= " + root_body + "\n";
    if (!o_.whitespace.empty()) out += "ws ::= " + o_.whitespace + "\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

  // ---- rules ----------------------------------------------------------------
  std::string add_rule(const std::string& hint, const std::string& body) {
    auto it = by_body_.find(body);
    if (it != by_body_.end()) return it->second;
    std::string name = unique_name(hint);
    rules_.push_back({name, body});
    by_body_[body] = name;
    return name;
  }
  std::string unique_name(const std::string& hint) {
    std::string base = sanitize(hint);
    std::string name = base;
    for (int i = 2; names_.count(name) || name == "root" || name == "ws" || name == "nothing"; ++i)
      name = fmt::format("{}-{}", base, i);
    names_.insert(name);
    return name;
  }
  std::string prim(const std::string& name) {
    if (name == "nothing") return never();
    if (prims_.count(name)) return name;
    prims_.insert(name);
    names_.insert(name);
    std::string W = w_;
    if (name == "json-char") {
      rules_.push_back({name, "[^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})"});
    } else if (name == "json-string") {
      prim("json-char");
      rules_.push_back({name, "\"\\\"\" json-char" + gbnf_repeat(0, o_.max_string_chars) + " \"\\\"\""});
    } else if (name == "json-number") {
      if (int d = o_.max_number_digits; d > 0)
        rules_.push_back({name, fmt::format("\"-\"? (\"0\" | [1-9] [0-9]{{0,{}}}) (\".\" [0-9]{{1,{}}})? ([eE] [-+]? [0-9]{{1,2}})?", d - 1, d)});
      else
        rules_.push_back({name, "\"-\"? (\"0\" | [1-9] [0-9]*) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?"});
    } else if (name == "json-integer") {
      if (int d = o_.max_number_digits; d > 0)
        rules_.push_back({name, fmt::format("\"-\"? (\"0\" | [1-9] [0-9]{{0,{}}}) (\".\" \"0\"{{1,{}}})?", d - 1, d)});
      else
        rules_.push_back({name, "\"-\"? (\"0\" | [1-9] [0-9]*) (\".\" \"0\"+)?"});
    } else if (name == "json-boolean") {
      rules_.push_back({name, "\"true\" | \"false\""});
    } else if (name == "json-value") {
      rules_.push_back({name, "json-object | json-array | json-string | json-number | \"true\" | \"false\" | \"null\""});
      prim("json-object");
      prim("json-array");
      prim("json-string");
      prim("json-number");
    } else if (name == "json-object") {
      rules_.push_back({name, "\"{\"" + W + "(json-string" + W + "\":\"" + W + "json-value (" + W + "\",\"" + W +
                                  "json-string" + W + "\":\"" + W + "json-value)*)?" + W + "\"}\""});
      prim("json-value");
    } else if (name == "json-array") {
      rules_.push_back({name, "\"[\"" + W + "(json-value (" + W + "\",\"" + W + "json-value)*)?" + W + "\"]\""});
      prim("json-value");
    }
    return name;
  }

  // ---- schema walk --------------------------------------------------------
  Error err(const std::string& path, const std::string& msg) const { return Error(msg, path); }

  Result<json> resolve(const std::string& ref, const std::string& path) const {
    if (ref.empty() || ref[0] != '#')
      return err(path, fmt::format("unsupported keyword '$ref' to '{}': only local '#/...' references", ref));
    std::string ptr = ref.substr(1);
    // Percent-decoding (URI fragment) before JSON-pointer unescaping.
    std::string dec;
    for (size_t i = 0; i < ptr.size(); ++i) {
      if (ptr[i] == '%' && i + 2 < ptr.size() && std::isxdigit(static_cast<unsigned char>(ptr[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(ptr[i + 2]))) {
        dec += static_cast<char>(std::stoi(ptr.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        dec += ptr[i];
      }
    }
    if (!dec.empty() && dec[0] != '/')
      return err(path, fmt::format("unsupported keyword '$ref' to '{}': anchors are not supported", ref));
    try {
      return root_->at(json::json_pointer(dec));
    } catch (const std::exception&) {
      return err(path, fmt::format("$ref '{}' points to nothing in this schema", ref));
    }
  }

  Status check_keywords(const json& s, const std::string& path) const {
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      if (k == "$id" && &s != root_) return err(path, "unsupported keyword '$id' below the root");
      if (!kKeywords.count(k) && !kAnnotations.count(k)) return err(path, fmt::format("unsupported keyword '{}'", k));
    }
    if (auto t = s.find("type"); t != s.end()) {
      auto ok = [](const json& v) {
        return v.is_string() && std::find(kTypes.begin(), kTypes.end(), v.get<std::string>()) != kTypes.end();
      };
      if (!(ok(*t) || (t->is_array() && std::all_of(t->begin(), t->end(), ok))))
        return err(path, "bad 'type': " + json_text(*t));
    }
    // The shapes of the structural keywords, before anything walks them.
    for (const char* k : {"properties", "$defs", "definitions"})
      if (auto v = s.find(k); v != s.end() && !v->is_object())
        return err(path, fmt::format("'{}' must be an object of schemas, got {}", k, json_text(*v)));
    for (const char* k : {"allOf", "anyOf", "oneOf"})
      if (auto v = s.find(k); v != s.end() && (!v->is_array() || v->empty()))
        return err(path, fmt::format("'{}' must be a non-empty array of schemas, got {}", k, json_text(*v)));
    for (const char* k : {"prefixItems", "enum"})
      if (auto v = s.find(k); v != s.end() && !v->is_array())
        return err(path, fmt::format("'{}' must be an array, got {}", k, json_text(*v)));
    if (auto v = s.find("required"); v != s.end() &&
        (!v->is_array() || !std::all_of(v->begin(), v->end(), [](const json& x) { return x.is_string(); })))
      return err(path, "'required' must be an array of property names, got " + json_text(*v));
    if (auto v = s.find("nullable"); v != s.end() && !v->is_boolean())
      return err(path, "'nullable' must be true or false, got " + json_text(*v));
    return {};
  }

  // Deeper than `limit` levels of arrays and objects (walked without
  // recursion: copying such a value recursively overflows the stack).
  static bool nested_deeper_than(const json& j, int limit) {
    std::vector<std::pair<const json*, int>> stack{{&j, 0}};
    while (!stack.empty()) {
      auto [v, d] = stack.back();
      stack.pop_back();
      if (d > limit) return true;
      if (v->is_structured())
        for (const json& c : *v) stack.push_back({&c, d + 1});
    }
    return false;
  }

  // allOf of two schemas as one schema (exact for the supported keywords).
  Result<json> merge(const json& a0, const json& b0, const std::string& path, int depth) {
    if (depth > 24) return err(path, "unsupported: recursive '$ref' combined with other keywords");
    if (a0.is_boolean()) return a0.get<bool>() ? b0 : json(false);
    if (b0.is_boolean()) return b0.get<bool>() ? a0 : json(false);
    json a = a0, b = b0;
    for (json* s : {&a, &b}) {
      REWOO_TRY(check_keywords(*s, path));
      if (s->contains("$ref")) {
        auto t = resolve((*s)["$ref"].get<std::string>(), path);
        if (!t) return t.error();
        json rest = *s;
        rest.erase("$ref");
        auto m = merge(*t, rest, path, depth + 1);
        if (!m) return m.error();
        *s = *m;
        if (s->is_boolean()) return s->get<bool>() ? (s == &a ? merge(json(true), b, path, depth + 1) : a) : json(false);
      }
      if (s->contains("allOf")) {
        json rest = *s;
        rest.erase("allOf");
        json acc = rest;
        for (const json& x : (*s)["allOf"]) {
          auto m = merge(acc, x, path, depth + 1);
          if (!m) return m.error();
          acc = *m;
          if (acc.is_boolean() && !acc.get<bool>()) return json(false);
        }
        *s = acc;
        if (s->is_boolean()) return s->get<bool>() ? (s == &a ? merge(json(true), b, path, depth + 1) : a) : json(false);
      }
    }
    // Distribute alternatives: a ∧ (b1 ∨ b2) = (a ∧ b1) ∨ (a ∧ b2).
    for (const char* k : {"anyOf", "oneOf"}) {
      for (int side = 0; side < 2; ++side) {
        json& s = side ? b : a;
        if (!s.contains(k)) continue;
        json rest = s;
        rest.erase(k);
        json other = side ? a : b;
        auto base = merge(other, rest, path, depth + 1);
        if (!base) return base.error();
        json out = json::object();
        out["anyOf"] = json::array();
        for (const json& x : s[k]) {
          auto m = merge(*base, x, path, depth + 1);
          if (!m) return m.error();
          out["anyOf"].push_back(*m);
        }
        return out;
      }
    }
    json out = a;
    auto min_num = [](const json& x, const json& y) { return x.get<double>() <= y.get<double>() ? x : y; };
    auto max_num = [](const json& x, const json& y) { return x.get<double>() >= y.get<double>() ? x : y; };
    for (auto it = b.begin(); it != b.end(); ++it) {
      const std::string& k = it.key();
      const json& v = it.value();
      if (kAnnotations.count(k)) continue;
      if (!out.contains(k)) {
        if (k != "properties" && k != "additionalProperties" && k != "prefixItems" && k != "items") out[k] = v;
        continue;
      }
      if (k == "type" || k == "nullable") {
        continue;  // intersected below
      } else if (k == "required") {
        for (const json& r : v)
          if (std::find(out[k].begin(), out[k].end(), r) == out[k].end()) out[k].push_back(r);
      } else if (k == "minItems" || k == "minLength" || k == "minimum" || k == "exclusiveMinimum") {
        out[k] = max_num(out[k], v);
      } else if (k == "maxItems" || k == "maxLength" || k == "maximum" || k == "exclusiveMaximum") {
        out[k] = min_num(out[k], v);
      } else if (k == "pattern") {
        if (out[k] != v) return err(path, "unsupported: allOf with two different 'pattern's");
      } else if (k == "enum" || k == "const") {
        continue;  // below
      } else if (k == "properties" || k == "additionalProperties" || k == "prefixItems" || k == "items") {
        continue;  // below
      } else {
        return err(path, fmt::format("unsupported: allOf with '{}' in more than one branch", k));
      }
    }
    // type (+ nullable)
    if (a.contains("type") || b.contains("type") || a.contains("nullable") || b.contains("nullable")) {
      std::set<std::string> ta = types_of(a), tb = types_of(b), t;
      for (const auto& x : ta) {
        if (tb.count(x)) t.insert(x);
        else if (x == "integer" && tb.count("number")) t.insert("integer");
        else if (x == "number" && tb.count("integer")) t.insert("integer");
      }
      if (t.empty()) return json(false);
      out.erase("nullable");
      out["type"] = json(std::vector<std::string>(t.begin(), t.end()));
    }
    // enum / const: keep the values both sides allow
    auto values = [](const json& s) -> std::optional<json> {
      if (s.contains("const")) return json::array({s["const"]});
      if (s.contains("enum")) return s["enum"];
      return std::nullopt;
    };
    auto va = values(a), vb = values(b);
    if (va || vb) {
      json vals = json::array();
      if (va && vb) {
        for (const json& x : *va)
          for (const json& y : *vb)
            if (json_equal(x, y)) {
              vals.push_back(x);
              break;
            }
      } else {
        vals = va ? *va : *vb;
      }
      out.erase("const");
      out["enum"] = vals;
    }
    // properties: a key present on one side only must also satisfy the other
    // side's additionalProperties.
    if (a.contains("properties") || b.contains("properties") || a.contains("additionalProperties") ||
        b.contains("additionalProperties")) {
      json pa = a.value("properties", json::object()), pb = b.value("properties", json::object());
      json aa = a.value("additionalProperties", json(true)), ab = b.value("additionalProperties", json(true));
      json props = json::object();
      std::set<std::string> keys;
      for (auto it = pa.begin(); it != pa.end(); ++it) keys.insert(it.key());
      for (auto it = pb.begin(); it != pb.end(); ++it) keys.insert(it.key());
      for (const auto& k : keys) {
        auto m = merge(pa.contains(k) ? pa[k] : aa, pb.contains(k) ? pb[k] : ab, path + "/properties/" + k, depth + 1);
        if (!m) return m.error();
        props[k] = *m;
      }
      out["properties"] = props;
      // Left out when neither side has one (open either way; an absent key
      // lets close_declared_objects close the merged object).
      if (a.contains("additionalProperties") || b.contains("additionalProperties")) {
        auto add = merge(aa, ab, path + "/additionalProperties", depth + 1);
        if (!add) return add.error();
        out["additionalProperties"] = *add;
      }
    }
    if (a.contains("prefixItems") || b.contains("prefixItems") || a.contains("items") || b.contains("items")) {
      json pa = a.value("prefixItems", json::array()), pb = b.value("prefixItems", json::array());
      json ia = a.value("items", json(true)), ib = b.value("items", json(true));
      json pre = json::array();
      for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
        auto m = merge(i < pa.size() ? pa[i] : ia, i < pb.size() ? pb[i] : ib, path + "/prefixItems", depth + 1);
        if (!m) return m.error();
        pre.push_back(*m);
      }
      auto items = merge(ia, ib, path + "/items", depth + 1);
      if (!items) return items.error();
      out.erase("prefixItems");
      if (!pre.empty()) out["prefixItems"] = pre;
      out["items"] = *items;
    }
    return out;
  }

  Result<Expr> visit(const json& s, const std::string& path, int depth) {
    if (depth > 64) return err(path, "schema nested too deeply");
    if (s.is_boolean()) return s.get<bool>() ? Expr(prim("json-value")) : Expr();
    if (!s.is_object()) return err(path, "a schema must be an object or a boolean");
    REWOO_TRY(check_keywords(s, path));

    if (auto r = s.find("$ref"); r != s.end()) {
      if (!r->is_string()) return err(path, "'$ref' must be a string");
      bool siblings = false;
      for (auto it = s.begin(); it != s.end(); ++it)
        if (is_constraint(it.key())) siblings = true;
      if (siblings) {
        json rest = s;
        rest.erase("$ref");
        json ref_only = json::object();
        ref_only["$ref"] = *r;
        auto m = merge(ref_only, rest, path, 0);
        if (!m) return m.error();
        return visit(*m, path, depth + 1);
      }
      return ref_rule(r->get<std::string>(), path);
    }
    if (s.contains("allOf")) {
      json rest = s;
      rest.erase("allOf");
      json acc = rest;
      for (const json& b : s["allOf"]) {
        auto m = merge(acc, b, path + "/allOf", 0);
        if (!m) return m.error();
        acc = *m;
      }
      return visit(acc, path, depth + 1);
    }
    for (const char* k : {"anyOf", "oneOf"}) {
      if (!s.contains(k)) continue;
      json rest = s;
      rest.erase(k);
      bool has_rest = false;
      for (auto it = rest.begin(); it != rest.end(); ++it)
        if (is_constraint(it.key())) has_rest = true;
      std::vector<std::string> alts;
      if (std::string(k) == "oneOf") {
        // Two branches that accept everything make every value match twice.
        int always = 0;
        for (const json& b : s[k])
          if ((b.is_boolean() && b.get<bool>()) || (b.is_object() && b.empty())) ++always;
        if (always >= 2) return Expr();
      }
      int i = 0;
      for (const json& b : s[k]) {
        std::string bp = fmt::format("{}/{}/{}", path, k, i++);
        Result<Expr> e = Expr();
        if (has_rest) {
          auto m = merge(rest, b, bp, 0);
          if (!m) return m.error();
          e = visit(*m, bp, depth + 1);
        } else {
          e = visit(b, bp, depth + 1);
        }
        if (!e) return e.error();
        if (*e) alts.push_back(**e);
      }
      if (alts.empty()) return Expr();
      return Expr(add_rule(path + "-" + k, alt(alts)));
    }
    if (s.contains("enum") || s.contains("const")) return enum_expr(s, path);
    return typed(s, path, depth);
  }

  Result<Expr> ref_rule(const std::string& ref0, const std::string& path) {
    // Keyed per added schema: "#/..." means a different thing in each.
    const std::string ref = ref0;
    const std::string key = std::to_string(schema_count_) + ref0;
    auto it = ref_rules_.find(key);
    if (it != ref_rules_.end()) return it->second;
    auto target = resolve(ref, path);
    if (!target) return target.error();
    // Reserve the name first so a recursive reference finds it.
    std::string name = unique_name("ref-" + ref.substr(1));
    ref_rules_[key] = Expr(name);
    size_t slot = rules_.size();
    rules_.push_back({name, ""});
    auto e = visit(*target, ref, 1);
    if (!e) return e.error();
    if (!*e) {
      // Never: the rule may already be referenced; make it match nothing.
      rules_[slot].second = "\"\\x00\" " + name;
      return Expr();
    }
    rules_[slot].second = **e;
    return Expr(name);
  }

  Result<Expr> enum_expr(const json& s, const std::string& path) {
    for (auto it = s.begin(); it != s.end(); ++it) {
      const std::string& k = it.key();
      if (is_constraint(k) && k != "enum" && k != "const" && k != "type" && k != "nullable")
        return err(path, fmt::format("unsupported: 'enum'/'const' together with '{}'", k));
    }
    json vals = s.contains("const") ? json::array({s["const"]}) : s["enum"];
    if (!vals.is_array()) return err(path, "'enum' must be an array");
    if (s.contains("const") && s.contains("enum")) {
      json keep = json::array();
      for (const json& v : s["enum"])
        if (json_equal(v, s["const"])) keep.push_back(v);
      vals = keep;
    }
    std::set<std::string> types = types_of(s);
    std::vector<std::string> alts;
    for (const json& v : vals) {
      if (!type_matches(v, types)) continue;
      alts.push_back(literal(v));
    }
    if (alts.empty()) return Expr();
    return Expr(add_rule(path + "-enum", alt(alts)));
  }

  // A JSON value as GBNF, up to JSON equality (1 == 1.0, any key order).
  std::string literal(const json& v) {
    if (v.is_number()) {
      double d = v.get<double>();
      if (v.is_number_integer() || (std::floor(d) == d && std::fabs(d) < 1e18)) {
        std::string digits = v.is_number_integer() ? json_text(v) : fmt::format("{:.0f}", d);
        bool neg = digits[0] == '-';
        if (neg) digits.erase(0, 1);
        if (digits == "0") return "(\"-\"? \"0\" (\".\" \"0\"+)?)";
        std::string out = "(" + std::string(neg ? "\"-\" " : "") + gbnf_literal(digits) + " (\".\" \"0\"+)?";
        // Large values also have a float spelling with an exponent (1e+16).
        std::string as_float = json_text(json(d));
        if (as_float.find_first_of("eE") != std::string::npos) out += " | " + gbnf_literal(as_float);
        return out + ")";
      }
      std::string t = json_text(v);
      if (t.find_first_of("eE") != std::string::npos) return gbnf_literal(t);
      return "(" + gbnf_literal(t) + " \"0\"*)";
    }
    if (v.is_array()) {
      std::string out = "\"[\"" + w_;
      for (size_t i = 0; i < v.size(); ++i) out += (i ? w_ + "\",\"" + w_ : " ") + literal(v[i]) + " ";
      return "(" + out + w_ + "\"]\")";
    }
    if (v.is_object()) {
      std::vector<Member> members;
      for (auto it = v.begin(); it != v.end(); ++it) members.push_back({it.key(), literal(it.value()), true});
      return object_expr(members, std::nullopt, "const-object");
    }
    return gbnf_literal(json_text(v));
  }

  struct Member {
    std::string name;
    std::string value;  // GBNF
    bool required;
  };

  std::string member_expr(const Member& m) {
    return gbnf_literal(json_text(json(m.name))) + w_ + "\":\"" + w_ + m.value;
  }

  // Keys that are none of `names`, as a JSON string (canonical escapes).
  std::string key_except(const std::vector<std::string>& names) {
    if (names.empty()) return prim("json-string");
    // Trie over code points of the names.
    struct Node {
      std::map<uint32_t, int> next;
      bool terminal = false;
    };
    std::vector<Node> trie(1);
    for (const std::string& n : names) {
      int cur = 0;
      for (size_t i = 0; i < n.size();) {
        unsigned char c = static_cast<unsigned char>(n[i]);
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
        uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (int k = 1; k < len && i + static_cast<size_t>(k) < n.size(); ++k)
          cp = (cp << 6) | (static_cast<unsigned char>(n[i + static_cast<size_t>(k)]) & 0x3F);
        i += static_cast<size_t>(len);
        auto it = trie[static_cast<size_t>(cur)].next.find(cp);
        if (it == trie[static_cast<size_t>(cur)].next.end()) {
          trie.emplace_back();
          int id = static_cast<int>(trie.size() - 1);
          trie[static_cast<size_t>(cur)].next[cp] = id;
          cur = id;
        } else {
          cur = it->second;
        }
      }
      trie[static_cast<size_t>(cur)].terminal = true;
    }
    prim("json-char");
    std::function<std::string(int)> node_rule = [&](int k) -> std::string {
      const Node& nd = trie[static_cast<size_t>(k)];
      std::vector<std::string> alts;
      if (!nd.terminal) alts.push_back("\"\\\"\"");
      std::vector<std::pair<uint32_t, uint32_t>> used;
      for (auto [cp, child] : nd.next) {
        std::string one;
        append_utf8(one, cp);
        std::string e = json_text(json(one));
        alts.push_back(gbnf_literal(e.substr(1, e.size() - 2)) + " " + node_rule(child));
        used.push_back({cp, cp});
      }
      // any other character, then anything
      std::vector<std::pair<uint32_t, uint32_t>> rest;
      uint32_t next = 0;
      for (auto [lo, hi] : used) {
        if (lo > next) rest.push_back({next, lo - 1});
        next = hi + 1;
      }
      rest.push_back({next, 0x10FFFF});
      std::string other = json_chars_gbnf(rest);
      if (!other.empty()) alts.push_back(other + " json-char* \"\\\"\"");
      return add_rule("key-except", alt(alts));
    };
    return "\"\\\"\" " + node_rule(0);
  }

  // An object with the given members (any order when few), and extra keys
  // allowed with value `extra` (nullopt: none).
  std::string object_expr(const std::vector<Member>& members, const Expr& extra, const std::string& hint) {
    std::vector<std::string> names;
    for (const Member& m : members) names.push_back(m.name);
    names.insert(names.end(), excluded_extra_.begin(), excluded_extra_.end());
    std::string extra_member;
    if (extra) extra_member = key_except(names) + w_ + "\":\"" + w_ + *extra;
    const std::string open = "\"{\"" + w_, close = w_ + "\"}\"", comma = w_ + "\",\"" + w_;
    size_t n = members.size();
    // (any order costs 2^n states: the limit is capped at 8)
    if (static_cast<int>(n) <= std::min(o_.any_order_limit, 8)) {
      uint32_t req = 0;
      for (size_t i = 0; i < n; ++i)
        if (members[i].required) req |= 1u << i;
      // Rules per (set of members written, first?) built from the full set down.
      std::map<std::pair<uint32_t, bool>, std::string> memo;
      std::function<std::string(uint32_t, bool)> state = [&](uint32_t used, bool first) -> std::string {
        auto key = std::make_pair(used, first);
        if (auto it = memo.find(key); it != memo.end()) return it->second;
        std::vector<std::string> alts;
        if ((used & req) == req) alts.push_back(close);
        std::string sep = first ? "" : comma;
        for (size_t i = 0; i < n; ++i) {
          if (used & (1u << i)) continue;
          alts.push_back(sep + member_expr(members[i]) + " " + state(used | (1u << i), false));
        }
        if (extra) {
          // extra keys keep the state: a rule that refers to itself
          std::string self = unique_name(hint + "-rest");
          std::vector<std::string> with_extra = alts;
          with_extra.push_back(sep + extra_member + " " + (first ? state(used, false) : self));
          rules_.push_back({self, alt(with_extra)});
          memo[key] = self;
          return self;
        }
        std::string r = add_rule(hint, alt(alts));
        memo[key] = r;
        return r;
      };
      return "(" + open + state(0, true) + ")";
    }
    // Many members: in key order (a parsed schema's objects keep their keys
    // sorted, as the prompt shows them), optional ones skippable, extras at
    // the end.
    std::map<std::pair<size_t, bool>, std::string> memo;
    std::function<std::string(size_t, bool)> at = [&](size_t i, bool first) -> std::string {
      auto key = std::make_pair(i, first);
      if (auto it = memo.find(key); it != memo.end()) return it->second;
      std::string sep = first ? "" : comma;
      std::string r;
      if (i == n) {
        std::vector<std::string> alts{close};
        if (extra) {
          std::string self = unique_name(hint + "-extra");
          alts.push_back(sep + extra_member + " " + (first ? at(n, false) : self));
          rules_.push_back({self, alt(alts)});
          memo[key] = self;
          return self;
        }
        r = add_rule(hint, alt(alts));
      } else {
        std::vector<std::string> alts{sep + member_expr(members[i]) + " " + at(i + 1, false)};
        if (!members[i].required) alts.push_back(at(i + 1, first));
        r = add_rule(hint, alt(alts));
      }
      memo[key] = r;
      return r;
    };
    return "(" + open + at(0, true) + ")";
  }

  static std::optional<double> num(const json& s, const char* k) {
    auto it = s.find(k);
    if (it == s.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  }
  // A count keyword (minLength, maxItems ...): a minimum rounds up, a maximum
  // down (at most 2.5 items is at most 2); negative or past what a grammar
  // can count (10000) is an error naming the keyword.
  Status count(const json& s, const char* k, bool is_max, const std::string& path,
               std::optional<long>* out) {
    out->reset();
    auto d = num(s, k);
    if (!d) return {};
    if (*d < 0) return err(path, fmt::format("'{}' must not be negative, got {}", k, *d));
    const double v = is_max ? std::floor(*d) : std::ceil(*d);
    if (v > kMaxRepeat)
      return err(path, fmt::format("'{}' of {} is more than a grammar can count (at most {})", k, *d,
                                   kMaxRepeat));
    *out = static_cast<long>(v);
    return {};
  }

  Result<Expr> typed(const json& s, const std::string& path, int depth) {
    std::set<std::string> types = types_of(s);
    std::vector<std::string> alts;
    if (types.count("null")) alts.push_back("\"null\"");
    if (types.count("boolean")) alts.push_back(prim("json-boolean"));
    if (types.count("number") || types.count("integer")) {
      bool int_only = !types.count("number");
      std::optional<NumberBound> lo, hi;
      auto pick = [&](const char* k, bool incl, std::optional<NumberBound>& b, bool lower) -> Status {
        auto it = s.find(k);
        if (it == s.end()) return {};
        if (!it->is_number()) return err(path, fmt::format("'{}' must be a number", k));
        NumberBound nb{json_text(*it), incl};
        if (!b) {
          b = nb;
          return {};
        }
        double x = it->get<double>(), y = std::stod(b->value);
        if ((lower && (x > y || (x == y && !incl))) || (!lower && (x < y || (x == y && !incl)))) b = nb;
        return {};
      };
      REWOO_TRY(pick("minimum", true, lo, true));
      REWOO_TRY(pick("exclusiveMinimum", false, lo, true));
      REWOO_TRY(pick("maximum", true, hi, false));
      REWOO_TRY(pick("exclusiveMaximum", false, hi, false));
      if (!lo && !hi) {
        alts.push_back(prim(int_only ? "json-integer" : "json-number"));
      } else {
        auto e = number_range_gbnf(
            lo, hi, int_only,
            [&](const std::string& h, const std::string& b) { return add_rule(h, b); },
            o_.max_number_digits);
        if (!e) return err(path, e.error().message);
        if (*e) alts.push_back(add_rule(path + "-number", **e));
      }
    }
    if (types.count("string")) {
      auto p = s.find("pattern");
      std::optional<long> mn, mx;
      REWOO_TRY(count(s, "minLength", false, path, &mn));
      REWOO_TRY(count(s, "maxLength", true, path, &mx));
      if (p != s.end()) {
        if (mn || mx) return err(path, "unsupported: 'pattern' together with 'minLength'/'maxLength'");
        if (!p->is_string()) return err(path, "'pattern' must be a string");
        auto g = regex_to_gbnf(p->get<std::string>(), prim("json-char"));
        if (!g) return err(path, "unsupported keyword 'pattern': " + g.error().message);
        alts.push_back(add_rule(path + "-pattern", "\"\\\"\" " + *g + " \"\\\"\""));
      } else if (mn || mx) {
        long lo = std::max(0L, mn.value_or(0));
        if (mx && *mx < lo) {
          // no string fits
        } else {
          std::string rep = mx                          ? fmt::format("{{{},{}}}", lo, *mx)
                            : o_.max_string_chars > 0 ? fmt::format("{{{},{}}}", lo, std::max<long>(lo, o_.max_string_chars))
                                                      : fmt::format("{{{},}}", lo);
          alts.push_back(add_rule(path + "-string", "\"\\\"\" " + prim("json-char") + rep + " \"\\\"\""));
        }
      } else {
        alts.push_back(prim("json-string"));
      }
    }
    if (types.count("array")) {
      auto e = array_expr(s, path, depth);
      if (!e) return e.error();
      if (*e) alts.push_back(**e);
    }
    if (types.count("object")) {
      auto e = object_schema(s, path, depth);
      if (!e) return e.error();
      if (*e) alts.push_back(**e);
    }
    if (alts.empty()) return Expr();
    return Expr(add_rule(path, alt(alts)));
  }

  Result<Expr> array_expr(const json& s, const std::string& path, int depth) {
    bool constrained = s.contains("items") || s.contains("prefixItems") || s.contains("minItems") || s.contains("maxItems");
    if (!constrained) return Expr(prim("json-array"));
    std::vector<std::string> pre;
    std::optional<long> mx, mn;
    REWOO_TRY(count(s, "maxItems", true, path, &mx));
    REWOO_TRY(count(s, "minItems", false, path, &mn));
    long max_items = mx.value_or(-1);
    long min_items = mn.value_or(0);
    if (auto p = s.find("prefixItems"); p != s.end()) {
      for (size_t i = 0; i < p->size(); ++i) {
        auto e = visit((*p)[i], fmt::format("{}/prefixItems/{}", path, i), depth + 1);
        if (!e) return e.error();
        if (!*e) {
          max_items = max_items < 0 ? static_cast<long>(i) : std::min(max_items, static_cast<long>(i));
          break;
        }
        pre.push_back(**e);
      }
    }
    Expr item = prim("json-value");
    if (auto it = s.find("items"); it != s.end()) {
      auto e = visit(*it, path + "/items", depth + 1);
      if (!e) return e.error();
      item = *e;
    }
    long k = static_cast<long>(pre.size());
    if (max_items >= 0 && max_items < k) k = max_items;
    if (!item) max_items = max_items < 0 ? k : std::min(max_items, k);
    if (max_items >= 0 && min_items > max_items) return Expr();
    const std::string comma = w_ + "\",\"" + w_, close = w_ + "\"]\"";
    // tail after k prefix elements
    std::string tail;
    if (item && (max_items < 0 || max_items > k)) {
      long lo = std::max(min_items - k, 1L);
      long hi = max_items < 0 ? -1 : max_items - k;
      std::string rep = hi < 0 ? fmt::format("{{{},}}", lo - 1) : fmt::format("{{{},{}}}", lo - 1, hi - 1);
      tail = (k ? comma : std::string()) + *item + " (" + comma + *item + ")" + rep + close;
    }
    // states i = 0..k elements written
    std::string next;  // rule for state i+1
    for (long i = k; i >= 0; --i) {
      std::vector<std::string> alts;
      if (i >= min_items) alts.push_back(close);
      if (i < k) alts.push_back((i ? comma : std::string()) + pre[static_cast<size_t>(i)] + " " + next);
      else if (!tail.empty()) alts.push_back(tail);
      if (alts.empty()) return Expr();  // cannot happen: min <= max checked
      next = add_rule(path + "-array", alt(alts));
    }
    return Expr("(\"[\"" + w_ + next + ")");
  }

  Result<Expr> object_schema(const json& s, const std::string& path, int depth) {
    bool constrained = s.contains("properties") || s.contains("required") || s.contains("additionalProperties");
    if (!constrained) return Expr(prim("json-object"));
    std::set<std::string> required;
    if (auto r = s.find("required"); r != s.end())
      for (const json& x : *r)
        if (x.is_string()) required.insert(x.get<std::string>());
    std::vector<Member> members;
    std::vector<std::string> excluded;  // named keys with a false schema still may not appear as extras
    json props = s.value("properties", json::object());
    for (auto it = props.begin(); it != props.end(); ++it) {
      auto e = visit(it.value(), path + "/properties/" + it.key(), depth + 1);
      if (!e) return e.error();
      bool req = required.count(it.key()) > 0;
      if (!*e) {
        if (req) return Expr();
        excluded.push_back(it.key());
        continue;
      }
      members.push_back({it.key(), **e, req});
    }
    Expr extra = prim("json-value");
    if (auto a = s.find("additionalProperties"); a != s.end()) {
      auto e = visit(*a, path + "/additionalProperties", depth + 1);
      if (!e) return e.error();
      extra = *e;
    } else if (o_.close_declared_objects && s.contains("properties") &&
               std::all_of(required.begin(), required.end(), [&](const std::string& r) { return props.contains(r); })) {
      extra = Expr();
    }
    // required keys without a property schema are named members taking the
    // additional-properties schema
    for (const std::string& r : required) {
      if (props.contains(r)) continue;
      if (!extra) return Expr();
      members.push_back({r, *extra, true});
    }
    if (!excluded.empty() && extra) {
      // extra keys must avoid the forbidden names too: fold them into the
      // member list's names by giving them no member
      std::vector<Member> all = members;
      std::string body = object_with_excluded(all, excluded, extra, path);
      return Expr(body);
    }
    return Expr(object_expr(members, extra, path + "-object"));
  }

  std::string object_with_excluded(const std::vector<Member>& members, const std::vector<std::string>& excluded,
                                   const Expr& extra, const std::string& path) {
    // Same as object_expr, but key_except() also avoids the excluded names.
    excluded_extra_ = excluded;
    std::string r = object_expr(members, extra, path + "-object");
    excluded_extra_.clear();
    return r;
  }

  const json* root_ = nullptr;
  int schema_count_ = 0;
  SchemaOptions o_;
  std::string w_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::map<std::string, std::string> by_body_;
  std::set<std::string> names_;
  std::set<std::string> prims_;
  std::map<std::string, Expr> ref_rules_;
  std::vector<std::string> excluded_extra_;
};

Result<std::string> schema_to_gbnf(const nlohmann::json& schema, const SchemaOptions& opts) {
  SchemaConverter c(opts);
  auto e = c.add(schema);
  if (!e) return e.error();
  // Nothing validates: a rule with no finite derivation matches nothing.
  std::string gbnf = c.build(*e ? **e : c.never());
  // $ref cycles that consume nothing ({"$ref": "#"} at the root, a -> b -> a)
  // come out left-recursive: report them instead of returning a bad grammar.
  auto g = Grammar::parse(gbnf);
  if (!g) {
    if (g.error().message.find("left recursion") != std::string::npos)
      return Error("unsupported: a $ref cycle that reaches itself without an object or array in between (" +
                   g.error().message + ")");
    return Error("internal error: the generated grammar does not parse: " + g.error().to_string());
  }
  return gbnf;
}

SchemaGrammarBuilder::SchemaGrammarBuilder(SchemaOptions opts) : impl_(std::make_unique<SchemaConverter>(opts)) {}
SchemaGrammarBuilder::~SchemaGrammarBuilder() = default;

Result<std::optional<std::string>> SchemaGrammarBuilder::add_schema(const nlohmann::json& schema) {
  auto e = impl_->add(schema);
  if (!e) return e.error();
  return *e;
}
std::string SchemaGrammarBuilder::add_rule(const std::string& name_hint, const std::string& body) {
  return impl_->add_rule(name_hint, body);
}
std::string SchemaGrammarBuilder::json_string() { return impl_->prim("json-string"); }
std::string SchemaGrammarBuilder::never() { return impl_->never(); }
std::string SchemaGrammarBuilder::build(const std::string& root_body) const { return impl_->build(root_body); }

}  // namespace rewoo::agent::grammar
