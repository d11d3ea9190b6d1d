#include <doctest/doctest.h>

#include <CLI/CLI.hpp>

#include "tests/plugins/plugin_test_util.h"
#include "tools/config.h"
#include "tools/plugins/arguments.h"

using namespace rewoo;
using namespace rewoo::tools;
using json = nlohmann::json;

TEST_CASE("config: every plugin kind, limits, web passed through") {
  setenv("REWOO_TEST_ROOT", "/srv/notes", 1);
  auto c = parse_config(R"(
limits:
  tool_timeout_ms: 1500
  max_output_bytes: 4096
plugins:
  mcp_servers:
    - name: files
      command: npx
      args: [-y, "@modelcontextprotocol/server-filesystem", "${REWOO_TEST_ROOT}"]
      env: {DEBUG: "1"}
      timeout_ms: 700
  commands:
    - name: WordCount
      description: Counts words.
      command: ./bin/wc.sh
      args: [-w]
      parameters:
        type: object
        properties: {text: {type: string}, max: {type: integer, minimum: 1}}
      cwd: data
    - name: Grep
      description: Greps.
      command: grep
      args: ["{input}", notes.txt]
      input: argument
      env_allowlist: []
  libraries:
    - path: plugins/libx.so
      name: Renamed
web:
  user_agent: test
)", "/etc/rewoo/rewoo.yaml");
  REQUIRE_MESSAGE(c, (c ? "" : c.error().to_string()));
  CHECK(c->dir == "/etc/rewoo");
  CHECK(c->limits.tool_timeout.count() == 1500);
  CHECK(c->limits.max_output_bytes == 4096);
  REQUIRE(c->mcp_servers.size() == 1);
  auto& s = c->mcp_servers[0];
  CHECK(s.command == "npx");  // a bare name stays a PATH lookup
  CHECK(s.args.back() == "/srv/notes");
  CHECK(s.prefix == "files.");
  CHECK(s.env.at("DEBUG") == "1");
  CHECK(s.timeout->count() == 700);
  CHECK_FALSE(s.env_allowlist.has_value());
  REQUIRE(c->commands.size() == 2);
  CHECK(c->commands[0].command == "/etc/rewoo/bin/wc.sh");
  CHECK(c->commands[0].cwd == "/etc/rewoo/data");
  CHECK(c->commands[0].input == CommandToolConfig::Input::kStdin);
  CHECK((*c->commands[0].parameters_schema)["properties"]["max"]["minimum"] == 1);
  CHECK(c->commands[1].input == CommandToolConfig::Input::kArgument);
  REQUIRE(c->commands[1].env_allowlist.has_value());
  CHECK(c->commands[1].env_allowlist->empty());
  REQUIRE(c->libraries.size() == 1);
  CHECK(c->libraries[0].path == "/etc/rewoo/plugins/libx.so");
  CHECK(c->libraries[0].name == "Renamed");
  REQUIRE(c->web);
  CHECK(c->web["user_agent"].as<std::string>() == "test");
  CHECK(c->section("web")["user_agent"].as<std::string>() == "test");
}

TEST_CASE("config: mistakes are reported with file, line and what was expected") {
  auto c = parse_config("plugins:\n  commands:\n    - name: X\n      descripton: typo\n", "r.yaml");
  REQUIRE_FALSE(c);
  CHECK(c.error().where.find("r.yaml:4:") == 0);
  CHECK(c.error().message.find("unknown key 'descripton' (did you mean 'description'?)") !=
        std::string::npos);

  c = parse_config("plugins:\n  mcp_servers:\n    - name: a\n      args: [x]\n", "r.yaml");
  REQUIRE_FALSE(c);
  CHECK(c.error().message == "an MCP server needs a 'command' to start it");

  c = parse_config("limits:\n  tool_timeout_ms: soon\n", "r.yaml");
  REQUIRE_FALSE(c);
  CHECK(c.error().to_string().find("r.yaml:2:20 (limits.tool_timeout_ms): expected a whole number") == 0);

  unsetenv("REWOO_TEST_UNSET");
  c = parse_config(
      "plugins:\n  libraries:\n    - path: ${REWOO_TEST_UNSET}/x.so\n", "r.yaml");
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("'REWOO_TEST_UNSET'") != std::string::npos);
  CHECK(c.error().message.find("is not set") != std::string::npos);

  c = parse_config("plugins: [\n", "r.yaml");
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("invalid YAML") == 0);

  c = parse_config("plugins:\n  commands:\n    - name: X\n      description: d\n      command: c\n"
                   "      input: pipe\n", "r.yaml");
  REQUIRE_FALSE(c);
  CHECK(c.error().message == "expected 'stdin' or 'argument', got 'pipe'");

  // Sections other areas own are kept, not rejected.
  c = parse_config("engine:\n  device: cpu\n");
  REQUIRE(c);
  CHECK(c->section("engine")["device"].as<std::string>() == "cpu");
  CHECK(c->section("absent").IsNull());
}

TEST_CASE("config: --config FILE, then $REWOO_CONFIG, then the defaults") {
  test::TempDir dir;
  test::write_file(dir / "a.yaml", "limits: {tool_timeout_ms: 111}\n");
  test::write_file(dir / "b.yaml", "limits: {tool_timeout_ms: 222}\n");

  CLI::App app;
  std::string path;
  tools::add_config_option(app, &path);
  std::string arg = (dir / "a.yaml").string();
  std::vector<std::string> argv = {arg, "--config"};  // CLI11 parses a reversed vector
  app.parse(argv);
  CHECK(path == arg);

  setenv("REWOO_CONFIG", (dir / "b.yaml").c_str(), 1);
  CHECK(load_config_for_cli(path)->limits.tool_timeout.count() == 111);
  CHECK(load_config_for_cli("")->limits.tool_timeout.count() == 222);
  unsetenv("REWOO_CONFIG");
  CHECK(load_config_for_cli("")->limits.tool_timeout.count() == 60000);
  auto missing = load_config_for_cli((dir / "none.yaml").string());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("cannot read the configuration file") == 0);
}

TEST_CASE("arguments: a plan's text input becomes a tool's JSON arguments") {
  using tools::plugins::arguments_from_input;
  json one = {{"type", "object"}, {"properties", {{"message", {{"type", "string"}}}}}};
  CHECK(*arguments_from_input("hello [world]", one, "t") == json{{"message", "hello [world]"}});
  CHECK(*arguments_from_input(R"({"message": "hi"})", one, "t") == json{{"message", "hi"}});
  // A JSON object with other keys is still just text for a one-string tool.
  CHECK(*arguments_from_input(R"({"x": 1})", one, "t") == json{{"message", R"({"x": 1})"}});

  json two = {{"type", "object"},
              {"properties", {{"a", {{"type", "number"}}}, {"b", {{"type", "number"}}}}},
              {"required", {"a", "b"}}};
  CHECK(*arguments_from_input(R"( {"a": 2, "b": 3} )", two, "add") == json{{"a", 2}, {"b", 3}});
  auto bad = arguments_from_input("2 and 3", two, "add");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message ==
        "the tool 'add' takes several parameters; give its input as a JSON object: "
        "add[{\"a\": number, \"b\": number}]");

  // One required parameter among optional ones takes the text.
  json path = {{"type", "object"},
               {"properties", {{"path", {{"type", "string"}}}, {"head", {{"type", "number"}}}}},
               {"required", {"path"}}};
  CHECK(*arguments_from_input("/tmp/a.txt", path, "read") == json{{"path", "/tmp/a.txt"}});

  json num = {{"type", "object"}, {"properties", {{"n", {{"type", "integer"}}}}}};
  CHECK(*arguments_from_input(" 42\n", num, "t") == json{{"n", 42}});
  CHECK_FALSE(arguments_from_input("forty", num, "t"));
  CHECK(*arguments_from_input("ignored", json{{"type", "object"}}, "t") == json::object());

  CHECK(tools::plugins::input_description_from_schema(two) ==
        "JSON object: {\"a\": number, \"b\": number}");
  json with_format = json::parse(R"({"type": "object", "properties": {
      "url": {"type": "string", "format": "uri"},
      "format": {"type": "string", "enum": ["format", "x"]},
      "list": {"type": "array", "items": {"type": "string", "format": "email"}}},
      "required": ["format"]})");
  CHECK(tools::plugins::without_format_annotations(with_format) == json::parse(R"({"type": "object", "properties": {
      "url": {"type": "string"},
      "format": {"type": "string", "enum": ["format", "x"]},
      "list": {"type": "array", "items": {"type": "string"}}},
      "required": ["format"]})"));
  CHECK(tools::plugins::sanitize_tool_name("get sum/2") == "get_sum_2");
  CHECK(tools::plugins::sanitize_tool_name("2fa") == "t2fa");
  CHECK(tools::plugins::one_line("a\n  b\tc") == "a b c");
}
