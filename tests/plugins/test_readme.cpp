// README.md's "Tools and plugins" section is executed as written: every
// "$ ... build/rewoo ..." line in a console block of that section runs from
// the repository root (with build/ pointing at this build) and must print
// exactly the lines below it, up to the next "$ " line or the closing ```.
// An expected line ending in "..." matches any line that starts with the
// text before it (for machine-specific paths).
#include <doctest/doctest.h>

#include <sstream>

#include "tests/plugins/plugin_test_util.h"

using namespace rewoo;

namespace {

struct Example {
  std::string command;
  std::vector<std::string> expected;
  int line;
};

std::vector<Example> plugin_examples(std::string* section_text) {
  std::istringstream in(test::read_file(test::source_dir() / "README.md"));
  std::vector<Example> out;
  std::string line;
  int n = 0;
  bool in_section = false, in_console = false;
  Example* cur = nullptr;
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("## ", 0) == 0) in_section = line == "## Tools and plugins";
    if (!in_section) continue;
    *section_text += line + "\n";
    if (line.rfind("```console", 0) == 0) {
      in_console = true;
    } else if (in_console && line.rfind("```", 0) == 0) {
      in_console = false;
      cur = nullptr;
    } else if (in_console && line.rfind("$ ", 0) == 0) {
      cur = nullptr;
      if (line.find("build/rewoo ") == std::string::npos) continue;  // e.g. npm install
      out.push_back({line.substr(2), {}, n});
      cur = &out.back();
    } else if (cur) {
      cur->expected.push_back(line);
    }
  }
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size())
    s.replace(p, from.size(), to);
  return s;
}

bool line_matches(const std::string& expected, const std::string& actual) {
  if (expected.size() >= 3 && expected.compare(expected.size() - 3, 3, "...") == 0)
    return actual.rfind(expected.substr(0, expected.size() - 3), 0) == 0;
  return expected == actual;
}

}  // namespace

TEST_CASE("readme: the Tools and plugins examples print what the README says") {
  std::string log;
  REQUIRE_MESSAGE(!test::npm_servers_dir(&log).empty(), log);  // build/npm for the MCP examples
  std::string section;
  auto examples = plugin_examples(&section);
  REQUIRE(examples.size() >= 9);
  // The documented example files are the tested ones.
  for (const char* f : {"tests/data/plugins/mcp.yaml", "tests/data/plugins/commands.yaml",
                        "tests/data/plugins/library.yaml", "tests/data/plugins/title_case_plugin.c",
                        "tools/plugins/rewoo_plugin.h"})
    CHECK_MESSAGE(section.find(f) != std::string::npos, f);
  CHECK_MESSAGE(section.find(test::read_file(test::plugin_data_dir() / "commands.yaml")
                                 .substr(test::read_file(test::plugin_data_dir() / "commands.yaml")
                                             .find("limits:"))) != std::string::npos,
                "README shows commands.yaml as it is");
  std::string plugin_c = test::read_file(test::plugin_data_dir() / "title_case_plugin.c");
  CHECK_MESSAGE(section.find(plugin_c.substr(plugin_c.find("#include <ctype.h>"))) !=
                    std::string::npos,
                "README shows title_case_plugin.c as it is");

  std::string build = test::binary_dir().string() + "/";
  for (const auto& ex : examples) {
    CAPTURE(ex.line);
    CAPTURE(ex.command);
    std::string cmd = replace_all(ex.command, "build/", build);
    std::string out;
    test::run_command("cd '" + test::source_dir().string() + "' && (" + cmd + ")", &out);
    std::vector<std::string> got;
    std::istringstream lines(out);
    for (std::string l; std::getline(lines, l);) got.push_back(l);
    CAPTURE(out);
    REQUIRE(got.size() == ex.expected.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(line_matches(ex.expected[i], got[i]));
  }
}
