// Batch runs for pipelines: `rewoo run --input tasks.jsonl --output results.jsonl`.
//
// Input: one JSON object per line, {"id": ..., "task": ..., "mode": "ask" |
// "call" | "generate", options...} (mode defaults to "ask"; blank lines and
// lines starting with '#' are skipped). Output: one JSON object per finished
// task, appended and fsync'ed as soon as it finishes, so a killed run (even
// SIGKILL) loses only the tasks that were running. Re-running with the same
// output skips every id already there; a torn last line left by a kill is cut
// off first. Every output line has "id", "mode", "ok", "duration_ms" and
// either the handler's fields or "error".
//
//   BatchOptions o;  o.input_path = "tasks.jsonl";  o.output_path = "out.jsonl";
//   auto s = run_batch(o, {{"ask", [&](const nlohmann::json& t) { return ...; }}});
//
// Handlers may run on several threads at once (jobs > 1); one that throws
// produces an error line for its task, never a crash.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/result.h"

namespace rewoo::agent {

// What a task produced: fields merged into its output line. ok=false with an
// "error" field marks a failed task.
struct TaskOutcome {
  bool ok = true;
  nlohmann::json fields = nlohmann::json::object();

  static TaskOutcome failure(std::string message) {
    return {false, {{"error", std::move(message)}}};
  }
};

using TaskHandler = std::function<TaskOutcome(const nlohmann::json& task)>;

struct BatchOptions {
  std::string input_path;   // "-" = stdin
  std::string output_path;
  int jobs = 1;
  bool progress = true;            // progress bar on `progress_stream`
  std::FILE* progress_stream = stderr;
  bool fsync_each = true;          // fsync after every line (SIGKILL/power safety)
};

struct BatchSummary {
  int input_tasks = 0;     // valid task lines in the input
  int already_done = 0;    // skipped: their id was in the output
  int ran = 0;
  int ok = 0;
  int failed = 0;
  int invalid_lines = 0;   // input lines that are not a task (bad JSON, no id, duplicate id)
  int torn_bytes_cut = 0;  // bytes of a torn last output line removed on resume
  double seconds = 0;      // wall time of this run
  double tasks_per_second() const { return seconds > 0 ? ran / seconds : 0; }
  std::vector<std::string> warnings;  // "tasks.jsonl:7: ..." per invalid line

  nlohmann::json to_json() const;
  std::string to_string() const;  // the human summary line
};

// Errors: unreadable input, output not writable, output with a bad line that
// is not the last (a file someone edited; rewoo will not guess).
Result<BatchSummary> run_batch(const BatchOptions& options,
                               const std::map<std::string, TaskHandler>& handlers);

// Ids present in an existing results file (what a resume skips); cuts a torn
// last line off when `repair` is set. Exposed for tests and `rewoo run --status`.
struct ResultsScan {
  std::vector<std::string> ids;
  size_t valid_bytes = 0;  // length of the prefix made of whole, valid lines
  size_t file_bytes = 0;
};
Result<ResultsScan> scan_results(const std::string& path);

// "id" as a string key: strings as-is, numbers as their JSON text.
std::string task_id_key(const nlohmann::json& id);

}  // namespace rewoo::agent
