// libFuzzer target: the plan parser on arbitrary text (plans come from the
// model and from users). Checks the parser's promises: a plan exactly when
// there are no errors, every error at a real 1-based position, errors sorted,
// and a parsed plan's steps numbered 0, 1, 2, ... with references only to
// earlier steps. Build and run: see tests/fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent/plan.h"
#include "agent/plan_parser.h"
#include "engine/base/json_text.h"

using namespace rewoo::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const PlanParseResult r = parse_plan_any_tools(text);
  if (r.ok() != r.plan.has_value()) __builtin_trap();
  for (size_t i = 0; i < r.errors.size(); ++i) {
    const PlanError& e = r.errors[i];
    if (e.line < 1 || e.col < 1 || e.message.empty()) __builtin_trap();
    if (i > 0) {
      const PlanError& p = r.errors[i - 1];
      if (p.line > e.line || (p.line == e.line && p.col > e.col)) __builtin_trap();
    }
    (void)e.to_string();
  }
  if (r.plan) {
    const Plan& plan = *r.plan;
    for (size_t i = 0; i < plan.steps.size(); ++i) {
      if (plan.steps[i].index != static_cast<int>(i)) __builtin_trap();
      for (const EvidenceRef& ref : find_evidence_refs(plan.steps[i].input_template))
        if (ref.index < 0 || ref.index >= static_cast<int>(i)) __builtin_trap();
      for (int d : plan.steps[i].depends_on)
        if (d < 0 || d >= static_cast<int>(i)) __builtin_trap();
    }
    for (int d : plan.answer_refs)
      if (d < 0 || d >= static_cast<int>(plan.steps.size())) __builtin_trap();
    (void)rewoo::json_text(plan_to_json(plan));
  } else {
    (void)rewoo::json_text(plan_errors_to_json(r.errors));
  }
  (void)r.to_result();
  (void)find_evidence_refs(text);
  return 0;
}
