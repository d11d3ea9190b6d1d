// Function-call parsing (JSON and YAML), schema validation, and the JSON
// Schema Test Suite run through the validator.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "agent/function_call.h"
#include "agent/schema_validator.h"
#include "tests/agent/fake_tools.h"
#include "tests/test_util.h"

using namespace rewoo;
using namespace rewoo::agent;
using nlohmann::json;
using rewoo::test::FakeTool;

namespace {

json analytics_schema() {
  return json::parse(R"({
    "type": "object",
    "properties": {
      "action": {"type": "string", "enum": ["count_occurrences", "find_line"]},
      "filters": {"type": "object",
                  "properties": {"keyword": {"type": "string", "minLength": 1},
                                 "limit": {"type": "integer", "minimum": 1}},
                  "required": ["keyword"], "additionalProperties": false}
    },
    "required": ["action"]
  })");
}

tools::Registry registry() {
  tools::Registry r;
  (void)r.add(std::make_shared<FakeTool>("file_analytics", "File operations.", "text",
                                         analytics_schema()));
  (void)r.add(std::make_shared<FakeTool>("DuckDuckGo", "Web search.", "a search query"));
  return r;
}

}  // namespace

TEST_CASE("parse JSON calls, with and without a fence") {
  auto c = parse_function_call(
      R"({"function": "file_analytics", "params": {"action": "count_occurrences", "filters": {"keyword": "Python"}}})",
      CallFormat::kJson);
  REQUIRE(c);
  CHECK(c->function == "file_analytics");
  CHECK(c->params["filters"]["keyword"] == "Python");

  auto fenced = parse_function_call("```json\n{\"function\": \"DuckDuckGo\", \"params\": {\"input\": "
                                    "\"rust\"}}\n```\n",
                                    CallFormat::kJson);
  REQUIRE(fenced);
  CHECK(fenced->params == json{{"input", "rust"}});

  auto no_params = parse_function_call(R"({"function": "DuckDuckGo"})", CallFormat::kJson);
  REQUIRE(no_params);
  CHECK(no_params->params == json::object());
}

TEST_CASE("JSON call errors say what and where") {
  auto bad = parse_function_call("{\"function\": \"x\",\n \"params\": {\"a\": }}", CallFormat::kJson);
  REQUIRE(!bad);
  CHECK(bad.error().where == "2:18");
  CHECK(bad.error().message.rfind("bad JSON: ", 0) == 0);
  // A number past double's range is an error at the number, not an abort.
  auto big = parse_function_call("{\"function\": \"x\",\n \"params\": {\"n\": 77E707}}",
                                 CallFormat::kJson);
  REQUIRE(!big);
  CHECK(big.error().message == "bad JSON: number 77E707 is out of range (beyond double)");
  CHECK(big.error().where == "2:18");
  auto e1 = parse_function_call(R"({"params": {}})", CallFormat::kJson);
  CHECK(e1.error().message == "missing \"function\" (the name of the tool to call)");
  auto e2 = parse_function_call(R"({"function": 3})", CallFormat::kJson);
  CHECK(e2.error().message == "\"function\" must be a tool name (a non-empty string), got 3");
  auto e3 = parse_function_call(R"({"function": "f", "params": [1]})", CallFormat::kJson);
  CHECK(e3.error().message == "\"params\" must be an object of parameter values, got array");
  auto e4 = parse_function_call(R"({"function": "f", "args": {}})", CallFormat::kJson);
  CHECK(e4.error().message == "unexpected key \"args\" (a call has only \"function\" and \"params\")");
  auto e5 = parse_function_call("[1, 2]", CallFormat::kJson);
  CHECK(e5.error().message ==
        "expected a JSON object with \"function\" and \"params\", got array");
  CHECK(parse_function_call("  \n", CallFormat::kYaml).error().message ==
        "empty function call (expected YAML)");
}

TEST_CASE("parse YAML calls: block style, core-schema scalars, quoted strings stay strings") {
  auto c = parse_function_call(
      "function: file_analytics\n"
      "params:\n"
      "  action: count_occurrences\n"
      "  filters:\n"
      "    keyword: \"42\"\n"
      "    limit: 3\n",
      CallFormat::kYaml);
  REQUIRE(c);
  CHECK(c->function == "file_analytics");
  CHECK(c->params["filters"]["keyword"] == "42");
  CHECK(c->params["filters"]["keyword"].is_string());
  CHECK(c->params["filters"]["limit"] == 3);
  CHECK(c->params["filters"]["limit"].is_number_integer());

  auto y = yaml_to_json("a: 1.5\nb: true\nc: ~\nd: -7\ne: 'no'\nf: [x, 2]\ng: 1e3\nh: 12abc\n");
  REQUIRE(y);
  CHECK(*y == json::parse(R"({"a": 1.5, "b": true, "c": null, "d": -7, "e": "no",
                               "f": ["x", 2], "g": 1000.0, "h": "12abc"})"));

  auto bad = parse_function_call("function: f\nparams:\n  a: [1, 2\n", CallFormat::kYaml);
  REQUIRE(!bad);
  CHECK(bad.error().message.rfind("bad YAML: ", 0) == 0);
  CHECK(bad.error().where.rfind("line ", 0) == 0);
  CHECK(parse_function_call("just text", CallFormat::kYaml).error().message ==
        "expected a YAML object with \"function\" and \"params\", got string");
}

TEST_CASE("check_function_call: unknown names, schema violations, single-input tools") {
  auto reg = registry();
  CHECK(check_function_call({"file_analytics", {{"action", "find_line"}}}, reg));
  auto unknown = check_function_call({"file_analytic", json::object()}, reg);
  REQUIRE(!unknown);
  CHECK(unknown.error().message ==
        "unknown function 'file_analytic' (did you mean 'file_analytics'?); available: "
        "DuckDuckGo, file_analytics");

  auto bad = check_function_call(
      {"file_analytics",
       json::parse(R"({"action": "delete", "filters": {"keyword": "", "limit": "3", "x": 1}})")},
      reg);
  REQUIRE(!bad);
  CHECK(bad.error().message ==
        "params do not match the schema of 'file_analytics':\n"
        "  params/action: expected one of [\"count_occurrences\",\"find_line\"], got \"delete\"\n"
        "  params/filters/keyword: expected at least 1 characters, got 0\n"
        "  params/filters/limit: expected integer, got string\n"
        "  params/filters: unexpected property 'x'");

  // Tools without a schema take {"input": string}.
  CHECK(check_function_call({"DuckDuckGo", {{"input", "rust"}}}, reg));
  auto missing = check_function_call({"DuckDuckGo", json::object()}, reg);
  REQUIRE(!missing);
  CHECK(missing.error().message ==
        "params do not match the schema of 'DuckDuckGo':\n  params: missing required property "
        "'input'");
  CHECK(tool_input({"DuckDuckGo", {{"input", "rust lang"}}}, *reg.find("DuckDuckGo")) == "rust lang");
  CHECK(tool_input({"file_analytics", {{"action", "find_line"}}}, *reg.find("file_analytics")) ==
        R"({"action":"find_line"})");
}

TEST_CASE("format_function_call round-trips through the parser") {
  FunctionCall call{"file_analytics",
                    json::parse(R"({"action": "count", "filters": {"keyword": "true", "limit": 2,
                                    "tags": ["a", "12"], "none": null}})")};
  for (auto fmt : {CallFormat::kJson, CallFormat::kYaml}) {
    std::string text = format_function_call(call, fmt);
    auto back = parse_function_call(text, fmt);
    REQUIRE_MESSAGE(back, text);
    CHECK(back->function == call.function);
    CHECK(back->params == call.params);
  }
  CHECK(format_function_call({"DuckDuckGo", {{"input", "x y"}}}, CallFormat::kYaml) ==
        "function: DuckDuckGo\nparams:\n  input: x y");
  CHECK(*parse_call_format("YAML") == CallFormat::kYaml);
  CHECK(parse_call_format("toml").error().message ==
        "unknown call format 'toml' (expected json or yaml)");
}

TEST_CASE("YAML rendering quotes what a plain scalar would change") {
  FunctionCall call{"12", {{"cr", "a\rb"}, {"lf", "one\ntwo"}, {"tab", "x\ty"}, {"ctl", "\x01"},
                           {"pad", " p "}, {"num", "3.5"}, {"null", "~"}, {"7", "key"},
                           {"empty", ""}, {"plain", "just text"},
                           // 300 bytes, 1200 characters once escaped: past YAML's
                           // 1024 for a plain key
                           {std::string(300, '\x04'), {{std::string(2000, 'n'), 1}}}}};
  const std::string yaml = format_function_call(call, CallFormat::kYaml);
  auto back = parse_function_call(yaml, CallFormat::kYaml);
  REQUIRE_MESSAGE(back, yaml);
  CHECK(back->function == "12");
  CHECK(back->params == call.params);
  CHECK(format_function_call({"f", {{"plain", "just text"}}}, CallFormat::kYaml) ==
        "function: f\nparams:\n  plain: just text");
}

TEST_CASE("YAML numbers beyond a double's range stay text, so the call round-trips") {
  auto call = parse_function_call(
      "function: f\nparams:\n  big: 7e777\n  neg: -1e999\n  ok: 1e300\n", CallFormat::kYaml);
  REQUIRE(call);
  CHECK(call->params["big"] == "7e777");
  CHECK(call->params["neg"] == "-1e999");
  CHECK(call->params["ok"] == 1e300);
  for (auto fmt : {CallFormat::kJson, CallFormat::kYaml}) {
    auto back = parse_function_call(format_function_call(*call, fmt), fmt);
    REQUIRE(back);
    CHECK(back->params == call->params);
  }
}

TEST_CASE("calls with bytes that are not UTF-8 are rendered, checked and passed on, not thrown") {
  // YAML is read byte for byte, so a model's broken UTF-8 reaches the call.
  auto call = parse_function_call(
      "function: s\xC4"
      "earch\nparams:\n  input: caf\xE9\n",
      CallFormat::kYaml);
  REQUIRE(call);
  CHECK(call->function ==
        "s\xC4"
        "earch");
  const std::string as_json = format_function_call(*call, CallFormat::kJson);
  CHECK(as_json.find("s\xEF\xBF\xBD") != std::string::npos);  // U+FFFD in its place
  CHECK(format_function_call(*call, CallFormat::kYaml).find("caf") != std::string::npos);
  auto reg = registry();
  auto unknown = check_function_call(*call, reg);
  REQUIRE(!unknown);
  CHECK(unknown.error().message.find("unknown function") == 0);
  // Wrong type with a broken string: the message quotes it with U+FFFD.
  auto bad = check_function_call({"file_analytics", {{"action", std::string("x\xFF")}}}, reg);
  REQUIRE(!bad);
  CHECK(bad.error().message.find("got \"x\xEF\xBF\xBD\"") != std::string::npos);
  CHECK(tool_input({"file_analytics", {{"action", std::string("\xFF")}}},
                   *reg.find("file_analytics")) == "{\"action\":\"\xEF\xBF\xBD\"}");
  // A YAML function name that is a mapping key with broken bytes: an error, not a throw.
  auto bad_name = parse_function_call("function: [x\x9A]\n", CallFormat::kYaml);
  REQUIRE(!bad_name);
  CHECK(bad_name.error().message ==
        "\"function\" must be a tool name (a non-empty string), got "
        "[\"x\xEF\xBF\xBD\"]");
}

TEST_CASE("schema compile errors name the keyword and where it is") {
  auto e = SchemaValidator::compile(json::parse(R"({"properties": {"a": {"uniqueItems": true}}})"));
  REQUIRE(!e);
  CHECK(e.error().to_string() == "/properties/a/uniqueItems: unsupported JSON Schema keyword 'uniqueItems'");
  auto r = SchemaValidator::compile(json::parse(R"({"$ref": "#/$defs/missing"})"));
  REQUIRE(!r);
  CHECK(r.error().where == "/$ref");
  CHECK(!SchemaValidator::compile(json::parse(R"({"pattern": "(a"})")));
  CHECK(!SchemaValidator::compile(json::parse(R"({"type": "float"})")));
  // Recursive refs work.
  auto tree = SchemaValidator::compile(json::parse(R"({
    "$defs": {"node": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                       "additionalProperties": false}},
    "$ref": "#/$defs/node"})"));
  REQUIRE(tree);
  CHECK(tree->is_valid(json::parse(R"({"kids": [{"kids": []}, {}]})")));
  auto v = tree->validate(json::parse(R"({"kids": [{"kids": [{"x": 1}]}]})"));
  REQUIRE(v.size() == 1);
  CHECK(v[0].to_string() == "/kids/0/kids/0: unexpected property 'x'");
}

TEST_CASE("JSON Schema Test Suite: every applicable case agrees with the suite") {
  namespace fs = std::filesystem;
  fs::path dir = rewoo::test::data_dir() / "json-schema-suite" / "draft2020-12";
  REQUIRE(fs::exists(dir));
  int applicable = 0, passed = 0, skipped_groups = 0;
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (auto& f : files) {
    json groups = json::parse(rewoo::test::read_file(f));

    for (auto& g : groups) {
      auto v = SchemaValidator::compile(g["schema"]);
      if (!v) {
        ++skipped_groups;
        continue;
      }
      for (auto& t : g["tests"]) {
        ++applicable;
        bool got = v->is_valid(t["data"]);
        if (got == t["valid"].get<bool>()) {
          ++passed;
        } else {
          FAIL_CHECK(f.filename().string() << ": " << g["description"].get<std::string>() << " / "
                                           << t["description"].get<std::string>());
        }
      }
    }
  }
  MESSAGE("schema suite: " << passed << "/" << applicable << " applicable cases pass; "
                           << skipped_groups << " groups use unsupported keywords");
  CHECK(applicable > 400);
}
