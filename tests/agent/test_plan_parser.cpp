// Plan parser and validator: the seed's format, forgiving where harmless,
// and every error with its exact message and position.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "agent/plan_parser.h"
#include "tests/test_util.h"
#include "tools/builtin_tools.h"

using namespace rewoo;
using namespace rewoo::agent;

namespace {

const tools::Registry& seed_registry() {
  static const tools::Registry reg = [] {
    tools::Registry r;
    tools::register_builtin_tools(r);
    return r;
  }();
  return reg;
}

PlanParseResult parse(const std::string& text) { return parse_plan(text, seed_registry()); }

Plan parse_ok(const std::string& text) {
  auto r = parse(text);
  for (const auto& e : r.errors) INFO(e.to_string());
  REQUIRE(r.errors.empty());
  REQUIRE(r.plan.has_value());
  return *r.plan;
}

std::string all_errors(const PlanParseResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.to_string() + "\n";
  return s;
}

// Exactly one error, at line:col, with this message.
PlanError one_error(const std::string& text, int line, int col, const std::string& message) {
  auto r = parse(text);
  INFO(all_errors(r));
  CHECK_FALSE(r.plan.has_value());
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == line);
  CHECK(r.errors[0].col == col);
  CHECK(r.errors[0].message == message);
  return r.errors[0];
}

const std::string kAns = "\nAnswer: :evidence0:\n";

}  // namespace

// ---- valid plans ------------------------------------------------------------

TEST_CASE("plan: the seed's Nobel-prize plan") {
  Plan p = parse_ok(test::read_file(test::source_dir() / "tests/data/plans/nobel.plan"));
  REQUIRE(p.steps.size() == 4);
  CHECK(p.steps[0].tool == "DuckDuckGo");
  CHECK(p.steps[0].input_template == "Nobel Prize in Literature 2020 winner");
  CHECK(p.steps[0].depends_on.empty());
  CHECK(p.steps[0].line == 2);
  CHECK(p.steps[0].thought ==
        "Start by conducting a web search to find out who won the Nobel Prize in Literature in "
        "2020.");
  CHECK(p.steps[1].tool == "HyperlinkExtractor");
  CHECK(p.steps[1].input_template == ":evidence0:");
  CHECK(p.steps[1].depends_on == std::vector<int>{0});
  CHECK(p.steps[2].tool == "TextScraper");
  CHECK(p.steps[2].depends_on == std::vector<int>{1});
  CHECK(p.steps[3].tool == "KnowledgeModel");
  CHECK(p.steps[3].input_template ==
        "Who won the Nobel Prize in Literature in 2020 and what is their most famous work, given "
        ":evidence2:?");
  CHECK(p.steps[3].depends_on == std::vector<int>{2});
  for (int i = 0; i < 4; ++i) CHECK(p.steps[i].index == i);
  CHECK(p.answer_template == ":evidence3:");
  CHECK(p.answer_refs == std::vector<int>{3});
  CHECK(p.answer_line == 9);
}

TEST_CASE("plan: CRLF line ends parse like LF") {
  std::string lf = test::read_file(test::source_dir() / "tests/data/plans/nobel.plan");
  std::string crlf;
  for (char c : lf) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  Plan a = parse_ok(lf), b = parse_ok(crlf);
  CHECK(plan_to_json(a) == plan_to_json(b));
  CHECK(b.steps[3].input_template.back() == '?');
}

TEST_CASE("plan: blank lines, indentation and trailing spaces are ignored") {
  Plan p = parse_ok("\n\n   Plan: search  \n\t:evidence0: = DuckDuckGo[q]   \n\n\n  Answer:   :evidence0:  \n\n");
  REQUIRE(p.steps.size() == 1);
  CHECK(p.steps[0].line == 4);
  CHECK(p.steps[0].thought == "search");
  CHECK(p.answer_template == ":evidence0:");
  CHECK(p.answer_line == 7);
}

TEST_CASE("plan: spaces around '=' and before '[' are optional") {
  for (std::string step : {":evidence0:=DuckDuckGo[q]", ":evidence0:   =\t  DuckDuckGo[q]",
                           ":evidence0: = DuckDuckGo [q]"}) {
    CAPTURE(step);
    Plan p = parse_ok(step + kAns);
    CHECK(p.steps[0].tool == "DuckDuckGo");
    CHECK(p.steps[0].input_template == "q");
  }
}

TEST_CASE("plan: a UTF-8 byte-order mark is skipped") {
  Plan p = parse_ok("\xEF\xBB\xBF:evidence0: = DuckDuckGo[q]" + kAns);
  CHECK(p.steps[0].input_template == "q");
}

TEST_CASE("plan: no trailing newline") {
  Plan p = parse_ok(":evidence0: = DuckDuckGo[q]\nAnswer: :evidence0:");
  CHECK(p.answer_refs == std::vector<int>{0});
}

TEST_CASE("plan: nested balanced brackets stay in the input") {
  Plan p = parse_ok(
      ":evidence0: = DuckDuckGo[q]\n"
      ":evidence1: = KnowledgeModel[Is [a [b] c] in [:evidence0:]?]\nAnswer: :evidence1:");
  CHECK(p.steps[1].input_template == "Is [a [b] c] in [:evidence0:]?");
  CHECK(p.steps[1].depends_on == std::vector<int>{0});
}

TEST_CASE("plan: quotes, URLs and unicode in inputs") {
  std::string input =
      "https://de.wikipedia.org/wiki/Louise_Glück?x=1&y=\"2\" 'single' — 日本語 (ok) {x}";
  Plan p = parse_ok(":evidence0: = TextScraper[" + input + "]" + kAns);
  CHECK(p.steps[0].input_template == input);
}

TEST_CASE("plan: references anywhere, dependencies sorted and unique") {
  Plan p = parse_ok(
      ":evidence0: = DuckDuckGo[a]\n:evidence1: = DuckDuckGo[b]\n"
      ":evidence2: = KnowledgeModel[:evidence1::evidence0: and :evidence1:, x:evidence0:]\n"
      "Answer: :evidence2:");
  CHECK(p.steps[2].depends_on == std::vector<int>{0, 1});
  CHECK(p.steps[2].input_template == ":evidence1::evidence0: and :evidence1:, x:evidence0:");
}

TEST_CASE("plan: 'Plan:' lines are optional and several join into the thought") {
  Plan p = parse_ok("Plan: first.\nPlan: second.\n:evidence0: = DuckDuckGo[q]\n"
                    ":evidence1: = HyperlinkExtractor[:evidence0:]\nAnswer: :evidence1:");
  CHECK(p.steps[0].thought == "first. second.");
  CHECK(p.steps[1].thought == "");
}

TEST_CASE("plan: a 'Plan:' line may mention evidence without defining it") {
  Plan p = parse_ok(":evidence0: = DuckDuckGo[q]\nPlan: Use the links in :evidence0: next.\n"
                    ":evidence1: = HyperlinkExtractor[:evidence0:]\nAnswer: :evidence1:");
  CHECK(p.steps[1].thought == "Use the links in :evidence0: next.");
}

TEST_CASE("plan: the answer may be text with several references") {
  Plan p = parse_ok(
      ":evidence0: = DuckDuckGo[a]\n:evidence1: = DuckDuckGo[b]\n"
      "Answer: The winner is :evidence1: (see :evidence0: and :evidence1:).");
  CHECK(p.answer_template == "The winner is :evidence1: (see :evidence0: and :evidence1:).");
  CHECK(p.answer_refs == std::vector<int>{0, 1});
}

TEST_CASE("plan: an answer without references is allowed") {
  Plan p = parse_ok(":evidence0: = DuckDuckGo[a]\nAnswer: unknown");
  CHECK(p.answer_refs.empty());
}

TEST_CASE("plan: empty input and '#' inside URLs are fine") {
  Plan p = parse_ok(":evidence0: = HyperlinkExtractor[]\n"
                    ":evidence1: = TextScraper[https://x.org/page#E1 and x#E2]\nAnswer: :evidence1:");
  CHECK(p.steps[0].input_template.empty());
  CHECK(p.steps[1].input_template == "https://x.org/page#E1 and x#E2");
}

TEST_CASE("plan: parse_plan_any_tools accepts any well-formed tool name") {
  auto r = parse_plan_any_tools(":evidence0: = Wikipedia[q]\nAnswer: :evidence0:");
  REQUIRE(r.ok());
  CHECK(r.plan->steps[0].tool == "Wikipedia");
  CHECK_FALSE(parse(":evidence0: = Wikipedia[q]\nAnswer: :evidence0:").ok());
}

TEST_CASE("plan: the registry decides which tools are known") {
  tools::Registry only = seed_registry().restricted_to({"HyperlinkExtractor"}).value();
  auto r = parse_plan(":evidence0: = DuckDuckGo[q]\nAnswer: :evidence0:", only);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message == "unknown tool 'DuckDuckGo'");
  CHECK(r.errors[0].hint == "registered tools: HyperlinkExtractor");
}

TEST_CASE("plan: to_result and plan_to_json") {
  auto good = parse(":evidence0: = DuckDuckGo[q [x]]\nAnswer: :evidence0:").to_result();
  REQUIRE(good.ok());
  auto j = plan_to_json(*good);
  CHECK(j["steps"][0]["tool"] == "DuckDuckGo");
  CHECK(j["steps"][0]["input"] == "q [x]");
  CHECK(j["steps"][0]["depends_on"] == nlohmann::json::array());
  CHECK(j["answer"] == ":evidence0:");
  CHECK(j["answer_refs"] == nlohmann::json::array({0}));
  auto bad = parse(":evidence1: = DuckDuckGo[q]").to_result();
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("1:1: evidence numbers must count") != std::string::npos);
  CHECK(bad.error().message.find("missing 'Answer:' line") != std::string::npos);
}

TEST_CASE("plan: find_evidence_refs") {
  auto refs = find_evidence_refs("a :evidence12: b:evidence3::evidence: :evidence4 :evidence0:");
  REQUIRE(refs.size() == 3);
  CHECK(refs[0].offset == 2);
  CHECK(refs[0].length == 12);
  CHECK(refs[0].index == 12);
  CHECK(refs[1].index == 3);
  CHECK(refs[2].index == 0);
  CHECK(find_evidence_refs(":evidence1234567890:").empty());  // more than 9 digits
  CHECK(find_evidence_refs(":evidence01: :evidence00:").empty());  // leading zeros
}

// ---- invalid plans: every error with its exact message and position --------

TEST_CASE("plan error: empty text") {
  auto e = one_error("", 1, 1, "empty plan");
  CHECK(e.hint.find("':evidence0: = Tool[input]'") != std::string::npos);
  one_error(" \r\n\t\n\n", 1, 1, "empty plan");
}

TEST_CASE("plan error: no steps") {
  one_error("Plan: think hard.\nAnswer: done", 1, 1,
            "empty plan: no ':evidenceN: = Tool[input]' steps");
}

TEST_CASE("plan error: unknown tool suggests the nearest name") {
  auto e = one_error(":evidence0: = DuckDuckGoo[q]" + kAns, 1, 15, "unknown tool 'DuckDuckGoo'");
  CHECK(e.hint ==
        "did you mean 'DuckDuckGo'? registered tools: DuckDuckGo, HyperlinkExtractor, "
        "KnowledgeModel, TextScraper");
  e = one_error(":evidence0: = textscraper[u]" + kAns, 1, 15, "unknown tool 'textscraper'");
  CHECK(e.hint.rfind("did you mean 'TextScraper'?", 0) == 0);
}

TEST_CASE("plan error: unknown tool with nothing close") {
  auto e = one_error(":evidence0: = Calculator[1+1]" + kAns, 1, 15, "unknown tool 'Calculator'");
  CHECK(e.hint.rfind("registered tools: ", 0) == 0);
}

TEST_CASE("plan error: numbering must start at 0") {
  auto e = one_error(":evidence1: = DuckDuckGo[q]\nAnswer: :evidence1:", 1, 1,
                     "evidence numbers must count 0, 1, 2, ... in order: expected "
                     "':evidence0:', found ':evidence1:'");
  CHECK(e.hint == "the first step is ':evidence0:'");
}

TEST_CASE("plan error: a gap in the numbering") {
  auto e = one_error(
      ":evidence0: = DuckDuckGo[q]\n  :evidence2: = HyperlinkExtractor[:evidence0:]\n"
      ":evidence3: = TextScraper[:evidence2:]\nAnswer: :evidence3:",
      2, 3,
      "evidence numbers must count 0, 1, 2, ... in order: expected ':evidence1:', found "
      "':evidence2:'");
  CHECK(e.hint == "number the steps 0, 1, 2, ... with no gaps");
}

TEST_CASE("plan error: a number defined twice") {
  auto e = one_error(":evidence0: = DuckDuckGo[a]\n:evidence1: = DuckDuckGo[b]\n"
                     ":evidence1: = DuckDuckGo[c]\nAnswer: :evidence1:",
                     3, 1,
                     "evidence numbers must count 0, 1, 2, ... in order: expected "
                     "':evidence2:', found ':evidence1:'");
  CHECK(e.hint == "':evidence1:' is already defined on line 2");
}

TEST_CASE("plan error: reference to a later step") {
  auto e = one_error(":evidence0: = KnowledgeModel[given :evidence1:?]\n"
                     ":evidence1: = DuckDuckGo[q]\nAnswer: :evidence1:",
                     1, 36, "':evidence1:' refers to a later step (defined on line 2)");
  CHECK(e.hint == "a step can only use evidence from steps before it; reorder the steps");
}

TEST_CASE("plan error: reference to its own step") {
  auto e = one_error(":evidence0: = DuckDuckGo[q]\n:evidence1: = KnowledgeModel[x :evidence1:]\n"
                     "Answer: :evidence1:",
                     2, 32, "':evidence1:' refers to its own step");
  CHECK(e.hint == "a step can only use evidence from steps before it: :evidence0:");
  e = one_error(":evidence0: = DuckDuckGo[:evidence0:]" + kAns, 1, 26,
                "':evidence0:' refers to its own step");
  CHECK(e.hint == "the first step cannot use any evidence");
}

TEST_CASE("plan error: reference to undefined evidence") {
  auto e = one_error(":evidence0: = DuckDuckGo[q]\n:evidence1: = KnowledgeModel[:evidence7:]\n"
                     "Answer: :evidence1:",
                     2, 30, "':evidence7:' is not defined by any step");
  // (what this step may use, not every step: :evidence1: is its own)
  CHECK(e.hint == "a step can only use evidence from steps before it: :evidence0:");
  e = one_error(":evidence0: = DuckDuckGo[q]\nAnswer: :evidence7:", 2, 9,
                "the answer refers to ':evidence7:', which no step defines");
  CHECK(e.hint == "defined evidence: :evidence0:");
}

TEST_CASE("plan error: references with a leading zero or more than 9 digits") {
  // Neither is read as another number (':evidence01:' is not :evidence1:).
  auto e = one_error(":evidence0: = DuckDuckGo[q]\n:evidence1: = KnowledgeModel[:evidence00:]\n"
                     "Answer: :evidence1:",
                     2, 30, "evidence reference ':evidence00:' has a leading zero");
  CHECK(e.hint == "write :evidence0:");
  one_error(":evidence0: = DuckDuckGo[q]\nAnswer: :evidence01:", 2, 9,
            "evidence reference ':evidence01:' has a leading zero");
  e = one_error(":evidence0: = DuckDuckGo[q]\nAnswer: :evidence0: :evidence1000000000:", 2, 21,
                "evidence number '1000000000' is too large");
  CHECK(e.hint == "refer to a step's evidence as ':evidenceK:', K as on its step line");
  one_error(":evidence0: = DuckDuckGo[:evidence12345678901234567890:]" + kAns, 1, 26,
            "evidence number '12345678901234567890' is too large");
}

TEST_CASE("plan error: at most 100 errors, then a count of the rest") {
  // 200,000 references on one line: parsed in one pass over the line (columns
  // counted incrementally), and 199,900 errors counted, not listed.
  std::string refs;
  for (int i = 0; i < 200000; ++i) refs += ":evidence7:";
  auto r = parse(":evidence0: = DuckDuckGo[q]\n:evidence1: = KnowledgeModel[" + refs +
                 "]\nAnswer: :evidence1:");
  REQUIRE(r.errors.size() == 101);
  CHECK(r.errors[0].message == "':evidence7:' is not defined by any step");
  CHECK(r.errors[0].col == 30);
  CHECK(r.errors[99].col == 30 + 99 * 11);
  CHECK(r.errors[100].message == "199900 more errors not shown");
  // The same line with good references is a plan.
  refs.clear();
  for (int i = 0; i < 200000; ++i) refs += ":evidence0:";
  r = parse(":evidence0: = DuckDuckGo[q]\n:evidence1: = KnowledgeModel[" + refs +
            "]\nAnswer: :evidence1:");
  REQUIRE(r.plan.has_value());
  CHECK(r.plan->steps[1].depends_on == std::vector<int>{0});
}

TEST_CASE("plan error: missing Answer, at the end of the input") {
  auto e = one_error(":evidence0: = DuckDuckGo[q]", 1, 28, "missing 'Answer:' line");
  CHECK(e.hint.find("Answer: :evidenceK:") != std::string::npos);
  one_error(":evidence0: = DuckDuckGo[q]\n\n", 3, 1, "missing 'Answer:' line");
}

TEST_CASE("plan error: the answer refers to undefined evidence") {
  auto e = one_error(":evidence0: = DuckDuckGo[q]\nAnswer: see :evidence4:", 2, 13,
                     "the answer refers to ':evidence4:', which no step defines");
  CHECK(e.hint == "defined evidence: :evidence0:");
}

TEST_CASE("plan error: empty answer") {
  one_error(":evidence0: = DuckDuckGo[q]\n  Answer:  ", 2, 3, "empty answer");
}

TEST_CASE("plan error: '[' never closed") {
  // The outer '[' is the unclosed one: the inner pair is balanced.
  auto e = one_error(":evidence0: = DuckDuckGo[q]\n:evidence1: = KnowledgeModel[What is [this]\n"
                     "Answer: :evidence1:",
                     2, 29, "unbalanced brackets: '[' is never closed");
  CHECK(e.hint.find("same line") != std::string::npos);
  one_error(":evidence0: = DuckDuckGo[a [b [c]" + kAns, 1, 28,
            "unbalanced brackets: '[' is never closed");
}

TEST_CASE("plan error: ']' without '['") {
  one_error(":evidence0: = DuckDuckGo[a]b]" + kAns, 1, 29,
            "unbalanced brackets: ']' has no matching '['");
}

TEST_CASE("plan error: text after a step's input") {
  auto e = one_error(":evidence0: = DuckDuckGo[a] and [b]" + kAns, 1, 29,
                     "unexpected text after the step's input");
  CHECK(e.hint == "a step line ends with the ']' that closes its input");
}

TEST_CASE("plan error: text after Answer") {
  auto e = one_error(":evidence0: = DuckDuckGo[q]\nAnswer: :evidence0:\n\n  The answer is above.\nmore",
                     4, 3, "unexpected text after the 'Answer:' line");
  CHECK(e.hint.find("last line") != std::string::npos);
}

TEST_CASE("plan error: a second Answer line") {
  one_error(":evidence0: = DuckDuckGo[q]\nAnswer: :evidence0:\nAnswer: :evidence0:", 3, 1,
            "unexpected text after the 'Answer:' line");
}

TEST_CASE("plan error: a step after the Answer line") {
  auto r = parse(":evidence0: = DuckDuckGo[q]\nAnswer: :evidence1:\n:evidence1: = DuckDuckGo[r]");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[0].message == "unexpected text after the 'Answer:' line");
}

TEST_CASE("plan error: LangChain '#E1' steps") {
  auto r = parse("Plan: search\n#E1 = DuckDuckGo[q]\nAnswer: #E1");
  INFO(all_errors(r));
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].line == 2);
  CHECK(r.errors[0].col == 1);
  CHECK(r.errors[0].message == "'#E1' is LangChain's evidence syntax, not this plan format");
  CHECK(r.errors[0].hint.find("':evidence0: = Tool[input]'") != std::string::npos);
  CHECK(r.errors[1].line == 3);
  CHECK(r.errors[1].col == 9);
  CHECK(r.errors[1].message == "'#E1' is LangChain's evidence syntax, not this plan format");
}

TEST_CASE("plan error: LangChain one-line 'Plan: ... #E1 = Tool[...]'") {
  auto r = parse("Plan: Search the web. #E1 = DuckDuckGo[q]\n"
                 "Plan: Read it. #E2 = TextScraper[#E1]\nAnswer: #E2");
  INFO(all_errors(r));
  REQUIRE(r.errors.size() == 3);
  CHECK(r.errors[0].to_string().rfind(
            "1:23: '#E1' is LangChain's evidence syntax, not this plan format", 0) == 0);
  CHECK(r.errors[1].line == 2);
  CHECK(r.errors[1].col == 16);
  CHECK(r.errors[2].line == 3);
  CHECK(r.errors[2].col == 9);
  CHECK(r.errors[2].message == "'#E2' is LangChain's evidence syntax, not this plan format");
}

TEST_CASE("plan error: LangChain reference inside an input") {
  one_error(":evidence0: = DuckDuckGo[q]\n:evidence1: = KnowledgeModel[What, given #E1?]\n"
            "Answer: :evidence1:",
            2, 42, "'#E1' is LangChain's evidence syntax, not this plan format");
}

TEST_CASE("plan error: a step glued onto the Plan line") {
  auto e = one_error("Plan: search :evidence0: = DuckDuckGo[q]\nAnswer: :evidence0:", 1, 14,
                     "a step must start its own line");
  // The glued step is still parsed, so the answer's reference resolves.
  CHECK(e.hint == "put ':evidence0: = Tool[input]' on the line after the 'Plan:' line");
}

TEST_CASE("plan error: keywords are case-sensitive") {
  auto e = one_error(":evidence0: = DuckDuckGo[q]\nanswer: :evidence0:", 2, 1,
                     "unexpected text 'answer:'");
  CHECK(e.hint == "keywords are case-sensitive: write 'Answer:'");
  one_error("PLAN: x\n:evidence0: = DuckDuckGo[q]" + kAns, 1, 1, "unexpected text 'PLAN:'");
}

TEST_CASE("plan error: ':Evidence0:' label") {
  auto r = parse(":Evidence0: = DuckDuckGo[q]\nAnswer: done");
  REQUIRE(r.errors.size() == 1);  // no "empty plan": the line was meant as a step
  CHECK(r.errors[0].to_string() ==
        "1:1: unexpected text ':Evidence'\n  hint: keywords are case-sensitive: write ':evidence'");
}

TEST_CASE("plan error: other text lines") {
  auto e = one_error("Thought: I should search.\n:evidence0: = DuckDuckGo[q]" + kAns, 1, 1,
                     "unexpected text: expected 'Plan:', ':evidenceN: = Tool[input]' or 'Answer:'");
  CHECK_FALSE(e.hint.empty());
}

TEST_CASE("plan error: missing '='") {
  one_error(":evidence0: DuckDuckGo[q]\n:evidence1: = DuckDuckGo[q]\nAnswer: :evidence1:", 1, 13,
            "expected '=' after ':evidence0:'");
}

TEST_CASE("plan error: missing tool name") {
  one_error(":evidence0: = [q]" + kAns, 1, 15, "expected a tool name after '='");
}

TEST_CASE("plan error: parentheses instead of brackets") {
  auto e = one_error(":evidence0: = DuckDuckGo(q)" + kAns, 1, 25,
                     "expected '[' after the tool name 'DuckDuckGo', found '('");
  CHECK(e.hint == "the input goes in square brackets: DuckDuckGo[input]");
  one_error(":evidence0: = DuckDuckGo" + kAns, 1, 25,
            "expected '[' after the tool name 'DuckDuckGo', found end of line");
}

TEST_CASE("plan error: label without its closing ':'") {
  one_error(":evidence0 = DuckDuckGo[q]" + kAns, 1, 11, "expected ':' after ':evidence0'");
}

TEST_CASE("plan error: label without a number") {
  one_error(":evidence: = DuckDuckGo[q]\n:evidence0: = DuckDuckGo[q]" + kAns, 1, 10,
            "expected the evidence number after ':evidence'");
}

TEST_CASE("plan error: leading zero in the number") {
  auto e = one_error(":evidence00: = DuckDuckGo[q]" + kAns, 1, 10,
                     "evidence number '00' has a leading zero");
  CHECK(e.hint == "write :evidence0:");
}

TEST_CASE("plan error: incomplete reference in an input") {
  auto e = one_error(":evidence0: = DuckDuckGo[q]\n:evidence1: = TextScraper[:evidence0]\n"
                     "Answer: :evidence1:",
                     2, 27, "incomplete evidence reference ':evidence0'");
  CHECK(e.hint == "write ':evidence0:' with a closing ':'");
}

TEST_CASE("plan error: columns count characters, not bytes") {
  one_error(":evidence0: = KnowledgeModel[Glück 日本 :evidence0:]" + kAns, 1, 39,
            "':evidence0:' refers to its own step");
}

TEST_CASE("plan error: CRLF does not move columns") {
  one_error(":evidence0: = DuckDuckGo[q]\r\n:evidence1: = DuckDuckGo[:evidence2:]\r\n"
            "Answer: :evidence1:\r\n",
            2, 26, "':evidence2:' is not defined by any step");
}

TEST_CASE("plan error: every error is reported, sorted by position") {
  auto r = parse(
      "Plan: search\n"
      ":evidence0: = DuckDuckGoo[q]\n"
      ":evidence2: = TextScraper[:evidence3:]\n"
      ":evidence3: = KnowledgeModel[Who, given [:evidence2:?]\n");
  INFO(all_errors(r));
  REQUIRE(r.errors.size() == 5);
  CHECK(r.errors[0].to_string().rfind("2:15: unknown tool 'DuckDuckGoo'", 0) == 0);
  CHECK(r.errors[1].to_string().rfind("3:1: evidence numbers must count", 0) == 0);
  CHECK(r.errors[2].to_string().rfind(
            "3:27: ':evidence3:' refers to a later step (defined on line 4)", 0) == 0);
  CHECK(r.errors[3].to_string().rfind("4:29: unbalanced brackets: '[' is never closed", 0) == 0);
  CHECK(r.errors[4].to_string().rfind("5:1: missing 'Answer:' line", 0) == 0);
}

TEST_CASE("plan: mutated plans never crash and every error has a real position") {
  const std::string base = test::read_file(test::source_dir() / "tests/data/plans/nobel.plan");
  const std::string alphabet = "[]:=\n\r #E0123evidnc\xC3\xBC" "AnswerPlan";
  uint32_t seed = 12345;
  auto rnd = [&seed](uint32_t n) {
    seed = seed * 1664525u + 1013904223u;
    return (seed >> 8) % n;
  };
  int valid = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = base;
    int edits = 1 + static_cast<int>(rnd(4));
    for (int e = 0; e < edits; ++e) {
      size_t at = rnd(static_cast<uint32_t>(s.size() + 1));
      switch (rnd(3)) {
        case 0: if (at < s.size()) s.erase(at, 1 + rnd(8)); break;
        case 1: s.insert(at, 1, alphabet[rnd(static_cast<uint32_t>(alphabet.size()))]); break;
        default: if (at < s.size()) s[at] = alphabet[rnd(static_cast<uint32_t>(alphabet.size()))];
      }
    }
    auto r = parse(s);
    CHECK(r.plan.has_value() == r.errors.empty());
    int lines = 1 + static_cast<int>(std::count(s.begin(), s.end(), '\n'));
    for (const auto& e : r.errors) {
      CHECK(e.line >= 1);
      CHECK(e.line <= lines);
      CHECK(e.col >= 1);
      CHECK_FALSE(e.message.empty());
    }
    if (r.plan) {
      ++valid;
      for (size_t i = 0; i < r.plan->steps.size(); ++i) {
        CHECK(r.plan->steps[i].index == static_cast<int>(i));
        for (int d : r.plan->steps[i].depends_on) CHECK(d < static_cast<int>(i));
      }
    }
  }
  CHECK(valid > 0);  // some edits land in free text and keep the plan valid
}
