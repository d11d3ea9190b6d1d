// Executor: parallel DAG execution with test tools (sleeps, echoes, failures).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "agent/executor.h"
#include "agent/plan_parser.h"

using namespace rewoo;
using namespace rewoo::agent;
using namespace std::chrono_literals;

namespace {

// A test tool defined by a function of (input, ctx).
class FnTool : public tools::Tool {
 public:
  using Fn = std::function<tools::ToolResult(const std::string&, const tools::ToolContext&)>;
  FnTool(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return "test tool"; }
  tools::ToolResult invoke(const std::string& in, const tools::ToolContext& ctx) override {
    return fn_(in, ctx);
  }

 private:
  std::string name_;
  Fn fn_;
};

// Sleeps for `ms` (checking ctx.cancelled every 5 ms), then echoes "<input>".
tools::ToolResult sleep_then_echo(int ms, const std::string& in, const tools::ToolContext& ctx) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < until) {
    if (ctx.is_cancelled()) return tools::ToolResult::failure("cancelled");
    std::this_thread::sleep_for(5ms);
  }
  return tools::ToolResult::success(in);
}

std::atomic<int> g_cancel_seen{0};

tools::Registry test_registry() {
  tools::Registry r;
  auto add = [&](std::string name, FnTool::Fn fn) {
    REQUIRE(r.add(std::make_shared<FnTool>(std::move(name), std::move(fn))).ok());
  };
  add("Echo", [](const std::string& in, const tools::ToolContext&) {
    return tools::ToolResult::success(in);
  });
  add("Sleep200", [](const std::string& in, const tools::ToolContext& c) {
    return sleep_then_echo(200, in, c);
  });
  add("Sleep50", [](const std::string& in, const tools::ToolContext& c) {
    return sleep_then_echo(50, in, c);
  });
  add("Hang", [](const std::string& in, const tools::ToolContext& c) {
    auto r = sleep_then_echo(5000, in, c);
    if (!r.ok) ++g_cancel_seen;
    return r;
  });
  add("Literal", [](const std::string&, const tools::ToolContext&) {
    return tools::ToolResult::success("see :evidence0: and :evidence1:");
  });
  add("Fail", [](const std::string& in, const tools::ToolContext&) {
    return tools::ToolResult::failure("no results for '" + in + "'");
  });
  add("Throw", [](const std::string&, const tools::ToolContext&) -> tools::ToolResult {
    throw std::runtime_error("boom");
  });
  return r;
}

Plan plan_of(const std::string& text, const tools::Registry& reg) {
  auto r = parse_plan(text, reg);
  for (const auto& e : r.errors) INFO(e.to_string());
  REQUIRE(r.ok());
  return *r.plan;
}

}  // namespace

TEST_CASE("executor: four independent 200 ms steps finish in under 400 ms with jobs 4") {
  auto reg = test_registry();
  Plan p = plan_of(
      ":evidence0: = Sleep200[a]\n:evidence1: = Sleep200[b]\n:evidence2: = Sleep200[c]\n"
      ":evidence3: = Sleep200[d]\nAnswer: :evidence0::evidence1::evidence2::evidence3:",
      reg);
  ExecOptions opt;
  opt.jobs = 4;
  auto t0 = std::chrono::steady_clock::now();
  ExecResult r = Executor::run(p, reg, opt);
  double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("4 x 200 ms steps, jobs 4: " << wall << " ms");
  CHECK(r.ok);
  CHECK(r.all_steps_ok());
  CHECK(r.answer == "abcd");
  CHECK(wall >= 195);
  CHECK(wall < 400);
  CHECK(r.total_ms < 400);
}

TEST_CASE("executor: jobs bounds the steps running at once") {
  auto reg = test_registry();
  Plan p = plan_of(
      ":evidence0: = Sleep200[a]\n:evidence1: = Sleep200[b]\n:evidence2: = Sleep200[c]\n"
      ":evidence3: = Sleep200[d]\nAnswer: :evidence3:",
      reg);
  ExecOptions opt;
  opt.jobs = 2;
  ExecResult r = Executor::run(p, reg, opt);
  CHECK(r.all_steps_ok());
  CHECK(r.total_ms >= 395);
  // Steps start in index order: 0 and 1 first, then 2 and 3 after them.
  CHECK(r.steps[2].start_ms >= r.steps[0].start_ms + 190);
  CHECK(r.steps[3].start_ms >= r.steps[1].start_ms + 190);
}

TEST_CASE("executor: dependent steps wait for their inputs") {
  auto reg = test_registry();
  Plan p = plan_of(
      ":evidence0: = Sleep200[first]\n:evidence1: = Sleep200[second]\n"
      ":evidence2: = Echo[<:evidence0:|:evidence1:>]\n:evidence3: = Sleep50[[:evidence2:]]\n"
      "Answer: :evidence3:",
      reg);
  ExecResult r = Executor::run(p, reg, {});
  REQUIRE(r.all_steps_ok());
  CHECK(r.steps[2].input == "<first|second>");
  CHECK(r.steps[2].start_ms >= r.steps[0].start_ms + r.steps[0].duration_ms);
  CHECK(r.steps[2].start_ms >= r.steps[1].start_ms + r.steps[1].duration_ms);
  CHECK(r.steps[3].start_ms >= r.steps[2].start_ms + r.steps[2].duration_ms);
  CHECK(r.answer == "[<first|second>]");
  // 0 and 1 ran side by side, 3 after them: about 200 + 50 ms, not 200 + 200 + 50.
  CHECK(r.total_ms >= 245);
  CHECK(r.total_ms < 420);
}

TEST_CASE("executor: substitution is a single pass (evidence is never expanded again)") {
  auto reg = test_registry();
  Plan p = plan_of(
      ":evidence0: = Echo[zero]\n:evidence1: = Literal[x]\n"
      ":evidence2: = Echo[got :evidence1: from :evidence0:]\nAnswer: :evidence2: / :evidence1:",
      reg);
  ExecResult r = Executor::run(p, reg, {});
  CHECK(r.steps[1].evidence == "see :evidence0: and :evidence1:");
  CHECK(r.steps[2].input == "got see :evidence0: and :evidence1: from zero");
  CHECK(r.answer ==
        "got see :evidence0: and :evidence1: from zero / see :evidence0: and :evidence1:");
}

TEST_CASE("substitute_evidence") {
  std::vector<std::string> ev{"A", ":evidence0:", ""};
  CHECK(substitute_evidence(":evidence0::evidence1:|:evidence2:|:evidence3:", ev) ==
        "A:evidence0:||:evidence3:");
  CHECK(substitute_evidence("no refs :evidence0 here", ev) == "no refs :evidence0 here");
  CHECK(substitute_evidence("", ev) == "");
}

TEST_CASE("executor: a timed-out step yields error evidence and the rest still runs") {
  auto reg = test_registry();
  Plan p = plan_of(
      ":evidence0: = Hang[x]\n:evidence1: = Sleep50[independent]\n"
      ":evidence2: = Echo[after: :evidence0:]\nAnswer: :evidence1: :evidence2:",
      reg);
  ExecOptions opt;
  opt.step_timeout = 150ms;
  int cancels_before = g_cancel_seen.load();
  ExecResult r = Executor::run(p, reg, opt);
  CHECK(r.ok);
  CHECK(r.steps[0].status == StepStatus::kTimedOut);
  CHECK(r.steps[0].evidence == "[error] step 0 (Hang) timed out after 150 ms");
  CHECK(r.steps[0].duration_ms >= 145);
  CHECK(r.steps[1].status == StepStatus::kOk);
  CHECK(r.steps[1].evidence == "independent");
  CHECK(r.steps[2].status == StepStatus::kOk);
  CHECK(r.steps[2].input == "after: [error] step 0 (Hang) timed out after 150 ms");
  CHECK(r.answer == "independent after: [error] step 0 (Hang) timed out after 150 ms");
  CHECK(r.total_ms < 1000);
  // The abandoned call saw its cancelled flag and returned on its own.
  for (int i = 0; i < 100 && g_cancel_seen.load() == cancels_before; ++i)
    std::this_thread::sleep_for(5ms);
  CHECK(g_cancel_seen.load() == cancels_before + 1);
}

TEST_CASE("executor: an abandoned step that ignores cancellation outlives run() safely") {
  tools::Registry reg;
  std::atomic<bool> woke{false};
  REQUIRE(reg.add(std::make_shared<FnTool>(
                     "Stubborn",
                     [&woke](const std::string& in, const tools::ToolContext& ctx) {
                       std::this_thread::sleep_for(250ms);  // ignores ctx.cancelled
                       if (ctx.trace) ctx.trace->emit("tool_note", {{"late", true}});
                       woke = true;
                       return tools::ToolResult::success(in);
                     }))
              .ok());
  Plan p = plan_of(":evidence0: = Stubborn[x]\nAnswer: :evidence0:", reg);
  size_t events_after_run = 0;
  {
    TraceSink sink;
    ExecOptions opt;
    opt.step_timeout = 50ms;
    opt.trace = &sink;
    ExecResult r = Executor::run(p, reg, opt);
    CHECK(r.steps[0].status == StepStatus::kTimedOut);
    CHECK(r.total_ms < 200);
    events_after_run = sink.events().size();
  }  // the sink is gone before the tool wakes and emits
  for (int i = 0; i < 100 && !woke; ++i) std::this_thread::sleep_for(10ms);
  CHECK(woke);
  CHECK(events_after_run == 4);  // plan_parsed, step_start, step_end, answer
}

TEST_CASE("executor: a failed step's error text is evidence for its dependents") {
  auto reg = test_registry();
  Plan p = plan_of(
      ":evidence0: = Fail[q]\n:evidence1: = Echo[saw: :evidence0:]\n:evidence2: = Throw[x]\n"
      "Answer: :evidence1:",
      reg);
  ExecResult r = Executor::run(p, reg, {});
  CHECK(r.ok);
  CHECK_FALSE(r.all_steps_ok());
  CHECK(r.steps[0].status == StepStatus::kFailed);
  CHECK(r.steps[0].evidence == "[error] step 0 (Fail) failed: no results for 'q'");
  CHECK(r.steps[1].status == StepStatus::kOk);
  CHECK(r.answer == "saw: [error] step 0 (Fail) failed: no results for 'q'");
  CHECK(r.steps[2].status == StepStatus::kFailed);
  CHECK(r.steps[2].evidence == "[error] step 2 (Throw) failed: the tool threw: boom");
}

TEST_CASE("executor: fail_fast skips what has not started and reports failure") {
  auto reg = test_registry();
  Plan p = plan_of(
      ":evidence0: = Fail[q]\n:evidence1: = Echo[saw: :evidence0:]\n:evidence2: = Echo[other]\n"
      "Answer: :evidence1:",
      reg);
  ExecOptions opt;
  opt.fail_fast = true;
  opt.jobs = 1;
  ExecResult r = Executor::run(p, reg, opt);
  CHECK_FALSE(r.ok);
  CHECK(r.error == "step 0 (Fail) failed; --fail-fast stopped the run");
  CHECK(r.steps[0].status == StepStatus::kFailed);
  CHECK(r.steps[1].status == StepStatus::kSkipped);
  CHECK(r.steps[1].evidence ==
        "[skipped] step 1 (Echo): step 0 (Fail) failed; --fail-fast stopped the run");
  CHECK(r.steps[2].status == StepStatus::kSkipped);
  CHECK(r.answer.empty());
}

TEST_CASE("executor: fail_fast cancels steps already running") {
  auto reg = test_registry();
  Plan p = plan_of(":evidence0: = Hang[x]\n:evidence1: = Fail[q]\nAnswer: :evidence1:", reg);
  ExecOptions opt;
  opt.fail_fast = true;
  ExecResult r = Executor::run(p, reg, opt);
  CHECK_FALSE(r.ok);
  CHECK(r.steps[1].status == StepStatus::kFailed);
  CHECK(r.steps[0].status == StepStatus::kFailed);  // returned "cancelled" when told to
  CHECK(r.steps[0].evidence == "[error] step 0 (Hang) failed: cancelled");
  CHECK(r.total_ms < 1000);
}

TEST_CASE("executor: trace events") {
  auto reg = test_registry();
  Plan p = plan_of(":evidence0: = Echo[hello]\n:evidence1: = Fail[:evidence0:]\nAnswer: :evidence0:",
                   reg);
  TraceSink sink;
  ExecOptions opt;
  opt.trace = &sink;
  ExecResult r = Executor::run(p, reg, opt);
  auto ev = sink.events();
  REQUIRE(ev.size() == 6);
  CHECK(ev[0].type == "plan_parsed");
  CHECK(ev[0].fields["steps"] == 2);
  CHECK(ev[0].fields["plan"]["steps"][1]["tool"] == "Fail");
  CHECK(ev[1].type == "step_start");
  CHECK(ev[1].fields["step"] == 0);
  CHECK(ev[1].fields["input"] == "hello");
  CHECK(ev[2].type == "step_end");
  CHECK(ev[2].fields["ok"] == true);
  CHECK(ev[2].fields["output_bytes"] == 5);
  CHECK(ev[2].fields["duration_ms"].get<double>() >= 0);
  CHECK(ev[3].type == "step_start");
  CHECK(ev[3].fields["depends_on"] == nlohmann::json::array({0}));
  CHECK(ev[4].type == "step_end");
  CHECK(ev[4].fields["ok"] == false);
  CHECK(ev[4].fields["status"] == "failed");
  CHECK(ev[4].fields["error"] == "no results for 'hello'");
  CHECK(ev[5].type == "answer");
  CHECK(ev[5].fields["answer"] == "hello");
  CHECK(ev[5].to_json()["t_ms"].get<double>() >= ev[0].t_ms);
}

TEST_CASE("executor: waves for --dry-run") {
  auto reg = test_registry();
  Plan diamond = plan_of(
      ":evidence0: = Echo[a]\n:evidence1: = Echo[:evidence0:]\n:evidence2: = Echo[:evidence0:]\n"
      ":evidence3: = Echo[:evidence1: :evidence2:]\n:evidence4: = Echo[free]\nAnswer: :evidence3:",
      reg);
  CHECK(waves(diamond) == std::vector<std::vector<int>>{{0, 4}, {1, 2}, {3}});
  Plan chain = plan_of(":evidence0: = Echo[a]\n:evidence1: = Echo[:evidence0:]\n"
                       ":evidence2: = Echo[:evidence1: :evidence0:]\nAnswer: :evidence2:",
                       reg);
  CHECK(waves(chain) == std::vector<std::vector<int>>{{0}, {1}, {2}});
}

TEST_CASE("executor: exec_result_to_json") {
  auto reg = test_registry();
  Plan p = plan_of(":evidence0: = Echo[hi]\nAnswer: said :evidence0:", reg);
  auto j = exec_result_to_json(Executor::run(p, reg, {}));
  CHECK(j["ok"] == true);
  CHECK(j["answer"] == "said hi");
  CHECK(j["steps"][0]["status"] == "ok");
  CHECK(j["steps"][0]["evidence"] == "hi");
}
