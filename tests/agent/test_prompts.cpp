// Prompt rendering: every format's exact text is pinned here.
#include <doctest/doctest.h>

#include <fstream>
#include <memory>

#include "agent/prompt_render.h"
#include "tests/agent/fake_tools.h"
#include "tests/test_util.h"

using namespace rewoo;
using namespace rewoo::agent;
using rewoo::test::FakeTool;

namespace {

tools::Registry seed_registry() {
  tools::Registry r;
  (void)r.add(std::make_shared<FakeTool>(
      "DuckDuckGo", "Search the web with DuckDuckGo; returns a list of pages that may hold the answer.",
      "a search query"));
  (void)r.add(std::make_shared<FakeTool>(
      "KnowledgeModel", "Answers a question from a passage of text.",
      "a question that refers to an :evidence[n]: value"));
  return r;
}

}  // namespace

TEST_CASE("chat format: preamble, USER:, ASSISTANT:") {
  PromptRenderer r;
  CHECK(*r.chat("Hello there") == "A chat.\nUSER: Hello there\nASSISTANT:");
  PromptRenderer spaced({.override_dir = "", .preamble = "A chat between friends.", .separator = " "});
  CHECK(*spaced.chat("Hi") == "A chat between friends. USER: Hi ASSISTANT:");
  std::vector<ChatTurn> history{{"What is 2+2?", "4"}, {"And 3+3?", "6"}};
  CHECK(*r.chat(history, "Thanks") ==
        "A chat.\nUSER: What is 2+2?\nASSISTANT: 4\nUSER: And 3+3?\nASSISTANT: 6\nUSER: "
        "Thanks\nASSISTANT:");
  CHECK(kChatStop == "USER:");
}

TEST_CASE("closed-context format: input blocks, context lines, instruction") {
  PromptRenderer r;
  std::vector<InputBlock> blocks{
      {{{"date", "2021-01-01"}, {"url", "https://web.site/123"}},
       "In a shocking turn of events, blueberries are now green."},
      {{}, "Second text\n"},
  };
  CHECK(r.closed_context_message(blocks, "What color are blueberries? Source?") ==
        "BEGININPUT\n"
        "BEGINCONTEXT\n"
        "date: 2021-01-01\n"
        "url: https://web.site/123\n"
        "ENDCONTEXT\n"
        "In a shocking turn of events, blueberries are now green.\n"
        "ENDINPUT\n"
        "BEGININPUT\n"
        "BEGINCONTEXT\n"
        "ENDCONTEXT\n"
        "Second text\n"
        "ENDINPUT\n"
        "BEGININSTRUCTION\n"
        "What color are blueberries? Source?\n"
        "ENDINSTRUCTION");
  // A context value cannot break its line.
  CHECK(r.closed_context_message({{{{"title", "a\nb"}}, "t"}}, "q") ==
        "BEGININPUT\nBEGINCONTEXT\ntitle: a b\nENDCONTEXT\nt\nENDINPUT\nBEGININSTRUCTION\nq\n"
        "ENDINSTRUCTION");
  CHECK(r.closed_context_message({}, "Just answer.") ==
        "BEGININSTRUCTION\nJust answer.\nENDINSTRUCTION");
  CHECK(*r.solver_instruction("Who won?") ==
        "Using only the inputs above (the evidence a plan gathered), answer this question: Who "
        "won?\nIf the inputs do not hold the answer, say so.");
  CHECK(*r.knowledge_instruction("What color is the cat, given the text?") ==
        "What color is the cat, given the text?");
}

TEST_CASE("reWOO planner: tools block from the registry, output format, question") {
  PromptRenderer r;
  auto reg = seed_registry();
  const std::string expected_message =
      "Make a step-by-step plan to answer the question below, using the tools listed. Each step "
      "calls one tool, and its output is kept as an evidence value. A tool's input can be text "
      "from the question, one or more earlier evidence values, or both.\n"
      "\n"
      "Tools you can call:\n"
      "DuckDuckGo[a search query]: Search the web with DuckDuckGo; returns a list of pages that "
      "may hold the answer.\n"
      "KnowledgeModel[a question that refers to an :evidence[n]: value]: Answers a question from "
      "a passage of text.\n"
      "\n"
      "Write the plan in this format:\n"
      "Plan: [first action to take, based on the question]\n"
      ":evidence0: = [tool to call, with its input]\n"
      "Plan: [next action to take, based on the result of :evidence0:]\n"
      ":evidence1: = [next tool to call, with its input, which may refer to earlier evidence, "
      "e.g. \"Given context :evidence0:\"]\n"
      "...\n"
      "Answer: [:evidence[n]: that holds the final answer.]\n"
      "\n"
      "Question: Who won the Nobel Prize in Literature in 2020?";
  auto msg = r.planner_message(reg, "Who won the Nobel Prize in Literature in 2020?");
  REQUIRE(msg);
  CHECK(*msg == expected_message);
  auto full = r.chat(*msg);
  CHECK(*full == "A chat.\nUSER: " + expected_message + "\nASSISTANT:");

  // The prefix is the whole prompt up to the question, ending at a newline,
  // and is the same for every task.
  auto prefix = r.planner_prefix(reg);
  REQUIRE(prefix);
  CHECK(prefix->size() > 100);
  CHECK(prefix->back() == '\n');
  CHECK(full->rfind(*prefix, 0) == 0);
  CHECK(full->substr(prefix->size()) ==
        "Question: Who won the Nobel Prize in Literature in 2020?\nASSISTANT:");
  auto other = r.chat(*r.planner_message(reg, "Something else"));
  CHECK(other->rfind(*prefix, 0) == 0);

  // The tools block follows the registry: a restricted registry lists fewer tools.
  auto only = reg.restricted_to({"KnowledgeModel"});
  REQUIRE(only);
  auto m2 = r.planner_message(*only, "q");
  CHECK(m2->find("DuckDuckGo[") == std::string::npos);
  CHECK(m2->find("KnowledgeModel[") != std::string::npos);
}

TEST_CASE("function calling: Available functions as YAML from the schemas") {
  tools::Registry reg;
  nlohmann::json schema = {
      {"type", "object"},
      {"properties",
       {{"action",
         {{"type", "string"},
          {"description",
           "The operation to perform on the data, such as \"count_occurrences\", "
           "\"find_line\", etc."}}},
        {"filters",
         {{"type", "object"},
          {"properties",
           {{"keyword", {{"type", "string"}, {"description", "The word or phrase to search for."}}},
            {"limit", {{"type", "integer"}}}}}}}}},
      {"required", {"action"}}};
  (void)reg.add(std::make_shared<FakeTool>("file_analytics",
                                           "This tool performs various operations on a text file.",
                                           "text", schema));
  (void)reg.add(std::make_shared<FakeTool>("DuckDuckGo", "Searches\nthe web.", "a search query"));

  CHECK(render_functions_yaml(reg) ==
        "DuckDuckGo:\n"
        "  description: Searches the web.\n"
        "  params:\n"
        "    input: a search query\n"
        "file_analytics:\n"
        "  description: This tool performs various operations on a text file.\n"
        "  params:\n"
        "    action: The operation to perform on the data, such as \"count_occurrences\", "
        "\"find_line\", etc.\n"
        "    filters:\n"
        "      keyword: The word or phrase to search for.\n"
        "      limit: integer");

  PromptRenderer r;
  auto msg = r.function_call_message(reg, "How many times is 'Python' in my file?", CallFormat::kJson);
  REQUIRE(msg);
  CHECK(*msg ==
        "As an AI assistant, choose the most suitable function and its parameters from the list "
        "of available functions below, based on the user's input. Give your response in JSON "
        "format.\n"
        "\n"
        "Input: How many times is 'Python' in my file?\n"
        "\n"
        "Available functions:\n" +
            render_functions_yaml(reg));
  auto yaml = r.function_call_message(reg, "x", CallFormat::kYaml);
  CHECK(yaml->find("Give your response in YAML format.") != std::string::npos);
}

TEST_CASE("chain of thought and PLAINFORMAT") {
  PromptRenderer r;
  CHECK(*r.chain_of_thought_message("If 45 games were played, how many players were there?") ==
        "If 45 games were played, how many players were there? Give several possible answers, "
        "rank them by the soundness of their reasoning, and pick the most likely one as the "
        "final answer.");
  CHECK(*r.plainformat_message("Write a websocket server in node.js.") ==
        "Write a websocket server in node.js. PLAINFORMAT");
  CHECK(*r.chat(*r.plainformat_message("Write hello world in C.")) ==
        "A chat.\nUSER: Write hello world in C. PLAINFORMAT\nASSISTANT:");
}

TEST_CASE("templates: placeholders, errors, override directory") {
  CHECK(*fill_template("a {{x}} b {{y}}", {{"x", "1"}, {"y", "{{x}}"}}, "t") == "a 1 b {{x}}");
  auto bad = fill_template("hi {{nmae}}", {{"name", "v"}}, "greeting");
  REQUIRE(!bad);
  CHECK(bad.error().to_string() ==
        "prompt template 'greeting': unknown placeholder '{{nmae}}' (this template may use: name)");
  auto unclosed = fill_template("hi {{name", {{"name", "v"}}, "greeting");
  REQUIRE(!unclosed);
  CHECK(unclosed.error().to_string() ==
        "prompt template 'greeting' at byte 3: unclosed '{{' (expected '{{name}}')");
  CHECK(!load_template("no_such_template"));

  rewoo::test::TempDir dir;
  {
    std::ofstream(dir / "chat_preamble.txt") << "You are terse.\n";
    std::ofstream(dir / "plainformat.txt") << "{{task}}\nPLAINFORMAT\n";
    std::ofstream(dir / "solver.txt") << "Answer {{question}}\n";
  }
  PromptRenderer r({.override_dir = dir.path().string(), .preamble = "", .separator = "\n"});
  CHECK(*r.chat("x") == "You are terse.\nUSER: x\nASSISTANT:");
  CHECK(*r.plainformat_message("Code it.") == "Code it.\nPLAINFORMAT");
  auto s = r.solver_instruction("q");
  REQUIRE(!s);
  CHECK(s.error().message.find("unknown placeholder '{{question}}'") != std::string::npos);
  // Templates not overridden still come from the binary.
  CHECK(r.chain_of_thought_message("t")->rfind("t Give several", 0) == 0);
}
