// Child processes for plugin tools: started without a shell, wired to pipes,
// stopped with their whole process group.
//
// Each child runs in its own process group (so a plugin's own children are
// stopped with it). Arguments are passed as a vector straight to execve:
// model text never reaches a shell.
//
//   SpawnOptions o;
//   o.argv = {"wc", "-w"};
//   o.env = clean_environment({"PATH"}, {});
//   auto r = run_process(o, "one two three", std::chrono::seconds(5), 1 << 20);
//   if (r && r->exit_code == 0) use(r->out);
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/result.h"

namespace rewoo::tools::plugins {

struct SpawnOptions {
  // argv[0] is looked up in rewoo's own PATH when it has no '/'.
  std::vector<std::string> argv;
  // "KEY=value" entries; nullopt inherits rewoo's environment.
  std::optional<std::vector<std::string>> env;
  // Working directory; empty = rewoo's.
  std::string cwd;
  // SIGKILL the child when rewoo goes away, even by _Exit or a crash
  // (PR_SET_PDEATHSIG). The signal comes when the thread that forked exits,
  // so long-lived children (MCP servers) are forked on a helper thread that
  // lives as long as the process; run_process forks on the calling thread,
  // which waits for the child anyway.
  bool kill_with_rewoo = true;
};

// The environment a plugin gets: the allowlisted variables copied from
// rewoo's environment (when set), then `extra` (which wins).
std::vector<std::string> clean_environment(const std::vector<std::string>& allowlist,
                                           const std::map<std::string, std::string>& extra);

// The variables a plugin sees by default (those the MCP SDKs pass on).
const std::vector<std::string>& default_env_allowlist();

// A running child with pipes on its stdin, stdout and stderr (non-blocking,
// close-on-exec in rewoo). The destructor stops the process group and reaps
// the child: no zombies.
class Subprocess {
 public:
  static Result<std::unique_ptr<Subprocess>> spawn(const SpawnOptions& opts);
  // Forks on the calling thread (its PR_SET_PDEATHSIG follows this thread).
  static Result<std::unique_ptr<Subprocess>> spawn_here(const SpawnOptions& opts);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  int stdin_fd() const { return in_; }
  int stdout_fd() const { return out_; }
  int stderr_fd() const { return err_; }
  void close_stdin();

  // Writes all of `data` to stdin, waiting at most until `deadline`; an error
  // if the child closed its stdin or the deadline passed.
  Status write_stdin(std::string_view data, std::chrono::steady_clock::time_point deadline);

  // True once the child has exited (reaped, status recorded). Never blocks.
  bool exited();
  // Waits up to `timeout` for the child to exit by itself.
  bool wait_exit(std::chrono::milliseconds timeout);
  // SIGTERM to the group, up to `grace` to exit, then SIGKILL; reaps.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(1000));

  // After exited(): the exit code (-1 when killed by a signal) and the signal.
  int exit_code() const { return exit_code_; }
  int term_signal() const { return signal_; }
  // "exited with status 3", "was killed by signal 9 (Killed)", "is running".
  std::string status_text() const;

 private:
  Subprocess() = default;
  void reap(int status);

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1, signal_ = 0;
};

struct ProcessOutput {
  int exit_code = -1;  // -1 when killed by a signal or stopped by rewoo
  int signal = 0;
  bool timed_out = false;
  bool cancelled = false;
  bool output_over_cap = false;  // stdout passed max_stdout; the child was stopped
  std::string out;               // stdout (at most max_stdout bytes)
  std::string err;               // the last bytes of stderr (at most 64 KiB)
  double ms = 0;
};

// Runs a command to completion: writes `input` to its stdin then closes it,
// collects stdout and stderr, stops the group on timeout, cancellation or
// when stdout passes `max_stdout`. An error only if it could not start.
Result<ProcessOutput> run_process(const SpawnOptions& opts, std::string_view input,
                                  std::chrono::milliseconds timeout, size_t max_stdout,
                                  const std::atomic<bool>* cancelled = nullptr);

// Resolves a program name against PATH (or checks a path); an error that says
// what was searched when nothing executable is found.
Result<std::string> find_executable(const std::string& name);

}  // namespace rewoo::tools::plugins
