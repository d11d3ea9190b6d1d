// Batch runner: results appended as tasks finish, resume after SIGKILL, torn
// last lines, invalid input lines, concurrency.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "agent/batch_runner.h"
#include "tests/test_util.h"

using namespace rewoo;
using namespace rewoo::agent;
using nlohmann::json;

namespace {

void write_tasks(const std::filesystem::path& p, int n) {
  std::ofstream f(p);
  for (int i = 0; i < n; ++i)
    f << json{{"id", std::string("t").append(std::to_string(i))}, {"task", std::string("echo ").append(std::to_string(i))}, {"mode", "echo"}}.dump()
      << "\n";
}

std::map<std::string, TaskHandler> echo_handlers(int sleep_ms = 0) {
  return {{"echo", [sleep_ms](const json& t) {
             if (sleep_ms) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
             std::string task = t.at("task");
             if (task == "echo 13") return TaskOutcome::failure("unlucky");
             if (task == "echo 14") throw std::runtime_error("boom");
             return TaskOutcome{true, {{"answer", task.substr(5)}}};
           }}};
}

// Every output line parsed; fails the test on a line that is not a JSON object.
std::vector<json> read_results(const std::filesystem::path& p) {
  std::vector<json> out;
  std::ifstream f(p);
  std::string line;
  while (std::getline(f, line)) {
    json v = json::parse(line, nullptr, false);
    CHECK_MESSAGE(v.is_object(), "bad line: " << line);
    out.push_back(v);
  }
  return out;
}

BatchOptions options(const rewoo::test::TempDir& dir, int jobs = 1) {
  BatchOptions o;
  o.input_path = (dir / "tasks.jsonl").string();
  o.output_path = (dir / "results.jsonl").string();
  o.jobs = jobs;
  o.progress = false;
  return o;
}

}  // namespace

TEST_CASE("batch: every task gets one result line; failures and exceptions are lines too") {
  rewoo::test::TempDir dir;
  write_tasks(dir / "tasks.jsonl", 20);
  auto s = run_batch(options(dir, 3), echo_handlers());
  REQUIRE(s);
  CHECK(s->input_tasks == 20);
  CHECK(s->ran == 20);
  CHECK(s->ok == 18);
  CHECK(s->failed == 2);
  auto rows = read_results(dir / "results.jsonl");
  REQUIRE(rows.size() == 20);
  std::map<std::string, json> by_id;
  for (auto& r : rows) by_id[r["id"]] = r;
  CHECK(by_id.size() == 20);
  CHECK(by_id["t3"]["answer"] == "3");
  CHECK(by_id["t3"]["ok"] == true);
  CHECK(by_id["t3"]["mode"] == "echo");
  CHECK(by_id["t3"].contains("duration_ms"));
  CHECK(by_id["t13"]["ok"] == false);
  CHECK(by_id["t13"]["error"] == "unlucky");
  CHECK(by_id["t14"]["error"] == "internal error: boom");

  // A second run does nothing: every id is done.
  auto again = run_batch(options(dir, 3), echo_handlers());
  REQUIRE(again);
  CHECK(again->already_done == 20);
  CHECK(again->ran == 0);
  CHECK(read_results(dir / "results.jsonl").size() == 20);
}

TEST_CASE("batch: invalid input lines are reported, not run; unknown modes fail their task") {
  rewoo::test::TempDir dir;
  {
    std::ofstream f(dir / "tasks.jsonl");
    f << "{\"id\": 1, \"task\": \"echo a\", \"mode\": \"echo\"}\n"
      << "# a comment\n\n"
      << "not json\n"
      << "{\"task\": \"no id\"}\n"
      << "{\"id\": 1, \"task\": \"echo dup\", \"mode\": \"echo\"}\n"
      << "{\"id\": \"x\", \"task\": \"t\", \"mode\": \"dance\"}\r\n";
  }
  auto s = run_batch(options(dir), echo_handlers());
  REQUIRE(s);
  CHECK(s->input_tasks == 2);
  CHECK(s->invalid_lines == 3);
  REQUIRE(s->warnings.size() == 3);
  CHECK(s->warnings[0].ends_with("tasks.jsonl:4: not a JSON object"));
  CHECK(s->warnings[1].ends_with("tasks.jsonl:5: the task has no \"id\" (a string or an integer)"));
  CHECK(s->warnings[2].ends_with("tasks.jsonl:6: duplicate id 1 (only its first line runs)"));
  auto rows = read_results(dir / "results.jsonl");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["id"] == 1);
  CHECK(rows[0]["answer"] == "a");
  CHECK(rows[1]["error"] == "unknown mode 'dance' (expected echo)");
}

TEST_CASE("batch: a torn last line is cut off and its task re-run; a bad middle line is an error") {
  rewoo::test::TempDir dir;
  write_tasks(dir / "tasks.jsonl", 5);
  {
    std::ofstream f(dir / "results.jsonl");
    f << "{\"id\":\"t0\",\"ok\":true}\n{\"id\":\"t1\",\"ok\":tr";  // killed mid-write
  }
  auto s = run_batch(options(dir), echo_handlers());
  REQUIRE(s);
  CHECK(s->already_done == 1);
  CHECK(s->ran == 4);
  CHECK(s->torn_bytes_cut == 18);  // {"id":"t1","ok":tr
  auto rows = read_results(dir / "results.jsonl");
  REQUIRE(rows.size() == 5);
  std::set<std::string> ids;
  for (auto& r : rows) ids.insert(r["id"].get<std::string>());
  CHECK(ids.size() == 5);

  {
    std::ofstream f(dir / "results.jsonl");
    f << "{\"id\":\"t0\"}\ngarbage\n{\"id\":\"t1\"}\n";
  }
  auto bad = run_batch(options(dir), echo_handlers());
  REQUIRE(!bad);
  CHECK(bad.error().message.rfind("line 2 is not a result line", 0) == 0);
}

TEST_CASE("batch: 100 tasks, SIGKILL midway, re-run: every id exactly once, every line JSON") {
  rewoo::test::TempDir dir;
  write_tasks(dir / "tasks.jsonl", 100);
  auto opts = options(dir, 4);

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto r = run_batch(opts, echo_handlers(/*sleep_ms=*/20));
    _exit(r ? 0 : 3);
  }
  // Kill it once about 40 lines are written.
  int lines = 0;
  for (int i = 0; i < 2000 && lines < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::ifstream f(dir / "results.jsonl");
    std::string l;
    lines = 0;
    while (std::getline(f, l)) ++lines;
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  size_t before = read_results(dir / "results.jsonl").size();
  CHECK(before >= 40);
  CHECK(before < 100);

  auto s = run_batch(opts, echo_handlers(/*sleep_ms=*/1));
  REQUIRE(s);
  CHECK(s->already_done + s->ran == 100);
  CHECK(s->already_done >= 40);
  auto rows = read_results(dir / "results.jsonl");
  CHECK(rows.size() == 100);
  std::map<std::string, int> count;
  for (auto& r : rows) ++count[r["id"].get<std::string>()];
  CHECK(count.size() == 100);
  for (const auto& entry : count) CHECK_MESSAGE(entry.second == 1, entry.first);
  CHECK(s->tasks_per_second() > 0);
  MESSAGE("batch resume: " << s->to_string());
}
