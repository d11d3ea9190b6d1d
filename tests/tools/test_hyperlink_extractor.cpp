// HyperlinkExtractor: URLs from text and hrefs from HTML, in order, deduplicated,
// with punctuation and unmatched closing brackets trimmed.
#include <doctest/doctest.h>

#include "tools/builtin_tools.h"
#include "tools/hyperlink_extractor.h"

using namespace rewoo::tools;
using V = std::vector<std::string>;

TEST_CASE("links: whole URLs, not one character (the seed's lazy-regex bug)") {
  CHECK(extract_links("go to https://www.nobelprize.org/prizes/literature/2020/summary/ now") ==
        V{"https://www.nobelprize.org/prizes/literature/2020/summary/"});
}

TEST_CASE("links: order of first appearance, deduplicated") {
  CHECK(extract_links("https://b.org/1 http://a.org https://b.org/1 https://c.org\nhttp://a.org") ==
        V{"https://b.org/1", "http://a.org", "https://c.org"});
}

TEST_CASE("links: trailing punctuation is trimmed") {
  CHECK(extract_links("See https://a.org/x. Or https://b.org/y, https://c.org/z; "
                      "https://d.org/?! 'https://e.org/q' *https://f.org/b*") ==
        V{"https://a.org/x", "https://b.org/y", "https://c.org/z", "https://d.org/",
          "https://e.org/q", "https://f.org/b"});
}

TEST_CASE("links: closing brackets without a partner are trimmed, balanced ones kept") {
  CHECK(extract_links("(see https://en.wikipedia.org/wiki/Glück_(poet)) and [https://x.org/a]") ==
        V{"https://en.wikipedia.org/wiki/Glück_(poet)", "https://x.org/a"});
  CHECK(extract_links("[docs](https://example.com/path?q=1&r=2).") ==
        V{"https://example.com/path?q=1&r=2"});
  CHECK(extract_links("{\"u\": \"https://x.org/{id}\"}") == V{"https://x.org/{id}"});
}

TEST_CASE("links: stops at quotes, angle brackets and unicode spaces") {
  CHECK(extract_links("<https://a.org/x>, “https://b.org/y” https://c.org/z\u00a0next") ==
        V{"https://a.org/x", "https://b.org/y", "https://c.org/z"});
}

TEST_CASE("links: unicode paths, queries and fragments survive") {
  CHECK(extract_links("https://de.wikipedia.org/wiki/Louise_Glück?a=1#Werk") ==
        V{"https://de.wikipedia.org/wiki/Louise_Glück?a=1#Werk"});
}

TEST_CASE("links: not URLs") {
  CHECK(extract_links("http:// and https://. and ftp://x.org and xhttps://y.org").empty());
  CHECK(extract_links("").empty());
  CHECK(extract_links("no links here").empty());
}

TEST_CASE("links: HTML hrefs and text URLs in document order") {
  std::string html =
      "<html><body><p>Intro https://text.org/1.</p>"
      "<a href=\"https://a.org/page?x=1&amp;y=2\">A</a>"
      "<script>var u = 'https://script.org/skip';</script>"
      "<a href='/relative'>rel</a><a href=\"mailto:x@y.org\">m</a>"
      "<a href=\" https://b.org \">https://b.org</a></body></html>";
  CHECK(looks_like_html(html));
  CHECK(extract_links(html) == V{"https://text.org/1", "https://a.org/page?x=1&y=2", "https://b.org"});
}

TEST_CASE("links: markdown autolinks are text, not HTML") {
  CHECK_FALSE(looks_like_html("see <https://a.org> and a < b > c"));
  CHECK(looks_like_html("<p>x</p>"));
  CHECK(looks_like_html("<A HREF=x>y</A>"));
}

TEST_CASE("links: trim_url and resolve_link") {
  CHECK(trim_url("https://a.org/x).") == "https://a.org/x");
  CHECK(trim_url("https://a.org/(x)") == "https://a.org/(x)");
  CHECK(resolve_link("  HTTPS://A.org/x ", "") == "HTTPS://A.org/x");
  CHECK(resolve_link("#top", "https://a.org/") == "");
  CHECK(resolve_link("/x/y?z=1#f", "https://a.org/dir/page.html") == "https://a.org/x/y?z=1");
  CHECK(resolve_link("../up", "https://a.org/dir/sub/page.html") == "https://a.org/dir/up");
  CHECK(resolve_link("//cdn.org/p", "http://a.org/") == "http://cdn.org/p");
  CHECK(resolve_link("mailto:x@y.org", "https://a.org/") == "");
  CHECK(resolve_link("/relative", "") == "");
  CHECK(extract_links("<a href='/rel'>r</a><a href='page2.html'>p</a>", "https://a.org/d/i.html") ==
        V{"https://a.org/rel", "https://a.org/d/page2.html"});
}

TEST_CASE("links: the tool joins links with newlines") {
  Registry reg;
  register_builtin_tools(reg);
  Tool* t = reg.find("HyperlinkExtractor");
  REQUIRE(t);
  auto r = t->invoke("a https://a.org b https://b.org/x.", ToolContext{});
  CHECK(r.ok);
  CHECK(r.text == "https://a.org\nhttps://b.org/x");
  CHECK(t->invoke("nothing", ToolContext{}).text == "");
}

TEST_CASE("builtin tools: the seed's names are registered; placeholders fail clearly") {
  Registry reg;
  register_builtin_tools(reg);
  CHECK(reg.names() == V{"DuckDuckGo", "HyperlinkExtractor", "KnowledgeModel", "TextScraper"});
  for (std::string n : {"KnowledgeModel"}) {  // DuckDuckGo/TextScraper: tools/web
    auto r = reg.find(n)->invoke("x", ToolContext{});
    CHECK_FALSE(r.ok);
    CHECK(r.text.rfind(n + " is not available in this build: ", 0) == 0);
  }
}

TEST_CASE("links: a page of more than 200,000 tags is read up to there") {
  std::string page = "<html><body><a href='https://first.example/'>a</a>";
  for (int i = 0; i < 300000; ++i) page += "<p>x";
  page += "<a href='https://last.example/'>z</a></body></html>";
  CHECK(extract_links(page) == V{"https://first.example/"});
}
