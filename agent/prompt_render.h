// Prompt rendering: the seed model's (Airoboros 2.1) prompt formats, filled
// from the templates in prompts/*.txt.
//
// Every prompt the agent sends is a chat:
//   "A chat." SEP "USER: " <message> SEP "ASSISTANT:"       (SEP = "\n" or " ")
// and the model's reply ends at "USER:" (kChatStop). The message is one of:
//   - planner_message(): the reWOO planner (tools block + output format +
//     "Question: TASK"); the text before "Question:" does not depend on the
//     task, so its KV state can be reused across tasks (planner_prefix());
//   - closed_context_message(): BEGININPUT/BEGINCONTEXT/ENDCONTEXT/ENDINPUT
//     blocks, then BEGININSTRUCTION ... ENDINSTRUCTION (the solver and the
//     KnowledgeModel tool);
//   - function_call_message(): pick a function, with "Available functions:"
//     rendered as YAML from the tools' parameter schemas;
//   - chain_of_thought_message() and plainformat_message().
//
//   PromptRenderer r;                       // embedded templates
//   auto p = r.chat(*r.planner_message(registry, "Who won ...?"));
//
// Templates use {{name}} placeholders; a template file's one trailing newline
// is dropped. PromptOptions::override_dir replaces any template with
// <dir>/<name>.txt. A placeholder the renderer does not know is an error
// naming the template, so a typo in an override never reaches the model.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/result.h"
#include "tools/registry.h"

namespace rewoo::agent {

// Generation stops here: the model starting the user's next turn.
inline constexpr std::string_view kChatStop = "USER:";

struct PromptOptions {
  std::string override_dir;  // <dir>/<name>.txt replaces the embedded template
  std::string preamble;      // empty: the chat_preamble template ("A chat.")
  std::string separator = "\n";  // between preamble, USER: and ASSISTANT: ("\n" or " ")
};

// One BEGININPUT block: context lines (key: value, in order) and the text.
struct InputBlock {
  std::vector<std::pair<std::string, std::string>> context;
  std::string text;
};

struct ChatTurn {
  std::string user;
  std::string assistant;
};

enum class CallFormat { kJson, kYaml };
std::string_view call_format_name(CallFormat f);  // "JSON" / "YAML"

// Fills {{name}} placeholders. Unknown placeholder or an unclosed "{{" is an
// error naming `template_name`; values are inserted verbatim (a value holding
// "{{x}}" is not expanded again).
Result<std::string> fill_template(std::string_view tmpl,
                                  const std::map<std::string, std::string>& vars,
                                  std::string_view template_name);

// A template's text (override dir first, then embedded), one trailing "\n" dropped.
Result<std::string> load_template(std::string_view name, const std::string& override_dir = {});

// The parameters schema a function call for `tool` is checked against: the
// tool's own, or {"input": string} (required, nothing else) for tools that
// take one text input.
nlohmann::json tool_call_schema(const tools::Tool& tool);

// "Available functions:" body: for each tool (registry order)
//   name:
//     description: ...
//     params:
//       key: description            (nested objects indented further)
std::string render_functions_yaml(const tools::Registry& registry);

class PromptRenderer {
 public:
  explicit PromptRenderer(PromptOptions options = {});

  const PromptOptions& options() const { return options_; }

  // preamble SEP "USER: " message SEP "ASSISTANT:"
  Result<std::string> chat(std::string_view message) const;
  // With earlier turns: preamble SEP USER: u1 SEP ASSISTANT: a1 SEP USER: ... SEP ASSISTANT:
  Result<std::string> chat(const std::vector<ChatTurn>& history, std::string_view message) const;

  Result<std::string> planner_message(const tools::Registry& registry, std::string_view task) const;
  // The chat text up to (not including) the task: the same for every task
  // with this registry, so a backend can prefill it once.
  Result<std::string> planner_prefix(const tools::Registry& registry) const;

  // Blocks, then BEGININSTRUCTION instruction ENDINSTRUCTION.
  std::string closed_context_message(const std::vector<InputBlock>& blocks,
                                     std::string_view instruction) const;
  // The solver's instruction for `task` (solver template).
  Result<std::string> solver_instruction(std::string_view task) const;
  // The KnowledgeModel's instruction for `question` (knowledge template).
  Result<std::string> knowledge_instruction(std::string_view question) const;

  Result<std::string> function_call_message(const tools::Registry& registry,
                                            std::string_view input, CallFormat format) const;
  Result<std::string> chain_of_thought_message(std::string_view task) const;
  Result<std::string> plainformat_message(std::string_view task) const;

 private:
  Result<std::string> render(std::string_view name,
                             const std::map<std::string, std::string>& vars) const;
  Result<std::string> preamble() const;

  PromptOptions options_;
};

}  // namespace rewoo::agent
