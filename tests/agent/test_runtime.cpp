// The agent runtime with a scripted model: plan -> execute -> solve, the
// KnowledgeModel's input blocks, failed steps as evidence, replanning,
// function calls and chat.
#include <doctest/doctest.h>

#include <memory>
#include <mutex>

#include "agent/runtime.h"
#include "tests/agent/fake_model.h"
#include "tests/agent/fake_tools.h"
#include "tools/knowledge.h"

using namespace rewoo;
using namespace rewoo::agent;
using nlohmann::json;
using rewoo::test::FakeModel;
using rewoo::test::FakeTool;

namespace {

const char* kPlan =
    "Plan: Search for the winner.\n"
    ":evidence0: = Search[Nobel Prize in Literature 2020]\n"
    "Plan: Ask the model who won.\n"
    ":evidence1: = KnowledgeModel[Who won, given :evidence0:?]\n"
    "Answer: :evidence1:";

bool is_planner(const std::string& p) { return p.find("Make a step-by-step plan") != std::string::npos; }
bool is_solver(const std::string& p) { return p.find("Using only the inputs above") != std::string::npos; }

tools::Registry registry(bool search_fails = false) {
  tools::Registry r;
  (void)r.add(std::make_shared<FakeTool>(
      "Search", "Searches the web.", "a query", std::nullopt,
      [search_fails](const std::string& in) {
        if (search_fails) return tools::ToolResult::failure("network down");
        return tools::ToolResult::success("Louise Gluck won for her poetry. (" + in + ")",
                                          {"https://nobel.example/2020"});
      }));
  (void)r.add(std::make_shared<tools::KnowledgeModelTool>(nullptr));  // replaced by the agent
  return r;
}

AgentOptions opts() {
  AgentOptions o;
  o.sampling.seed = 7;
  return o;
}

}  // namespace

TEST_CASE("ask: plan, parallel execution, KnowledgeModel input blocks, solver prompt") {
  FakeModel model([](const CompletionRequest& r) -> std::string {
    if (is_planner(r.prompt)) return std::string(" ") + kPlan + "\n";
    if (is_solver(r.prompt)) return " Louise Gluck. ";
    return "Louise Gluck";  // the KnowledgeModel
  });
  Agent agent(model, registry());
  std::vector<std::string> events;
  std::string streamed;
  AskCallbacks cb;
  cb.on_plan_text = [&](std::string_view s) { streamed += s; return true; };
  cb.on_step_start = [&](int step, const std::string& tool, const std::string& input) {
    events.push_back("start " + std::to_string(step) + " " + tool + " " + input);
  };
  cb.on_step_end = [&](const StepRecord& s) {
    events.push_back("end " + std::to_string(s.index) + " " + s.status + " " + s.output);
  };
  TraceSink trace;
  auto r = agent.ask("Who won the Nobel Prize in Literature in 2020?", opts(), cb, &trace);
  REQUIRE(r);
  CHECK(r->answer == "Louise Gluck.");
  CHECK(r->planned_answer == "Louise Gluck");
  CHECK(r->plan_text == kPlan);
  CHECK(streamed == std::string(" ") + kPlan + "\n");
  REQUIRE(r->plan);
  REQUIRE(r->evidence.size() == 2);
  CHECK(r->evidence[0].ok);
  CHECK(r->evidence[0].input == "Nobel Prize in Literature 2020");
  CHECK(r->evidence[0].sources == std::vector<std::string>{"https://nobel.example/2020"});
  CHECK(r->evidence[1].input ==
        "Who won, given Louise Gluck won for her poetry. (Nobel Prize in Literature 2020)?");
  CHECK(r->evidence[1].thought == "Ask the model who won.");
  CHECK(events == std::vector<std::string>{
                      "start 0 Search Nobel Prize in Literature 2020",
                      "end 0 ok Louise Gluck won for her poetry. (Nobel Prize in Literature 2020)",
                      "start 1 KnowledgeModel Who won, given Louise Gluck won for her poetry. "
                      "(Nobel Prize in Literature 2020)?",
                      "end 1 ok Louise Gluck"});

  REQUIRE(model.prompts.size() == 3);
  CHECK(model.prompts[0] == *agent.planner_prompt("Who won the Nobel Prize in Literature in 2020?"));
  // The KnowledgeModel: the evidence it refers to as an input block, its
  // question with the reference kept.
  CHECK(model.prompts[1] ==
        "A chat.\nUSER: BEGININPUT\nBEGINCONTEXT\nevidence: :evidence0:\ntool: Search\n"
        "url: https://nobel.example/2020\nENDCONTEXT\nLouise Gluck won for her poetry. (Nobel "
        "Prize in Literature 2020)\nENDINPUT\nBEGININSTRUCTION\nWho won, given :evidence0:?\n"
        "ENDINSTRUCTION\nASSISTANT:");
  // The solver: one block per evidence with step, tool and source as context
  // (the KnowledgeModel's answer carries the sources of what it read).
  CHECK(model.prompts[2] ==
        "A chat.\nUSER: BEGININPUT\nBEGINCONTEXT\nevidence: :evidence0:\nplan: Search for the "
        "winner.\ntool: Search\nurl: https://nobel.example/2020\nENDCONTEXT\nLouise Gluck won for "
        "her poetry. (Nobel Prize in Literature 2020)\nENDINPUT\nBEGININPUT\nBEGINCONTEXT\n"
        "evidence: :evidence1:\nplan: Ask the model who won.\ntool: KnowledgeModel\n"
        "url: https://nobel.example/2020\nENDCONTEXT\n"
        "Louise Gluck\nENDINPUT\nBEGININSTRUCTION\nUsing only the inputs above (the evidence a "
        "plan gathered), answer this question: Who won the Nobel Prize in Literature in 2020?\n"
        "If the inputs do not hold the answer, say so.\nENDINSTRUCTION\nASSISTANT:");
  // Sampling: the seed's settings, stop at USER:, distinct seeds per stage.
  CHECK(model.requests[0].options.stop == std::vector<std::string>{"USER:"});
  CHECK(model.requests[0].options.temperature == doctest::Approx(0.7));
  CHECK(model.requests[0].options.repetition_penalty == doctest::Approx(1.15));
  CHECK(model.requests[0].options.seed == 7);
  CHECK(model.requests[2].options.seed == 9);

  json j = r->to_json();
  for (const char* k : {"task", "plan", "evidence", "answer", "timings", "tokens"})
    CHECK_MESSAGE(j.contains(k), k);
  CHECK(j["plan"]["valid"] == true);
  CHECK(j["evidence"][0]["tool"] == "Search");
  CHECK(j["tokens"]["plan"].get<int>() > 0);
  bool saw_step_end = false, saw_answer = false;
  for (auto& e : trace.events()) {
    saw_step_end |= e.type == "step_end";
    saw_answer |= e.type == "final_answer";
  }
  CHECK(saw_step_end);
  CHECK(saw_answer);
}

TEST_CASE("ask: a failed step's error is evidence the solver sees") {
  FakeModel model([](const CompletionRequest& r) -> std::string {
    if (is_planner(r.prompt)) return kPlan;
    if (is_solver(r.prompt)) return "I could not find out.";
    return "unknown";
  });
  Agent agent(model, registry(/*search_fails=*/true));
  auto r = agent.ask("Who won?", opts());
  REQUIRE(r);
  REQUIRE(r->evidence.size() == 2);
  CHECK(!r->evidence[0].ok);
  CHECK(r->evidence[0].status == "failed");
  CHECK(r->evidence[0].output.find("network down") != std::string::npos);
  const std::string& solver = model.prompts.back();
  CHECK(solver.find("tool: Search\nstatus: failed\nENDCONTEXT\n" + r->evidence[0].output) !=
        std::string::npos);
  // The KnowledgeModel saw the failure too, marked in its context.
  CHECK(model.prompts[1].find("status: failed") != std::string::npos);
  CHECK(r->answer == "I could not find out.");
  CHECK(r->plans_written == 1);  // no replan unless asked
}

TEST_CASE("ask: an invalid plan is replanned once when asked, with the failure named") {
  int plans = 0;
  FakeModel model([&](const CompletionRequest& r) -> std::string {
    if (is_planner(r.prompt)) return ++plans == 1 ? "Plan: think\n#E1 = Search[x]" : kPlan;
    if (is_solver(r.prompt)) return "answer";
    return "k";
  });
  Agent agent(model, registry());
  std::vector<std::string> notes;
  AskCallbacks cb;
  cb.on_note = [&](const std::string& n) { notes.push_back(n); };
  auto o = opts();
  o.replan = true;
  auto r = agent.ask("Q?", o, cb);
  REQUIRE(r);
  CHECK(r->plans_written == 2);
  CHECK(r->plan);
  CHECK(r->plan_errors.empty());
  CHECK(r->evidence.size() == 2);
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].rfind("the plan is not valid: 2:", 0) == 0);
  CHECK(notes[1] == "writing a new plan");
  // The second planner prompt names the failure and uses another seed.
  CHECK(model.prompts[1].find("(An earlier plan failed: it did not parse (2:") != std::string::npos);
  CHECK(model.requests[1].options.seed == model.requests[0].options.seed + 1);

  // Without replan, the plan errors are reported and the solver still answers.
  plans = 0;
  FakeModel model2([&](const CompletionRequest& r) -> std::string {
    if (is_planner(r.prompt)) return "no plan here";
    return "answer without evidence";
  });
  Agent agent2(model2, registry());
  auto r2 = agent2.ask("Q?", opts());
  REQUIRE(r2);
  CHECK(!r2->plan);
  CHECK(!r2->plan_errors.empty());
  CHECK(r2->evidence.empty());
  CHECK(r2->answer == "answer without evidence");
  CHECK(r2->to_json()["plan"]["valid"] == false);
}

TEST_CASE("ask: a plan whose every step failed is replanned once") {
  int plans = 0;
  FakeModel model([&](const CompletionRequest& r) -> std::string {
    if (is_planner(r.prompt))
      return ++plans == 1 ? "Plan: a\n:evidence0: = Search[x]\nAnswer: :evidence0:"
                          : "Plan: b\n:evidence0: = KnowledgeModel[y]\nAnswer: :evidence0:";
    return "done";
  });
  tools::Registry reg = registry(/*search_fails=*/true);
  Agent agent(model, reg);
  auto o = opts();
  o.replan = true;
  auto r = agent.ask("Q?", o);
  REQUIRE(r);
  CHECK(r->plans_written == 2);
  REQUIRE(r->evidence.size() == 1);
  CHECK(r->evidence[0].tool == "KnowledgeModel");
  CHECK(r->evidence[0].ok);
}

namespace {
struct MarkerProcessor : engine::LogitsProcessor {
  explicit MarkerProcessor(std::string k) : kind(std::move(k)) {}
  void apply(std::span<float>) override {}
  void accept(int32_t) override {}
  std::string kind;
};
struct FakeConstraints : Constraints {
  Result<std::shared_ptr<engine::LogitsProcessor>> plan(const tools::Registry& r, int max_steps) override {
    return std::shared_ptr<engine::LogitsProcessor>(
        std::make_shared<MarkerProcessor>("plan " + std::to_string(r.size()) + " " + std::to_string(max_steps)));
  }
  Result<std::shared_ptr<engine::LogitsProcessor>> function_call(const tools::Registry&,
                                                                 CallFormat f) override {
    return std::shared_ptr<engine::LogitsProcessor>(
        std::make_shared<MarkerProcessor>(std::string("call ") + std::string(call_format_name(f))));
  }
};
std::string marker(const CompletionRequest& r) {
  auto* m = dynamic_cast<MarkerProcessor*>(r.options.processor.get());
  return m ? m->kind : "none";
}
}  // namespace

TEST_CASE("ask and call use the grammars from the constraints; the solver does not") {
  FakeModel model([](const CompletionRequest& r) -> std::string {
    if (is_planner(r.prompt)) return kPlan;
    if (r.prompt.find("Available functions:") != std::string::npos)
      return R"({"function": "Search", "params": {"input": "x"}})";
    return "a";
  });
  Agent agent(model, registry());
  agent.set_constraints(std::make_shared<FakeConstraints>());
  REQUIRE(agent.ask("Q?", opts()));
  CHECK(marker(model.requests[0]) == "plan 2 8");
  CHECK(marker(model.requests.back()) == "none");
  REQUIRE(agent.call("x", CallFormat::kYaml, opts(), /*dry_run=*/true));
  CHECK(marker(model.requests.back()) == "call YAML");
  auto o = opts();
  o.use_grammar = false;
  REQUIRE(agent.call("x", CallFormat::kJson, o, true));
  CHECK(marker(model.requests.back()) == "none");
}

TEST_CASE("call: parse, validate, run; dry run; invalid calls are reported") {
  std::string reply;
  FakeModel model([&](const CompletionRequest&) { return reply; });
  Agent agent(model, registry());

  reply = " {\"function\": \"Search\", \"params\": {\"input\": \"rust\"}}";
  auto r = agent.call("find rust", CallFormat::kJson, opts());
  REQUIRE(r);
  CHECK(r->valid);
  CHECK(r->ran);
  CHECK(r->result.ok);
  CHECK(r->result.text == "Louise Gluck won for her poetry. (rust)");
  CHECK(model.prompts.back().find("Input: find rust\n\nAvailable functions:\nKnowledgeModel:") !=
        std::string::npos);

  reply = "function: Search\nparams:\n  input: rust\n";
  auto y = agent.call("find rust", CallFormat::kYaml, opts(), /*dry_run=*/true);
  REQUIRE(y);
  CHECK(y->valid);
  CHECK(!y->ran);
  CHECK(y->call->params["input"] == "rust");

  reply = "{\"function\": \"Search\", \"params\": {}}";
  auto bad = agent.call("x", CallFormat::kJson, opts());
  REQUIRE(bad);
  CHECK(!bad->valid);
  CHECK(!bad->ran);
  CHECK(bad->error.find("missing required property 'input'") != std::string::npos);
  CHECK(bad->to_json()["valid"] == false);

  reply = "{\"function\": \"KnowledgeModel\", \"params\": {\"input\": \"What is 2+2?\"}}";
  auto k = agent.call("x", CallFormat::kJson, opts());
  REQUIRE(k);
  CHECK(k->ran);
  CHECK(k->result.ok);
  CHECK(model.prompts.back() ==
        "A chat.\nUSER: BEGININSTRUCTION\nWhat is 2+2?\nENDINSTRUCTION\nASSISTANT:");
}

TEST_CASE("chat: history in the chat format, reply trimmed") {
  FakeModel model([](const CompletionRequest&) { return " Fine, thanks. "; });
  Agent agent(model, registry());
  auto r = agent.chat({{"Hi", "Hello!"}}, "How are you?", opts());
  REQUIRE(r);
  CHECK(r->text == "Fine, thanks.");
  CHECK(model.prompts[0] == "A chat.\nUSER: Hi\nASSISTANT: Hello!\nUSER: How are you?\nASSISTANT:");
}
