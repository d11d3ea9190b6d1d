// The CLI with plugins: rewoo tools list / call, and plugin tools as plan
// steps under rewoo exec --config FILE (the README's examples).
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/plugins/plugin_test_util.h"

using namespace rewoo;
using json = nlohmann::json;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string data(const std::string& name) {
  std::string quoted = "'";
  quoted += (test::plugin_data_dir() / name).string();
  quoted += "'";
  return quoted;
}

// Runs the CLI with stdout only (stderr to a file), returns the exit code.
int run_rewoo(const std::string& args, std::string* out, std::string* err = nullptr) {
  test::TempDir tmp;
  auto err_file = tmp / "stderr";
  int rc = test::run_command("{ " + test::rewoo_cli() + " " + args + " 2>'" + err_file.string() +
                                 "'; }",
                             out);
  if (err) *err = std::filesystem::exists(err_file) ? test::read_file(err_file) : "";
  return rc;
}

}  // namespace

TEST_CASE("cli: rewoo tools list shows every tool with its kind and source") {
  test::set_example_env();
  std::string out, err;
  REQUIRE(run_rewoo("tools list --config " + data("commands.yaml"), &out, &err) == 0);
  CHECK(contains(out, "WordCount"));
  CHECK(contains(out, "command"));
  CHECK(contains(out, "Counts the words of the input text."));
  CHECK(contains(out, "HyperlinkExtractor"));
  CHECK(contains(out, "builtin"));
  CHECK(contains(err, " tools"));

  REQUIRE(run_rewoo("tools list --json --config " + data("library.yaml"), &out) == 0);
  json j = json::parse(out);
  bool found = false;
  for (auto& t : j) {
    if (t["name"] != "TitleCase") continue;
    found = true;
    CHECK(t["kind"] == "library");
    CHECK(contains(t["source"].get<std::string>(), "libtitle_case_plugin.so"));
    CHECK(t["parameters"]["required"][0] == "text");
  }
  CHECK(found);

  // $REWOO_CONFIG stands in for --config.
  REQUIRE(run_rewoo("tools list --json", &out) == 0);
  CHECK_FALSE(contains(out, "WordCount"));
  REQUIRE(run_rewoo("tools list --json", &out) == 0);
  REQUIRE(test::run_command("REWOO_CONFIG=" + data("commands.yaml") + " " + test::rewoo_cli() +
                                " tools list --json 2>/dev/null",
                            &out) == 0);
  CHECK(contains(out, "WordCount"));
}

TEST_CASE("cli: rewoo tools call runs one tool; exit codes say how it went") {
  test::set_example_env();
  std::string out, err;
  CHECK(run_rewoo("tools call WordCount 'one two three' --config " + data("commands.yaml"), &out) == 0);
  CHECK(out == "3\n");
  CHECK(run_rewoo("tools call TitleCase 'hello world' --config " + data("library.yaml"), &out) == 0);
  CHECK(out == "Hello World\n");
  CHECK(run_rewoo("tools call --json TitleCase 'hello' --config " + data("library.yaml"), &out) == 0);
  CHECK(json::parse(out)["text"] == "Hello");

  // The tool failed: exit 1, the reason on stderr.
  CHECK(run_rewoo("tools call TitleCase '' --config " + data("library.yaml"), &out, &err) == 1);
  CHECK(contains(err, "TitleCase failed: the library tool 'TitleCase' reported an error"));
  // Unknown tool: a usage error with a suggestion.
  CHECK(run_rewoo("tools call WordCont x --config " + data("commands.yaml"), &out, &err) == 2);
  CHECK(contains(err, "did you mean 'WordCount'?"));
  // Missing config file: usage error; broken plugin: failure, naming it.
  CHECK(run_rewoo("tools list --config /nonexistent.yaml", &out, &err) == 2);
  CHECK(contains(err, "cannot read the configuration file '/nonexistent.yaml'"));
  test::TempDir tmp;
  test::write_file(tmp / "bad.yaml",
                   "plugins:\n  commands:\n    - {name: X, description: d, command: rewoo-nope}\n");
  CHECK(run_rewoo("tools list --config '" + (tmp / "bad.yaml").string() + "'", &out, &err) == 1);
  CHECK(contains(err, "command tool 'X'"));
}

TEST_CASE("cli: a command tool and a library tool run as plan steps under rewoo exec") {
  test::set_example_env();
  std::string out, err;
  REQUIRE(run_rewoo("exec " + data("notes.plan") + " --config " + data("commands.yaml"), &out, &err) ==
          0);
  // grep -n gives "1:The Nobel Prize in Physics 2023 went to Agostini, Krausz and
  // L'Huillier.": 12 words.
  CHECK(out == "12\n");
  CHECK(contains(err, "Grep"));

  REQUIRE(run_rewoo("exec " + data("title_case.plan") + " --config " + data("library.yaml"), &out,
                &err) == 0);
  CHECK(out == "Attosecond Pulses Of Light For The Study Of Electron Dynamics\n");

  // Without the config the plan names an unknown tool.
  CHECK(run_rewoo("exec " + data("title_case.plan"), &out, &err) == 1);
  CHECK(contains(err, "TitleCase"));
}

namespace {
// Processes whose command line contains `tag`.
int processes_with(const std::string& tag) {
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline;
    try {
      cmdline = test::read_file(e.path() / "cmdline");
    } catch (...) {
      continue;
    }
    for (char& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.find(tag) != std::string::npos && cmdline.find("fake_mcp_server") != std::string::npos)
      ++n;
  }
  return n;
}
}  // namespace

TEST_CASE("cli: a hung MCP step under rewoo exec --timeout leaves no server behind") {
  test::TempDir tmp;
  std::string tag = "tag-" + tmp.path().filename().string();
  test::write_file(tmp / "fake.yaml", "plugins:\n  mcp_servers:\n    - name: fake\n"
                                      "      command: python3\n      args: [\"" +
                                          test::fake_server() + "\", " + tag + "]\n");
  test::write_file(tmp / "hang.plan",
                   "Plan: Hang.\n:evidence0: = fake.hang[]\nPlan: Echo.\n"
                   ":evidence1: = fake.echo[after :evidence0:]\nAnswer: :evidence1:\n");
  std::string out, err;
  auto start = std::chrono::steady_clock::now();
  int rc = run_rewoo("exec --timeout 1 '" + (tmp / "hang.plan").string() + "' --config '" +
                         (tmp / "fake.yaml").string() + "'",
                     &out, &err);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(rc == 0);
  CHECK(contains(err, "timed out"));
  // The server dies with rewoo (stdin EOF, or PR_SET_PDEATHSIG for one that
  // no longer reads it).
  for (int i = 0; i < 100 && processes_with(tag) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(processes_with(tag) == 0);

  // Even when rewoo is SIGKILLed in the middle of the call.
  auto pidfile = tmp / "rewoo.pid";
  test::run_command(test::rewoo_cli() + " tools call fake.hang '' --timeout-ms 60000 --config '" +
                    (tmp / "fake.yaml").string() + "' >/dev/null 2>&1 & echo $! > '" +
                    pidfile.string() + "'");
  // The server is up: seen in 10 polls in a row. Once is not enough: while
  // it starts (a launcher such as a pyenv shim that forks and execs) its
  // command line can be there one moment and unreadable the next.
  int seen = 0;
  for (int i = 0; i < 750 && seen < 10; ++i) {
    seen = processes_with(tag) > 0 ? seen + 1 : 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(seen == 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the call is in flight
  kill(std::stoi(test::read_file(pidfile)), SIGKILL);
  for (int i = 0; i < 100 && processes_with(tag) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(processes_with(tag) == 0);
}

TEST_CASE("cli: MCP tools as plan steps under rewoo exec") {
  std::string log;
  std::string npm = test::npm_servers_dir(&log);
  REQUIRE_MESSAGE(!npm.empty(), log);
  test::TempDir files;
  test::write_file(files / "a.txt", "Attosecond physics won the 2023 Nobel Prize.");
  test::set_example_env(npm, files.path().string());
  std::string out, err;
  REQUIRE_MESSAGE(run_rewoo("exec " + data("mcp.plan") + " --config " + data("mcp.yaml"), &out, &err) == 0,
                  err);
  CHECK(out == "Echo: The sum of 19 and 23 is 42.\n");

  auto root = std::filesystem::canonical(files.path());
  test::write_file(files / "read.plan",
                   "Plan: Read the file.\n:evidence0: = files.read_text_file[" +
                       (root / "a.txt").string() +
                       "]\nPlan: Read a file outside the root.\n"
                       ":evidence1: = files.read_text_file[/etc/hostname]\n"
                       "Plan: Echo both.\n:evidence2: = ev.echo[:evidence0: / :evidence1:]\n"
                       "Answer: :evidence2:\n");
  REQUIRE_MESSAGE(run_rewoo("exec '" + (files / "read.plan").string() + "' --config " + data("mcp.yaml"),
                        &out, &err) == 0,
                  err);
  CHECK(contains(out, "Echo: Attosecond physics won the 2023 Nobel Prize. / "));
  CHECK(contains(out, "Access denied - path outside allowed directories"));
}
