// GBNF parsing and whole-string matching, over the shared llama.cpp grammars
// and hand-written good and bad grammars.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "agent/grammar/grammar.h"
#include "agent/grammar/regex_to_gbnf.h"
#include "tests/test_util.h"

using rewoo::agent::grammar::Grammar;

namespace {

Grammar load(const std::string& name) {
  auto text = rewoo::test::read_file(rewoo::test::data_dir() / "grammars" / (name + ".gbnf"));
  auto g = Grammar::parse(text);
  if (!g) FAIL(name << ": " << g.error().to_string());
  return std::move(*g);
}

void check_lang(const Grammar& g, const std::vector<std::string>& yes, const std::vector<std::string>& no) {
  for (const auto& s : yes) CHECK_MESSAGE(g.matches(s), "should match: " << s);
  for (const auto& s : no) CHECK_MESSAGE(!g.matches(s), "should not match: " << s);
}

std::string parse_error(const std::string& text) {
  auto g = Grammar::parse(text);
  if (g) return "";
  return g.error().to_string();
}

}  // namespace

TEST_CASE("gbnf_repeat spells every minimum, bounded or not") {
  using rewoo::agent::grammar::gbnf_repeat;
  struct Case {
    int min, limit;
    std::vector<std::string> yes, no;
  };
  const Case cases[] = {{0, 0, {"", "a", "aaaa"}, {}},          {1, 0, {"a", "aaaa"}, {""}},
                        {3, 0, {"aaa", "aaaaaa"}, {"", "aa"}},  {0, 2, {"", "aa"}, {"aaa"}},
                        {2, 4, {"aa", "aaaa"}, {"a", "aaaaa"}}};
  for (const Case& c : cases) {
    CAPTURE(c.min);
    CAPTURE(c.limit);
    auto g = Grammar::parse("root ::= \"a\"" + gbnf_repeat(c.min, c.limit));
    REQUIRE(g);
    check_lang(*g, c.yes, c.no);
  }
}

TEST_CASE("shared grammar: json") {
  Grammar g = load("json");
  check_lang(g,
             {"{}", "{\"a\": 1}", "{\"a\":[1,2.5,-3e19,2.5E+3,true,false,null]}",
              "{\"k\": {\"n\": \"x\\\"y\\u00e9\"}}\n", "{\n  \"x\": \"caf\xC3\xA9\"}",
              "{\"emoji\": \"\xF0\x9F\x98\x80\"}"},
             {"", "[]", "{", "{\"a\" 1}", "{\"a\": 01x}", "{'a': 1}", "{\"a\": tru}",
              "{\"a\": \"\x01\"}", "{\"a\": \"\\q\"}", "{\"bad\": \"\xC3\"}", "{} {}"});
}

TEST_CASE("shared grammar: json_arr") {
  Grammar g = load("json_arr");
  check_lang(g, {"[\n]", "[\n{\"a\": 1},\n2]", "[\n\"x\",\n[1, 2]]"}, {"[]", "[\n1,2]", "[\n1]\n", "{}"});
}

TEST_CASE("shared grammar: arithmetic") {
  Grammar g = load("arithmetic");
  check_lang(g, {"1+2= 3\n", "(a+b)*c= x1\n", "x= y\nz= 3\n"}, {"1+2=3", "1+=3\n", "= 3\n", "A= 3\n"});
}

TEST_CASE("shared grammar: c") {
  Grammar g = load("c");
  check_lang(g,
             {"", "int main(){return 0;}",
              "int f(int x){int y = x*2;while(y<10){y = y+1;}return y;}",
              "float g(){/* c */// line\nreturn 1;}"},
             {"int main(){return 0}", "main(){}", "int f(){return 1;", "int f(){x = ;}"});
}

TEST_CASE("shared grammar: chess") {
  Grammar g = load("chess");
  check_lang(g, {"1. e4 e5\n2. Nf3 Nc6\n", "1. d4 d5\n2. c4 dxc4\n3. O-O O-O-O\n", "1. e4 e5\n12. Qxf7# Ke7\n"},
             {"1. e4 e5\n", "1. e9 e5\n2. a3 a6\n", "2. e4 e5\n3. a3 a6\n"});
}

TEST_CASE("shared grammar: english") {
  Grammar g = load("english");
  check_lang(g, {"Hello, world!", "a b\tc\nd", "x[1]\\y"}, {"", "hello  world", "caf\xC3\xA9", " lead"});
}

TEST_CASE("shared grammar: japanese") {
  Grammar g = load("japanese");
  // こんにちは 世界。 / カタカナ
  check_lang(g, {"\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF \xE4\xB8\x96\xE7\x95\x8C\xE3\x80\x82",
                 "\xE3\x82\xAB\xE3\x82\xBF\xE3\x82\xAB\xE3\x83\x8A"},
             {"abc", "", "\xE3\x81\x93 ", "\xE3\x81"});
}

TEST_CASE("shared grammar: list") {
  Grammar g = load("list");
  check_lang(g, {"- a\n", "- one\n- two \xE2\x9C\x93\n"},
             {"", "- \n", "- a", "* a\n", "- a\xE2\x80\xA8 b\n", "- a\r\n"});
}

TEST_CASE("GBNF syntax: repetition, classes, escapes, comments") {
  auto g = Grammar::parse(
      "root ::= a{2} b{1,3} c{2,} d? e* # trailing comment\n"
      "a ::= \"x\"\n"
      "b ::= [0-9]\n"
      "c ::= \"\\x41\\u00e9\"  # A then é\n"
      "d ::= [^a-z\\n]\n"
      "e ::= .\n");
  REQUIRE_MESSAGE(g, g.error().to_string());
  check_lang(*g, {"xx1A\xC3\xA9" "A\xC3\xA9", "xx123A\xC3\xA9" "A\xC3\xA9" "A\xC3\xA9" "Q\xE2\x82\xAC" "z"},
             {"x1A\xC3\xA9" "A\xC3\xA9", "xx1234A\xC3\xA9" "A\xC3\xA9", "xx1A\xC3\xA9", "xx1A\xC3\xA9" "A\xC3\xA9" "\xC3"});
  auto h = Grammar::parse("root ::= \"ab\"{2,3} | (\"c\" | [d-f])+\n");
  REQUIRE(h);
  check_lang(*h, {"abab", "ababab", "c", "cdef"}, {"ab", "abababab", "", "cg"});
  auto multi = Grammar::parse("root ::=\n  \"a\" (\n   \"b\" |\n   \"c\"\n  )\n\nother ::= \"z\"\n");
  REQUIRE_MESSAGE(multi, multi.error().to_string());
  check_lang(*multi, {"ab", "ac"}, {"a", "az"});
  auto upper = Grammar::parse("root ::= \"\\U0001F600\" [\\x00-\\x7F]\n");
  REQUIRE(upper);
  check_lang(*upper, {"\xF0\x9F\x98\x80" "a"}, {"\xF0\x9F\x98\x80", "a"});
}

TEST_CASE("GBNF: right recursion and nesting work; left recursion is a clear error") {
  auto g = Grammar::parse("root ::= \"(\" root \")\" | \"x\"\n");
  REQUIRE(g);
  check_lang(*g, {"x", "((x))", std::string(200, '(') + "x" + std::string(200, ')')}, {"((x)", "()"});
  std::string e = parse_error("root ::= expr\nexpr ::= expr \"+\" num | num\nnum ::= [0-9]\n");
  CHECK(e.find("left recursion") != std::string::npos);
  CHECK(e.find("2:1") == 0);
}

TEST_CASE("GBNF: highly ambiguous recursive rules still match right") {
  // Every byte can open a new nested item or continue any open one, so the
  // set of parse stacks grows with the input (each step unions the
  // advanced sets of hundreds of stacks that mostly share their members).
  auto g = Grammar::parse("root ::= item*\nitem ::= [a-y] item*\n");
  REQUIRE(g);
  const std::string long_ok(600, 'a');
  check_lang(*g, {"", "a", "abc", long_ok, long_ok + "y"}, {long_ok + "z", "z" + long_ok, "A"});
  auto any = Grammar::parse("root ::= item*\nitem ::= . item*\n");
  REQUIRE(any);
  check_lang(*any, {std::string(400, 'q'), "\xC3\xA9t\xC3\xA9"}, {std::string(400, 'q') + "\xC3"});
}

TEST_CASE("GBNF errors carry line:col and say what was expected") {
  CHECK(parse_error("foo ::= \"a\"\n").find("no 'root' rule") != std::string::npos);
  CHECK(parse_error("root ::= a\n") == "1:10: undefined rule 'a'");
  CHECK(parse_error("root ::= \"a\"\n\nx ::= (\"b\" | \"c\"\n").rfind("3:7: unbalanced '('", 0) == 0);
  CHECK(parse_error("root ::= \"a\" )\n").rfind("1:14: unbalanced ')'", 0) == 0);
  CHECK(parse_error("root ::= [a-z\n").rfind("1:10: unbalanced '['", 0) == 0);
  CHECK(parse_error("root ::= \"\\q\"\n").rfind("1:11: bad escape", 0) == 0);
  CHECK(parse_error("root ::= \"\\xZ1\"\n").rfind("1:13: bad escape", 0) == 0);
  CHECK(parse_error("root ::= [^\\x00-\\U0010FFFF]\n").rfind("1:10: empty character class", 0) == 0);
  CHECK(parse_error("root ::= \"abc\n").rfind("1:10: unterminated string", 0) == 0);
  CHECK(parse_error("root ::= \"a\"\nroot ::= \"b\"\n").rfind("2:1: rule 'root' is defined twice", 0) == 0);
  CHECK(parse_error("root := \"a\"\n").rfind("1:6: expected '::='", 0) == 0);
  CHECK(parse_error("root ::= * \"a\"\n").rfind("1:10:", 0) == 0);
  CHECK(parse_error("root ::= \"a\"{3,1}\n").find("n < m") != std::string::npos);
  CHECK(parse_error("").find("empty grammar") != std::string::npos);
}
