#include "engine/base/trace.h"

#include <cerrno>
#include <cstring>

namespace rewoo {

nlohmann::json TraceEvent::to_json() const {
  nlohmann::json j = {{"event", type}, {"t_ms", t_ms}};
  for (auto it = fields.begin(); it != fields.end(); ++it) j[it.key()] = it.value();
  return j;
}

TraceSink::TraceSink() : start_(std::chrono::steady_clock::now()) {}

TraceSink::~TraceSink() {
  if (file_) std::fclose(file_);
}

Status TraceSink::open_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return Error(std::string("cannot open trace file for writing: ") + std::strerror(errno), path);
  std::lock_guard<std::mutex> lock(mu_);
  if (file_) std::fclose(file_);
  file_ = f;
  return {};
}

void TraceSink::on_event(std::function<void(const TraceEvent&)> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.push_back(std::move(fn));
}

double TraceSink::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
      .count();
}

void TraceSink::emit(std::string type, nlohmann::json fields) {
  TraceEvent ev{std::move(type), elapsed_ms(), std::move(fields)};
  std::lock_guard<std::mutex> lock(mu_);
  if (file_) {
    std::string line = ev.to_jsonl();
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
  }
  for (auto& fn : listeners_) fn(ev);
  events_.push_back(std::move(ev));
}

std::vector<TraceEvent> TraceSink::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

}  // namespace rewoo
