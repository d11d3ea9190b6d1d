// Plan: a parsed, validated reWOO plan (the seed model's Airoboros format).
//
//   Plan: Search for the 2020 Nobel laureate in literature.
//   :evidence0: = DuckDuckGo[Nobel Prize in Literature 2020 winner]
//   Plan: Ask the model who it is.
//   :evidence1: = KnowledgeModel[Who won, given :evidence0:?]
//   Answer: :evidence1:
//
// Each `:evidenceN: = Tool[input]` line is one Step; steps are numbered 0, 1,
// 2, ... in order and may refer to earlier evidence as `:evidenceK:` anywhere
// in their input. The `Answer:` line is the last line; it holds text that may
// contain any number of `:evidenceK:` references (usually exactly one, as in
// `Answer: :evidence1:`), each naming a defined step. The runtime substitutes
// the evidence into the answer text the same way as into step inputs.
// Parse plans with agent/plan_parser.h; run them with agent/executor.h.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace rewoo::agent {

struct PlanStep {
  int index = 0;                // N of `:evidenceN:`; equals the step's position
  std::string tool;             // registered tool name
  std::string input_template;   // text between the brackets, references unsubstituted
  std::vector<int> depends_on;  // evidence indices the input refers to, sorted, unique
  std::string thought;          // the `Plan:` text before this step ("" if none)
  int line = 0;                 // 1-based line of the step in the plan text
};

struct Plan {
  std::vector<PlanStep> steps;   // steps[i].index == i
  std::string answer_template;   // text after `Answer:`, trimmed
  std::vector<int> answer_refs;  // evidence indices the answer refers to, sorted, unique
  int answer_line = 0;
};

// One `:evidenceK:` occurrence in a text: byte offset and length of the whole
// reference and K.
struct EvidenceRef {
  size_t offset = 0;
  size_t length = 0;
  int index = 0;
};

// Every `:evidenceK:` reference in `text`, left to right (K: 1 to 9 digits,
// no leading zero: ':evidence01:' is not a reference to 1).
std::vector<EvidenceRef> find_evidence_refs(std::string_view text);

// {"steps": [{"index", "tool", "input", "depends_on", "thought", "line"}],
//  "answer": "...", "answer_refs": [...], "answer_line": N}
nlohmann::json plan_to_json(const Plan& plan);

}  // namespace rewoo::agent
