#include "agent/grammar_constraints.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <limits>
#include <map>
#include <mutex>

#include "agent/grammar/grammar.h"

namespace rewoo::agent {
namespace {

using json = nlohmann::json;

// A GBNF string literal for `s`.
std::string lit(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else out += static_cast<char>(c);
  }
  return out + "\"";
}

std::string alternatives(const std::vector<std::string>& items) {
  std::string out;
  for (auto& i : items) out += (out.empty() ? "" : " | ") + i;
  return out.empty() ? "\"\"" : out;
}

// Builds GBNF rules for JSON values of a schema, in JSON or (block) YAML.
class SchemaGbnf {
 public:
  SchemaGbnf(const json& root, const GrammarLimits& limits) : root_(root), limits_(limits) {
    rules_ +=
        "jstr ::= \"\\\"\" jchar{0," + std::to_string(limits.string_chars) + "} \"\\\"\"\n"
        "jchar ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" [\"\\\\/bfnrt]\n"
        "jint ::= \"-\"? ([0-9] | [1-9] [0-9]{1,14})\n"
        "jnum ::= jint (\".\" [0-9]{1,6})?\n"
        "jbool ::= \"true\" | \"false\"\n";
  }

  // The rule name for a JSON value of `schema`.
  Result<std::string> json_value(const json& schema, const std::string& name) {
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) return Error("schema false allows no value", name);
      return std::string("jstr");
    }
    if (auto it = schema.find("$ref"); it != schema.end()) {
      std::string ref = it->get<std::string>();
      if (ref.rfind("#/", 0) != 0) return Error("unsupported $ref " + ref, name);
      const json* target = &root_;
      try {
        target = &root_.at(json::json_pointer(ref.substr(1)));
      } catch (const std::exception&) {
        return Error("$ref " + ref + " does not resolve", name);
      }
      if (++ref_depth_ > 8) return Error("recursive $ref is not supported by this grammar", name);
      auto r = json_value(*target, name);
      --ref_depth_;
      return r;
    }
    if (schema.contains("const")) return define(name, lit(schema["const"].dump()));
    if (auto it = schema.find("enum"); it != schema.end()) {
      std::vector<std::string> alts;
      for (auto& v : *it) alts.push_back(lit(v.dump()));
      return define(name, alternatives(alts));
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (auto it = schema.find(key); it != schema.end()) {
        std::vector<std::string> alts;
        for (size_t i = 0; i < it->size(); ++i) {
          auto r = json_value((*it)[i], name + "-" + std::to_string(i));
          if (!r) return r;
          alts.push_back(*r);
        }
        return define(name, alternatives(alts));
      }
    }
    std::string type = "string";
    if (auto it = schema.find("type"); it != schema.end()) {
      if (it->is_string()) type = it->get<std::string>();
      else if (it->is_array() && !it->empty()) type = (*it)[0].get<std::string>();
    } else if (schema.contains("properties")) {
      type = "object";
    } else if (schema.contains("items")) {
      type = "array";
    }
    if (type == "string") {
      int max = std::min<int>(limits_.string_chars, schema.value("maxLength", limits_.string_chars));
      int min = std::min<int>(max, schema.value("minLength", 0));
      if (schema.contains("pattern")) return Error("'pattern' is not supported by this grammar", name);
      return define(name, "\"\\\"\" jchar{" + std::to_string(min) + "," + std::to_string(max) + "} \"\\\"\"");
    }
    if (type == "integer") return std::string("jint");
    if (type == "number") return std::string("jnum");
    if (type == "boolean") return std::string("jbool");
    if (type == "null") return define(name, "\"null\"");
    if (type == "array") {
      std::string item = "jstr";
      if (schema.contains("items")) {
        auto r = json_value(schema["items"], name + "-item");
        if (!r) return r;
        item = *r;
      }
      int max = std::min(8, schema.value("maxItems", 8));
      int min = std::min(max, schema.value("minItems", 0));
      if (max == 0) return define(name, "\"[]\"");
      std::string body = "\"[\" " + item + " (\", \" " + item + "){" + std::to_string(std::max(0, min - 1)) +
                         "," + std::to_string(max - 1) + "} \"]\"";
      if (min == 0) body = "\"[]\" | " + body;
      return define(name, body);
    }
    if (type == "object") {
      auto props = object_props(schema, name);
      if (!props) return props.error();
      // {"a": A, "b": B}: required properties always, optional ones may be
      // left out; the first property is always written so commas never dangle
      // (stricter than the schema, never looser).
      std::string body = "\"{\"";
      bool have_first = false;
      for (auto& [key, rule, required] : *props) {
        std::string part = std::string(have_first ? "\", \" " : "") + lit(json(key).dump()) +
                           " \": \" " + rule;
        body += (required || !have_first) ? " " + part : " (" + part + ")?";
        have_first = true;
      }
      body += " \"}\"";
      return define(name, body);
    }
    return Error("type '" + type + "' is not supported by this grammar", name);
  }

  // Block YAML lines for the properties of an object schema at `indent`.
  Result<std::string> yaml_object(const json& schema, const std::string& name, int indent) {
    auto props = object_props(schema, name);
    if (!props) return props.error();
    std::string body;
    std::string pad(indent, ' ');
    const json& properties = schema.contains("properties") ? schema["properties"] : json::object();
    for (auto& [key, rule, required] : *props) {
      const json& ps = properties[key];
      std::string line;
      bool nested = ps.is_object() && (ps.value("type", std::string()) == "object" || ps.contains("properties")) &&
                    ps.contains("properties") && !ps["properties"].empty();
      if (nested) {
        auto inner = yaml_object(ps, name + "-" + sanitize(key), indent + 2);
        if (!inner) return inner;
        line = lit(pad + key + ":\n") + " " + *inner;
      } else {
        // Unconstrained strings may also be plain scalars (`input: rust lang`,
        // the layout format_function_call writes and models learn), starting
        // with a letter so YAML never reads them as a number or null.
        bool plain_ok = ps.is_object() && ps.value("type", std::string("string")) == "string" &&
                        !ps.contains("enum") && !ps.contains("const") && !ps.contains("pattern") &&
                        !ps.contains("maxLength") && ps.value("minLength", 0) <= 1 &&
                        !ps.contains("anyOf") && !ps.contains("oneOf") && !ps.contains("$ref");
        std::string value = plain_ok ? "(" + rule + " | yplain)" : rule;
        line = lit(pad + key + ": ") + " " + value + " \"\\n\"";
      }
      body += required ? " " + line : " (" + line + ")?";
    }
    if (body.empty()) return define(name + "-yaml", "\"\"");
    return define(name + "-yaml", body);
  }

  std::string rules() const { return rules_; }

  static std::string sanitize(const std::string& s) {
    std::string out;
    for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    return out;
  }

 private:
  struct Prop {
    std::string key, rule;
    bool required;
  };
  Result<std::vector<Prop>> object_props(const json& schema, const std::string& name) {
    std::vector<Prop> out;
    if (!schema.contains("properties")) return out;
    std::set<std::string> required;
    if (schema.contains("required"))
      for (auto& r : schema["required"]) required.insert(r.get<std::string>());
    // Required properties first, so commas never dangle.
    for (int pass = 0; pass < 2; ++pass)
      for (auto& [key, ps] : schema["properties"].items()) {
        bool req = required.count(key) > 0;
        if ((pass == 0) != req) continue;
        auto r = json_value(ps, name + "-" + sanitize(key));
        if (!r) return r.error();
        out.push_back({key, *r, req});
      }
    return out;
  }

  Result<std::string> define(const std::string& name, const std::string& body) {
    std::string n = "v-" + sanitize(name);
    if (defined_.insert(n).second) rules_ += n + " ::= " + body + "\n";
    return n;
  }

  const json& root_;
  GrammarLimits limits_;
  std::string rules_;
  std::set<std::string> defined_;
  int ref_depth_ = 0;
};

}  // namespace

std::string registry_plan_gbnf(const tools::Registry& registry, int max_steps,
                               const GrammarLimits& limits) {
  max_steps = std::max(1, max_steps);
  std::vector<std::string> names;
  for (auto& n : registry.names()) names.push_back(lit(n));
  std::string g;
  g += "# reWOO plans over the tools: " + std::to_string(names.size()) + ", at most " +
       std::to_string(max_steps) + " steps\n";
  // One optional space first: a model's first token is usually "▁Plan".
  g += "root ::= \" \"? step0 rest1\n";
  for (int k = 1; k <= max_steps; ++k) {
    g += "rest" + std::to_string(k) + " ::= answer" + std::to_string(k);
    if (k < max_steps) g += " | step" + std::to_string(k) + " rest" + std::to_string(k + 1);
    g += "\n";
  }
  for (int k = 0; k < max_steps; ++k) {
    std::string ks = std::to_string(k);
    g += "step" + ks + " ::= \"Plan: \" thought \"\\n:evidence" + ks + ": = \" tool \"[\" in" + ks +
         " \"]\\n\"\n";
    std::string n = std::to_string(limits.input_chars - 1);
    if (k == 0) {
      g += "in0 ::= ichar{1," + std::to_string(limits.input_chars) + "}\n";
    } else {
      // A reference inside the input is followed by a character that cannot
      // continue it: the plan parser reads a reference's closing ':' as a
      // possible start of the next one (":evidence0:evidence1:").
      std::string item = "(ichar | ref" + ks + " safe)";
      g += "in" + ks + " ::= " + item + "{1," + std::to_string(limits.input_chars) + "} | " + item +
           "{0," + n + "} ref" + ks + "\n";
    }
  }
  for (int k = 1; k <= max_steps; ++k) {
    std::vector<std::string> nums;
    for (int i = 0; i < k; ++i) nums.push_back(lit(std::to_string(i)));
    std::string ks = std::to_string(k);
    g += "ref" + ks + " ::= \":evidence\" (" + alternatives(nums) + ") \":\"\n";
    g += "answer" + ks + " ::= \"Answer: \" ref" + ks + "\n";
  }
  g += "tool ::= " + alternatives(names) + "\n";
  // Text: no line breaks, no brackets, and ':' only before a space, '/' or a
  // digit, so ":evidence" can only appear as a valid reference.
  g += "thought ::= [^ \\x00-\\x1F:] tchar{0," + std::to_string(limits.thought_chars - 1) + "}\n";
  g += "tchar ::= [^\\x00-\\x1F:] | \":\" [ /0-9]\n";
  g += "ichar ::= [^\\x00-\\x1F\\[\\]:] | \":\" [ /0-9]\n";
  g += "safe ::= [^\\x00-\\x1F\\[\\]:e] | \":\" [ /0-9]\n";
  return g;
}

Result<std::string> function_call_gbnf(const tools::Registry& registry, CallFormat format,
                                       const GrammarLimits& limits) {
  std::string g;
  std::vector<std::string> calls;
  std::string rules;
  for (auto& tool : registry.tools()) {
    json schema = tool_call_schema(*tool);
    SchemaGbnf conv(schema, limits);
    std::string base = "t-" + SchemaGbnf::sanitize(tool->name());
    std::string call_rule = "call-" + SchemaGbnf::sanitize(tool->name());
    if (format == CallFormat::kJson) {
      auto params = conv.json_value(schema, base);
      if (!params) return params.error().wrap("tool '" + tool->name() + "'");
      rules += call_rule + " ::= " + lit(tool->name() + "\", \"params\": ") + " " + *params + "\n";
    } else {
      bool has_props = schema.contains("properties") && !schema["properties"].empty();
      if (has_props) {
        auto body = conv.yaml_object(schema, base, 2);
        if (!body) return body.error().wrap("tool '" + tool->name() + "'");
        rules += call_rule + " ::= " + lit(tool->name() + "\nparams:\n") + " " + *body + "\n";
      } else {
        rules += call_rule + " ::= " + lit(tool->name() + "\nparams: {}\n") + "\n";
      }
    }
    // Each tool's value rules are prefixed by its name, so they never clash;
    // the shared scalar rules are defined once below.
    std::string r = conv.rules();
    size_t shared_end = 0;
    for (int i = 0; i < 5; ++i) shared_end = r.find('\n', shared_end) + 1;
    if (g.empty()) g = r.substr(0, shared_end);
    rules += r.substr(shared_end);
    calls.push_back(call_rule);
  }
  if (calls.empty()) return Error("no tools to call: the registry is empty");
  if (format == CallFormat::kYaml) {
    // A plain scalar: a letter, then no '#', no line break, and ':' only
    // before a non-space (": " would start a mapping); at least 6 characters,
    // so it is never one of the words YAML reads as a boolean or null (true,
    // False, NULL, ...): shorter strings are written quoted.
    g += "yplain ::= [a-zA-Z] ychar{5," + std::to_string(std::max(5, limits.string_chars - 1)) + "}\n";
    g += "ychar ::= [^\\x00-\\x1F:#] | \":\" [^ \\x00-\\x1F:#]\n";
  }
  std::string root = format == CallFormat::kJson
                         ? "root ::= \"{\\\"function\\\": \\\"\" (" + alternatives(calls) + ") \"}\"\n"
                         : "root ::= \"function: \" (" + alternatives(calls) + ")\n";
  return root + rules + g;
}

GrammarLogitsProcessor::GrammarLogitsProcessor(std::shared_ptr<grammar::TokenGrammar> g)
    : matcher_(std::move(g)) {
  mask_.resize(matcher_.mask_words());
}

void GrammarLogitsProcessor::apply(std::span<float> logits) {
  matcher_.fill_next_token_mask(mask_.data());
  const float ninf = -std::numeric_limits<float>::infinity();
  for (size_t t = 0; t < logits.size(); ++t)
    if (!((mask_[t >> 6] >> (t & 63)) & 1)) logits[t] = ninf;
}

void GrammarLogitsProcessor::accept(int32_t token) {
  // The generator only samples allowed tokens; a rejected one would be a bug
  // in the mask, and leaving the state unchanged is the safe reaction.
  (void)matcher_.accept_token(token);
}

bool GrammarLogitsProcessor::done() const {
  if (matcher_.is_terminated()) return true;
  if (!matcher_.can_end()) return false;
  // Complete, and nothing but EOS may follow.
  auto& self = const_cast<GrammarLogitsProcessor&>(*this);
  self.matcher_.fill_next_token_mask(self.mask_.data());
  size_t allowed = 0;
  for (size_t w = 0; w < mask_.size(); ++w) allowed += __builtin_popcountll(mask_[w]);
  return allowed <= 1;
}

std::string GrammarLogitsProcessor::forced_continuation() {
  // Leave a trailing space to the model: SentencePiece attaches a space to
  // the word after it ("Plan: Search" is "▁Plan", ":", "▁Search"), so forcing
  // "Plan: " would feed a lone "▁" token the model never saw before a word.
  std::string s = matcher_.forced_continuation();
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

namespace {

class GrammarConstraints : public Constraints {
 public:
  GrammarConstraints(std::shared_ptr<const grammar::Vocabulary> vocab, GrammarLimits limits)
      : vocab_(std::move(vocab)), limits_(limits) {}

  Result<std::shared_ptr<engine::LogitsProcessor>> plan(const tools::Registry& registry,
                                                        int max_steps) override {
    return processor(registry_plan_gbnf(registry, max_steps, limits_));
  }
  Result<std::shared_ptr<engine::LogitsProcessor>> function_call(const tools::Registry& registry,
                                                                 CallFormat format) override {
    auto g = function_call_gbnf(registry, format, limits_);
    if (!g) return g.error();
    return processor(*g);
  }

 private:
  Result<std::shared_ptr<engine::LogitsProcessor>> processor(const std::string& gbnf) {
    std::shared_ptr<grammar::TokenGrammar> tg;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cache_.find(gbnf);
      if (it != cache_.end()) tg = it->second;
    }
    if (!tg) {
      auto g = grammar::Grammar::parse(gbnf);
      if (!g) return g.error().wrap("compiling a generated grammar");
      // Lazy masks: precomputing every state of a plan grammar over a 32000
      // vocabulary takes seconds, while one plan visits a few dozen states.
      grammar::TokenGrammarOptions o;
      o.precompute = false;
      tg = grammar::TokenGrammar::create(std::move(*g), vocab_, o);
      std::lock_guard<std::mutex> lock(mu_);
      cache_.emplace(gbnf, tg);
    }
    return std::shared_ptr<engine::LogitsProcessor>(std::make_shared<GrammarLogitsProcessor>(tg));
  }

  std::shared_ptr<const grammar::Vocabulary> vocab_;
  GrammarLimits limits_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grammar::TokenGrammar>> cache_;
};

}  // namespace

std::shared_ptr<Constraints> make_grammar_constraints(
    std::shared_ptr<const grammar::Vocabulary> vocab, GrammarLimits limits) {
  return std::make_shared<GrammarConstraints>(std::move(vocab), limits);
}

}  // namespace rewoo::agent
