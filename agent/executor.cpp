#include "agent/executor.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace rewoo::agent {

using Clock = std::chrono::steady_clock;

const char* to_string(StepStatus s) {
  switch (s) {
    case StepStatus::kOk: return "ok";
    case StepStatus::kFailed: return "failed";
    case StepStatus::kTimedOut: return "timed_out";
    case StepStatus::kSkipped: return "skipped";
  }
  return "?";
}

std::vector<std::string> ExecResult::evidence() const {
  std::vector<std::string> out;
  for (const auto& s : steps) out.push_back(s.evidence);
  return out;
}

bool ExecResult::all_steps_ok() const {
  return std::all_of(steps.begin(), steps.end(),
                     [](const StepOutcome& s) { return s.status == StepStatus::kOk; });
}

std::string substitute_evidence(std::string_view tmpl, const std::vector<std::string>& evidence) {
  std::string out;
  size_t at = 0;
  for (const auto& r : find_evidence_refs(tmpl)) {
    if (r.index < 0 || static_cast<size_t>(r.index) >= evidence.size()) continue;
    out.append(tmpl.substr(at, r.offset - at));
    out += evidence[r.index];
    at = r.offset + r.length;
  }
  out.append(tmpl.substr(at));
  return out;
}

std::vector<std::vector<int>> waves(const Plan& plan) {
  std::vector<int> level(plan.steps.size(), 0);
  std::vector<std::vector<int>> out;
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    for (int d : plan.steps[i].depends_on)
      if (d >= 0 && static_cast<size_t>(d) < i) level[i] = std::max(level[i], level[d] + 1);
    if (static_cast<size_t>(level[i]) >= out.size()) out.resize(level[i] + 1);
    out[level[i]].push_back(static_cast<int>(i));
  }
  return out;
}

nlohmann::json exec_result_to_json(const ExecResult& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : r.steps)
    steps.push_back({{"index", s.index},
                     {"tool", s.tool},
                     {"input", s.input},
                     {"evidence", s.evidence},
                     {"status", to_string(s.status)},
                     {"sources", s.sources},
                     {"start_ms", s.start_ms},
                     {"duration_ms", s.duration_ms}});
  return {{"ok", r.ok}, {"error", r.error}, {"answer", r.answer}, {"total_ms", r.total_ms},
          {"steps", steps}};
}

namespace {

// Completed step indices, posted by step threads. Shared, so a thread that
// outlives run() (a timed-out step) still posts into live memory.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<int> done;
};

// One step's call: everything its thread touches.
struct StepCall {
  int index = 0;
  tools::ToolPtr tool;
  std::string input;
  tools::ToolContext ctx;
  std::atomic<bool> cancelled{false};
  tools::ToolResult result;  // written under Channel::mu before posting
  Clock::time_point start, end;
};

// Forwards tool trace events to the caller's sink until run() returns; tool
// threads hold the proxy, never the caller's sink.
struct TraceForward {
  std::mutex mu;
  TraceSink* target = nullptr;
};

std::string clip(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
  return s.substr(0, cut) + "...";
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

ExecResult Executor::run(const Plan& plan, const tools::Registry& registry,
                         const ExecOptions& options) {
  const Clock::time_point t0 = Clock::now();
  const size_t n = plan.steps.size();
  const size_t jobs = static_cast<size_t>(std::max(1, options.jobs));
  TraceSink* trace = options.trace;
  if (trace) trace->emit("plan_parsed", {{"steps", n}, {"plan", plan_to_json(plan)}});

  std::shared_ptr<TraceForward> forward;
  std::shared_ptr<TraceSink> proxy;
  if (trace) {
    forward = std::make_shared<TraceForward>();
    forward->target = trace;
    proxy = std::make_shared<TraceSink>();
    proxy->on_event([forward](const TraceEvent& e) {
      std::lock_guard<std::mutex> lock(forward->mu);
      if (forward->target) forward->target->emit(e.type, e.fields);
    });
  }

  ExecResult result;
  result.steps.resize(n);
  std::vector<std::string> evidence(n);
  std::vector<int> waiting_on(n, 0);
  std::vector<std::vector<int>> dependents(n);
  std::vector<bool> finished(n, false);
  std::set<int> ready;
  for (size_t i = 0; i < n; ++i) {
    result.steps[i].index = static_cast<int>(i);
    result.steps[i].tool = plan.steps[i].tool;
    for (int d : plan.steps[i].depends_on) {
      if (d < 0 || static_cast<size_t>(d) >= i)
        throw std::logic_error("Executor::run: step depends on a later step; plan not validated");
      dependents[d].push_back(static_cast<int>(i));
      ++waiting_on[i];
    }
    if (waiting_on[i] == 0) ready.insert(static_cast<int>(i));
  }

  auto chan = std::make_shared<Channel>();
  std::map<int, std::pair<std::shared_ptr<StepCall>, Clock::time_point>> running;  // -> deadline
  bool stopping = false;

  auto finish = [&](int i, StepStatus status, std::string text, std::vector<std::string> sources,
                    double start_ms, double duration_ms, const std::string& error) {
    StepOutcome& o = result.steps[i];
    o.status = status;
    o.evidence = std::move(text);
    o.sources = std::move(sources);
    o.start_ms = start_ms;
    o.duration_ms = duration_ms;
    evidence[i] = o.evidence;
    finished[i] = true;
    if (trace && status != StepStatus::kSkipped) {
      nlohmann::json f = {{"step", i},
                          {"tool", o.tool},
                          {"ok", status == StepStatus::kOk},
                          {"status", to_string(status)},
                          {"duration_ms", duration_ms},
                          {"output_bytes", o.evidence.size()}};
      if (!error.empty()) f["error"] = error;
      trace->emit("step_end", std::move(f));
    }
    for (int d : dependents[i])
      if (--waiting_on[d] == 0) ready.insert(d);
    if (status != StepStatus::kOk && options.fail_fast && !stopping) {
      stopping = true;
      result.ok = false;
      result.error = "step " + std::to_string(i) + " (" + o.tool + ") " +
                     (status == StepStatus::kTimedOut ? "timed out" : "failed") +
                     "; --fail-fast stopped the run";
      for (auto& [idx, call] : running) call.first->cancelled = true;
    }
  };

  auto launch = [&](int i) {
    const PlanStep& step = plan.steps[i];
    StepOutcome& o = result.steps[i];
    o.input = substitute_evidence(step.input_template, evidence);
    Clock::time_point now = Clock::now();
    if (trace)
      trace->emit("step_start", {{"step", i},
                                 {"tool", step.tool},
                                 {"input", clip(o.input, 300)},
                                 {"input_bytes", o.input.size()},
                                 {"depends_on", step.depends_on}});
    tools::ToolPtr tool = registry.get(step.tool);
    if (!tool) {
      std::string err = "unknown tool '" + step.tool + "'";
      finish(i, StepStatus::kFailed,
             "[error] step " + std::to_string(i) + " (" + step.tool + ") failed: " + err, {},
             ms_between(t0, now), 0, err);
      return;
    }
    auto call = std::make_shared<StepCall>();
    call->index = i;
    call->tool = std::move(tool);
    call->input = o.input;
    call->ctx.trace = proxy.get();
    call->ctx.timeout = options.step_timeout;
    call->ctx.cancelled = &call->cancelled;
    call->ctx.depth = options.depth;
    call->ctx.step = i;
    call->start = now;
    Clock::time_point deadline = options.step_timeout.count() > 0
                                     ? now + options.step_timeout
                                     : Clock::time_point::max();
    running.emplace(i, std::make_pair(call, deadline));
    std::thread([call, chan, proxy] {
      tools::ToolResult r;
      try {
        r = call->tool->invoke(call->input, call->ctx);
      } catch (const std::exception& e) {
        r = tools::ToolResult::failure(std::string("the tool threw: ") + e.what());
      } catch (...) {
        r = tools::ToolResult::failure("the tool threw an unknown exception");
      }
      {
        std::lock_guard<std::mutex> lock(chan->mu);
        call->result = std::move(r);
        call->end = Clock::now();
        chan->done.push_back(call->index);
      }
      chan->cv.notify_all();
    }).detach();
  };

  for (;;) {
    while (!stopping && running.size() < jobs && !ready.empty()) {
      int i = *ready.begin();
      ready.erase(ready.begin());
      launch(i);
    }
    if (running.empty()) {
      if (stopping || ready.empty()) break;
      continue;  // a launch failed at once and freed its slot
    }
    Clock::time_point next_deadline = Clock::time_point::max();
    for (auto& [i, rc] : running) next_deadline = std::min(next_deadline, rc.second);

    std::deque<int> done;
    {
      std::unique_lock<std::mutex> lock(chan->mu);
      auto has_news = [&] { return !chan->done.empty(); };
      if (next_deadline == Clock::time_point::max())
        chan->cv.wait(lock, has_news);
      else
        chan->cv.wait_until(lock, next_deadline, has_news);
      done.swap(chan->done);
    }
    for (int i : done) {
      auto it = running.find(i);
      if (it == running.end()) continue;  // timed out earlier; its result is dropped
      auto call = it->second.first;
      running.erase(it);
      const tools::ToolResult& r = call->result;
      double start_ms = ms_between(t0, call->start), dur = ms_between(call->start, call->end);
      if (r.ok)
        finish(i, StepStatus::kOk, r.text, r.sources, start_ms, dur, "");
      else
        finish(i, StepStatus::kFailed,
               "[error] step " + std::to_string(i) + " (" + call->tool->name() + ") failed: " + r.text,
               r.sources, start_ms, dur, r.text);
    }
    Clock::time_point now = Clock::now();
    for (auto it = running.begin(); it != running.end();) {
      if (it->second.second > now) {
        ++it;
        continue;
      }
      auto call = it->second.first;
      int i = it->first;
      it = running.erase(it);
      call->cancelled = true;  // its thread finishes on its own; its post is ignored
      std::string err = "timed out after " + std::to_string(options.step_timeout.count()) + " ms";
      finish(i, StepStatus::kTimedOut,
             "[error] step " + std::to_string(i) + " (" + call->tool->name() + ") " + err, {},
             ms_between(t0, call->start), ms_between(call->start, now), err);
    }
  }

  for (size_t i = 0; i < n; ++i) {
    if (finished[i]) continue;
    StepOutcome& o = result.steps[i];
    o.status = StepStatus::kSkipped;
    o.evidence = "[skipped] step " + std::to_string(i) + " (" + o.tool + "): " + result.error;
    evidence[i] = o.evidence;
  }
  if (result.ok) result.answer = substitute_evidence(plan.answer_template, evidence);
  result.total_ms = ms_between(t0, Clock::now());
  if (trace) {
    trace->emit("answer", {{"answer", result.answer},
                           {"ok", result.ok},
                           {"error", result.error},
                           {"total_ms", result.total_ms}});
    std::lock_guard<std::mutex> lock(forward->mu);
    forward->target = nullptr;
  }
  return result;
}

}  // namespace rewoo::agent
