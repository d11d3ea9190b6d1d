// LocalIndex: BM25 ranking, accent folding, incremental re-indexing, HTML text.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/test_util.h"
#include "tools/local/local_index.h"

using namespace rewoo;
using namespace rewoo::tools;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
}

std::vector<std::string> urls(const std::vector<LocalHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.url);
  return out;
}

// Filler that mentions none of the test's query words.
std::string filler(int words) {
  static const char* kWords[] = {"river", "stone", "market", "weather", "harbor", "garden",
                                 "lamp", "window", "season", "road"};
  std::string s;
  for (int i = 0; i < words; ++i) s += std::string(kWords[i % 10]) + ' ';
  return s;
}

LocalIndex build(const test::TempDir& tmp) {
  auto idx = LocalIndex::open(tmp / "idx.db");
  REQUIRE(idx);
  auto st = idx->update(tmp / "docs");
  REQUIRE_MESSAGE(st, (st ? "" : st.error().to_string()));
  return std::move(*idx);
}

}  // namespace

TEST_CASE("BM25: more occurrences of the query term rank higher") {
  test::TempDir tmp;
  write(tmp / "docs/once.md", "# Notes\nThe zephyrine engine ran. " + filler(40));
  write(tmp / "docs/thrice.md",
        "# Notes\nzephyrine here, zephyrine there, zephyrine again. " + filler(33));
  write(tmp / "docs/none.md", "# Notes\n" + filler(45));
  auto idx = build(tmp);
  auto hits = idx.search("zephyrine", 10);
  REQUIRE(hits);
  REQUIRE(hits->size() == 2);  // the document without the word is not a hit
  CHECK((*hits)[0].url == "doc://thrice.md");
  CHECK((*hits)[1].url == "doc://once.md");
  CHECK((*hits)[0].score < (*hits)[1].score);  // FTS5 bm25: lower is better
}

TEST_CASE("BM25: a rare term outweighs a common one; shorter documents win on equal counts") {
  test::TempDir tmp;
  // "harbor" is in every document (low IDF); "quillon" in one.
  for (int i = 0; i < 8; ++i)
    write(tmp / ("docs/common" + std::to_string(i) + ".txt"),
          "harbor harbor harbor " + filler(20));
  write(tmp / "docs/rare.txt", "a quillon by the harbor " + filler(20));
  write(tmp / "docs/short.txt", "vellicate " + filler(5));
  write(tmp / "docs/long.txt", "vellicate " + filler(200));
  auto idx = build(tmp);
  auto hits = idx.search("harbor quillon", 3);
  REQUIRE(hits);
  REQUIRE(!hits->empty());
  CHECK((*hits)[0].url == "doc://rare.txt");
  auto v = idx.search("vellicate", 5);
  REQUIRE(v);
  CHECK(urls(*v) == std::vector<std::string>{"doc://short.txt", "doc://long.txt"});
}

TEST_CASE("BM25: a title match ranks above a passing mention") {
  test::TempDir tmp;
  write(tmp / "docs/ilvara.md", "# Ilvara Bridge\nIt spans the river. " + filler(30));
  write(tmp / "docs/other.md", "# Market Day\nPeople walked to Ilvara for the fair. " + filler(30));
  auto idx = build(tmp);
  auto hits = idx.search("Ilvara", 5);
  REQUIRE(hits);
  REQUIRE(hits->size() == 2);
  CHECK((*hits)[0].url == "doc://ilvara.md");
  CHECK((*hits)[0].title == "Ilvara Bridge");
}

TEST_CASE("search folds case and accents, ignores query punctuation and FTS5 syntax") {
  test::TempDir tmp;
  write(tmp / "docs/cafe.md", "# Café Ölberg\nThe café on the Ölberg opened in 1890.");
  write(tmp / "docs/x.md", "# Other\n" + filler(10));
  auto idx = build(tmp);
  for (const char* q : {"cafe olberg", "CAFÉ", "When did the \"café\" (Ölberg) open?",
                        "olberg AND NEAR( NOT *", "1890"}) {
    auto hits = idx.search(q, 5);
    REQUIRE_MESSAGE(hits, q);
    REQUIRE_MESSAGE(!hits->empty(), q);
    CHECK_MESSAGE((*hits)[0].url == "doc://cafe.md", q);
  }
  // Snippets come from the body and show the matched words.
  auto hits = idx.search("1890", 5);
  REQUIRE(hits);
  CHECK((*hits)[0].snippet.find("1890") != std::string::npos);
  // A query of punctuation alone is an error, not an FTS5 syntax failure.
  CHECK_FALSE(idx.search("?!  ...", 5));
  // Stopwords alone still search (nothing else to go on).
  auto st = idx.search("the", 5);
  REQUIRE(st);
  CHECK(st->size() == 1);
}

TEST_CASE("fts_query_from_text quotes words and drops common ones") {
  CHECK(fts_query_from_text("Who invented the Glass Loom?") == "\"invented\" OR \"glass\" OR \"loom\"");
  CHECK(fts_query_from_text("the") == "\"the\"");
  CHECK(fts_query_from_text("\"x\" OR y*") == "\"x\" OR \"y\"");
  CHECK(fts_query_from_text("...").empty());
}

TEST_CASE("incremental update: unchanged, touched, changed, added and removed files") {
  test::TempDir tmp;
  write(tmp / "docs/a.md", "# A\nalpha document");
  write(tmp / "docs/sub/b.txt", "bravo document");
  write(tmp / "docs/c.html", "<html><title>C</title><body><p>charlie document</p></body></html>");
  write(tmp / "docs/ignored.bin", "binary");
  write(tmp / "docs/.hidden/d.md", "delta document");
  auto idx = LocalIndex::open(tmp / "idx.db");
  REQUIRE(idx);
  auto s1 = idx->update(tmp / "docs");
  REQUIRE(s1);
  CHECK(s1->added == 3);
  CHECK(s1->documents == 3);
  CHECK(idx->document_count() == 3);

  auto s2 = idx->update(tmp / "docs");
  REQUIRE(s2);
  CHECK(s2->added == 0);
  CHECK(s2->updated == 0);
  CHECK(s2->unchanged == 3);

  // Same bytes, new mtime: hash decides, nothing re-indexed.
  auto t = fs::last_write_time(tmp / "docs/a.md");
  fs::last_write_time(tmp / "docs/a.md", t + std::chrono::seconds(5));
  // New content (and size) in b, a new file, a removed file.
  write(tmp / "docs/sub/b.txt", "bravo document, now about xylograph printing");
  write(tmp / "docs/e.md", "# E\necho document");
  fs::remove(tmp / "docs/c.html");
  auto s3 = idx->update(tmp / "docs");
  REQUIRE(s3);
  CHECK(s3->unchanged == 1);
  CHECK(s3->updated == 1);
  CHECK(s3->added == 1);
  CHECK(s3->removed == 1);
  CHECK(s3->documents == 3);

  auto x = idx->search("xylograph", 5);
  REQUIRE(x);
  REQUIRE(x->size() == 1);
  CHECK((*x)[0].url == "doc://sub/b.txt");
  auto c = idx->search("charlie", 5);
  REQUIRE(c);
  CHECK(c->empty());  // the old content is gone from the full-text index too
  auto e = idx->search("echo", 5);
  REQUIRE(e);
  CHECK(e->size() == 1);

  // Reopening keeps everything.
  auto again = LocalIndex::open(tmp / "idx.db", LocalIndex::Mode::kReadOnly);
  REQUIRE(again);
  CHECK(again->document_count() == 3);
  CHECK(again->root() == fs::canonical(tmp / "docs").string());
  CHECK_FALSE(again->update(tmp / "docs"));  // read-only
}

TEST_CASE("same-size edits with the same mtime are caught by a changed mtime only") {
  // Documents the rule: mtime+size unchanged means unchanged. An edit that
  // keeps both (rare) is picked up once either moves.
  test::TempDir tmp;
  write(tmp / "docs/a.txt", "abcd one");
  auto idx = build(tmp);
  auto t = fs::last_write_time(tmp / "docs/a.txt");
  write(tmp / "docs/a.txt", "wxyz one");
  fs::last_write_time(tmp / "docs/a.txt", t + std::chrono::seconds(2));
  auto st = idx.update(tmp / "docs");
  REQUIRE(st);
  CHECK(st->updated == 1);
  auto hits = idx.search("wxyz", 5);
  REQUIRE(hits);
  CHECK(hits->size() == 1);
}

TEST_CASE("opening errors are reported, not thrown") {
  test::TempDir tmp;
  auto missing = LocalIndex::open(tmp / "nope.db", LocalIndex::Mode::kReadOnly);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().to_string().find("rewoo index") != std::string::npos);
  write(tmp / "garbage.db", std::string(4096, 'x'));
  CHECK_FALSE(LocalIndex::open(tmp / "garbage.db"));
  auto idx = LocalIndex::open(tmp / "idx.db");
  REQUIRE(idx);
  CHECK_FALSE(idx->update(tmp / "no-such-folder"));
}

TEST_CASE("html_to_text_basic keeps the text, drops scripts and navigation") {
  auto h = html_to_text_basic(
      "<!doctype html><html><head><TITLE>The Loom &amp; Co</TITLE><style>p{}</style></head>"
      "<body><nav><a>Home</a></nav><script>var secret=1;</script><!-- note -->"
      "<h1>Loom</h1><p>Built in 1712&nbsp;by Ada &#x41;&#66;.</p><ul><li>one</li><li>two</li></ul>"
      "<footer>copyright</footer></body></html>");
  CHECK(h.title == "The Loom & Co");
  CHECK(h.text.find("secret") == std::string::npos);
  CHECK(h.text.find("Home") == std::string::npos);
  CHECK(h.text.find("copyright") == std::string::npos);
  CHECK(h.text.find("note") == std::string::npos);
  CHECK(h.text.find("Built in 1712\xC2\xA0" "by Ada AB.") != std::string::npos);
  CHECK(h.text.find("one\ntwo") != std::string::npos);
  CHECK(h.text.find("Loom\n\nBuilt") != std::string::npos);  // paragraphs apart
}
