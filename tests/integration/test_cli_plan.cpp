// `rewoo plan check` and `rewoo exec` as a user runs them (build/rewoo).
//
// The README's plan-check examples are executed as written: every
// "$ build/rewoo plan check ..." line in README.md is run from the repository
// root and must print exactly the lines below it (up to the closing ```),
// and every plan under tests/data/plans/ must have such an example.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"

using rewoo::test::binary_dir;
using rewoo::test::run_command;
using rewoo::test::source_dir;

namespace {

std::string rewoo_bin() { return (binary_dir() / "rewoo").string(); }

// Runs `rewoo <args>` from the repository root; stdout and stderr together.
// The search tool is pointed at a closed loopback port so that plans naming
// DuckDuckGo or TextScraper fail at once, offline.
int run_rewoo(const std::string& args, std::string* out) {
  // In a subshell, so redirections in `args` survive run_command's own 2>&1.
  return run_command("cd '" + source_dir().string() +
                         "' && (REWOO_SEARCH_URL=http://127.0.0.1:9/ '" + rewoo_bin() + "' " +
                         args + ")",
                     out);
}

struct DocExample {
  std::string command;  // as written after "$ "
  std::string expected;
  int line;
};

std::vector<DocExample> readme_examples() {
  std::istringstream in(rewoo::test::read_file(source_dir() / "README.md"));
  std::vector<DocExample> out;
  std::string line;
  int n = 0;
  DocExample* cur = nullptr;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("$ build/rewoo plan check ", 0) == 0) {
      out.push_back({line.substr(2), "", n});
      cur = &out.back();
    } else if (cur && line.rfind("```", 0) == 0) {
      cur = nullptr;
    } else if (cur) {
      cur->expected += line + "\n";
    }
  }
  return out;
}

}  // namespace

TEST_CASE("cli: README's plan check examples print what the README says") {
  auto examples = readme_examples();
  REQUIRE(examples.size() >= 10);
  for (const auto& ex : examples) {
    CAPTURE(ex.line);
    CAPTURE(ex.command);
    const std::string prefix = "build/rewoo";
    std::string cmd = "cd '" + source_dir().string() + "' && '";
    cmd += rewoo_bin();
    cmd += "'";
    cmd += ex.command.substr(prefix.size());
    std::string out;
    run_command(cmd, &out);
    CHECK(out == ex.expected);
  }
}

TEST_CASE("cli: every example plan is documented in the README") {
  std::set<std::string> documented;
  for (const auto& ex : readme_examples()) documented.insert(ex.command);
  auto dir = source_dir() / "tests/data/plans";
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".plan") continue;
    ++files;
    std::string rel = std::filesystem::relative(e.path(), source_dir()).string();
    bool found = false;
    for (const auto& c : documented) found |= c.find(" " + rel) != std::string::npos;
    CHECK_MESSAGE(found, rel << " has no `$ build/rewoo plan check` example in README.md");
  }
  CHECK(files >= 12);
}

TEST_CASE("cli: plan check exit codes and --json") {
  std::string out;
  CHECK(run_rewoo("plan check tests/data/plans/nobel.plan", &out) == 0);
  CHECK(out.find("4 steps in 4 waves") != std::string::npos);

  CHECK(run_rewoo("plan check --json tests/data/plans/nobel.plan", &out) == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["ok"] == true);
  CHECK(j["plan"]["steps"].size() == 4);
  CHECK(j["plan"]["steps"][3]["depends_on"] == nlohmann::json::array({2}));
  CHECK(j["waves"].size() == 4);

  CHECK(run_rewoo("plan check --json tests/data/plans/invalid/many_errors.plan", &out) == 1);
  j = nlohmann::json::parse(out);
  CHECK(j["ok"] == false);
  REQUIRE(j["errors"].size() == 5);
  CHECK(j["errors"][0]["line"] == 2);
  CHECK(j["errors"][0]["col"] == 15);
  CHECK(j["errors"][0]["message"] == "unknown tool 'DuckDuckGoo'");

  CHECK(run_rewoo("plan check - < tests/data/plans/nobel.plan", &out) == 0);
  CHECK(out.rfind("<stdin>: ok:", 0) == 0);
  CHECK(run_rewoo("plan check --tools HyperlinkExtractor tests/data/plans/nobel.plan", &out) == 1);
  CHECK(out.find("2:15: unknown tool 'DuckDuckGo'") != std::string::npos);

  CHECK(run_rewoo("plan check tests/data/plans/no_such_file.plan", &out) == 2);
  CHECK(out.find("cannot read the plan file") != std::string::npos);
  CHECK(run_rewoo("plan check --no-such-flag x", &out) == 2);
  CHECK(run_rewoo("plan check --tools Nope tests/data/plans/nobel.plan", &out) == 2);
  CHECK(out.find("unknown tool 'Nope'") != std::string::npos);
}

TEST_CASE("cli: plan check --json on a plan that is not UTF-8 prints JSON, bad bytes replaced") {
  // A plan saved as Latin-1 ("caf\xE9"): valid JSON comes out, with U+FFFD.
  rewoo::test::TempDir dir;
  const auto path = dir / "latin1.plan";
  {
    std::ofstream f(path, std::ios::binary);
    f << "Plan: Look up caf\xE9 prices.\n:evidence0: = DuckDuckGo[caf\xE9 prices]\n"
         "Answer: :evidence0:\n";
  }
  std::string out;
  CHECK(run_rewoo("plan check --json '" + path.string() + "' 2>/dev/null", &out) == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["plan"]["steps"][0]["input"] == "caf\xEF\xBF\xBD prices");
  CHECK(j["plan"]["steps"][0]["thought"] == "Look up caf\xEF\xBF\xBD prices.");
}

TEST_CASE("cli: exec runs the offline demo plan") {
  std::string out;
  rewoo::test::TempDir tmp;
  std::string trace = (tmp / "trace.jsonl").string();
  REQUIRE(run_rewoo("exec --trace '" + trace + "' tests/data/plans/links_demo.plan 2>/dev/null", &out) == 0);
  CHECK(out ==
        "https://www.nobelprize.org/prizes/literature/2020/gluck/facts/\n"
        "https://en.wikipedia.org/wiki/Louise_Gl%C3%BCck\n"
        "https://www.poetryfoundation.org/poets/louise-gluck\n");
  std::istringstream lines(rewoo::test::read_file(trace));
  std::vector<std::string> types;
  for (std::string l; std::getline(lines, l);) types.push_back(nlohmann::json::parse(l)["event"]);
  CHECK(types == std::vector<std::string>{"plan_parsed", "step_start", "step_start", "step_end",
                                          "step_end", "step_start", "step_end", "answer"});
  // Progress on stderr.
  CHECK(run_rewoo("exec tests/data/plans/links_demo.plan 2>&1 >/dev/null", &out) == 0);
  CHECK(out.find("[start] :evidence0: HyperlinkExtractor[") != std::string::npos);
  CHECK(out.find("[done]  :evidence2: HyperlinkExtractor in ") != std::string::npos);
}

TEST_CASE("cli: exec --json, --dry-run, --fail-fast and placeholder tools") {
  std::string out;
  REQUIRE(run_rewoo("exec --json tests/data/plans/nobel.plan 2>/dev/null", &out) == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["ok"] == true);
  CHECK(j["steps"][0]["status"] == "failed");
  CHECK(j["steps"][0]["evidence"].get<std::string>().rfind(
            "[error] step 0 (DuckDuckGo) failed: ", 0) == 0);
  CHECK(j["steps"][1]["status"] == "ok");  // HyperlinkExtractor ran on the error text
  CHECK(j["steps"][3]["status"] == "failed");
  CHECK(j["answer"].get<std::string>().rfind("[error] step 3 (KnowledgeModel) failed", 0) == 0);

  CHECK(run_rewoo("exec --fail-fast tests/data/plans/nobel.plan", &out) == 1);
  CHECK(out.find("rewoo: step 0 (DuckDuckGo) failed; --fail-fast stopped the run") !=
        std::string::npos);

  REQUIRE(run_rewoo("exec --dry-run tests/data/plans/tricky_inputs.plan", &out) == 0);
  CHECK(out ==
        "wave 1:\n"
        "  :evidence0: = HyperlinkExtractor[Glück [poet [b. 1943]] \"quoted\" 'single' "
        "https://de.wikipedia.org/wiki/Louise_Glück?a=[1] — 日本語]\n"
        "wave 2:\n"
        "  :evidence1: = HyperlinkExtractor[prefix:evidence0:suffix [:evidence0:]]\n"
        "answer: Links: :evidence1: (from :evidence0:)\n");
  REQUIRE(run_rewoo("exec --dry-run --json tests/data/plans/links_demo.plan", &out) == 0);
  CHECK(nlohmann::json::parse(out)["waves"] == nlohmann::json::parse("[[0,1],[2]]"));

  CHECK(run_rewoo("exec tests/data/plans/invalid/unknown_tool.plan", &out) == 1);
  CHECK(out.find("2:15: unknown tool 'DuckDuckGoo'") != std::string::npos);
  CHECK(run_rewoo("exec --jobs 0 tests/data/plans/nobel.plan", &out) == 2);
}

TEST_CASE("cli: exec --json on an invalid plan, bad --timeout, a directory, NUL bytes") {
  std::string out;
  // The errors as JSON on stdout, as plan check --json prints them.
  CHECK(run_rewoo("exec --json tests/data/plans/invalid/unknown_tool.plan 2>/dev/null", &out) == 1);
  auto j = nlohmann::json::parse(out);
  CHECK(j["ok"] == false);
  CHECK(j["errors"][0]["message"] == "unknown tool 'DuckDuckGoo'");

  // Below a millisecond the limit would round to none; NaN and huge values are no limit either.
  for (const char* t : {"0.0001", "nan", "inf", "1e300", "-1"}) {
    CHECK_MESSAGE(run_rewoo(std::string("exec --timeout ") + t + " tests/data/plans/links_demo.plan",
                            &out) == 2,
                  t);
    CHECK(out.find("--timeout must be 0 (no limit) or 0.001 to 604800 seconds") !=
          std::string::npos);
  }
  CHECK(run_rewoo("exec --timeout 0 tests/data/plans/links_demo.plan 2>/dev/null", &out) == 0);
  // The agent's --step-timeout takes the same range (checked before any model loads).
  CHECK(run_rewoo("ask --step-timeout nan 'a task'", &out) == 2);
  CHECK(out.find("--step-timeout: must be 0 (no limit) or 0.001 to 604800 seconds, got nan") !=
        std::string::npos);

  // A directory is a usage error (exit 2), named as such.
  rewoo::test::TempDir tmp;
  CHECK(run_rewoo("plan check '" + tmp.path().string() + "'", &out) == 2);
  CHECK(out.find("the plan file is a directory, not a file") != std::string::npos);
  CHECK(run_rewoo("plan check - < '" + tmp.path().string() + "'", &out) == 2);
  CHECK(out.find("cannot read the plan file from standard input: it is a directory") !=
        std::string::npos);

  // The answer is printed whole, NUL bytes and all.
  const auto plan = tmp / "nul.plan";
  {
    std::ofstream f(plan, std::ios::binary);
    f << ":evidence0: = HyperlinkExtractor[x]\nAnswer: A";
    f.put('\0');
    f << "B :evidence0: C\n";
  }
  REQUIRE(run_rewoo("exec '" + plan.string() + "' 2>/dev/null", &out) == 0);
  CHECK(out == std::string("A\0B  C\n", 7));
  REQUIRE(run_rewoo("plan check '" + plan.string() + "'", &out) == 0);
  CHECK(out.find(std::string("answer: A\0B :evidence0: C\n", 26)) != std::string::npos);
}
