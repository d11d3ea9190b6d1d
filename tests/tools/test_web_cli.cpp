// rewoo fetch / extract / search against the fixture server (needs build/rewoo).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "tests/fixtures/web_fixture_server.h"
#include "tests/test_util.h"

namespace {

std::string rewoo_bin() { return (rewoo::test::binary_dir() / "rewoo").string(); }

int run(const std::string& args, std::string* out) {
  return rewoo::test::run_command(rewoo_bin() + " " + args, out);
}

}  // namespace

TEST_CASE("rewoo fetch / extract / search") {
  REQUIRE_MESSAGE(std::filesystem::exists(rewoo_bin()), "build the rewoo target first");
  rewoo::test::WebFixtureServer srv;
  std::string out;
  // fetch: main text; refused without the allowance (exit 1 with the reason).
  CHECK(run("fetch --allow 127.0.0.1/32 " + srv.url("/article/2"), &out) == 0);
  CHECK(out.find("Article 2") != std::string::npos);
  CHECK(out.find("Researchers in the valley") != std::string::npos);
  CHECK(out.find("Footer text") == std::string::npos);
  CHECK(run("fetch " + srv.url("/article/2"), &out) == 1);
  CHECK(out.find("refused by the address guard: 127.0.0.1 -> 127.0.0.1 is loopback") != std::string::npos);
  CHECK(run("fetch --allow 127.0.0.1/32 " + srv.url("/status/404"), &out) == 1);
  CHECK(out.find("HTTP 404 Not Found") != std::string::npos);
  CHECK(run("fetch --allow 127.0.0.1/32 --raw " + srv.url("/gzip"), &out) == 0);
  CHECK(out.find("<article><h1>River report 7</h1>") != std::string::npos);
  CHECK(run("fetch --allow 127.0.0.1/32 --json " + srv.url("/latin1-header"), &out) == 0);
  CHECK(out.find("\"charset\":\"windows-1252\"") != std::string::npos);
  CHECK(out.find("Café crème") != std::string::npos);
  CHECK(run("fetch --allow 999.0.0.1/8 " + srv.url("/page"), &out) == 2);  // bad range: usage error

  // extract: a file and stdin, main text and links.
  rewoo::test::TempDir dir;
  std::ofstream(dir / "p.html") << rewoo::test::WebFixtureServer::article(4);
  CHECK(run("extract " + (dir / "p.html").string(), &out) == 0);
  CHECK(out.find("River report 4") != std::string::npos);
  CHECK(out.find("Home") == std::string::npos);
  CHECK(run("extract --links --url https://site.test/a/b.html < " + (dir / "p.html").string(), &out) == 0);
  CHECK(out == "https://site.test/\nhttps://site.test/news\nhttps://site.test/article/5\nhttps://site.test/about\n");
  CHECK(run("extract " + (dir / "missing.html").string(), &out) == 2);

  // search: both backends through flags.
  CHECK(run("search --allow 127.0.0.1/32 --url " + srv.url("/html/") + " river floods", &out) == 0);
  CHECK(out.find("1. River report & floods\n   " + srv.url("/article/1")) != std::string::npos);
  CHECK(run("search --allow 127.0.0.1/32 --backend searxng --url " + srv.url("/search") + " --json rivers", &out) == 0);
  CHECK(out.find("\"title\":\"Third report\"") != std::string::npos);
  CHECK(run("search --url " + srv.url("/html/") + " x", &out) == 1);
  CHECK(out.find("search failed") != std::string::npos);
}
