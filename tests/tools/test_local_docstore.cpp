// DocStore and the local tools: doc:// URLs read the index and nothing else.
#include <doctest/doctest.h>

#include <fstream>

#include "tests/test_util.h"
#include "tools/local/doc_store.h"
#include "tools/local/local_search_tool.h"

using namespace rewoo;
using namespace rewoo::tools;
namespace fs = std::filesystem;

namespace {
void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
}

struct Fixture {
  test::TempDir tmp;
  std::shared_ptr<LocalIndex> index;
  Fixture() {
    write(tmp / "root/people/ada.md", "# Ada Venn\nAda Venn invented the glass loom in 1712.");
    write(tmp / "root/places/varo.txt", "Varo\nA harbor town known for its lantern bridge.");
    write(tmp / "root/notes.bin", "not a document type");  // on disk, never indexed
    write(tmp / "root/.private/key.md", "# Key\nsecret-token-123");  // hidden, never indexed
    write(tmp / "outside.md", "# Outside\nsecret outside the root");
    auto r = open_and_update_index(tmp / "root", tmp / "idx.db");
    REQUIRE(r);
    index = *r;
  }
};
}  // namespace

TEST_CASE("doc_url_path accepts relative paths and refuses escapes") {
  CHECK(*doc_url_path("doc://people/ada.md") == "people/ada.md");
  CHECK(*doc_url_path("doc://people//./ada.md") == "people/ada.md");
  CHECK(*doc_url_path("DOC://people/ada%2Emd") == "people/ada.md");
  CHECK(*doc_url_path("doc://people/ada.md#part") == "people/ada.md");
  for (const char* bad : {"doc://../outside.md", "doc:///etc/passwd", "doc://people/../../outside.md",
                          "doc://%2e%2e/outside.md", "doc://%2Fetc/passwd", "doc://a\\..\\b",
                          "doc://", "doc://./", "doc://file:/etc/passwd", "doc://a%00b",
                          "http://example.com/", "file:///etc/passwd", "/etc/passwd"}) {
    auto r = doc_url_path(bad);
    CHECK_MESSAGE(!r, bad);
  }
}

TEST_CASE("DocStore reads indexed documents only") {
  Fixture f;
  DocStore store(f.index);
  auto ada = store.read("doc://people/ada.md");
  REQUIRE(ada);
  CHECK(ada->title == "Ada Venn");
  CHECK(ada->text.find("glass loom in 1712") != std::string::npos);

  // Outside the root, through the root's parent, absolute, other schemes.
  for (const char* url : {"doc://../outside.md", "doc:///etc/passwd", "doc://%2e%2e/outside.md",
                          "doc://people/../../outside.md", "file:///etc/passwd",
                          "http://127.0.0.1/", "/etc/passwd", "people/ada.md"}) {
    auto r = store.read(url);
    CHECK_MESSAGE(!r, url);
    if (!r) CHECK(r.error().message.find("refused") != std::string::npos);
  }
  // Inside the root on disk, but not in the index: refused too.
  for (const char* url : {"doc://notes.bin", "doc://.private/key.md", "doc://people/nobody.md"}) {
    auto r = store.read(url);
    REQUIRE_MESSAGE(!r, url);
    CHECK(r.error().message.find("no such document in the index") != std::string::npos);
  }
  // The store never reads the file system: a document deleted on disk is still
  // served from the index until the next update, and gone after it.
  fs::remove(f.tmp / "root/people/ada.md");
  CHECK(store.read("doc://people/ada.md"));
  REQUIRE(f.index->update(f.tmp / "root"));
  CHECK_FALSE(store.read("doc://people/ada.md"));
}

TEST_CASE("read_as_evidence heads the text with its URL and caps it") {
  Fixture f;
  DocStore store(f.index);
  auto full = store.read_as_evidence("doc://places/varo.txt");
  REQUIRE(full);
  CHECK(full->rfind("doc://places/varo.txt\nVaro\n\n", 0) == 0);
  auto cut = store.read_as_evidence("doc://places/varo.txt", 10);
  REQUIRE(cut);
  CHECK(cut->find("[truncated ") != std::string::npos);
}

TEST_CASE("local search tool: numbered evidence with doc:// URLs and snippets") {
  Fixture f;
  auto tool = make_local_search_tool(f.index);
  CHECK(tool->name() == "DuckDuckGo");
  ToolContext ctx;
  auto r = tool->invoke("Who invented the glass loom?", ctx);
  REQUIRE(r.ok);
  CHECK(r.text.rfind("1. Ada Venn\n   doc://people/ada.md\n   ", 0) == 0);
  CHECK(r.text.find("1712") != std::string::npos);
  REQUIRE(!r.sources.empty());
  CHECK(r.sources[0] == "doc://people/ada.md");
  auto none = tool->invoke("zzzzqqq", ctx);
  CHECK(none.ok);
  CHECK(none.text == "No results for 'zzzzqqq'.");
  CHECK_FALSE(tool->invoke("???", ctx).ok);
}

TEST_CASE("local reader tool reads search results and refuses everything else") {
  Fixture f;
  auto search = make_local_search_tool(f.index);
  auto reader = make_local_reader_tool(f.index);
  ToolContext ctx;
  auto hits = search->invoke("lantern bridge harbor", ctx);
  REQUIRE(hits.ok);
  // The whole search evidence as input: the reader picks the doc:// URLs out.
  auto text = reader->invoke(hits.text, ctx);
  REQUIRE(text.ok);
  CHECK(text.text.find("A harbor town known for its lantern bridge.") != std::string::npos);

  auto mixed = reader->invoke("doc://people/ada.md\ndoc://../outside.md\nfile:///etc/passwd", ctx);
  REQUIRE(mixed.ok);
  CHECK(mixed.text.find("glass loom") != std::string::npos);
  CHECK(mixed.text.find("secret outside") == std::string::npos);
  CHECK(mixed.text.find("[refused: ") != std::string::npos);
  CHECK(mixed.sources == std::vector<std::string>{"doc://people/ada.md"});

  auto bad = reader->invoke("doc://.private/key.md", ctx);
  CHECK_FALSE(bad.ok);
  CHECK(bad.text.find("secret-token") == std::string::npos);
}

TEST_CASE("rewoo index CLI: builds, reports, searches; bad folder is a usage error") {
  fs::path exe = test::binary_dir() / "rewoo";
  if (!fs::exists(exe)) {
    MESSAGE("build/rewoo not built; skipping the CLI check");
    return;
  }
  test::TempDir tmp;
  write(tmp / "d/a.md", "# Quorn Tower\nThe Quorn Tower stands in Varo.");
  std::string out;
  int rc = test::run_command(exe.string() + " index " + (tmp / "d").string() +
                                 " --json -q 'quorn tower'",
                             &out);
  CHECK(rc == 0);
  CHECK(out.find("\"added\": 1") != std::string::npos);
  CHECK(out.find("doc://a.md") != std::string::npos);
  CHECK(fs::exists(tmp / "d/.rewoo-index.db"));
  rc = test::run_command(exe.string() + " index " + (tmp / "d").string(), &out);
  CHECK(rc == 0);
  CHECK(out.find("1 documents (0 added, 0 updated, 1 unchanged") != std::string::npos);
  rc = test::run_command(exe.string() + " index " + (tmp / "missing").string(), &out);
  CHECK(rc == 2);
}
