// Command tools and shared-library tools, through the example configs in
// tests/data/plugins (the README's examples) and load_registry.
#include <doctest/doctest.h>

#include <chrono>

#include "tests/plugins/plugin_test_util.h"
#include "tools/default_registry.h"
#include "tools/plugins/plugin_tools.h"

using namespace rewoo;
using namespace rewoo::tools;
using namespace std::chrono_literals;

namespace {
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
Registry registry_from(const std::string& file) {
  test::set_example_env();
  auto cfg = load_config((test::plugin_data_dir() / file).string());
  REQUIRE_MESSAGE(cfg, (cfg ? "" : cfg.error().to_string()));
  Registry reg;
  auto st = add_plugin_tools(reg, *cfg);
  REQUIRE_MESSAGE(st, (st ? "" : st.error().to_string()));
  return reg;
}
}  // namespace

TEST_CASE("command tools: the README example (stdin and argument input)") {
  Registry reg = registry_from("commands.yaml");
  CHECK(reg.names() == std::vector<std::string>{"Grep", "WordCount"});
  Tool* wc = reg.find("WordCount");
  CHECK(wc->kind() == "command");
  CHECK(contains(wc->source(), "/wc -w (from "));
  ToolContext ctx;
  auto r = wc->invoke("the quick brown fox", ctx);
  CHECK(r.ok);
  CHECK(r.text == "4");

  Tool* grep = reg.find("Grep");
  r = grep->invoke("attosecond", ctx);
  CHECK(r.ok);
  CHECK(r.text == "2:Attosecond pulses let physicists watch electrons move.");
  // Model text is one argument, never shell syntax.
  r = grep->invoke("x; rm -rf /tmp/*", ctx);
  CHECK_FALSE(r.ok);
  CHECK(r.text == "the command tool 'Grep' exited with status 1");
  r = grep->invoke("-v", ctx);  // `--` before {input}: not an option either
  CHECK_FALSE(r.ok);
}

TEST_CASE("command tools: timeout, flood, failure, clean environment") {
  setenv("REWOO_TEST_SECRET", "hunter2", 1);
  auto cfg = parse_config(R"(
limits: {tool_timeout_ms: 400, max_output_bytes: 1000}
plugins:
  commands:
    - {name: Hang, description: d, command: sleep, args: ["30"]}
    - {name: Flood, description: d, command: "yes"}
    - {name: Fail, description: d, command: sh, args: [-c, "echo bad input >&2; exit 4"]}
    - {name: Env, description: d, command: env, env: {MODE: test}}
    - {name: Crash, description: d, command: sh, args: [-c, "kill -SEGV $$"]}
)");
  REQUIRE(cfg);
  Registry reg;
  REQUIRE(add_plugin_tools(reg, *cfg));
  ToolContext ctx;
  auto start = std::chrono::steady_clock::now();
  auto r = reg.find("Hang")->invoke("", ctx);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK_FALSE(r.ok);
  CHECK(r.text == "the command tool 'Hang' timed out after 400 ms and was stopped");
  r = reg.find("Flood")->invoke("", ctx);
  CHECK_FALSE(r.ok);
  CHECK(contains(r.text, "wrote more than 1000 bytes on stdout and was stopped"));
  r = reg.find("Fail")->invoke("", ctx);
  CHECK_FALSE(r.ok);
  CHECK(r.text == "the command tool 'Fail' exited with status 4: bad input");
  r = reg.find("Env")->invoke("", ctx);
  CHECK(r.ok);
  CHECK(contains(r.text, "MODE=test"));
  CHECK(contains(r.text, "PATH="));
  CHECK_FALSE(contains(r.text, "hunter2"));
  r = reg.find("Crash")->invoke("", ctx);
  CHECK_FALSE(r.ok);
  CHECK(contains(r.text, "killed by signal 11"));
  // The step's own budget wins when it is shorter.
  ctx.timeout = 100ms;
  r = reg.find("Hang")->invoke("", ctx);
  CHECK(r.text == "the command tool 'Hang' timed out after 100 ms and was stopped");
  // A step without a limit (rewoo exec --timeout 0) leaves the tool's own.
  ctx.timeout = 0ms;
  r = reg.find("Fail")->invoke("", ctx);
  CHECK(r.text == "the command tool 'Fail' exited with status 4: bad input");
  r = reg.find("Hang")->invoke("", ctx);
  CHECK(r.text == "the command tool 'Hang' timed out after 400 ms and was stopped");

  auto missing = parse_config("plugins:\n  commands:\n    - {name: X, description: d, command: rewoo-nope}\n");
  REQUIRE(missing);
  Registry reg2;
  auto st = add_plugin_tools(reg2, *missing);
  REQUIRE_FALSE(st);
  CHECK(contains(st.error().message, "command tool 'X'"));
  CHECK(contains(st.error().message, "'rewoo-nope' was not found in PATH"));
}

TEST_CASE("library tools: the README example plugin, built by the tests") {
  Registry reg = registry_from("library.yaml");
  Tool* t = reg.find("TitleCase");
  REQUIRE(t);
  CHECK(t->kind() == "library");
  CHECK(contains(t->source(), "libtitle_case_plugin.so"));
  CHECK(t->description() == "Capitalizes the first letter of every word of the input.");
  CHECK(t->input_description() == "text to capitalize");
  REQUIRE(t->parameters_schema());
  CHECK((*t->parameters_schema())["required"][0] == "text");
  ToolContext ctx;
  auto r = t->invoke("the nobel prize in physics", ctx);
  CHECK(r.ok);
  CHECK(r.text == "The Nobel Prize In Physics");
  r = t->invoke("", ctx);
  CHECK_FALSE(r.ok);
  CHECK(r.text == "the library tool 'TitleCase' reported an error: TitleCase needs some text");
}

TEST_CASE("library tools: version mismatch refused, missing entry point, a hang times out") {
  Limits limits;
  LibraryToolConfig c;
  c.path = (test::plugin_build_dir() / "libfixture_old_api_plugin.so").string();
  auto t = plugins::load_library_tool(c, limits);
  REQUIRE_FALSE(t);
  CHECK(t.error().message ==
        "the plugin was built for rewoo plugin API version 99, but this rewoo supports version "
        "1; rebuild it against this rewoo's tools/plugins/rewoo_plugin.h");
  CHECK(contains(t.error().where, "libfixture_old_api_plugin.so"));

  c.path = "/nonexistent/libx.so";
  t = plugins::load_library_tool(c, limits);
  REQUIRE_FALSE(t);
  CHECK(contains(t.error().message, "cannot load the library tool"));

  c.path = "libc.so.6";  // a real library that is no plugin
  t = plugins::load_library_tool(c, limits);
  REQUIRE_FALSE(t);
  CHECK(contains(t.error().message, "does not export rewoo_plugin_entry()"));

  c.path = (test::plugin_build_dir() / "libfixture_sleepy_plugin.so").string();
  c.timeout = 200ms;
  c.name = "Nap";
  t = plugins::load_library_tool(c, limits);
  REQUIRE(t);
  CHECK((*t)->name() == "Nap");
  ToolContext ctx;
  auto r = (*t)->invoke("10", ctx);
  CHECK(r.ok);
  CHECK(r.text == "slept 10 ms");
  auto start = std::chrono::steady_clock::now();
  r = (*t)->invoke("5000", ctx);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK_FALSE(r.ok);
  CHECK(contains(r.text, "did not return within 200 ms; its call was abandoned"));
}

TEST_CASE("load_registry: plugins join the built-ins; clashes and disable") {
  test::set_example_env();
  auto cfg = load_config((test::plugin_data_dir() / "commands.yaml").string());
  REQUIRE(cfg);
  auto reg = load_registry(*cfg);
  REQUIRE_MESSAGE(reg, (reg ? "" : reg.error().to_string()));
  CHECK(reg->contains("WordCount"));
  CHECK(reg->contains("Grep"));
  for (const char* builtin : {"DuckDuckGo", "TextScraper", "HyperlinkExtractor", "KnowledgeModel"})
    CHECK_MESSAGE(reg->contains(builtin), builtin);
  CHECK(reg->find("HyperlinkExtractor")->kind() == "builtin");

  // The web section goes to the web tools' own reader, typos included.
  auto web = parse_config("web:\n  search: {max_results: 3}\n");
  REQUIRE(web);
  CHECK(load_registry(*web));
  web = parse_config("web:\n  max_redirect: 3\n", "w.yaml");
  REQUIRE(web);
  auto bad_web = load_registry(*web);
  REQUIRE_FALSE(bad_web);
  CHECK(contains(bad_web.error().to_string(), "w.yaml: web"));
  CHECK(contains(bad_web.error().to_string(), "max_redirect"));

  cfg->disabled_tools = {"Grep"};
  reg = load_registry(*cfg);
  REQUIRE(reg);
  CHECK_FALSE(reg->contains("Grep"));
  cfg->disabled_tools = {"Grpe"};
  reg = load_registry(*cfg);
  REQUIRE_FALSE(reg);
  CHECK(contains(reg.error().message, "did you mean 'Grep'?"));

  cfg->disabled_tools.clear();
  cfg->commands.push_back(cfg->commands[0]);
  reg = load_registry(*cfg);
  REQUIRE_FALSE(reg);
  CHECK(contains(reg.error().message, "a tool named 'WordCount' is already registered"));
}
