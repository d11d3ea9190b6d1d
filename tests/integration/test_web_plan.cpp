// A seed-style plan DuckDuckGo -> HyperlinkExtractor -> TextScraper, run end
// to end by the executor with the built-in tools against the fixture server,
// configured the way `rewoo exec` configures them (REWOO_WEB_CONFIG).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

#include "agent/executor.h"
#include "agent/plan_parser.h"
#include "tests/fixtures/web_fixture_server.h"
#include "tests/test_util.h"
#include "tools/builtin_tools.h"

namespace {

const char* kPlan =
    "Plan: Search the web for reports on the river floods.\n"
    ":evidence0: = DuckDuckGo[river floods March]\n"
    "Plan: Pull the links out of the results.\n"
    ":evidence1: = HyperlinkExtractor[:evidence0:]\n"
    "Plan: Read the pages.\n"
    ":evidence2: = TextScraper[:evidence1:]\n"
    "Answer: :evidence2:\n";

}  // namespace

TEST_CASE("plan DuckDuckGo -> HyperlinkExtractor -> TextScraper runs end to end") {
  rewoo::test::WebFixtureServer srv;
  rewoo::test::TempDir dir;
  auto cfg = dir / "rewoo.yaml";
  std::ofstream(cfg) << "web:\n  search: {backend: duckduckgo, url: '" << srv.url("/html/")
                     << "'}\n  allow_ranges: ['127.0.0.1/32']\n  timeouts: {total_ms: 5000}\n";
  ::setenv("REWOO_WEB_CONFIG", cfg.c_str(), 1);
  rewoo::tools::Registry reg;
  rewoo::tools::register_builtin_tools(reg);
  ::unsetenv("REWOO_WEB_CONFIG");

  auto parsed = rewoo::agent::parse_plan(kPlan, reg);
  REQUIRE_MESSAGE(parsed.ok(), parsed.to_result().error().message);
  auto r = rewoo::agent::Executor::run(*parsed.plan, reg, {});
  REQUIRE(r.steps.size() == 3);
  for (const auto& s : r.steps) CHECK_MESSAGE(s.status == rewoo::agent::StepStatus::kOk, s.tool << ": " << s.evidence);
  CHECK(r.steps[1].evidence == srv.url("/article/1") + "\n" + srv.url("/article/2") + "\n" + srv.url("/plain"));
  const std::string& a = r.answer;
  CHECK(a.find("=== " + srv.url("/article/1") + " ===\nTitle: Article 1") != std::string::npos);
  CHECK(a.find("=== " + srv.url("/article/2") + " ===\nTitle: Article 2") != std::string::npos);
  CHECK(a.find("Researchers in the valley measured the river") != std::string::npos);
  CHECK(a.find("=== " + srv.url("/plain") + " ===\nline one") != std::string::npos);
  CHECK(r.steps[2].sources.size() == 3);

  // The same plan without the allowance: every fetch is refused, and the
  // refusal is the evidence the plan carries on with.
  rewoo::tools::Registry strict;
  rewoo::tools::web::WebConfig wc;
  wc.search_url = srv.url("/html/");
  rewoo::tools::register_builtin_tools(strict, wc);
  auto r2 = rewoo::agent::Executor::run(*rewoo::agent::parse_plan(kPlan, strict).plan, strict, {});
  REQUIRE(r2.steps.size() == 3);
  CHECK(r2.steps[0].status == rewoo::agent::StepStatus::kFailed);
  CHECK(r2.steps[0].evidence.find("refused by the address guard") != std::string::npos);
}
