// tools/html: the forgiving parser, main-text extraction, link extraction,
// and the F1 floor on the article-extraction-dev pages.
#include <doctest/doctest.h>

#include <chrono>

#include "tests/bench/extraction_eval.h"
#include "tests/test_util.h"
#include "tools/html/html_dom.h"
#include "tools/html/main_text.h"

using namespace rewoo::tools::html;

TEST_CASE("decode_entities: named, numeric, cp1252 numeric and unknown references") {
  CHECK(decode_entities("a &amp; b &lt;c&gt; &quot;d&quot;") == "a & b <c> \"d\"");
  CHECK(decode_entities("caf&eacute; &#233; &#xE9; &#XE9;") == "café é é é");
  CHECK(decode_entities("&mdash;&hellip;&rsquo;&nbsp;") == "\u2014\u2026\u2019\u00a0");
  CHECK(decode_entities("&#146;") == "\u2019");  // windows-1252 meaning
  CHECK(decode_entities("&bogus; & &#; &#xZZ;") == "&bogus; & &#; &#xZZ;");
  CHECK(decode_entities("&#0;&#xD800;&#x110000;") == "\uFFFD\uFFFD\uFFFD");
  CHECK(decode_entities("AT&T") == "AT&T");
}

TEST_CASE("HtmlDocument: raw text, comments, implied end tags, unclosed head") {
  auto doc = HtmlDocument::parse(
      "<html><head><title>T &amp; U</title><script>if (a < b) { x = '</p>'; }</script>"
      "<div>body starts here<!-- <p>not a p</p> --><p>one<p>two<ul><li>a<li>b</ul></div>");
  int title = doc.find_first(Tag::kTitle);
  REQUIRE(title >= 0);
  CHECK(doc.text_of(title) == "T & U");
  int script = doc.find_first(Tag::kScript);
  CHECK(doc.text_of(script) == "if (a < b) { x = '</p>'; }");
  // The div closed the unclosed <head>: it is not inside head.
  int div = doc.find_first(Tag::kDiv);
  int head = doc.find_first(Tag::kHead);
  for (int p = div; p > 0; p = doc.node(p).parent) CHECK(p != head);
  // <p>one<p>two: siblings, not nested; <li>a<li>b: siblings.
  int p1 = doc.find_first(Tag::kP);
  REQUIRE(doc.node(p1).next_sibling >= 0);
  CHECK(doc.node(doc.node(p1).next_sibling).tag == Tag::kP);
  int ul = doc.find_first(Tag::kUl);
  int li1 = doc.node(ul).first_child;
  CHECK(doc.node(li1).tag == Tag::kLi);
  CHECK(doc.node(doc.node(li1).next_sibling).tag == Tag::kLi);
  CHECK(doc.text_of(div).find("not a p") == std::string::npos);
}

TEST_CASE("HtmlDocument: hostile input never crashes and nesting is capped") {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "<div>";
  deep += "x";
  auto doc = HtmlDocument::parse(deep);
  int depth = 0;
  for (int i = doc.size() - 1; i > 0; i = doc.node(i).parent) ++depth;
  CHECK(depth <= 401);
  for (const char* s : {"<", "</", "<a", "<a href='", "&#x", "<!--", "<![CDATA[", "<script>", "</>",
                        "<a b=c d='e\" f>", "\xff\xfe<\x00>"}) {
    auto d = HtmlDocument::parse(s);
    CHECK(d.size() >= 1);
  }
  auto page = extract_main_text(deep);
  CHECK(page.text == "x");
}

TEST_CASE("HtmlDocument: an absurd number of tags is parsed up to kMaxNodes") {
  // 8 MB of bare tags (what a fetch may return) took 25 s and 700 MB.
  std::string dense = "<body><p>first";
  for (int i = 0; i < 2000000; ++i) dense += "<p>x";
  auto doc = HtmlDocument::parse(dense);
  CHECK(doc.truncated());
  CHECK(static_cast<size_t>(doc.size()) <= HtmlDocument::kMaxNodes + 8);
  auto page = extract_main_text(dense);
  CHECK(page.text.rfind("first\n", 0) == 0);
  CHECK_FALSE(HtmlDocument::parse("<p>a few <b>tags</b>").truncated());
}

TEST_CASE("HtmlDocument / extract_main_text: mutated real pages never crash, stay fast") {
  auto pages = rewoo::bench::load_pages(rewoo::test::data_dir() / "html" / "article-extraction-dev");
  REQUIRE(pages.size() > 5);
  uint32_t seed = 12345;
  auto rnd = [&] { return seed = seed * 1664525u + 1013904223u; };
  const char* tokens[] = {"<", ">", "</div>", "<p>", "<table><td>", "&", "&#x", "\"", "'", "<!--", "<script>",
                          "</body>", "<html>", "\xff", "\xc3", "<li>", "</p>", "<a href='", "<svg/>", "\0"};
  for (int round = 0; round < 30; ++round) {
    std::string html = pages[static_cast<size_t>(round) % pages.size()].html.substr(0, 60000);
    for (int k = 0; k < 200; ++k) {
      size_t pos = rnd() % (html.size() + 1);
      switch (rnd() % 3) {
        case 0: html.insert(pos, tokens[rnd() % (sizeof(tokens) / sizeof(tokens[0]))]); break;
        case 1: html.erase(pos, rnd() % 50); break;
        default: if (!html.empty()) html[pos % html.size()] = static_cast<char>(rnd()); break;
      }
    }
    auto page = extract_main_text(html);
    auto links = extract_links(html, "https://example.com/a/");
    CHECK(page.text.size() <= html.size() * 4 + 16);
    (void)links;
  }
  // Many equal-scoring candidates deep in the tree: no quadratic blow-up.
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "<div>";
  for (int i = 0; i < 3000; ++i) deep += "<div><p>Some words, and more words, to score here.</p></div>";
  auto t0 = std::chrono::steady_clock::now();
  auto page = extract_main_text(deep);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(page.text.find("Some words") != std::string::npos);
}

TEST_CASE("extract_main_text: keeps the article, drops chrome, scripts and hidden parts") {
  std::string para =
      "The committee met on Tuesday, and after a long debate, it approved the budget for the "
      "coming year, with changes to transport, housing and schools. ";
  std::string html =
      "<html><head><title>Budget approved</title><style>p{color:red}</style></head><body>"
      "<header><a href=/>Home</a> <a href=/news>News</a></header>"
      "<nav><ul><li><a href=/a>Section A</a><li><a href=/b>Section B</a></ul></nav>"
      "<div class='sidebar'><p>Subscribe to our newsletter, it is great, really, truly.</p></div>"
      "<article><h1>Budget approved</h1><p>" + para + "</p><p>" + para +
      "</p><p style='display:none'>HIDDEN TEXT</p><h2>What changes</h2>"
      "<ul><li>Transport: more buses, more trams, longer hours</li><li>Housing: 500 new homes, "
      "mostly social</li></ul><table><tr><td>Schools</td><td>+3%</td></tr></table>"
      "<script>var x = 'SCRIPT TEXT';</script><p>" + para + "</p></article>"
      "<footer>Copyright &copy; 2024 Example News</footer></body></html>";
  auto page = extract_main_text(html);
  CHECK(page.title == "Budget approved");
  CHECK(page.text.find("The committee met on Tuesday") != std::string::npos);
  CHECK(page.text.find("What changes") != std::string::npos);
  CHECK(page.text.find("- Transport: more buses") != std::string::npos);
  CHECK(page.text.find("Schools | +3%") != std::string::npos);
  for (const char* bad : {"HIDDEN", "SCRIPT", "Copyright", "Section A", "Subscribe", "color:red"})
    CHECK_MESSAGE(page.text.find(bad) == std::string::npos, bad);
  // Paragraphs are separated by a blank line.
  CHECK(page.text.find("schools.\n\nThe committee") != std::string::npos);
}

TEST_CASE("extract_main_text: a page without an article gives its visible text") {
  auto page = extract_main_text("<p>Hello <b>world</b>.<br>Second&nbsp;line</p>");
  CHECK(page.text == "Hello world.\nSecond line");
  CHECK(extract_main_text("").text.empty());
  // Inline elements (known or not) don't break lines; unknown ones are blocks.
  CHECK(extract_main_text("<p>a <mark>b</mark> <cite>c</cite> <kbd>d</kbd> e</p>").text == "a b c d e");
  CHECK(extract_main_text("<x-card>one</x-card><x-card>two</x-card>", {false}).text == "one\n\ntwo");
  CHECK(extract_main_text("plain words, no tags").text == "plain words, no tags");
}

TEST_CASE("extract_main_text: <pre> keeps its line breaks") {
  auto page = extract_main_text("<pre>a  b\n  c</pre>", {false});
  CHECK(page.text == "a  b\n  c");
}

TEST_CASE("extract_links: resolves relative hrefs against the page and <base>") {
  std::string html =
      "<a href='/about'>x</a><a href=\"../up.html#frag\">y</a><a href='https://other.org/p?q=1'>z</a>"
      "<a href='mailto:a@b.c'>m</a><a href='javascript:void(0)'>j</a><a href='#top'>t</a>"
      "<a href='//cdn.example.com/f'>s</a><a href='/about'>dup</a><a href='rel?a=1&amp;b=2'>amp</a>";
  auto links = extract_links(html, "https://example.com/dir/page.html");
  std::vector<std::string> want = {"https://example.com/about", "https://example.com/up.html",
                                   "https://other.org/p?q=1", "https://cdn.example.com/f",
                                   "https://example.com/dir/rel?a=1&b=2"};
  CHECK(links == want);
  // Without a base only absolute links survive.
  CHECK(extract_links(html) == std::vector<std::string>{"https://other.org/p?q=1"});
  auto based = extract_links("<base href='http://base.test/x/'><a href='y'>y</a>", "http://page.test/");
  CHECK(based == std::vector<std::string>{"http://base.test/x/y"});
}

TEST_CASE("extraction F1 on article-extraction-dev stays above the floor") {
  auto dir = rewoo::test::data_dir() / "html" / "article-extraction-dev";
  auto pages = rewoo::bench::load_pages(dir);
  REQUIRE_MESSAGE(pages.size() == 61, "data missing under " << dir.string());
  std::vector<rewoo::bench::Counts> counts;
  for (const auto& p : pages) counts.push_back(rewoo::bench::shingle_match(p.truth, extract_main_text(p.html).text));
  auto s = rewoo::bench::score_of(counts);
  MESSAGE("precision " << s.precision << " recall " << s.recall << " F1 " << s.f1);
  CHECK(s.f1 >= 0.95);  // measured 0.976; the bar is 0.90
  CHECK(s.precision >= 0.90);
  CHECK(s.recall >= 0.90);
}

TEST_CASE("extraction metric: identical texts score 1, disjoint texts 0") {
  auto same = rewoo::bench::score_of({rewoo::bench::shingle_match("a b c d e f", "a b c d e f")});
  CHECK(same.f1 == doctest::Approx(1.0));
  auto none = rewoo::bench::score_of({rewoo::bench::shingle_match("a b c d e f", "g h i j k")});
  CHECK(none.f1 == doctest::Approx(0.0));
  CHECK(rewoo::bench::word_tokens("Ünïcode wörds, and_more! 42") ==
        std::vector<std::string>{"Ünïcode", "wörds", "and_more", "42"});
}
