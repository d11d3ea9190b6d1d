// McpClient: a Model Context Protocol client for one server over stdio.
//
// The server is a child process speaking JSON-RPC 2.0, one message per line
// on its stdin/stdout. The client starts it on first use (initialize ->
// notifications/initialized), lists its tools (following nextCursor) and
// calls them (tools/call {name, arguments}); the server's stderr goes to the
// log (spdlog, debug level; the last lines are kept for error messages).
//
// A misbehaving server cannot take rewoo down: a call that outlives its
// timeout fails (and the server is stopped if it no longer answers a ping),
// invalid JSON or an over-long line on stdout stops the server with a clear
// error, and a server that died is started again on the next call. The
// destructor stops the server: stdin closed, then SIGTERM, then SIGKILL to
// its process group.
//
//   McpServerOptions o;
//   o.name = "fs";
//   o.argv = {"node", "server.js", "/tmp/x"};
//   McpClient c(o);
//   auto tools = c.list_tools();
//   auto r = c.call_tool("read_text_file", {{"path", "/tmp/x/a.txt"}});
//   if (r && !r->is_error) use(r->text);
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/result.h"

namespace rewoo::tools::plugins {

struct McpServerOptions {
  std::string name;  // for messages and the log ("fs", "everything")
  std::vector<std::string> argv;
  std::optional<std::vector<std::string>> env;  // "KEY=value"; nullopt inherits rewoo's
  std::string cwd;
  std::chrono::milliseconds startup_timeout{30000};  // initialize and tools/list
  std::chrono::milliseconds call_timeout{60000};     // default for tools/call
  size_t max_message_bytes = 16u << 20;              // one line on the server's stdout
  int start_retries = 1;  // a start that fails after spawning is tried this many more times
};

struct McpToolInfo {
  std::string name;
  std::string title;
  std::string description;
  nlohmann::json input_schema = nlohmann::json::object();
};

struct McpCallResult {
  bool is_error = false;  // the tool reported a failure (isError: true)
  std::string text;       // the content items' text, joined with newlines
  nlohmann::json raw;     // the whole result object
};

// The protocol versions this client speaks (newest first).
const std::vector<std::string>& mcp_protocol_versions();

// Joins a tools/call result's content into evidence text: text items as they
// are, other items as a short bracketed note; structuredContent when there is
// no content.
std::string mcp_content_text(const nlohmann::json& result);

class McpClient {
 public:
  explicit McpClient(McpServerOptions opts);
  ~McpClient();
  McpClient(const McpClient&) = delete;
  McpClient& operator=(const McpClient&) = delete;

  const McpServerOptions& options() const;

  // Starts the server if it is not running (idempotent).
  Status start();
  // Stops the server; the next call starts it again.
  void stop();
  bool running() const;
  // The server's process id, or -1 when it is not running.
  pid_t pid() const;
  // How many times the server process was started.
  int start_count() const;
  // serverInfo from initialize ("name version"), once started.
  std::string server_info() const;
  // The last lines the server wrote to stderr.
  std::string stderr_tail() const;

  // The server's tools; listed once per start (and again after
  // notifications/tools/list_changed).
  Result<std::vector<McpToolInfo>> list_tools();

  // Calls one tool. An Error for transport and protocol failures (timeout,
  // crash, JSON-RPC error); a result with is_error for tool failures.
  Result<McpCallResult> call_tool(const std::string& name, const nlohmann::json& arguments,
                                  std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                                  const std::atomic<bool>* cancelled = nullptr);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rewoo::tools::plugins
