// The MCP client against real servers from npm: server-everything and
// server-filesystem, installed into <build>/npm by the first test that needs
// them and run with node, through the README's example config
// (tests/data/plugins/mcp.yaml).
#include <doctest/doctest.h>

#include <signal.h>

#include <filesystem>

#include "agent/grammar/function_call_grammar.h"
#include "agent/grammar/grammar.h"
#include "agent/grammar/plan_grammar.h"
#include "tests/plugins/plugin_test_util.h"
#include "tools/default_registry.h"
#include "tools/plugins/plugin_tools.h"

using namespace rewoo;
using namespace rewoo::tools;
using json = nlohmann::json;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

struct NpmServers {
  test::TempDir files;
  Registry reg;
  NpmServers() {
    std::string log;
    std::string npm = test::npm_servers_dir(&log);
    REQUIRE_MESSAGE(!npm.empty(), log);
    test::write_file(files / "a.txt", "Attosecond physics won the 2023 Nobel Prize.\n");
    std::filesystem::create_directories(files / "sub");
    test::write_file(files / "sub/b.md", "# notes\n");
    test::set_example_env(npm, files.path().string());
    auto cfg = load_config((test::plugin_data_dir() / "mcp.yaml").string());
    REQUIRE_MESSAGE(cfg, (cfg ? "" : cfg.error().to_string()));
    auto st = add_plugin_tools(reg, *cfg);
    REQUIRE_MESSAGE(st, (st ? "" : st.error().to_string()));
  }
};

}  // namespace

TEST_CASE("mcp npm: server-everything and server-filesystem") {
  NpmServers s;
  ToolContext ctx;

  SUBCASE("server-everything: its tools, several calls, its errors") {
    auto names = s.reg.names();
    for (const char* want : {"ev.echo", "ev.get-sum", "ev.get-env", "ev.get-tiny-image"})
      CHECK_MESSAGE(s.reg.contains(want), want);
    Tool* echo = s.reg.find("ev.echo");
    CHECK(echo->kind() == "mcp");
    CHECK(echo->description() == "Echoes back the input string");
    CHECK(echo->input_description() == "Message to echo");
    REQUIRE(echo->parameters_schema());
    CHECK((*echo->parameters_schema())["properties"].contains("message"));

    auto r = echo->invoke("Who won the Nobel Prize in Physics in 2023?", ctx);
    CHECK(r.ok);
    CHECK(r.text == "Echo: Who won the Nobel Prize in Physics in 2023?");
    r = s.reg.find("ev.get-sum")->invoke(R"({"a": 19, "b": 23})", ctx);
    CHECK(r.ok);
    CHECK(contains(r.text, "42"));
    // Non-text content becomes a note, not base64 soup.
    r = s.reg.find("ev.get-tiny-image")->invoke("", ctx);
    CHECK(r.ok);
    CHECK(contains(r.text, "[image: image/png, about "));
    // The server's own validation error, as error evidence.
    r = s.reg.find("ev.get-sum")->invoke(R"({"a": "nineteen", "b": 23})", ctx);
    CHECK_FALSE(r.ok);
    CHECK(contains(r.text, "reported an error"));
    CHECK(contains(r.text, "expected number"));
    // rewoo's own mapping error for text that is no JSON object.
    r = s.reg.find("ev.get-sum")->invoke("19 plus 23", ctx);
    CHECK_FALSE(r.ok);
    CHECK(contains(r.text, "ev.get-sum[{\"a\": number, \"b\": number}]"));
    // The clean environment: rewoo's secrets do not reach the server.
    setenv("REWOO_TEST_SECRET", "hunter2", 1);
    r = s.reg.find("ev.get-env")->invoke("", ctx);
    CHECK(r.ok);
    CHECK(contains(r.text, "PATH"));
    CHECK_FALSE(contains(r.text, "hunter2"));
  }

  SUBCASE("server-filesystem: list and read under the root, a path outside refused") {
    CHECK(s.reg.contains("files.read_text_file"));
    CHECK_FALSE(s.reg.contains("files.write_file"));  // not in `include`
    auto root = std::filesystem::canonical(s.files.path());
    auto r = s.reg.find("files.list_directory")->invoke(root.string(), ctx);
    CHECK(r.ok);
    CHECK(contains(r.text, "[FILE] a.txt"));
    CHECK(contains(r.text, "[DIR] sub"));
    r = s.reg.find("files.read_text_file")->invoke((root / "a.txt").string(), ctx);
    CHECK(r.ok);
    CHECK(r.text == "Attosecond physics won the 2023 Nobel Prize.\n");
    r = s.reg.find("files.read_text_file")
            ->invoke(json{{"path", (root / "sub/b.md").string()}}.dump(), ctx);
    CHECK(r.ok);
    CHECK(r.text == "# notes\n");

    r = s.reg.find("files.read_text_file")->invoke("/etc/passwd", ctx);
    CHECK_FALSE(r.ok);
    CHECK(contains(r.text, "the tool 'files.read_text_file' reported an error: "));
    CHECK(contains(r.text, "Access denied - path outside allowed directories"));
    r = s.reg.find("files.read_text_file")->invoke((root / "../../etc/passwd").string(), ctx);
    CHECK_FALSE(r.ok);
    CHECK(contains(r.text, "Access denied"));
  }

  SUBCASE("their input schemas feed the function-call grammar; their names the plan grammar") {
    namespace g = rewoo::agent::grammar;
    for (auto format : {rewoo::agent::CallFormat::kJson, rewoo::agent::CallFormat::kYaml}) {
      auto gbnf = g::function_call_gbnf(s.reg, format);
      REQUIRE_MESSAGE(gbnf, (gbnf ? "" : gbnf.error().to_string()));
      CHECK(contains(*gbnf, "ev.get-sum"));
      auto compiled = g::Grammar::parse(*gbnf);
      CHECK_MESSAGE(compiled, (compiled ? "" : compiled.error().to_string()));
    }
    auto plan = g::plan_grammar_gbnf(s.reg);
    REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().to_string()));
    CHECK(contains(*plan, "files.read_text_file"));
    CHECK(contains(s.reg.render_tools_block(),
                   "ev.echo[Message to echo]: Echoes back the input string\n"));
  }

  SUBCASE("a server killed from outside is started again on the next call") {
    auto* tool = dynamic_cast<plugins::McpTool*>(s.reg.find("files.read_text_file"));
    REQUIRE(tool);
    pid_t pid = tool->client().pid();
    REQUIRE(pid > 0);
    kill(-pid, SIGKILL);
    auto root = std::filesystem::canonical(s.files.path());
    // The call right after the kill may find the connection still alive
    // (the reader thread has not seen EOF yet) and fail; the one after that
    // must work on a fresh server.
    auto r = tool->invoke((root / "a.txt").string(), ctx);
    if (!r.ok) r = tool->invoke((root / "a.txt").string(), ctx);
    CHECK(r.ok);
    CHECK(tool->client().start_count() == 2);
    CHECK(tool->client().pid() != pid);
  }
}
