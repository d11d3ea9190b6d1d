#include "agent/batch_runner.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "engine/base/json_text.h"
#include "engine/base/read_file.h"

namespace rewoo::agent {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "--:--";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

// The progress bar: redrawn in place on a terminal, a line per 10% otherwise.
class Progress {
 public:
  Progress(std::FILE* out, bool enabled, int total, int done_before)
      : out_(out), enabled_(enabled && out), total_(total), before_(done_before),
        tty_(out && isatty(fileno(out))), start_(Clock::now()) {}

  void update(int ran, int ok, int failed, bool final = false) {
    if (!enabled_) return;
    auto now = Clock::now();
    int done = before_ + ran;
    int pct = total_ > 0 ? done * 100 / total_ : 100;
    if (!final) {
      if (tty_ && now - last_ < std::chrono::milliseconds(100)) return;
      if (!tty_ && pct / 10 == last_decile_) return;
    } else if (!tty_ && done == last_done_) {
      return;  // the last line already shows it
    }
    last_ = now;
    last_done_ = done;
    last_decile_ = pct / 10;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? ran / secs : 0;
    int left = total_ - done;
    double eta = rate > 0 ? left / rate : -1;
    constexpr int kWidth = 28;
    int filled = total_ > 0 ? done * kWidth / total_ : kWidth;
    std::string bar(filled, '=');
    if (filled < kWidth) bar += '>' + std::string(kWidth - filled - 1, ' ');
    std::fprintf(out_, "%s[%s] %d/%d %3d%% | %.2f tasks/s | ETA %s | ok %d, failed %d%s",
                 tty_ ? "\r" : "", bar.c_str(), done, total_, pct, rate,
                 final ? "0:00" : format_duration(eta).c_str(), ok, failed,
                 tty_ ? (final ? "\n" : "") : "\n");
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  bool enabled_;
  int total_, before_;
  bool tty_;
  Clock::time_point start_, last_{};
  int last_decile_ = -1;
  int last_done_ = -1;
};

Status write_all(int fd, const std::string& data, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(std::string("cannot write: ") + std::strerror(errno), path);
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

std::string task_id_key(const json& id) {
  return id.is_string() ? id.get<std::string>() : json_text(id);
}

nlohmann::json BatchSummary::to_json() const {
  return {{"input_tasks", input_tasks}, {"already_done", already_done}, {"ran", ran},
          {"ok", ok},                   {"failed", failed},             {"invalid_lines", invalid_lines},
          {"torn_bytes_cut", torn_bytes_cut}, {"seconds", seconds},     {"tasks_per_second", tasks_per_second()}};
}

std::string BatchSummary::to_string() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%d tasks: %d already done, %d run (%d ok, %d failed) in %.2f s, %.2f tasks/s%s",
                input_tasks, already_done, ran, ok, failed, seconds, tasks_per_second(),
                invalid_lines ? (", " + std::to_string(invalid_lines) + " invalid input lines").c_str()
                              : "");
  return buf;
}

Result<ResultsScan> scan_results(const std::string& path) {
  ResultsScan scan;
  std::ifstream f(path, std::ios::binary);
  if (!f) return scan;  // no file yet: nothing done
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string data = ss.str();
  scan.file_bytes = data.size();
  size_t pos = 0;
  int line_no = 0;
  while (pos < data.size()) {
    ++line_no;
    size_t nl = data.find('\n', pos);
    bool terminated = nl != std::string::npos;
    std::string line = data.substr(pos, terminated ? nl - pos : std::string::npos);
    size_t next = terminated ? nl + 1 : data.size();
    json v = json::parse(line, nullptr, /*allow_exceptions=*/false);
    bool good = terminated && v.is_object() && v.contains("id");
    if (!good) {
      if (next >= data.size()) break;  // a torn last line: everything before it stands
      return Error("line " + std::to_string(line_no) +
                       " is not a result line (a JSON object with \"id\"), and it is not the last "
                       "line, so it is not a torn write; fix or remove it",
                   path);
    }
    scan.ids.push_back(task_id_key(v["id"]));
    scan.valid_bytes = next;
    pos = next;
  }
  return scan;
}

Result<BatchSummary> run_batch(const BatchOptions& options,
                               const std::map<std::string, TaskHandler>& handlers) {
  BatchSummary summary;
  auto t0 = Clock::now();

  auto input = read_whole_file(options.input_path, "the task file");
  if (!input) return input.error();
  auto scan = scan_results(options.output_path);
  if (!scan) return scan.error();
  std::set<std::string> done(scan->ids.begin(), scan->ids.end());

  int fd = ::open(options.output_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Error(std::string("cannot open the results file for appending: ") + std::strerror(errno),
                 options.output_path);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  if (scan->valid_bytes < scan->file_bytes) {
    if (::ftruncate(fd, static_cast<off_t>(scan->valid_bytes)) != 0)
      return Error(std::string("cannot cut the torn last line: ") + std::strerror(errno),
                   options.output_path);
    summary.torn_bytes_cut = static_cast<int>(scan->file_bytes - scan->valid_bytes);
  }

  // Parse the task lines.
  std::vector<json> todo;
  std::set<std::string> seen;
  std::istringstream lines(*input);
  std::string line;
  int line_no = 0;
  auto warn = [&](const std::string& msg) {
    ++summary.invalid_lines;
    summary.warnings.push_back(options.input_path + ":" + std::to_string(line_no) + ": " + msg);
  };
  while (std::getline(lines, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    json t = json::parse(line, nullptr, false);
    if (t.is_discarded() || !t.is_object()) {
      warn("not a JSON object");
      continue;
    }
    if (!t.contains("id") || !(t["id"].is_string() || t["id"].is_number_integer())) {
      warn("the task has no \"id\" (a string or an integer)");
      continue;
    }
    std::string key = task_id_key(t["id"]);
    if (!seen.insert(key).second) {
      warn("duplicate id " + json_text(t["id"]) + " (only its first line runs)");
      continue;
    }
    ++summary.input_tasks;
    if (done.count(key)) {
      ++summary.already_done;
      continue;
    }
    todo.push_back(std::move(t));
  }
  for (auto& w : summary.warnings) std::fprintf(stderr, "rewoo run: warning: %s\n", w.c_str());

  Progress progress(options.progress_stream, options.progress, summary.input_tasks,
                    summary.already_done);
  std::mutex mu;
  std::atomic<size_t> next{0};
  Status write_error;
  std::atomic<bool> stop{false};

  auto run_one = [&](const json& task) {
    auto start = Clock::now();
    std::string mode = task.value("mode", std::string("ask"));
    TaskOutcome outcome;
    auto h = handlers.find(mode);
    if (h == handlers.end()) {
      std::string known;
      for (auto& [m, f] : handlers) known += (known.empty() ? "" : ", ") + m;
      outcome = TaskOutcome::failure("unknown mode '" + mode + "' (expected " + known + ")");
    } else {
      try {
        outcome = h->second(task);
      } catch (const std::exception& e) {
        outcome = TaskOutcome::failure(std::string("internal error: ") + e.what());
      }
    }
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    json out = {{"id", task["id"]}, {"mode", mode}, {"ok", outcome.ok}};
    for (auto& [k, v] : outcome.fields.items())
      if (k != "id" && k != "mode" && k != "ok") out[k] = v;
    out["duration_ms"] = std::round(ms * 10) / 10;
    std::string text = json_text(out) + "\n";

    std::lock_guard<std::mutex> lock(mu);
    if (stop) return;
    Status w = write_all(fd, text, options.output_path);
    if (w && options.fsync_each && ::fsync(fd) != 0)
      w = Error(std::string("fsync failed: ") + std::strerror(errno), options.output_path);
    if (!w) {
      write_error = w;
      stop = true;
      return;
    }
    ++summary.ran;
    ++(outcome.ok ? summary.ok : summary.failed);
    progress.update(summary.ran, summary.ok, summary.failed);
  };

  int jobs = std::max(1, options.jobs);
  auto worker = [&] {
    while (!stop) {
      size_t i = next++;
      if (i >= todo.size()) return;
      run_one(todo[i]);
    }
  };
  if (jobs == 1 || todo.size() <= 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    for (int j = 0; j < jobs && j < static_cast<int>(todo.size()); ++j) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
  }
  progress.update(summary.ran, summary.ok, summary.failed, /*final=*/true);
  summary.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!write_error) return write_error.error();
  return summary;
}

}  // namespace rewoo::agent
