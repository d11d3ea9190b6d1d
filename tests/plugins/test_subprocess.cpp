#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/plugins/plugin_test_util.h"
#include "tools/plugins/subprocess.h"

using namespace rewoo;
using namespace rewoo::tools::plugins;
using namespace std::chrono_literals;

namespace {
// Running (a zombie that init has yet to reap does not count: it is not ours).
bool process_exists(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  std::string stat;
  try {
    stat = test::read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (...) {
    return false;
  }
  auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'Z';
}
}  // namespace

TEST_CASE("run_process: stdin in, stdout out, exit status, no shell") {
  SpawnOptions o;
  o.argv = {"wc", "-w"};
  auto r = run_process(o, "one two three four", 5s, 1024);
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  CHECK(std::stoi(r->out) == 4);

  // Shell metacharacters are just bytes in an argument.
  o.argv = {"echo", "$(touch /tmp/rewoo-should-not-exist); `id`"};
  r = run_process(o, "", 5s, 1024);
  REQUIRE(r);
  CHECK(r->out == "$(touch /tmp/rewoo-should-not-exist); `id`\n");
  CHECK_FALSE(std::filesystem::exists("/tmp/rewoo-should-not-exist"));

  o.argv = {"sh", "-c", "echo oops >&2; exit 7"};
  r = run_process(o, "", 5s, 1024);
  REQUIRE(r);
  CHECK(r->exit_code == 7);
  CHECK(r->err == "oops\n");
}

TEST_CASE("run_process: a missing program or folder is a clear error") {
  SpawnOptions o;
  o.argv = {"rewoo-no-such-program"};
  auto r = run_process(o, "", 1s, 1024);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("'rewoo-no-such-program' was not found in PATH") != std::string::npos);
  o.argv = {"true"};
  o.cwd = "/nonexistent/dir";
  r = run_process(o, "", 1s, 1024);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("working directory '/nonexistent/dir' does not exist") !=
        std::string::npos);
}

TEST_CASE("run_process: clean environment and working directory") {
  setenv("REWOO_TEST_SECRET", "hunter2", 1);
  test::TempDir dir;
  SpawnOptions o;
  o.argv = {"sh", "-c", "pwd; env"};
  o.env = clean_environment({"PATH"}, {{"EXTRA", "1"}});
  o.cwd = dir.path().string();
  auto r = run_process(o, "", 5s, 1 << 16);
  REQUIRE(r);
  CHECK(r->out.find(std::filesystem::canonical(dir.path()).string() + "\n") == 0);
  CHECK(r->out.find("EXTRA=1") != std::string::npos);
  CHECK(r->out.find("PATH=") != std::string::npos);
  CHECK(r->out.find("hunter2") == std::string::npos);
  CHECK(r->out.find("HOME=") == std::string::npos);
}

TEST_CASE("run_process: a timeout stops the whole process group, grandchildren too") {
  test::TempDir dir;
  auto pidfile = dir / "grandchild.pid";
  SpawnOptions o;
  // The grandchild keeps stdout open: without the group kill the read would
  // never end.
  o.argv = {"sh", "-c", "sleep 30 & echo $! > '" + pidfile.string() + "'; wait"};
  auto start = std::chrono::steady_clock::now();
  auto r = run_process(o, "", 300ms, 1024);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK(took < 5s);
  pid_t gc = std::stoi(test::read_file(pidfile));
  std::this_thread::sleep_for(50ms);
  // Killed and reaped by init (it was our grandchild, not our child).
  for (int i = 0; i < 50 && process_exists(gc); ++i) std::this_thread::sleep_for(20ms);
  CHECK_FALSE(process_exists(gc));
  // Our own child was reaped: no zombie left.
  CHECK(waitpid(-1, nullptr, WNOHANG) <= 0);
}

TEST_CASE("run_process: a flood of output stops at the cap") {
  SpawnOptions o;
  o.argv = {"yes", "flood"};
  auto start = std::chrono::steady_clock::now();
  auto r = run_process(o, "", 10s, 100000);
  REQUIRE(r);
  CHECK(r->output_over_cap);
  CHECK(r->out.size() == 100000);
  CHECK(std::chrono::steady_clock::now() - start < 6s);
}

TEST_CASE("run_process: large input and output through the pipes at once") {
  std::string big(3 << 20, 'a');
  for (size_t i = 0; i < big.size(); i += 100) big[i] = '\n';
  SpawnOptions o;
  o.argv = {"cat"};
  auto r = run_process(o, big, 10s, 8 << 20);
  REQUIRE(r);
  CHECK(r->exit_code == 0);
  CHECK(r->out == big);
}

TEST_CASE("Subprocess: stop() ends a child that ignores SIGTERM") {
  SpawnOptions o;
  o.argv = {"sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"};
  auto p = Subprocess::spawn(o);
  REQUIRE(p);
  pid_t pid = (*p)->pid();
  CHECK(process_exists(pid));
  std::this_thread::sleep_for(200ms);  // let the shell set its trap
  (*p)->stop(100ms);
  CHECK((*p)->exited());
  CHECK((*p)->term_signal() == SIGKILL);
  CHECK((*p)->status_text().find("killed by signal 9") != std::string::npos);
  CHECK_FALSE(process_exists(pid));
}
