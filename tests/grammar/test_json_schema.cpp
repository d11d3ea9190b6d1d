// JSON Schema -> GBNF against the official JSON Schema Test Suite: for every
// case whose schema converts, the grammar accepts the compactly serialised
// instance iff the suite says it is valid. Prints the pass rate per file and
// every miss.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/grammar/grammar.h"
#include "agent/grammar/json_schema.h"
#include "tests/test_util.h"

using namespace rewoo::agent::grammar;
using nlohmann::json;

namespace {

bool matches_schema(const json& schema, const std::string& text, std::string* error = nullptr) {
  auto g = schema_to_gbnf(schema);
  if (!g) {
    if (error) *error = g.error().to_string();
    return false;
  }
  auto gr = Grammar::parse(*g);
  if (!gr) {
    if (error) *error = "bad GBNF: " + gr.error().to_string() + "\n" + *g;
    return false;
  }
  return gr->matches(text);
}

}  // namespace

TEST_CASE("JSON Schema Test Suite (draft 2020-12): accepted iff valid") {
  auto dir = rewoo::test::data_dir() / "json-schema-suite" / "draft2020-12";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  int total_pass = 0, total_cases = 0, total_skipped = 0;
  std::vector<std::string> misses;
  std::printf("%-28s %8s %8s %8s\n", "file", "passed", "applic.", "skipped");
  for (const auto& f : files) {
    json suite = json::parse(rewoo::test::read_file(f));
    int pass = 0, cases = 0, skipped = 0;
    for (const json& group : suite) {
      auto g = schema_to_gbnf(group["schema"]);
      if (!g) {
        skipped += static_cast<int>(group["tests"].size());
        misses.push_back(f.filename().string() + " | " + group["description"].get<std::string>() +
                         " | UNSUPPORTED: " + g.error().to_string());
        continue;
      }
      auto gr = Grammar::parse(*g);
      REQUIRE_MESSAGE(gr, f.filename().string() << ": " << group["description"] << ": generated GBNF does not parse: "
                                                << gr.error().to_string() << "\n" << *g);
      for (const json& t : group["tests"]) {
        ++cases;
        bool got = gr->matches(t["data"].dump());
        if (got == t["valid"].get<bool>()) {
          ++pass;
        } else {
          misses.push_back(f.filename().string() + " | " + group["description"].get<std::string>() + " | " +
                           t["description"].get<std::string>() + " | data " + t["data"].dump() + " | expected " +
                           (t["valid"].get<bool>() ? "valid" : "invalid"));
        }
      }
    }
    std::printf("%-28s %8d %8d %8d\n", f.filename().string().c_str(), pass, cases, skipped);
    total_pass += pass;
    total_cases += cases;
    total_skipped += skipped;
  }
  double rate = 100.0 * total_pass / std::max(1, total_cases);
  std::printf("%-28s %8d %8d %8d  (%.1f%%)\n", "TOTAL", total_pass, total_cases, total_skipped, rate);
  for (const auto& m : misses) std::printf("  miss: %s\n", m.c_str());
  CHECK(rate >= 95.0);
  CHECK(total_cases >= 400);
}

TEST_CASE("schema keywords: objects in any order, required, additionalProperties") {
  json s = json::parse(R"({"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}},
                          "required":["a"],"additionalProperties":false})");
  CHECK(matches_schema(s, R"({"a":1,"b":"x"})"));
  CHECK(matches_schema(s, R"({"b":"x","a":1})"));
  CHECK(matches_schema(s, R"({"a":-5})"));
  CHECK_FALSE(matches_schema(s, R"({"b":"x"})"));
  CHECK_FALSE(matches_schema(s, R"({"a":1,"a":2})"));
  CHECK_FALSE(matches_schema(s, R"({"a":1,"c":2})"));
  CHECK_FALSE(matches_schema(s, R"({"a":"1"})"));
  json open = json::parse(R"({"properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"boolean"}})");
  CHECK(matches_schema(open, R"({"a":1,"ab":true,"b":false})"));
  CHECK_FALSE(matches_schema(open, R"({"a":true})"));
  CHECK_FALSE(matches_schema(open, R"({"ab":1})"));
}

TEST_CASE("schema keywords: numbers with decimal and integer bounds") {
  json s = json::parse(R"({"type":"number","minimum":-1.5,"exclusiveMaximum":10.25})");
  for (const char* ok : {"-1.5", "-1", "0", "0.0", "10", "10.2", "10.249", "3.14159", "-0.5"})
    CHECK_MESSAGE(matches_schema(s, ok), ok);
  for (const char* bad : {"-1.51", "-2", "10.25", "10.250", "11", "100", "\"1\""})
    CHECK_MESSAGE(!matches_schema(s, bad), bad);
  json i = json::parse(R"({"type":"integer","exclusiveMinimum":-3,"maximum":120})");
  for (const char* ok : {"-2", "0", "7", "99", "120", "120.0"}) CHECK_MESSAGE(matches_schema(i, ok), ok);
  for (const char* bad : {"-3", "121", "1000", "1.5", "-10"}) CHECK_MESSAGE(!matches_schema(i, bad), bad);
}

TEST_CASE("schema keywords: strings, patterns, arrays, refs") {
  json s = json::parse(R"({"type":"string","minLength":2,"maxLength":3})");
  CHECK(matches_schema(s, "\"ab\""));
  CHECK(matches_schema(s, "\"a\\\"c\""));
  CHECK_FALSE(matches_schema(s, "\"abcd\""));
  json p = json::parse(R"({"type":"string","pattern":"^[A-Z]{2}-\\d+$"})");
  CHECK(matches_schema(p, "\"AB-123\""));
  CHECK_FALSE(matches_schema(p, "\"AB-\""));
  CHECK_FALSE(matches_schema(p, "\"xAB-1\""));
  json a = json::parse(R"({"type":"array","prefixItems":[{"type":"string"}],"items":{"type":"integer"},"minItems":2,"maxItems":3})");
  CHECK(matches_schema(a, R"(["a",1])"));
  CHECK(matches_schema(a, R"(["a",1,2])"));
  CHECK_FALSE(matches_schema(a, R"(["a"])"));
  CHECK_FALSE(matches_schema(a, R"(["a",1,2,3])"));
  CHECK_FALSE(matches_schema(a, R"([1,1])"));
  json tree = json::parse(R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
       "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"],"additionalProperties":false}},
       "$ref":"#/$defs/node"})");
  CHECK(matches_schema(tree, R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]})"));
  CHECK_FALSE(matches_schema(tree, R"({"v":1,"kids":[{"w":2}]})"));
}

TEST_CASE("unsupported keywords are errors naming them") {
  std::string e;
  CHECK_FALSE(matches_schema(json::parse(R"({"type":"integer","multipleOf":3})"), "3", &e));
  CHECK(e.find("multipleOf") != std::string::npos);
  CHECK_FALSE(matches_schema(json::parse(R"({"properties":{"a":{"format":"email"}}})"), "{}", &e));
  CHECK(e.find("format") != std::string::npos);
  CHECK(e.find("#/properties/a") != std::string::npos);
  CHECK_FALSE(matches_schema(json::parse(R"({"$ref":"http://example.com/x.json"})"), "1", &e));
  CHECK(e.find("$ref") != std::string::npos);
  CHECK_FALSE(matches_schema(json::parse(R"({"pattern":"^\\p{L}+$"})"), "\"a\"", &e));
  CHECK(e.find("pattern") != std::string::npos);
  // found by fuzz_schema: a root that refers to itself
  CHECK_FALSE(matches_schema(json::parse(R"({"$defs":{"n":{"type":"array"}},"$ref":"#"})"), "[]", &e));
  CHECK(e.find("$ref cycle") != std::string::npos);
}

TEST_CASE("malformed schemas: keyword shapes, counts and depth are errors, never crashes") {
  struct Case {
    const char* schema;
    const char* error;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"({"properties":5})", "'properties' must be an object of schemas, got 5"},
           {R"({"allOf":5})", "'allOf' must be a non-empty array of schemas, got 5"},
           {R"({"anyOf":{}})", "'anyOf' must be a non-empty array of schemas, got {}"},
           {R"({"type":"array","prefixItems":5})", "'prefixItems' must be an array, got 5"},
           {R"({"nullable":"yes","type":"string"})", "'nullable' must be true or false"},
           {R"({"required":"a"})", "'required' must be an array of property names"},
           {R"({"type":"string","maxLength":1e30})", "'maxLength' of 1e+30 is more than a grammar can count"},
           {R"({"type":"string","minLength":10001})", "'minLength' of 10001 is more than a grammar can count"},
           {R"({"type":"array","maxItems":-1})", "'maxItems' must not be negative, got -1"},
           {R"({"type":"string","pattern":"a{2,1}"})", "quantifier '{2,1}' at offset 1: the minimum is above the maximum"},
           {R"({"type":"string","pattern":"a{10001}"})", "quantifier '{10001}' at offset 1: bounds above 10000"}}) {
    std::string e;
    CHECK_MESSAGE(!matches_schema(json::parse(c.schema), "\"a\"", &e), c.schema);
    CHECK_MESSAGE(e.find(c.error) != std::string::npos, c.schema << " -> " << e);
  }
  // Fractional bounds: a maximum rounds down, a minimum up.
  const json two = json::parse(R"({"type":"string","minLength":1.5,"maxLength":2.5})");
  CHECK_FALSE(matches_schema(two, "\"a\""));
  CHECK(matches_schema(two, "\"ab\""));
  CHECK_FALSE(matches_schema(two, "\"abc\""));
  CHECK_FALSE(matches_schema(json::parse(R"({"type":"array","maxItems":2.5})"), "[1,2,3]"));
  // 50,000 nested anyOf: an error (copying it recursively overflowed the stack).
  std::string deep;
  for (int i = 0; i < 50000; ++i) deep += R"({"anyOf":[)";
  deep += R"({"type":"integer"})";
  for (int i = 0; i < 50000; ++i) deep += "]}";
  std::string e;
  CHECK_FALSE(matches_schema(json::parse(deep), "1", &e));
  CHECK(e.find("schema nested more than 256 levels deep") != std::string::npos);
}

TEST_CASE("max_number_digits bounds one-sided ranges and fractions") {
  SchemaOptions o;
  o.max_number_digits = 15;
  auto check = [&](const char* schema, const std::string& text, bool want) {
    auto g = schema_to_gbnf(json::parse(schema), o);
    REQUIRE_MESSAGE(g, g.error().to_string());
    auto gr = Grammar::parse(*g);
    REQUIRE_MESSAGE(gr, gr.error().to_string());
    CHECK_MESSAGE(gr->matches(text) == want, schema << " on " << text);
  };
  const std::string d15(15, '9'), d16 = "1" + std::string(15, '0'), d40(40, '7');
  check(R"({"type":"integer","minimum":1})", d15, true);
  check(R"({"type":"integer","minimum":1})", d16, false);
  check(R"({"type":"integer","minimum":1})", d40, false);
  check(R"({"type":"integer","maximum":-3})", "-" + d15, true);
  check(R"({"type":"integer","maximum":-3})", "-" + d40, false);
  check(R"({"type":"number","minimum":0})", "0.123456789012345", true);
  check(R"({"type":"number","minimum":0})", "0.1234567890123456789", false);
  check(R"({"type":"number","minimum":0.5,"maximum":2})", "1.99999", true);
  check(R"({"type":"number","minimum":0.5,"maximum":2})", "1." + std::string(30, '9'), false);
  check(R"({"type":"number","exclusiveMinimum":0})", "0.000001", true);
  check(R"({"type":"number","exclusiveMinimum":0})", "0", false);
  // Trailing zeros past an inclusive upper bound count too.
  check(R"({"type":"number","maximum":2})", "2.000", true);
  check(R"({"type":"number","maximum":2})", "2." + std::string(30, '0'), false);
  check(R"({"type":"number","minimum":-3})", "-3." + std::string(30, '0'), false);
  // A bound longer than the cap is still reachable.
  check(R"({"type":"integer","minimum":12345678901234567890})", "12345678901234567890", true);
  // Unbounded without the option.
  o.max_number_digits = 0;
  check(R"({"type":"integer","minimum":1})", d40, true);
}

TEST_CASE("whitespace is configurable") {
  SchemaOptions o;
  o.whitespace = "[ \\t\\n]*";
  auto g = schema_to_gbnf(json::parse(R"({"type":"object","properties":{"a":{"type":"array"}},"required":["a"]})"), o);
  REQUIRE(g);
  auto gr = Grammar::parse(*g);
  REQUIRE_MESSAGE(gr, gr.error().to_string());
  CHECK(gr->matches("{ \"a\" : [ 1 , 2 ] }"));
  CHECK(gr->matches("{\"a\":[]}"));
  auto compact = Grammar::parse(*schema_to_gbnf(json::parse(R"({"type":"object","properties":{"a":{"type":"array"}},"required":["a"]})")));
  REQUIRE(compact);
  CHECK_FALSE(compact->matches("{ \"a\" : [ 1 , 2 ] }"));
}
