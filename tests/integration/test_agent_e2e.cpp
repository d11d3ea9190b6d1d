// The agent end to end on a random-weight GPTQ model (the tiny shape, Llama 2
// tokenizer) with the fixture web server standing in for the web:
//   - rewoo ask's runtime for 50 seeds: every plan valid (the grammar), every
//     step executed, an answer produced; the same seed gives the same output;
//   - function calls for 200 seeds x {json, yaml}: every call validates;
//   - concurrent KnowledgeModel-style requests run as one batch, with the same
//     text as one by one;
//   - `rewoo run` with 100 tasks, killed with SIGKILL midway and re-run.
// The loops run in-process; only the batch test spawns the CLI.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "agent/engine_llm.h"
#include "agent/session.h"
#include "engine/model.h"
#include "engine/model_writer.h"
#include "tests/fixtures/web_fixture_server.h"
#include "tests/test_util.h"

using namespace rewoo;
using namespace rewoo::agent;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::unique_ptr<EngineLanguageModel> tiny_model(int slots = 4) {
  auto shape = engine::shape_by_name("tiny");
  REQUIRE(shape);
  engine::RandomOptions ro;
  ro.seed = 1;
  auto w = engine::random_weights(*shape, ro);
  REQUIRE(w);
  auto tok = engine::Tokenizer::load(test::llama2_tokenizer().string());
  REQUIRE(tok);
  engine::BackendOptions bo;
  bo.device = engine::Device::kCpu;
  bo.n_slots = slots;
  auto m = engine::Model::from_weights(*w, std::move(*tok), bo);
  REQUIRE_MESSAGE(m, (m ? "" : m.error().to_string()));
  EngineLanguageModelOptions eo;
  eo.label = "random tiny";
  eo.random_weights = true;
  return std::make_unique<EngineLanguageModel>(std::move(*m), eo);
}

// A session whose web tools talk to the fixture server.
std::unique_ptr<Session> fixture_session(const test::WebFixtureServer& srv, const test::TempDir& dir) {
  auto cfg = dir / "rewoo.yaml";
  std::ofstream(cfg) << "web:\n  search: {backend: duckduckgo, url: '" << srv.url("/html/")
                     << "'}\n  allow_ranges: ['127.0.0.1/32']\n  timeouts: {total_ms: 5000}\n";
  SessionOptions so;
  so.config_path = cfg.string();
  auto s = open_session(tiny_model(), so);
  REQUIRE_MESSAGE(s, (s ? "" : s.error().to_string()));
  REQUIRE((*s)->constraints);
  return std::move(*s);
}

AgentOptions fast_options(uint64_t seed) {
  AgentOptions o;
  o.sampling.seed = seed;
  o.max_answer_tokens = 24;
  o.knowledge_max_tokens = 24;
  o.step_timeout = std::chrono::milliseconds(30000);
  return o;
}

json without_timings(json j) {
  j.erase("timings");
  for (auto& e : j["evidence"]) e.erase("duration_ms");
  return j;
}

}  // namespace

TEST_CASE("ask end to end on a random GPTQ model, 50 seeds: valid plans, every step run, answers") {
  test::WebFixtureServer srv;
  test::TempDir dir;
  auto session = fixture_session(srv, dir);
  Agent& agent = *session->agent;
  const std::string task = "Who won the Nobel Prize in Literature in 2020, and what is their most famous work?";
  std::map<std::string, int> tools_used;
  int steps = 0, ok_steps = 0, plan_tokens = 0, forced = 0;
  double plan_ms = 0;
  std::vector<json> first_runs;
  auto t0 = Clock::now();
  for (uint64_t seed = 0; seed < 50; ++seed) {
    auto r = agent.ask(task, fast_options(seed));
    REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
    INFO("seed " << seed << "\n" << r->plan_text);
    REQUIRE(r->plan.has_value());
    CHECK(r->plan_errors.empty());
    CHECK(r->plans_written == 1);
    REQUIRE(r->evidence.size() == r->plan->steps.size());
    for (auto& s : r->evidence) {
      CHECK_MESSAGE((s.status == "ok" || s.status == "failed"), s.status << ": " << s.output);
      ++tools_used[s.tool];
      ok_steps += s.ok;
    }
    steps += static_cast<int>(r->evidence.size());
    CHECK(!r->answer.empty());
    CHECK(r->random_model);
    plan_tokens += r->tokens.plan;
    forced += r->tokens.plan_forced;
    plan_ms += r->timings.plan_ms;
    if (seed < 3) first_runs.push_back(without_timings(r->to_json()));
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  // Same seed, same output.
  for (uint64_t seed = 0; seed < 3; ++seed) {
    auto r = agent.ask(task, fast_options(seed));
    REQUIRE(r);
    CHECK(without_timings(r->to_json()) == first_runs[seed]);
  }
  CHECK(first_runs[0]["plan"]["text"] != first_runs[1]["plan"]["text"]);
  std::string used;
  for (auto& [t, n] : tools_used) used += t + " " + std::to_string(n) + ", ";
  MESSAGE("ask x50: " << steps << " steps (" << ok_steps << " ok; " << used << "), " << plan_tokens
                      << " plan tokens (" << forced << " jump-forward), plan "
                      << plan_tokens / (plan_ms / 1000) << " tok/s, " << secs << " s total");
  CHECK(tools_used.size() >= 3);
}

TEST_CASE("function calls on a random GPTQ model: 200 seeds x {json, yaml} all validate") {
  test::WebFixtureServer srv;
  test::TempDir dir;
  auto session = fixture_session(srv, dir);
  // The built-ins plus a tool with a structured schema.
  tools::Registry reg = session->registry;
  struct Analytics : tools::Tool {
    std::string name() const override { return "file_analytics"; }
    std::string description() const override { return "Counts or finds words in a text file."; }
    std::optional<json> parameters_schema() const override {
      return json::parse(R"({"type": "object",
        "properties": {"action": {"type": "string", "enum": ["count_occurrences", "find_line"]},
                       "filters": {"type": "object", "properties": {"keyword": {"type": "string"},
                                   "limit": {"type": "integer"}}, "required": ["keyword"]}},
        "required": ["action", "filters"]})");
    }
    tools::ToolResult invoke(const std::string&, const tools::ToolContext&) override {
      return tools::ToolResult::success("3");
    }
  };
  reg.set(std::make_shared<Analytics>());
  Agent agent(*session->model, reg, session->renderer);
  agent.set_constraints(session->constraints);
  for (auto fmt : {CallFormat::kJson, CallFormat::kYaml}) {
    std::map<std::string, int> used;
    int tokens = 0;
    auto t0 = Clock::now();
    for (uint64_t seed = 0; seed < 200; ++seed) {
      auto o = fast_options(seed);
      o.max_answer_tokens = 256;
      auto r = agent.call("How many times is 'Python' mentioned in notes.txt?", fmt, o, /*dry_run=*/true);
      REQUIRE(r);
      INFO("seed " << seed << ": " << r->text);
      CHECK_MESSAGE(r->valid, r->error);
      if (r->call) ++used[r->call->function];
      tokens += r->tokens;
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    MESSAGE("call x200 (" << call_format_name(fmt) << "): " << used.size() << " functions used, "
                          << tokens << " tokens, " << secs << " s");
    CHECK(used.size() >= 3);
  }
}

TEST_CASE("concurrent requests run as one batch with the same text as one by one") {
  auto lm = tiny_model(/*slots=*/4);
  std::vector<CompletionRequest> reqs(3);
  for (int i = 0; i < 3; ++i) {
    reqs[i].prompt = "A chat.\nUSER: BEGININSTRUCTION\nQuestion " + std::to_string(i) + "\nENDINSTRUCTION\nASSISTANT:";
    reqs[i].options.max_tokens = 16;
    reqs[i].options.temperature = 0.7f;
    reqs[i].options.seed = 10 + i;
  }
  std::vector<std::string> alone;
  for (auto& r : reqs) alone.push_back(lm->complete(r)->text);
  CHECK(lm->largest_batch() == 1);
  auto batched = lm->complete_batch(reqs);
  REQUIRE(batched.size() == 3);
  CHECK(lm->largest_batch() >= 2);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(batched[i]);
    CHECK(batched[i]->text == alone[i]);
  }
}

TEST_CASE("rewoo run: 100 tasks, SIGKILL midway, re-run: every id once, valid JSON lines") {
  test::TempDir dir;
  std::string rewoo = (test::binary_dir() / "rewoo").string();
  REQUIRE(std::filesystem::exists(rewoo));
  std::string out;
  REQUIRE(test::run_command(rewoo + " model random " + (dir / "m").string() + " --shape tiny --seed 2" + " --tokenizer " + test::llama2_tokenizer().string(), &out) == 0);
  CHECK(std::filesystem::exists(dir / "m" / "RANDOM_WEIGHTS"));
  {
    std::ofstream f(dir / "tasks.jsonl");
    for (int i = 0; i < 100; ++i) {
      json t = {{"id", "task-" + std::to_string(i)}, {"seed", i}, {"max_tokens", 12}};
      if (i % 10 == 9) t.update({{"mode", "call"}, {"task", "search for rivers"}, {"dry_run", true}, {"max_tokens", 256},
                                 {"format", i % 20 == 9 ? "json" : "yaml"}});
      else t.update({{"mode", "generate"}, {"task", "Say something about rivers, number " + std::to_string(i)}});
      f << t.dump() << "\n";
    }
  }
  std::string args = " run --input " + (dir / "tasks.jsonl").string() + " --output " +
                     (dir / "results.jsonl").string() + " --model " + (dir / "m").string() + " --jobs 2";
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl("/bin/sh", "sh", "-c", ("exec " + rewoo + args + " -q").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto count_lines = [&] {
    std::ifstream f(dir / "results.jsonl");
    std::string l;
    int n = 0;
    while (std::getline(f, l)) ++n;
    return n;
  };
  for (int i = 0; i < 6000 && count_lines() < 30; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  int before = count_lines();
  CHECK(before >= 30);
  CHECK(before < 100);

  int rc = test::run_command(rewoo + args + " 2>&1", &out);
  CHECK_MESSAGE(rc == 0, out);
  std::ifstream f(dir / "results.jsonl");
  std::string line;
  std::map<std::string, int> ids;
  int lines = 0;
  while (std::getline(f, line)) {
    ++lines;
    json j = json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), line);
    ++ids[j["id"].get<std::string>()];
    CHECK_MESSAGE(j["ok"] == true, line);
    if (j["mode"] == "call") CHECK(j["valid"] == true);
  }
  CHECK(lines == 100);
  CHECK(ids.size() == 100);
  for (const auto& entry : ids) CHECK_MESSAGE(entry.second == 1, entry.first);
  auto at = out.find("rewoo run: ");
  REQUIRE(at != std::string::npos);
  std::string summary = out.substr(at, out.find('\n', at) - at);
  CHECK(summary.find(" already done") != std::string::npos);
  CHECK(summary.find("tasks/s") != std::string::npos);
  MESSAGE("killed after " << before << " results; re-run: " << summary);
}

TEST_CASE("rewoo ask / call from the CLI: the README's main command shape, --json, --trace") {
  test::TempDir dir;
  std::string rewoo = (test::binary_dir() / "rewoo").string();
  std::string out;
  REQUIRE(test::run_command(rewoo + " model random " + (dir / "m").string() + " --shape tiny" + " --tokenizer " + test::llama2_tokenizer().string(), &out) == 0);
  std::string model = " --model " + (dir / "m").string();
  // Human output: plan and evidence with --show-plan, the answer, and the noise note.
  int rc = test::run_command(rewoo + " ask \"Who won the Nobel Prize in Literature in 2020?\"" + model +
                                 " --tools HyperlinkExtractor,KnowledgeModel --max-tokens 16 --show-plan -q 2>/dev/null",
                             &out);
  CHECK_MESSAGE(rc == 0, out);
  CHECK(out.rfind("The plan, as the model wrote it:\nPlan: ", 0) == 0);
  CHECK(out.find("\n:evidence0: = ") != std::string::npos);
  CHECK(out.find("\nAnswer: ") != std::string::npos);
  CHECK(out.find("this model has random weights, so the plan and the answer above are noise") !=
        std::string::npos);
  // --json and --trace.
  rc = test::run_command(rewoo + " ask \"Q?\"" + model + " --max-tokens 8 --seed 4 --json -q --trace " +
                             (dir / "t.jsonl").string() + " 2>/dev/null",
                         &out);
  CHECK(rc == 0);
  json j = json::parse(out, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), out);
  for (const char* k : {"task", "plan", "evidence", "answer", "timings", "tokens", "note"})
    CHECK_MESSAGE(j.contains(k), k);
  CHECK(j["plan"]["valid"] == true);
  CHECK(j["seed"] == 4);
  std::string trace = test::read_file(dir / "t.jsonl");
  CHECK(trace.find("\"event\":\"plan_text\"") != std::string::npos);
  CHECK(trace.find("\"event\":\"final_answer\"") != std::string::npos);
  // Usage errors exit 2; an unknown tool in --tools is one.
  CHECK(test::run_command(rewoo + " ask \"Q\"" + model + " --tools Nope 2>&1", &out) == 2);
  CHECK(out.find("unknown tool 'Nope'") != std::string::npos);
  // rewoo call --dry-run prints a valid call.
  rc = test::run_command(rewoo + " call \"search for rivers\"" + model + " --format yaml --dry-run 2>/dev/null", &out);
  CHECK_MESSAGE(rc == 0, out);
  CHECK(out.rfind("function: ", 0) == 0);
  CHECK(out.find("(valid against the schema of ") != std::string::npos);
}

TEST_CASE("rewoo ask on the trained demo model answers from the evidence, under the plan grammar") {
  auto model = test::demo_model_dir();
  REQUIRE(std::filesystem::exists(model / "model.safetensors"));
  std::string rewoo = (test::binary_dir() / "rewoo").string();
  test::TempDir dir;
  const auto corpus = test::copy_demo_corpus(dir);
  std::string out;
  int rc = test::run_command(
      "REWOO_SEARCH_BACKEND=local REWOO_LOCAL_DIR=" + corpus.string() + " " + rewoo +
          " ask --model " + model.string() + " --temperature 0 --repeat-penalty 1 --json -q"
          " \"Who founded the Guild of Ink Makers of Zeimgous?\" 2>&1",
      &out);
  REQUIRE_MESSAGE(rc == 0, out);
  json j = json::parse(out, nullptr, false);
  REQUIRE_MESSAGE(j.is_object(), out);
  // The trained plan (a search, then the KnowledgeModel over it), written
  // under the grammar, and the answer the corpus holds.
  CHECK(j["plan"]["valid"] == true);
  REQUIRE(j["evidence"].size() == 2);
  CHECK(j["evidence"][0]["tool"] == "DuckDuckGo");
  CHECK(j["evidence"][1]["tool"] == "KnowledgeModel");
  CHECK(j["evidence"][1]["ok"] == true);
  CHECK(j["answer"].get<std::string>().find("Lairktair Brymbun") != std::string::npos);
  CHECK(!j.contains("note"));  // not a random model
}

TEST_CASE("rewoo chat from piped input: one reply line per turn, /reset, same seed same replies") {
  auto model = test::demo_model_dir();
  REQUIRE(std::filesystem::exists(model / "model.safetensors"));
  std::string rewoo = (test::binary_dir() / "rewoo").string();
  std::string cmd = "printf 'Hello there.\\n\\n/reset\\nWhat is a map maker?\\n/exit\\nnot read\\n' | " +
                    rewoo + " chat --model " + model.string() +
                    " --temperature 0.7 --seed 3 --max-tokens 24 2>/dev/null";
  std::string out1, out2;
  REQUIRE(test::run_command(cmd, &out1) == 0);
  REQUIRE(test::run_command(cmd, &out2) == 0);
  CHECK(out1 == out2);
  // The first turn alone gives exactly the first reply: the piped session
  // printed it, then the second turn's reply (the blank line and /reset are
  // not turns; /exit ends the session before the last line).
  std::string first;
  REQUIRE(test::run_command("printf 'Hello there.\\n' | " + rewoo + " chat --model " +
                                model.string() + " --temperature 0.7 --seed 3 --max-tokens 24 2>/dev/null",
                            &first) == 0);
  REQUIRE(!first.empty());
  CHECK(first.back() == '\n');
  CHECK_MESSAGE(out1.rfind(first, 0) == 0, out1);
  CHECK(out1.size() > first.size() + 1);  // a second reply followed
  CHECK(out1.find("USER:") == std::string::npos);  // the stop string is never printed

  std::string err;
  CHECK(test::run_command("echo hi | " + rewoo + " chat --model /nonexistent/model", &err) != 0);
  CHECK_MESSAGE(err.find("/nonexistent/model") != std::string::npos, err);
}
