#include "agent/grammar/plan_grammar.h"

#include <fmt/format.h>

#include "agent/grammar/regex_to_gbnf.h"

namespace rewoo::agent::grammar {

Result<std::string> plan_grammar_gbnf(const std::vector<std::string>& tool_names, const PlanGrammarOptions& opts) {
  if (tool_names.empty()) return Error("plan grammar: the registry has no tools");
  if (opts.max_steps < 1) return Error("plan grammar: max_steps must be at least 1");
  std::string g;
  g += fmt::format("root ::= {}block-0\n", opts.leading_space ? "\" \"? " : "");
  const std::string plus = opts.max_text_chars > 0 ? fmt::format("{{1,{}}}", opts.max_text_chars) : "+";
  const std::string star = opts.max_text_chars > 0 ? fmt::format("{{0,{}}}", opts.max_text_chars) : "*";
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
  for (int n = 0; n < opts.max_steps; ++n) {
    std::string item = fmt::format("item-{}", n);
    std::string ref = n > 0 ? fmt::format(" | \":evidence\" {} \":\"", ks(n)) : "";
    g += fmt::format("{} ::= in-char{} | \"[\" {}{} \"]\"\n", item, ref, item, star);
    std::string next = n + 1 < opts.max_steps ? fmt::format("(block-{} | answer-{})", n + 1, n) : fmt::format("answer-{}", n);
    g += fmt::format("block-{} ::= \"Plan: \" thought \"\\n:evidence{}: = \" tool \"[\" {}{} \"]\\n\" {}\n", n, n, item,
                     plus, next);
    g += fmt::format("answer-{} ::= \"Answer: :evidence\" {} \":\" \"\\n\"?\n", n, ks(n + 1));
  }
  return g;
}

Result<std::string> plan_grammar_gbnf(const tools::Registry& registry, const PlanGrammarOptions& opts) {
  return plan_grammar_gbnf(registry.names(), opts);
}

}  // namespace rewoo::agent::grammar
