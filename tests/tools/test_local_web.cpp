// The `local` backend inside the web tools: DuckDuckGo[...] answers from a
// folder's FTS5 index and TextScraper reads doc:// URLs from it, nothing else.
#include <doctest/doctest.h>

#include <yaml-cpp/yaml.h>

#include <fstream>

#include "tests/test_util.h"
#include "tools/local/local_backend.h"
#include "tools/web/web_tools.h"

using namespace rewoo;
using namespace rewoo::tools;
using namespace rewoo::tools::web;
namespace fs = std::filesystem;

namespace {
void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
}
}  // namespace

TEST_CASE("WebConfig selects the local backend with a folder") {
  auto c = WebConfig::from_yaml(YAML::Load("search: {backend: local, dir: /tmp/docs}"));
  REQUIRE(c);
  CHECK(c->search_backend == "local");
  CHECK(c->local_dir == "/tmp/docs");
  CHECK(c->max_results == 5);  // the local default
  auto n = WebConfig::from_yaml(YAML::Load("search: {backend: local, dir: d, db: x.db, max_results: 3}"));
  REQUIRE(n);
  CHECK(n->max_results == 3);
  CHECK(n->local_db == "x.db");
  CHECK_FALSE(WebConfig::from_yaml(YAML::Load("search: {backend: local, folder: d}")));  // typo
}

TEST_CASE("SearchTool and TextScraperTool over the local backend") {
  test::TempDir tmp;
  write(tmp / "docs/people/ada.md", "# Ada Venn\nAda Venn invented the glass loom in 1712.");
  write(tmp / "docs/places/varo.html",
        "<html><head><title>Varo</title></head><body><nav>Home | About</nav><article><p>Varo is a "
        "harbor town known for its lantern bridge, finished in 1650 after twenty years of "
        "work by the masons of the coast.</p></article></body></html>");
  write(tmp / "secret.md", "# Secret\nTOPSECRET-42");
  auto cfg = WebConfig::from_yaml(YAML::Load("search: {backend: local, dir: '" +
                                             (tmp / "docs").string() + "', db: '" +
                                             (tmp / "idx.db").string() + "'}"));
  REQUIRE(cfg);
  SearchTool search(*cfg);
  ToolContext ctx;
  auto r = search.invoke("Who invented the glass loom?", ctx);
  REQUIRE_MESSAGE(r.ok, r.text);
  CHECK(r.text.rfind("1. Ada Venn\n   doc://people/ada.md\n   ", 0) == 0);
  REQUIRE(!r.sources.empty());
  CHECK(r.sources[0] == "doc://people/ada.md");
  auto h = search.invoke("lantern bridge", ctx);
  REQUIRE(h.ok);
  CHECK(h.text.find("doc://places/varo.html") != std::string::npos);
  CHECK(h.text.find("Home | About") == std::string::npos);  // HTML went through main-text extraction

  TextScraperTool scraper(*cfg);
  auto t = scraper.invoke(r.text, ctx);  // the search evidence itself: the doc:// URLs are picked out
  REQUIRE_MESSAGE(t.ok, t.text);
  CHECK(t.text.find("=== doc://people/ada.md ===\nTitle: Ada Venn\n") != std::string::npos);
  CHECK(t.text.find("glass loom in 1712") != std::string::npos);

  auto bad = scraper.invoke("doc://../secret.md\ndoc:///etc/passwd", ctx);
  CHECK_FALSE(bad.ok);
  CHECK(bad.text.find("TOPSECRET-42") == std::string::npos);
  CHECK(bad.text.find("refused") != std::string::npos);

  // Without a folder the backend says what to set.
  auto none = WebConfig::from_yaml(YAML::Load("search: {backend: local}"));
  REQUIRE(none);
  auto e = SearchTool(*none).invoke("x", ctx);
  CHECK_FALSE(e.ok);
  CHECK(e.text.find("search.dir") != std::string::npos);
}
