// The MCP client against a server that misbehaves on request
// (tests/data/plugins/fake_mcp_server.py): crashes, hangs, floods, invalid
// JSON. rewoo must keep running, report each clearly, and recover.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "tests/plugins/plugin_test_util.h"
#include "tools/plugins/mcp_client.h"
#include "tools/plugins/plugin_tools.h"

using namespace rewoo;
using namespace rewoo::tools::plugins;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

McpServerOptions fake(std::vector<std::string> extra = {}) {
  McpServerOptions o;
  o.name = "fake";
  o.argv = {"python3", test::fake_server()};
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  o.startup_timeout = 5000ms;
  o.call_timeout = 5000ms;
  o.max_message_bytes = 1 << 20;
  return o;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

}  // namespace

TEST_CASE("mcp fake: handshake, paginated tools/list, calls, tool and JSON-RPC errors") {
  McpClient c(fake({"--page-size", "5"}));
  CHECK_FALSE(c.running());  // started on first use, not before
  auto tools = c.list_tools();
  REQUIRE_MESSAGE(tools, (tools ? "" : tools.error().to_string()));
  CHECK(tools->size() == 12);  // three pages of 5, 5, 2
  CHECK(tools->at(11).name == "ask_roots");
  CHECK(tools->at(1).input_schema["required"] == json({"a", "b"}));
  CHECK(c.server_info() == "fake 1.0");
  CHECK(c.start_count() == 1);

  auto r = c.call_tool("echo", {{"text", "héllo [x]"}});
  REQUIRE(r);
  CHECK_FALSE(r->is_error);
  CHECK(r->text == "echo: héllo [x]");
  CHECK(c.call_tool("add", {{"a", 2}, {"b", 40}})->text == "42");

  r = c.call_tool("fail", json::object());
  REQUIRE(r);
  CHECK(r->is_error);
  CHECK(r->text == "this tool always fails");

  r = c.call_tool("rpc_error", json::object());
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "the MCP server 'fake' answered with JSON-RPC error -32000: custom failure (details)");
  // Server-to-client requests get an answer (rewoo offers no roots).
  r = c.call_tool("ask_roots", json::object());
  REQUIRE(r);
  CHECK(contains(r->text, "-32601"));
  // The server is still fine after all that.
  CHECK(c.call_tool("echo", {{"text", "still here"}})->text == "echo: still here");
  CHECK(c.start_count() == 1);
  CHECK(contains(c.stderr_tail(), "fake MCP server ready"));
}

TEST_CASE("mcp fake: a crash is a clear error with the server's last words; the next call restarts it") {
  McpClient c(fake());
  REQUIRE(c.start());
  pid_t first = c.pid();
  auto r = c.call_tool("crash", json::object());
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "the MCP server 'fake' exited with status 3"));
  CHECK(contains(r.error().message, "crashing on purpose"));
  CHECK_FALSE(alive(first));

  auto again = c.call_tool("pid", json::object());
  REQUIRE_MESSAGE(again, (again ? "" : again.error().to_string()));
  CHECK(std::stoi(again->text) != first);
  CHECK(c.start_count() == 2);
}

TEST_CASE("mcp fake: a hung tool times out; a server that stops answering is replaced") {
  McpClient c(fake());
  REQUIRE(c.start());
  pid_t first = c.pid();
  auto start = std::chrono::steady_clock::now();
  auto r = c.call_tool("hang", json::object(), 300ms);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "the MCP tool 'hang' on server 'fake' timed out after 300 ms waiting for 'tools/call'");
  // 300 ms + at most 1 s for the ping that finds the server unresponsive.
  CHECK(took < 4s);
  for (int i = 0; i < 100 && alive(first); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(alive(first));

  auto ok = c.call_tool("echo", {{"text", "back"}});
  REQUIRE(ok);
  CHECK(ok->text == "echo: back");
  CHECK(c.start_count() == 2);
}

TEST_CASE("mcp fake: a slow tool on a server that answers ping keeps the server") {
  // The server is single-threaded: while `slow` sleeps it cannot answer the
  // ping either, so use a sleep shorter than the ping's budget.
  McpClient c(fake());
  REQUIRE(c.start());
  auto r = c.call_tool("slow", {{"ms", 600}}, 200ms);
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "timed out after 200 ms"));
  // The late reply is ignored; the connection keeps working.
  auto ok = c.call_tool("echo", {{"text", "x"}});
  REQUIRE(ok);
  CHECK(ok->text == "echo: x");
  CHECK(c.start_count() == 1);
}

TEST_CASE("mcp fake: invalid JSON on stdout stops the server with a clear error") {
  McpClient c(fake());
  auto r = c.call_tool("garbage", json::object());
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message,
                 "the MCP server 'fake' wrote invalid JSON on stdout: 'this is not JSON {'"));
  CHECK(c.call_tool("echo", {{"text", "y"}})->text == "echo: y");
  CHECK(c.start_count() == 2);
}

TEST_CASE("mcp fake: a flood on stdout is cut at max_message_bytes") {
  McpClient c(fake());
  auto start = std::chrono::steady_clock::now();
  auto r = c.call_tool("flood", json::object());
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "wrote more than 1048576 bytes on stdout without a newline"));
  CHECK(std::chrono::steady_clock::now() - start < 8s);
  CHECK(c.call_tool("echo", {{"text", "z"}})->text == "echo: z");
}

TEST_CASE("mcp fake: stderr goes to the log, and a flood of it does not block the server") {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000);
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  logger->set_level(spdlog::level::debug);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  {
    McpClient c(fake());
    auto r = c.call_tool("stderr_spam", json::object());
    REQUIRE(r);
    CHECK(r->text == "spammed");
    CHECK(contains(c.stderr_tail(), "spam line 4999"));
  }
  spdlog::set_default_logger(previous);
  auto lines = sink->last_formatted();
  bool ready = false, spam = false;
  for (auto& l : lines) {
    ready = ready || contains(l, "mcp[fake] stderr: fake MCP server ready");
    spam = spam || contains(l, "mcp[fake] stderr: spam line 10");
  }
  CHECK(ready);
  CHECK(spam);
}

TEST_CASE("mcp fake: startup failures are clear; a hung initialize times out") {
  McpClient crash(fake({"--crash-on-init"}));
  auto r = crash.start();
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "did not initialize"));
  CHECK(contains(r.error().message, "out of cheese"));
  CHECK(crash.start_count() == 2);  // started again once

  auto o = fake({"--hang-on-init"});
  o.startup_timeout = 300ms;
  o.start_retries = 0;
  McpClient hang(o);
  r = hang.start();
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "timed out after 300 ms waiting for 'initialize'"));

  McpClient old(fake({"--version", "1999-01-01"}));
  r = old.start();
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "speaks MCP protocol version '1999-01-01'"));
  CHECK(old.start_count() == 1);  // not retried: it would answer the same

  McpClient banner(fake({"--banner"}));
  r = banner.start();
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "wrote invalid JSON on stdout: 'fake server starting'"));

  McpServerOptions mo;
  mo.name = "nope";
  mo.argv = {"rewoo-no-such-server"};
  McpClient missing(mo);
  r = missing.start();
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "cannot start the MCP server 'nope'"));
  CHECK(contains(r.error().message, "not found in PATH"));
}

TEST_CASE("mcp fake: stopping leaves no process and no zombie; concurrent calls work") {
  pid_t pid;
  {
    McpClient c(fake());
    REQUIRE(c.start());
    pid = c.pid();
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&, i] {
        auto r = c.call_tool("echo", {{"text", std::to_string(i)}});
        if (r && r->text == "echo: " + std::to_string(i)) ++ok;
      });
    for (auto& t : threads) t.join();
    CHECK(ok == 8);
  }
  CHECK_FALSE(alive(pid));
  CHECK(waitpid(pid, nullptr, WNOHANG) == -1);  // reaped: no longer our child
}

TEST_CASE("mcp fake: a server started on a thread that has exited keeps running") {
  McpClient c(fake());
  std::thread([&] { REQUIRE(c.start()); }).join();
  std::this_thread::sleep_for(100ms);
  auto r = c.call_tool("echo", {{"text", "x"}});
  REQUIRE(r);
  CHECK(r->text == "echo: x");
  CHECK(c.start_count() == 1);
}

TEST_CASE("mcp fake: McpTool maps plan input to arguments and errors to error evidence") {
  tools::McpServerConfig cfg;
  cfg.name = "fake";
  cfg.command = "python3";
  cfg.args = {test::fake_server()};
  cfg.prefix = "f.";
  cfg.include = {"echo", "add", "fail", "crash"};
  tools::Limits limits;
  auto made = make_mcp_tools(cfg, limits);
  REQUIRE_MESSAGE(made, (made ? "" : made.error().to_string()));
  REQUIRE(made->size() == 4);
  std::map<std::string, tools::ToolPtr> by;
  for (auto& t : *made) by[t->name()] = t;
  REQUIRE(by.count("f.echo"));
  CHECK(by["f.echo"]->kind() == "mcp");
  CHECK(contains(by["f.echo"]->source(), "MCP server 'fake'"));
  CHECK(by["f.add"]->input_description() == "JSON object: {\"a\": number, \"b\": number}");
  REQUIRE(by["f.add"]->parameters_schema());

  tools::ToolContext ctx;
  auto r = by["f.echo"]->invoke("Nobel Prize 2023 [physics]", ctx);
  CHECK(r.ok);
  CHECK(r.text == "echo: Nobel Prize 2023 [physics]");
  r = by["f.add"]->invoke(R"({"a": 1.5, "b": 2})", ctx);
  CHECK(r.ok);
  CHECK(r.text == "3.5");
  r = by["f.add"]->invoke("one plus two", ctx);
  CHECK_FALSE(r.ok);
  CHECK(contains(r.text, "give its input as a JSON object"));
  r = by["f.fail"]->invoke("", ctx);
  CHECK_FALSE(r.ok);
  CHECK(r.text == "the tool 'f.fail' reported an error: this tool always fails");
  r = by["f.crash"]->invoke("", ctx);
  CHECK_FALSE(r.ok);
  CHECK(contains(r.text, "exited with status 3"));
  r = by["f.echo"]->invoke("after the crash", ctx);
  CHECK(r.ok);
  ctx.timeout = 0ms;  // a step with no limit
  r = by["f.echo"]->invoke("no limit", ctx);
  CHECK(r.ok);
  CHECK(r.text == "echo: no limit");

  cfg.include = {"echo", "nonexistent"};
  auto bad = make_mcp_tools(cfg, limits);
  REQUIRE_FALSE(bad);
  CHECK(contains(bad.error().message, "has no tool 'nonexistent'"));
}
