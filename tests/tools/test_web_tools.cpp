// The web tools (DuckDuckGo search over both backends, TextScraper) and
// WebConfig, against the fixture server.
#include <doctest/doctest.h>

#include <yaml-cpp/yaml.h>

#include <cstdlib>

#include "tests/fixtures/web_fixture_server.h"
#include "tools/builtin_tools.h"
#include "tools/hyperlink_extractor.h"
#include "tools/web/page_text.h"
#include "tools/web/web_tools.h"

using namespace rewoo::tools;
using namespace rewoo::tools::web;

namespace {

WebConfig fixture_config(const rewoo::test::WebFixtureServer& srv, const std::string& backend = "duckduckgo") {
  WebConfig c;
  c.http.allow_ranges = {"127.0.0.1/32"};
  c.http.total_timeout_ms = 3000;
  c.search_backend = backend;
  c.search_url = backend == "searxng" ? srv.url("/search") : srv.url("/html/");
  return c;
}

}  // namespace

TEST_CASE("DuckDuckGo tool: parses the HTML endpoint, unwraps uddg links, skips ads") {
  rewoo::test::WebFixtureServer srv;
  SearchTool tool(fixture_config(srv));
  auto r = tool.invoke("river floods", ToolContext{});
  REQUIRE_MESSAGE(r.ok, r.text);
  CHECK(r.text.find("1. River report & floods\n   " + srv.url("/article/1") +
                    "\n   Spring floods arrive in March now, query: river floods") == 0);
  CHECK(r.text.find("2. Second report\n   " + srv.url("/article/2")) != std::string::npos);
  CHECK(r.text.find("ads.example") == std::string::npos);
  CHECK(r.text.find("y.js") == std::string::npos);
  CHECK(r.sources == std::vector<std::string>{srv.url("/article/1"), srv.url("/article/2"), srv.url("/plain")});
  // HyperlinkExtractor mines exactly the result URLs from this evidence.
  CHECK(extract_links(r.text) == r.sources);
}

TEST_CASE("DuckDuckGo tool: SearxNG JSON backend") {
  rewoo::test::WebFixtureServer srv;
  SearchTool tool(fixture_config(srv, "searxng"));
  auto r = tool.invoke("rivers", ToolContext{});
  REQUIRE_MESSAGE(r.ok, r.text);
  CHECK(r.text == "1. Third report\n   " + srv.url("/article/3") + "\n   Floods in March\n\n2. Fourth report\n   " +
                      srv.url("/article/4") + "\n   Rivers");
  CHECK_FALSE(parse_searxng_json("[]"));
  CHECK_FALSE(parse_searxng_json("{\"query\":\"x\"}"));
}

TEST_CASE("DuckDuckGo tool: failures are clear evidence") {
  rewoo::test::WebFixtureServer srv;
  auto c = fixture_config(srv);
  c.search_url = srv.url("/status/503");
  auto r = SearchTool(c).invoke("x", ToolContext{});
  CHECK_FALSE(r.ok);
  CHECK(r.text.find("search failed") != std::string::npos);
  CHECK(r.text.find("HTTP 503") != std::string::npos);
  CHECK_FALSE(SearchTool(fixture_config(srv)).invoke("   ", ToolContext{}).ok);
  // The real endpoint is refused here (no network in tests) only if it were
  // private; the guard applies to the search URL too:
  c.search_url = "http://169.254.169.254/html/";
  r = SearchTool(c).invoke("x", ToolContext{});
  CHECK(r.text.find("refused by the address guard") != std::string::npos);
}

TEST_CASE("TextScraper: pages fetched concurrently, each headed by its URL, errors inline") {
  rewoo::test::WebFixtureServer srv;
  TextScraperTool tool(fixture_config(srv));
  std::string input = srv.url("/article/1") + "\n" + srv.url("/plain") + "\n" + srv.url("/json") + "\n" +
                      srv.url("/bin") + "\n" + srv.url("/status/404") + "\n" + srv.url("/redirect/2") + "\n" +
                      "http://10.0.0.1/secret\n" + srv.url("/article/1") + "\n";
  auto r = tool.invoke(input, ToolContext{});
  REQUIRE_MESSAGE(r.ok, r.text);
  const std::string& t = r.text;
  CHECK(t.find("=== " + srv.url("/article/1") + " ===\nTitle: Article 1\n") == 0);
  CHECK(t.find("Researchers in the valley measured the river") != std::string::npos);
  CHECK(t.find("Footer text") == std::string::npos);
  CHECK(t.find("=== " + srv.url("/plain") + " ===\nline one\nline two") != std::string::npos);
  CHECK(t.find("\"items\": [\n    1,") != std::string::npos);  // pretty-printed JSON
  CHECK(t.find("unsupported content type 'application/octet-stream'") != std::string::npos);
  CHECK(t.find("HTTP 404 Not Found") != std::string::npos);
  CHECK(t.find("(redirected to " + srv.url("/page") + ")") != std::string::npos);
  CHECK(t.find("refused by the address guard: 10.0.0.1") != std::string::npos);
  // The duplicate URL is fetched once.
  size_t first = t.find("=== " + srv.url("/article/1"));
  CHECK(t.find("=== " + srv.url("/article/1"), first + 1) == std::string::npos);
}

TEST_CASE("TextScraper: caps with a truncation marker; all-failed is a failure; no URLs is a failure") {
  rewoo::test::WebFixtureServer srv;
  auto c = fixture_config(srv);
  c.page_text_chars = 120;
  auto r = TextScraperTool(c).invoke(srv.url("/article/1"), ToolContext{});
  REQUIRE(r.ok);
  CHECK(r.text.find("[... truncated: ") != std::string::npos);
  auto bad = TextScraperTool(c).invoke(srv.url("/status/500") + "\n" + srv.url("/reset"), ToolContext{});
  CHECK_FALSE(bad.ok);
  CHECK(bad.text.find("no page could be read") != std::string::npos);
  CHECK(bad.text.find("HTTP 500") != std::string::npos);
  CHECK(bad.text.find("connection failed") != std::string::npos);
  auto none = TextScraperTool(c).invoke("no links here", ToolContext{});
  CHECK_FALSE(none.ok);
  CHECK(none.text.find("no http(s) URLs") != std::string::npos);
}

TEST_CASE("TextScraper: a cancelled step stops promptly") {
  rewoo::test::WebFixtureServer srv;
  auto c = fixture_config(srv);
  c.http.total_timeout_ms = 30000;
  std::atomic<bool> cancelled{false};
  ToolContext ctx;
  ctx.cancelled = &cancelled;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancelled = true;
  });
  auto t0 = std::chrono::steady_clock::now();
  auto r = TextScraperTool(c).invoke(srv.url("/stall"), ctx);
  stopper.join();
  CHECK_FALSE(r.ok);
  CHECK(r.text.find("cancelled") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
}

TEST_CASE("truncate_text keeps UTF-8 whole") {
  std::string s = "ééééé";  // 10 bytes
  auto t = truncate_text(s, 5);
  CHECK(t.rfind("éé\n[... truncated: 6 more", 0) == 0);
  CHECK(truncate_text("short", 10) == "short");
}

TEST_CASE("WebConfig::from_yaml: keys, defaults, and errors that name the key") {
  auto c = WebConfig::from_yaml(YAML::Load(
      "search: {backend: searxng, url: 'http://127.0.0.1:8888/search', max_results: 3}\n"
      "timeouts: {connect_ms: 1000, total_ms: 2000}\n"
      "max_body_bytes: 1000\nmax_redirects: 2\nallow_ranges: ['127.0.0.1/32']\n"
      "concurrency: {per_host: 1}\ncache: {dir: /tmp/x, ttl_seconds: 5, replay: true}\n"
      "text: {page_chars: 10}\n"));
  REQUIRE_MESSAGE(c, c.error().message);
  CHECK(c->search_backend == "searxng");
  CHECK(c->max_results == 3);
  CHECK(c->http.connect_timeout_ms == 1000);
  CHECK(c->http.low_speed_seconds == WebConfig{}.http.low_speed_seconds);
  CHECK(c->http.max_body_bytes == 1000);
  CHECK(c->http.allow_ranges == std::vector<std::string>{"127.0.0.1/32"});
  CHECK(c->http.per_host_concurrency == 1);
  CHECK(c->http.replay);
  CHECK(c->page_text_chars == 10);
  auto typo = WebConfig::from_yaml(YAML::Load("alow_ranges: ['10.0.0.0/8']"));
  REQUIRE_FALSE(typo);
  CHECK(typo.error().message.find("unknown key 'alow_ranges'") != std::string::npos);
  auto nested = WebConfig::from_yaml(YAML::Load("cache: {ttl: 5}"));
  REQUIRE_FALSE(nested);
  CHECK(nested.error().message.find("'cache.ttl'") != std::string::npos);
  CHECK_FALSE(WebConfig::from_yaml(YAML::Load("allow_ranges: ['10.0.0.0/40']")));
  CHECK_FALSE(WebConfig::from_yaml(YAML::Load("search: {backend: bing}")));
  CHECK_FALSE(WebConfig::from_yaml(YAML::Load("max_redirects: many")));
  CHECK(WebConfig::from_yaml(YAML::Node()));  // empty: defaults
}

TEST_CASE("builtin tools: DuckDuckGo and TextScraper are the real web tools") {
  Registry reg;
  register_builtin_tools(reg);
  CHECK(reg.find("DuckDuckGo")->kind() == "builtin");
  CHECK(reg.find("TextScraper")->kind() == "builtin");
  CHECK(reg.find("TextScraper")->input_description() == "newline-separated URLs");
}
