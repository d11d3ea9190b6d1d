// `rewoo grammar ...` exit codes and messages (needs build/rewoo).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/test_util.h"

namespace {
std::string rewoo_bin() { return (rewoo::test::binary_dir() / "rewoo").string(); }
std::string grammars() { return (rewoo::test::data_dir() / "grammars").string(); }
int run(const std::string& args, std::string* out = nullptr) {
  return rewoo::test::run_command(rewoo_bin() + " " + args, out);
}
}  // namespace

TEST_CASE("rewoo grammar check / match / from-schema") {
  if (!std::filesystem::exists(rewoo_bin())) {
    MESSAGE("build/rewoo not built; skipping");
    return;
  }
  std::string out;
  CHECK(run("grammar check " + grammars() + "/c.gbnf", &out) == 0);
  rewoo::test::TempDir tmp;
  {
    std::ofstream(tmp / "bad.gbnf") << "root ::= \"a\" (b\n";
    std::ofstream(tmp / "s.json") << R"({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]})";
    std::ofstream(tmp / "u.json") << R"({"type":"string","format":"email"})";
  }
  CHECK(run("grammar check " + (tmp / "bad.gbnf").string(), &out) == 1);
  CHECK(out.find("1:14: unbalanced '('") != std::string::npos);
  CHECK(run("grammar match " + grammars() + "/json.gbnf '{\"a\": [1, 2]}'", &out) == 0);
  CHECK(run("grammar match " + grammars() + "/json.gbnf '{\"a\": [1, 2}'", &out) == 1);
  CHECK(out.find("1:12") != std::string::npos);
  CHECK(rewoo::test::run_command("printf '1. e4 e5\\n' | " + rewoo_bin() + " grammar match " + grammars() + "/chess.gbnf -", &out) == 1);
  CHECK(out.find("input ends where the grammar expects more") != std::string::npos);
  CHECK(rewoo::test::run_command("printf '1. e4 e5\\n2. d4 d5\\n' | " + rewoo_bin() + " grammar match " + grammars() + "/chess.gbnf -", &out) == 0);
  CHECK(run("grammar match " + (tmp / "bad.gbnf").string() + " x", &out) == 2);
  CHECK(run("grammar from-schema " + (tmp / "s.json").string() + " > " + (tmp / "s.gbnf").string()) == 0);
  CHECK(run("grammar match " + (tmp / "s.gbnf").string() + " '{\"n\":42}'") == 0);
  CHECK(run("grammar match " + (tmp / "s.gbnf").string() + " '{\"n\":4.5}'") == 1);
  CHECK(run("grammar from-schema " + (tmp / "u.json").string(), &out) == 1);
  CHECK(out.find("'format'") != std::string::npos);
  CHECK(run("grammar plan --max-steps 3 > " + (tmp / "p.gbnf").string()) == 0);
  CHECK(run("grammar match " + (tmp / "p.gbnf").string() +
            " 'Plan: look it up\n:evidence0: = DuckDuckGo[rewoo]\nAnswer: :evidence0:'") == 0);
}

TEST_CASE("rewoo grammar: option values out of range are usage errors") {
  std::string out;
  CHECK(run("grammar call --format xml", &out) == 2);
  CHECK(out.find("--format: xml not in {json,yaml,JSON,YAML}") != std::string::npos);
  // any order costs 2^n states: past 8 properties it is refused, not run for minutes
  CHECK(run("grammar from-schema --any-order-limit 40 -", &out) == 2);
  CHECK(out.find("--any-order-limit") != std::string::npos);
  // the plan grammar grows with the square of the steps: 100,000 ran for minutes
  CHECK(run("grammar plan --max-steps 100000", &out) == 2);
  CHECK(out.find("--max-steps: Value 100000 not in range 1 to 100") != std::string::npos);
}

TEST_CASE("rewoo grammar check: a control byte in an error is shown escaped") {
  rewoo::test::TempDir tmp;
  {
    std::ofstream f(tmp / "nul.gbnf", std::ios::binary);
    f << "root ::= \"a\" ";
    f.put('\0');
    f << " \"b\"\n";
  }
  std::string out;
  CHECK(run("grammar check '" + (tmp / "nul.gbnf").string() + "'", &out) == 1);
  CHECK(out.find("1:14: unexpected '\\x00'") != std::string::npos);
}
