// URL parsing and resolution (tools/http/url.h): what the HTTP client and
// the link extractor accept, in curl's normal form, and clear refusals.
#include <doctest/doctest.h>

#include <string>

#include "tools/html/main_text.h"
#include "tools/http/url.h"

using namespace rewoo::tools;
using namespace rewoo::tools::http;

TEST_CASE("parse_http_url: parts, default ports, refusals") {
  auto u = parse_http_url("HTTPS://Example.org/a%7eb?q=1#frag");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->port == 443);
  auto v6 = parse_http_url("http://[::1]:8080/x");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 8080);
  CHECK(parse_http_url("http://example.org")->port == 80);

  CHECK(parse_http_url("").error().message == "empty URL");
  CHECK(parse_http_url("example.org/x").error().message.find("not an absolute URL") !=
        std::string::npos);
  CHECK(parse_http_url("ftp://example.org/").error().message.find("scheme 'ftp' is not allowed") ==
        0);
  CHECK(parse_http_url("http://example.org:99999/").error().message.find("bad URL") == 0);
  // Port 0 is no server's port: refused rather than passed on to connect.
  auto zero = parse_http_url("http://example.org:0/%7e");
  REQUIRE(!zero);
  CHECK(zero.error().message == "URL has port 0 (expected 1 to 65535): http://example.org:0/%7e");
}

TEST_CASE("resolve_url and extract_links keep only links a fetch would take") {
  CHECK(*resolve_url("https://example.com/a/b?c", "../x?y=1") == "https://example.com/x?y=1");
  CHECK(*resolve_url("https://example.com/a/b", "//cdn.example.org/z") ==
        "https://cdn.example.org/z");
  CHECK(!resolve_url("https://example.com/", "mailto:a@b"));
  auto zero = resolve_url("https://example.com/", "http://example.org:0/");
  REQUIRE(!zero);
  CHECK(zero.error().message ==
        "bad link 'http://example.org:0/': URL has port 0 (expected 1 to 65535): "
        "http://example.org:0/");
  const auto links = html::extract_links(
      R"(<a href="/p#frag">p</a><a href="HTTP://EXAMPLE.org:0/%7e">zero</a><a href="mailto:a@b">m</a>)",
      "https://example.com/a/b");
  REQUIRE(links.size() == 1);
  CHECK(links[0] == "https://example.com/p");
}

TEST_CASE("url_encode and url_decode are inverse on any bytes") {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  CHECK(url_decode(url_encode(all)) == all);
  CHECK(url_encode("a b/é") == "a%20b%2F%C3%A9");
  CHECK(url_decode("a+b%2", true) == "a b%2");
}
