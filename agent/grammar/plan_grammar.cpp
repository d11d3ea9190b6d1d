#include "agent/grammar/plan_grammar.h"

#include <fmt/format.h>

#include "agent/grammar/regex_to_gbnf.h"

namespace rewoo::agent::grammar {

Result<std::string> plan_grammar_gbnf(const std::vector<std::string>& tool_names, const PlanGrammarOptions& opts) {
  if (tool_names.empty()) return Error("plan grammar: the registry has no tools");
  if (opts.max_steps < 1) return Error("plan grammar: max_steps must be at least 1");
  std::string g;
  g += fmt::format("root ::= {}block-0\n", opts.leading_space ? "\" \"? " : "");
  const std::string plus = gbnf_repeat(1, opts.max_text_chars);
  const std::string star = gbnf_repeat(0, opts.max_text_chars);
  g += "thought ::= [^\\n\\r=]" + plus + "\n";
  std::string tools;
  for (size_t i = 0; i < tool_names.size(); ++i) tools += (i ? " | " : "") + gbnf_literal(tool_names[i]);
  g += "tool ::= " + tools + "\n";
  // Input characters other than brackets, ':' and '#'; ':' and '#' only where
  // they cannot start an evidence reference or LangChain's '#E1'.
  g += "in-char ::= [^\\n\\r\\[\\]:#] | \"#\" [^E\\n\\r\\[\\]:#] | \":\" [^e\\n\\r\\[\\]:#]\n";
  auto ks = [](int n) {  // "0" | "1" | ... | n-1
    std::string s;
    for (int k = 0; k < n; ++k) s += (k ? " | " : "") + fmt::format("\"{}\"", k);
    return "(" + s + ")";
  };
  // A reference is followed by the end of its brackets or by a character
  // that cannot continue it: the plan parser reads a reference's closing ':'
  // as a possible start of the next one (":evidence0:evidence1:").
  g += "ref-follow ::= [^\\n\\r\\[\\]:#e] | \"#\" [^E\\n\\r\\[\\]:#]\n";
  for (int n = 0; n < opts.max_steps; ++n) {
    std::string item = fmt::format("item-{}", n);
    std::string input;
    if (n == 0) {
      g += fmt::format("{} ::= in-char{}\n", item, opts.nested_brackets ? fmt::format(" | \"[\" {}{} \"]\"", item, star) : "");
      input = item + plus;
    } else {
      std::string ref = fmt::format("ref-{}", n);
      g += fmt::format("{} ::= \":evidence\" {} \":\"\n", ref, ks(n));
      g += fmt::format("{0} ::= in-char | {1} ref-follow{2}\n", item, ref,
                       opts.nested_brackets ? fmt::format(" | \"[\" {}{} {}? \"]\"", item, star, ref) : "");
      input = fmt::format("({0}{1} | {0}{2} {3})", item, plus, star, ref);
    }
    std::string next = n + 1 < opts.max_steps ? fmt::format("(block-{} | answer-{})", n + 1, n) : fmt::format("answer-{}", n);
    g += fmt::format("block-{} ::= \"Plan: \" thought \"\\n:evidence{}: = \" tool \"[\" {} \"]\\n\" {}\n", n, n, input,
                     next);
    g += fmt::format("answer-{} ::= \"Answer: :evidence\" {} \":\" \"\\n\"?\n", n, ks(n + 1));
  }
  return g;
}

Result<std::string> plan_grammar_gbnf(const tools::Registry& registry, const PlanGrammarOptions& opts) {
  return plan_grammar_gbnf(registry.names(), opts);
}

}  // namespace rewoo::agent::grammar
