// KnowledgeModel: closed-context prompt from the referenced evidence, trimming
// to the context window, depth limit, errors as tool failures.
#include <doctest/doctest.h>

#include <memory>

#include "agent/knowledge_model.h"
#include "tests/agent/fake_model.h"

using namespace rewoo;
using namespace rewoo::agent;
using rewoo::test::FakeModel;

namespace {
int words(std::string_view s) {
  std::istringstream ss{std::string(s)};
  std::string w;
  int n = 0;
  while (ss >> w) ++n;
  return n;
}
std::string n_words(int n, const std::string& w) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? " " : "") + w;
  return out;
}
}  // namespace

TEST_CASE("fit_texts: nothing cut when it fits, longest cut first with a marker") {
  std::vector<std::string> t{"a b c", "d e"};
  CHECK(fit_texts(t, 5, words) == 0);
  CHECK(t[0] == "a b c");

  int marker = words(kTrimMarker);
  std::vector<std::string> u{n_words(10, "x"), n_words(100, "y"), n_words(40, "z")};
  int cut = fit_texts(u, 80, words);  // cap 35: 10 + 35 + 35
  CHECK(cut == 2);
  CHECK(u[0] == n_words(10, "x"));
  int total = words(u[0]) + words(u[1]) + words(u[2]);
  CHECK(total == 80);
  CHECK(u[1].ends_with(kTrimMarker));
  CHECK(u[2].ends_with(kTrimMarker));
  CHECK(words(u[1]) == words(u[2]));  // both cut to the same cap
  CHECK(words(u[1]) == 35);
  CHECK(u[1] == n_words(35 - marker, "y") + std::string(kTrimMarker));
  // The cap lands exactly on a text that fits: it stays whole.
  std::vector<std::string> v{n_words(10, "x"), n_words(100, "y"), n_words(40, "z")};
  CHECK(fit_texts(v, 90, words) == 1);
  CHECK(v[2] == n_words(40, "z"));
}

TEST_CASE("KnowledgeModel: evidence as input blocks, question as the instruction") {
  FakeModel model([](const CompletionRequest&) { return " The cat is black.\n"; });
  auto backend = std::make_shared<LlmKnowledgeBackend>(model, PromptRenderer{});
  tools::KnowledgeModelTool tool(backend, [](const std::string& input, const tools::ToolContext&) {
    tools::KnowledgeQuery q;
    q.question = input;
    q.contexts.push_back({{{"evidence", ":evidence0:"}, {"tool", "TextScraper"},
                           {"url", "https://cats.example/1"}},
                          "The cat is black."});
    return q;
  });
  tools::ToolContext ctx;
  ctx.step = 1;
  auto r = tool.invoke("What color is the cat, given :evidence0:?", ctx);
  REQUIRE(r.ok);
  CHECK(r.text == "The cat is black.");
  CHECK(r.sources == std::vector<std::string>{"https://cats.example/1"});
  REQUIRE(model.prompts.size() == 1);
  CHECK(model.prompts[0] ==
        "A chat.\nUSER: BEGININPUT\nBEGINCONTEXT\nevidence: :evidence0:\ntool: TextScraper\n"
        "url: https://cats.example/1\nENDCONTEXT\nThe cat is black.\nENDINPUT\nBEGININSTRUCTION\n"
        "What color is the cat, given :evidence0:?\nENDINSTRUCTION\nASSISTANT:");
  CHECK(model.requests[0].options.stop == std::vector<std::string>{"USER:"});
  CHECK(model.requests[0].options.max_tokens == 256);
}

TEST_CASE("KnowledgeModel: long evidence is trimmed to the window; depth limit; failures") {
  FakeModel model([](const CompletionRequest&) { return "ok"; }, /*context=*/400);
  KnowledgeOptions opts;
  opts.max_tokens = 100;
  opts.max_depth = 1;
  LlmKnowledgeBackend backend(model, PromptRenderer{}, opts);
  tools::KnowledgeQuery q{"Summarise :evidence0:", {{{{"evidence", ":evidence0:"}}, n_words(2000, "w")}}, 0};
  auto p = backend.build_prompt(q);
  REQUIRE(p);
  CHECK(words(*p) <= 400 - 100);
  CHECK(p->find(std::string(kTrimMarker) + "\nENDINPUT") != std::string::npos);

  tools::ToolContext ctx;
  q.depth = 2;
  auto deep = backend.answer(q, ctx);
  REQUIRE(!deep);
  CHECK(deep.error().message == "depth limit reached (2 > 1); raise --knowledge-depth to allow it");

  FakeModel broken([](const CompletionRequest&) { return "<error>"; });
  tools::KnowledgeModelTool tool(std::make_shared<LlmKnowledgeBackend>(broken, PromptRenderer{}));
  auto r = tool.invoke("q", ctx);
  CHECK(!r.ok);
  CHECK(r.text == "KnowledgeModel: fake model failure");
  tools::KnowledgeModelTool none(nullptr);
  CHECK(none.invoke("q", ctx).text == "KnowledgeModel: no language model is loaded");
}
