#include "tools/plugins/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

extern char** environ;

namespace rewoo::tools::plugins {

namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int e) { return std::strerror(e); }

// Moves an fd above 2 (so dup2 onto 0..2 in the child never clobbers it) and
// makes it close-on-exec.
int high_cloexec(int fd) {
  if (fd > 2) return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return nfd;
}

bool make_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  fds[0] = high_cloexec(fds[0]);
  fds[1] = high_cloexec(fds[1]);
  return fds[0] >= 0 && fds[1] >= 0;
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// A write to a pipe whose reader died must be an EPIPE error, not a signal
// that kills rewoo.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] { signal(SIGPIPE, SIG_IGN); });
}

bool is_executable_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

}  // namespace

const std::vector<std::string>& default_env_allowlist() {
  static const std::vector<std::string> k = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM",
                                             "USER", "LANG",    "LC_ALL", "TMPDIR"};
  return k;
}

std::vector<std::string> clean_environment(const std::vector<std::string>& allowlist,
                                           const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> vars;
  for (auto& name : allowlist)
    if (const char* v = std::getenv(name.c_str())) vars[name] = v;
  for (auto& [k, v] : extra) vars[k] = v;
  std::vector<std::string> out;
  for (auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

Result<std::string> find_executable(const std::string& name) {
  if (name.empty()) return Error("empty command name");
  if (name.find('/') != std::string::npos) {
    if (is_executable_file(name)) return name;
    return Error("'" + name + "' is not an executable file");
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = end > start ? dirs.substr(start, end - start) : std::string(".");
    std::string cand = dir + "/" + name;
    if (is_executable_file(cand)) return cand;
    start = end + 1;
  }
  return Error("command '" + name + "' was not found in PATH (" + dirs + ")");
}

namespace {

// A thread that lives as long as the process and forks on request: children
// it forks get PR_SET_PDEATHSIG tied to it, so they die with rewoo rather
// than with whichever worker thread happened to start them.
class Spawner {
 public:
  static Spawner& instance() {
    // The thread holds a reference too, so the object outlives static
    // destruction; the thread ends with the process.
    static std::shared_ptr<Spawner> s = start();
    return *s;
  }

  Result<std::unique_ptr<Subprocess>> spawn(const SpawnOptions& opts) {
    const SpawnOptions* in = &opts;
    std::unique_ptr<Subprocess> proc;
    Error error;
    bool done = false;
    std::unique_lock<std::mutex> lock(mu_);
    queue_.push_back([&] {
      auto r = Subprocess::spawn_here(*in);
      if (r.ok())
        proc = std::move(r.value());
      else
        error = r.error();
      done = true;
    });
    cv_.notify_all();
    cv_.wait(lock, [&] { return done; });
    if (!proc) return error;
    return proc;
  }

 private:
  static std::shared_ptr<Spawner> start() {
    auto s = std::make_shared<Spawner>();
    std::thread([s] { s->loop(); }).detach();
    return s;
  }

  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !queue_.empty(); });
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      fn();  // under the lock: spawns are short, and the waiter checks its result under it
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace

Result<std::unique_ptr<Subprocess>> Subprocess::spawn(const SpawnOptions& opts) {
  if (!opts.kill_with_rewoo) return spawn_here(opts);
  return Spawner::instance().spawn(opts);
}

Result<std::unique_ptr<Subprocess>> Subprocess::spawn_here(const SpawnOptions& opts) {
  if (opts.argv.empty()) return Error("no command to run");
  ignore_sigpipe_once();
  auto exe = find_executable(opts.argv[0]);
  if (!exe) return exe.error();
  if (!opts.cwd.empty()) {
    struct stat st;
    if (stat(opts.cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Error("working directory '" + opts.cwd + "' does not exist");
  }

  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls are allowed (rewoo has other threads).
  std::vector<char*> argv;
  for (auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  if (opts.env) {
    for (auto& e : *opts.env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
  }
  char* const* env_ptr = opts.env ? envp.data() : environ;
  const char* exe_path = exe->c_str();
  const char* cwd = opts.cwd.empty() ? nullptr : opts.cwd.c_str();
  const bool pdeathsig = opts.kill_with_rewoo;

  int in[2], out[2], err[2], report[2];
  if (!make_pipe(in)) return Error("cannot create a pipe: " + errno_text(errno));
  if (!make_pipe(out)) {
    close(in[0]), close(in[1]);
    return Error("cannot create a pipe: " + errno_text(errno));
  }
  if (!make_pipe(err)) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return Error("cannot create a pipe: " + errno_text(errno));
  }
  if (!make_pipe(report)) {
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]}) close(fd);
    return Error("cannot create a pipe: " + errno_text(errno));
  }

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1], report[0], report[1]}) close(fd);
    return Error("cannot start '" + opts.argv[0] + "': fork failed: " + errno_text(e));
  }
  if (pid == 0) {
    // Child.
    setpgid(0, 0);
    if (pdeathsig) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
    }
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
#ifdef SYS_close_range
    // Fds that other parts of rewoo opened without O_CLOEXEC stay out of the
    // plugin (CLOSE_RANGE_CLOEXEC = 1 << 2).
    syscall(SYS_close_range, 3U, ~0U, 1U << 2);
#endif
    int stage = 0;
    if (cwd && chdir(cwd) != 0) {
      stage = 1;
    } else {
      execve(exe_path, argv.data(), env_ptr);
      stage = 2;
    }
    int msg[2] = {stage, errno};
    ssize_t ignored = write(report[1], msg, sizeof msg);
    (void)ignored;
    _exit(127);
  }

  close(in[0]);
  close(out[1]);
  close(err[1]);
  close(report[1]);
  std::unique_ptr<Subprocess> p(new Subprocess());  // private constructor
  p->pid_ = pid;
  p->in_ = in[1];
  p->out_ = out[0];
  p->err_ = err[0];

  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = read(report[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    p->stop(std::chrono::milliseconds(0));
    std::string what = msg[0] == 1 ? "cannot enter working directory '" + opts.cwd + "'"
                                   : "cannot execute '" + *exe + "'";
    return Error(what + ": " + errno_text(msg[1]));
  }
  set_nonblocking(p->in_);
  set_nonblocking(p->out_);
  set_nonblocking(p->err_);
  return p;
}

Subprocess::~Subprocess() {
  close_fd(in_);
  close_fd(out_);
  close_fd(err_);
  stop(std::chrono::milliseconds(200));
}

void Subprocess::close_stdin() { close_fd(in_); }

Status Subprocess::write_stdin(std::string_view data, Clock::time_point deadline) {
  if (in_ < 0) return Error("the process's stdin is closed");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(in_, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return Error("cannot write to the process's stdin: " + errno_text(errno));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Error("the process did not read its stdin in time");
    pollfd pfd{in_, POLLOUT, 0};
    poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
  }
  return {};
}

void Subprocess::reap(int status) {
  reaped_ = true;
  if (WIFEXITED(status)) {
    exit_code_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    signal_ = WTERMSIG(status);
  }
}

bool Subprocess::exited() {
  if (reaped_ || pid_ <= 0) return true;
  // Peek without reaping first: while the leader is an unreaped zombie its
  // process-group id cannot be reused, so killing the group is safe.
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return false;
  if (info.si_pid == 0) return false;
  kill(-pid_, SIGKILL);  // whatever the plugin left behind in its group
  int status = 0;
  if (waitpid(pid_, &status, 0) == pid_) reap(status);
  else reaped_ = true;
  return true;
}

bool Subprocess::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  auto step = std::chrono::milliseconds(1);
  while (!exited()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(20));
  }
  return true;
}

void Subprocess::stop(std::chrono::milliseconds grace) {
  if (reaped_ || pid_ <= 0) return;
  if (exited()) return;
  kill(-pid_, SIGTERM);
  if (grace.count() > 0 && wait_exit(grace)) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  while (!exited()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

std::string Subprocess::status_text() const {
  if (!reaped_) return "is running";
  if (signal_) {
    const char* s = strsignal(signal_);
    return "was killed by signal " + std::to_string(signal_) + (s ? std::string(" (") + s + ")" : "");
  }
  return "exited with status " + std::to_string(exit_code_);
}

Result<ProcessOutput> run_process(const SpawnOptions& opts, std::string_view input,
                                  std::chrono::milliseconds timeout, size_t max_stdout,
                                  const std::atomic<bool>* cancelled) {
  auto start = Clock::now();
  auto deadline = start + timeout;
  auto sp = Subprocess::spawn_here(opts);
  if (!sp) return sp.error();
  Subprocess& p = **sp;
  ProcessOutput r;
  constexpr size_t kMaxStderr = 64 * 1024;
  size_t written = 0;
  if (input.empty()) p.close_stdin();
  bool out_open = true, err_open = true;
  char buf[65536];

  auto drain = [&](int fd, bool is_out, bool& open) {
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n > 0) {
        if (is_out) {
          size_t room = max_stdout - std::min(max_stdout, r.out.size());
          r.out.append(buf, std::min(room, static_cast<size_t>(n)));
          if (static_cast<size_t>(n) > room) r.output_over_cap = true;
        } else {
          r.err.append(buf, static_cast<size_t>(n));
          if (r.err.size() > 2 * kMaxStderr) r.err.erase(0, r.err.size() - kMaxStderr);
        }
        continue;
      }
      if (n == 0) open = false;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) open = false;
      return;
    }
  };

  while ((out_open || err_open) && !r.output_over_cap) {
    if (Clock::now() >= deadline) {
      r.timed_out = true;
      break;
    }
    if (cancelled && cancelled->load()) {
      r.cancelled = true;
      break;
    }
    std::vector<pollfd> fds;
    if (out_open) fds.push_back({p.stdout_fd(), POLLIN, 0});
    if (err_open) fds.push_back({p.stderr_fd(), POLLIN, 0});
    bool want_in = p.stdin_fd() >= 0 && written < input.size();
    if (want_in) fds.push_back({p.stdin_fd(), POLLOUT, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    int wait_ms = static_cast<int>(std::clamp<long long>(left.count(), 0, 50));
    int rc = poll(fds.data(), fds.size(), wait_ms);
    if (rc < 0 && errno != EINTR) break;
    if (out_open) drain(p.stdout_fd(), true, out_open);
    if (err_open) drain(p.stderr_fd(), false, err_open);
    if (want_in) {
      ssize_t n = write(p.stdin_fd(), input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      // A tool that exits or closes stdin without reading all its input is
      // not an error of ours; its exit status tells.
      if ((n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
          written >= input.size())
        p.close_stdin();
    }
    // The leader exited but something it left behind holds the pipes open:
    // exited() stops the group, the pipes close.
    if (rc == 0) p.exited();
  }

  if (r.timed_out || r.cancelled || r.output_over_cap) {
    p.stop(std::chrono::milliseconds(100));
  } else {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!p.wait_exit(std::max(left, std::chrono::milliseconds(0)))) {
      r.timed_out = true;
      p.stop(std::chrono::milliseconds(100));
    }
  }
  if (r.err.size() > kMaxStderr) r.err.erase(0, r.err.size() - kMaxStderr);
  r.exit_code = p.exit_code();
  r.signal = p.term_signal();
  r.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return r;
}

}  // namespace rewoo::tools::plugins
