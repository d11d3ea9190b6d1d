// The demo corpus: the committed files are what the generator writes, and the
// local search finds each held-out question's document with the answer in
// its snippet (the evidence the demo model reads).
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/test_util.h"
#include "tools/local/local_index.h"
#include "tools/local/local_search_tool.h"

using namespace rewoo;
using namespace rewoo::tools;
namespace fs = std::filesystem;

namespace {
fs::path demo_dir() { return test::source_dir() / "tests/data/demo"; }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

TEST_CASE("the committed demo corpus is exactly what tests/demo/demo_world.py writes") {
  test::TempDir tmp;
  std::string out;
  int rc = test::run_command("python3 " + (test::source_dir() / "tests/demo/demo_world.py").string() +
                                 " corpus " + tmp.path().string(),
                             &out);
  REQUIRE_MESSAGE(rc == 0, out);
  size_t files = 0;
  for (auto& e : fs::recursive_directory_iterator(tmp / "corpus")) {
    if (!e.is_regular_file()) continue;
    ++files;
    auto rel = fs::relative(e.path(), tmp / "corpus");
    fs::path committed = demo_dir() / "corpus" / rel;
    REQUIRE_MESSAGE(fs::exists(committed), committed.string());
    CHECK_MESSAGE(test::read_file(e.path()) == test::read_file(committed), rel.string());
  }
  size_t committed_files = 0;
  for (auto& e : fs::recursive_directory_iterator(demo_dir() / "corpus"))
    if (e.is_regular_file() && e.path().extension() == ".md") ++committed_files;
  CHECK(files == committed_files);
  CHECK(files >= 100);
  CHECK(files <= 300);
  CHECK(test::read_file(tmp / "questions.jsonl") == test::read_file(demo_dir() / "questions.jsonl"));
}

TEST_CASE("local search puts each demo answer in the top results' snippets") {
  test::TempDir tmp;
  auto idx = LocalIndex::open(tmp / "demo.db");
  REQUIRE(idx);
  auto st = idx->update(demo_dir() / "corpus");
  REQUIRE(st);
  std::ifstream in(demo_dir() / "questions.jsonl");
  std::string line;
  int n = 0, first = 0, in_snippet = 0;
  while (std::getline(in, line)) {
    auto q = nlohmann::json::parse(line);
    std::string question = q["question"], answer = q["answer"], doc = q["doc"];
    // The planner searches with the question (without its question mark).
    if (!question.empty() && question.back() == '?') question.pop_back();
    auto hits = idx->search(question, 5);
    REQUIRE(hits);
    ++n;
    if (!hits->empty() && (*hits)[0].url == doc) ++first;
    for (auto& h : *hits)
      if (h.url == doc && lower(h.snippet).find(lower(answer)) != std::string::npos) ++in_snippet;
  }
  REQUIRE(n >= 200);
  MESSAGE("demo questions: ", n, ", target first ", first, ", answer in its snippet ", in_snippet);
  CHECK(first >= n * 95 / 100);
  CHECK(in_snippet >= n * 98 / 100);
}
