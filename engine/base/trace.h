// Trace events: one JSON object per event, shared by the executor, the
// engine and the tools. A TraceSink collects them (thread-safe) and can write
// them as JSONL to a file as they happen.
//
//   TraceSink sink;                      // keeps events in memory
//   sink.open_file("run.jsonl");         // and appends each one to a file
//   sink.emit("step_start", {{"step", 2}, {"tool", "DuckDuckGo"}});
//
// Every event has "event" (its type) and "t_ms" (milliseconds since the sink
// was created); the rest are the event's own fields.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/json_text.h"
#include "engine/base/result.h"

namespace rewoo {

struct TraceEvent {
  std::string type;
  double t_ms = 0;
  nlohmann::json fields = nlohmann::json::object();

  nlohmann::json to_json() const;
  std::string to_jsonl() const { return json_text(to_json()) + "\n"; }
};

class TraceSink {
 public:
  TraceSink();
  ~TraceSink();
  TraceSink(const TraceSink&) = delete;
  TraceSink& operator=(const TraceSink&) = delete;

  // Appends every later event to `path` as JSONL (created or truncated).
  Status open_file(const std::string& path);
  // Calls `fn` for every later event (e.g. to print progress).
  void on_event(std::function<void(const TraceEvent&)> fn);

  void emit(std::string type, nlohmann::json fields = nlohmann::json::object());
  std::vector<TraceEvent> events() const;
  double elapsed_ms() const;

 private:
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;
  std::vector<TraceEvent> events_;
  std::FILE* file_ = nullptr;
  std::vector<std::function<void(const TraceEvent&)>> listeners_;
};

}  // namespace rewoo
