// `rewoo exec` runs the seed-style plan DuckDuckGo -> HyperlinkExtractor ->
// TextScraper end to end against the fixture server, with the search URL and
// the 127.0.0.1 allowance from a --config file's web: section.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/fixtures/web_fixture_server.h"
#include "tests/test_util.h"

TEST_CASE("rewoo exec: DuckDuckGo -> HyperlinkExtractor -> TextScraper against the fixture") {
  auto bin = (rewoo::test::binary_dir() / "rewoo").string();
  REQUIRE_MESSAGE(std::filesystem::exists(bin), "build the rewoo target first");
  rewoo::test::WebFixtureServer srv;
  rewoo::test::TempDir dir;
  std::ofstream(dir / "plan.txt") << "Plan: Search the web for reports on the river floods.\n"
                                     ":evidence0: = DuckDuckGo[river floods March]\n"
                                     "Plan: Pull the links out of the results.\n"
                                     ":evidence1: = HyperlinkExtractor[:evidence0:]\n"
                                     "Plan: Read the pages.\n"
                                     ":evidence2: = TextScraper[:evidence1:]\n"
                                     "Answer: :evidence2:\n";
  std::ofstream(dir / "rewoo.yaml") << "web:\n  search: {backend: duckduckgo, url: '" << srv.url("/html/")
                                    << "'}\n  allow_ranges: ['127.0.0.1/32']\n  timeouts: {total_ms: 5000}\n";
  std::ofstream(dir / "strict.yaml") << "web:\n  search: {backend: duckduckgo, url: '" << srv.url("/html/") << "'}\n";
  std::string plan = (dir / "plan.txt").string();
  std::string out;
  int rc = rewoo::test::run_command(bin + " exec --config " + (dir / "rewoo.yaml").string() + " " + plan, &out);
  CHECK_MESSAGE(rc == 0, out);
  CHECK(out.find("=== " + srv.url("/article/1") + " ===\nTitle: Article 1") != std::string::npos);
  CHECK(out.find("=== " + srv.url("/article/2") + " ===\nTitle: Article 2") != std::string::npos);
  CHECK(out.find("Researchers in the valley measured the river") != std::string::npos);
  CHECK(out.find("=== " + srv.url("/plain") + " ===\nline one") != std::string::npos);

  // --json: every step ok, the links step found exactly the three results.
  rc = rewoo::test::run_command(bin + " exec --json --config " + (dir / "rewoo.yaml").string() + " " + plan +
                                    " 2>/dev/null",
                                &out);
  REQUIRE_MESSAGE(rc == 0, out);
  auto j = nlohmann::json::parse(out.substr(out.find('{')), nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), out);
  REQUIRE(j.contains("steps"));
  REQUIRE(j["steps"].size() == 3);
  for (const auto& s : j["steps"]) CHECK_MESSAGE(s.value("status", "") == "ok", s.dump());
  CHECK(j["steps"][1].value("evidence", "") ==
        srv.url("/article/1") + "\n" + srv.url("/article/2") + "\n" + srv.url("/plain"));

  // Without the allowance the guard refuses the search; the error is the
  // evidence, and nothing reached the server.
  int before = srv.requests();
  rc = rewoo::test::run_command(bin + " exec --config " + (dir / "strict.yaml").string() + " " + plan, &out);
  CHECK(out.find("refused by the address guard") != std::string::npos);
  CHECK(srv.requests() == before);
}
