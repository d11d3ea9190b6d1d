#include "agent/prompt_render.h"

#include "prompts/prompts.h"

namespace rewoo::agent {

std::string_view call_format_name(CallFormat f) { return f == CallFormat::kJson ? "JSON" : "YAML"; }

Result<std::string> fill_template(std::string_view tmpl,
                                  const std::map<std::string, std::string>& vars,
                                  std::string_view template_name) {
  std::string out;
  out.reserve(tmpl.size() + 256);
  size_t i = 0;
  while (i < tmpl.size()) {
    size_t open = tmpl.find("{{", i);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, open - i));
    size_t close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos)
      return Error("unclosed '{{' (expected '{{name}}')",
                   "prompt template '" + std::string(template_name) + "' at byte " +
                       std::to_string(open));
    std::string key(tmpl.substr(open + 2, close - open - 2));
    auto it = vars.find(key);
    if (it == vars.end()) {
      std::string known;
      for (auto& [k, v] : vars) known += (known.empty() ? "" : ", ") + k;
      return Error("unknown placeholder '{{" + key + "}}' (this template may use: " + known + ")",
                   "prompt template '" + std::string(template_name) + "'");
    }
    out += it->second;
    i = close + 2;
  }
  return out;
}

Result<std::string> load_template(std::string_view name, const std::string& override_dir) {
  auto t = prompts::load(name, override_dir);
  if (!t)
    return Error("no prompt template named '" + std::string(name) + "'" +
                 (override_dir.empty() ? std::string() : " (looked in " + override_dir + " too)"));
  std::string s = std::move(*t);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

nlohmann::json tool_call_schema(const tools::Tool& tool) {
  if (auto s = tool.parameters_schema()) return *s;
  return {{"type", "object"},
          {"properties",
           {{"input", {{"type", "string"}, {"description", tool.input_description()}}}}},
          {"required", {"input"}},
          {"additionalProperties", false}};
}

namespace {

// One line: newlines inside descriptions would break the YAML's indentation.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string describe_property(const nlohmann::json& prop) {
  if (prop.is_object()) {
    if (prop.contains("description") && prop["description"].is_string())
      return one_line(prop["description"].get<std::string>());
    if (prop.contains("type") && prop["type"].is_string()) return prop["type"].get<std::string>();
  }
  return "any value";
}

void render_properties(const nlohmann::json& schema, int indent, std::string& out) {
  if (!schema.is_object() || !schema.contains("properties") || !schema["properties"].is_object())
    return;
  std::string pad(indent, ' ');
  for (auto& [key, prop] : schema["properties"].items()) {
    bool nested = prop.is_object() && prop.contains("properties") && prop["properties"].is_object() &&
                  !prop["properties"].empty();
    if (nested) {
      out += pad + key + ":\n";
      render_properties(prop, indent + 2, out);
    } else {
      out += pad + key + ": " + describe_property(prop) + "\n";
    }
  }
}

}  // namespace

std::string render_functions_yaml(const tools::Registry& registry) {
  std::string out;
  for (auto& tool : registry.tools()) {
    out += tool->name() + ":\n";
    out += "  description: " + one_line(tool->description()) + "\n";
    nlohmann::json schema = tool_call_schema(*tool);
    if (schema.contains("properties") && schema["properties"].is_object() &&
        !schema["properties"].empty()) {
      out += "  params:\n";
      render_properties(schema, 4, out);
    }
  }
  if (!out.empty()) out.pop_back();
  return out;
}

PromptRenderer::PromptRenderer(PromptOptions options) : options_(std::move(options)) {}

Result<std::string> PromptRenderer::render(std::string_view name,
                                           const std::map<std::string, std::string>& vars) const {
  auto t = load_template(name, options_.override_dir);
  if (!t) return t.error();
  return fill_template(*t, vars, name);
}

Result<std::string> PromptRenderer::preamble() const {
  if (!options_.preamble.empty()) return options_.preamble;
  return load_template("chat_preamble", options_.override_dir);
}

Result<std::string> PromptRenderer::chat(std::string_view message) const {
  return chat(std::vector<ChatTurn>{}, message);
}

Result<std::string> PromptRenderer::chat(const std::vector<ChatTurn>& history,
                                         std::string_view message) const {
  auto pre = preamble();
  if (!pre) return pre.error();
  const std::string& sep = options_.separator;
  std::string out = *pre;
  for (auto& turn : history) {
    out += sep + "USER: " + turn.user;
    out += sep + "ASSISTANT: " + turn.assistant;
  }
  out += sep + "USER: ";
  out += message;
  out += sep + "ASSISTANT:";
  return out;
}

Result<std::string> PromptRenderer::planner_message(const tools::Registry& registry,
                                                    std::string_view task) const {
  std::string block = registry.render_tools_block();
  if (!block.empty() && block.back() == '\n') block.pop_back();
  return render("planner", {{"tools", block}, {"task", std::string(task)}});
}

Result<std::string> PromptRenderer::planner_prefix(const tools::Registry& registry) const {
  // Render with a marker for the task and cut at the last newline before it:
  // a newline is its own token, so the prefix tokenizes the same alone as at
  // the head of the whole prompt.
  static const std::string kMarker = "\x01\x02TASK\x02\x01";
  auto msg = planner_message(registry, kMarker);
  if (!msg) return msg.error();
  auto full = chat(*msg);
  if (!full) return full.error();
  size_t at = full->find(kMarker);
  if (at == std::string::npos) return std::string();  // an override without {{task}}
  size_t nl = full->rfind('\n', at);
  return nl == std::string::npos ? std::string() : full->substr(0, nl + 1);
}

std::string PromptRenderer::closed_context_message(const std::vector<InputBlock>& blocks,
                                                   std::string_view instruction) const {
  std::string out;
  for (auto& b : blocks) {
    out += "BEGININPUT\nBEGINCONTEXT\n";
    for (auto& [k, v] : b.context) out += k + ": " + one_line(v) + "\n";
    out += "ENDCONTEXT\n";
    out += b.text;
    if (b.text.empty() || b.text.back() != '\n') out += "\n";
    out += "ENDINPUT\n";
  }
  out += "BEGININSTRUCTION\n";
  out += instruction;
  if (instruction.empty() || instruction.back() != '\n') out += "\n";
  out += "ENDINSTRUCTION";
  return out;
}

Result<std::string> PromptRenderer::solver_instruction(std::string_view task) const {
  return render("solver", {{"task", std::string(task)}});
}

Result<std::string> PromptRenderer::knowledge_instruction(std::string_view question) const {
  return render("knowledge", {{"question", std::string(question)}});
}

Result<std::string> PromptRenderer::function_call_message(const tools::Registry& registry,
                                                          std::string_view input,
                                                          CallFormat format) const {
  return render("function_call", {{"format", std::string(call_format_name(format))},
                                  {"input", std::string(input)},
                                  {"functions", render_functions_yaml(registry)}});
}

Result<std::string> PromptRenderer::chain_of_thought_message(std::string_view task) const {
  return render("chain_of_thought", {{"task", std::string(task)}});
}

Result<std::string> PromptRenderer::plainformat_message(std::string_view task) const {
  return render("plainformat", {{"task", std::string(task)}});
}

}  // namespace rewoo::agent
