#include "agent/plan.h"

namespace rewoo::agent {

std::vector<EvidenceRef> find_evidence_refs(std::string_view text) {
  static constexpr std::string_view kPrefix = ":evidence";
  std::vector<EvidenceRef> out;
  size_t pos = 0;
  while ((pos = text.find(kPrefix, pos)) != std::string_view::npos) {
    size_t p = pos + kPrefix.size();
    size_t digits = 0;
    while (p + digits < text.size() && digits <= 9 && text[p + digits] >= '0' &&
           text[p + digits] <= '9')
      ++digits;
    if (digits >= 1 && digits <= 9 && (digits == 1 || text[p] != '0') && p + digits < text.size() &&
        text[p + digits] == ':') {
      int k = std::stoi(std::string(text.substr(p, digits)));
      out.push_back({pos, kPrefix.size() + digits + 1, k});
      pos = p + digits + 1;
    } else {
      pos = p;
    }
  }
  return out;
}

nlohmann::json plan_to_json(const Plan& plan) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : plan.steps) {
    steps.push_back({{"index", s.index},
                     {"tool", s.tool},
                     {"input", s.input_template},
                     {"depends_on", s.depends_on},
                     {"thought", s.thought},
                     {"line", s.line}});
  }
  return {{"steps", steps},
          {"answer", plan.answer_template},
          {"answer_refs", plan.answer_refs},
          {"answer_line", plan.answer_line}};
}

}  // namespace rewoo::agent
