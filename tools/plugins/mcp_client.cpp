#include "tools/plugins/mcp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "engine/base/json_text.h"
#include "tools/plugins/subprocess.h"

namespace rewoo::tools::plugins {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr size_t kStderrTailLines = 20;
constexpr size_t kStderrLogLines = 2000;  // per start; a flood past it is not logged
constexpr int kMaxListPages = 1000;

std::string snippet(std::string_view s, size_t n = 200) {
  std::string out(s.substr(0, n));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (s.size() > n) out += "...";
  return out;
}

std::string jsonrpc_error_text(const json& err) {
  std::string msg = "JSON-RPC error";
  if (err.is_object()) {
    if (err.contains("code") && err["code"].is_number_integer())
      msg += " " + std::to_string(err["code"].get<long long>());
    if (err.contains("message") && err["message"].is_string())
      msg += ": " + err["message"].get<std::string>();
    if (err.contains("data") && !err["data"].is_null())
      msg +=
          " (" +
          snippet(err["data"].is_string() ? err["data"].get<std::string>() : json_text(err["data"]),
                  300) +
          ")";
  } else {
    msg += ": " + snippet(json_text(err));
  }
  return msg;
}

}  // namespace

const std::vector<std::string>& mcp_protocol_versions() {
  static const std::vector<std::string> k = {"2025-06-18", "2025-03-26", "2024-11-05"};
  return k;
}

std::string mcp_content_text(const json& result) {
  std::string out;
  auto add = [&](const std::string& s) {
    if (!out.empty()) out += "\n";
    out += s;
  };
  if (result.contains("content") && result["content"].is_array()) {
    for (auto& item : result["content"]) {
      std::string type = item.value("type", "");
      if (type == "text" && item.contains("text") && item["text"].is_string()) {
        add(item["text"].get<std::string>());
      } else if (type == "image" || type == "audio") {
        size_t n = item.contains("data") && item["data"].is_string()
                       ? item["data"].get<std::string>().size() * 3 / 4
                       : 0;
        add("[" + type + ": " + item.value("mimeType", "unknown type") + ", about " +
            std::to_string(n) + " bytes]");
      } else if (type == "resource" && item.contains("resource") &&
                 item["resource"].is_object()) {
        auto& res = item["resource"];
        if (res.contains("text") && res["text"].is_string())
          add(res["text"].get<std::string>());
        else
          add("[resource: " + res.value("uri", "?") + ", " + res.value("mimeType", "binary") +
              "]");
      } else if (type == "resource_link") {
        add("[resource link: " + item.value("uri", "?") +
            (item.contains("name") ? " (" + item.value("name", "") + ")" : "") + "]");
      } else {
        add("[" + (type.empty() ? std::string("content") : type) + ": " + snippet(json_text(item)) +
            "]");
      }
    }
  }
  if (out.empty() && result.contains("structuredContent") &&
      !result["structuredContent"].is_null())
    out = json_text(result["structuredContent"]);
  return out;
}

// One running server process and the thread that reads its stdout and
// stderr. A dead connection is never revived; the client makes a new one.
class Connection {
 public:
  Connection(const McpServerOptions& opts, std::unique_ptr<Subprocess> proc)
      : opts_(opts), proc_(std::move(proc)) {
    if (pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
    io_ = std::thread([this] { io_loop(); });
  }

  ~Connection() { shutdown(milliseconds(500)); }

  pid_t pid() const { return proc_->pid(); }

  bool dead() const {
    std::lock_guard<std::mutex> lock(mu_);
    return dead_;
  }
  std::string dead_reason() const {
    std::lock_guard<std::mutex> lock(mu_);
    return dead_reason_;
  }
  std::string stderr_tail() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (auto& l : stderr_tail_) out += l + "\n";
    return out;
  }
  bool tools_changed() const { return tools_changed_.load(); }
  void clear_tools_changed() { tools_changed_ = false; }

  // Sends a request and waits for its response's result.
  Result<json> request(const std::string& method, const json& params, milliseconds timeout,
                       const std::atomic<bool>* cancelled = nullptr) {
    int64_t id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (dead_) return Error(dead_reason_);
      id = next_id_++;
      pending_[id] = Pending{};
    }
    json msg = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
    if (!params.is_null()) msg["params"] = params;
    auto deadline = Clock::now() + timeout;
    if (auto st = send(msg, deadline); !st) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        pending_.erase(id);
        if (dead_) return Error(dead_reason_);
      }
      // The server's stdin is closed or not read (it exited, was killed, or
      // hangs): this connection is over, even if its output has not reached
      // end of file yet, so the next call starts a fresh server.
      fail(st.error().message + "; it will be started again on the next call");
      return st.error();
    }
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      auto& p = pending_[id];
      if (p.done) {
        Pending done = std::move(p);
        pending_.erase(id);
        if (!done.error.empty()) return Error(done.error);
        return std::move(done.result);
      }
      if (dead_) {
        pending_.erase(id);
        return Error(dead_reason_);
      }
      bool is_cancelled = cancelled && cancelled->load();
      if (Clock::now() >= deadline || is_cancelled) {
        pending_.erase(id);
        lock.unlock();
        notify("notifications/cancelled",
               {{"requestId", id}, {"reason", is_cancelled ? "cancelled" : "timed out"}});
        return Error(std::string(is_cancelled ? "cancelled" : "timed out") + " after " +
                     std::to_string(timeout.count()) + " ms waiting for '" + method + "'");
      }
      cv_.wait_until(lock, std::min(deadline, Clock::now() + milliseconds(50)));
    }
  }

  void notify(const std::string& method, const json& params) {
    json msg = {{"jsonrpc", "2.0"}, {"method", method}};
    if (!params.is_null()) msg["params"] = params;
    (void)send(msg, Clock::now() + milliseconds(1000));
  }

  // Stops the server: stdin closed, `grace` to exit by itself, then the
  // process group is signalled. Safe to call twice.
  void shutdown(milliseconds grace) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      proc_->close_stdin();
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, grace, [&] { return io_done_; });
    }
    if (wake_[1] >= 0) {
      char c = 'x';
      ssize_t ignored = write(wake_[1], &c, 1);
      (void)ignored;
    }
    if (io_.joinable()) io_.join();
    proc_->stop(milliseconds(500));
    fail("the server '" + opts_.name + "' was stopped");
    for (int& fd : wake_)
      if (fd >= 0) close(fd), fd = -1;
  }

  // Marks the connection dead and fails every waiting request with `reason`.
  void fail(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dead_) {
      dead_ = true;
      dead_reason_ = reason;
    }
    for (auto& [id, p] : pending_) {
      if (!p.done) {
        p.done = true;
        p.error = dead_reason_;
      }
    }
    cv_.notify_all();
  }

 private:
  struct Pending {
    bool done = false;
    json result;
    std::string error;
  };

  Status send(const json& msg, Clock::time_point deadline) {
    std::string line = json_text(msg) + "\n";
    std::lock_guard<std::mutex> lock(write_mu_);
    auto st = proc_->write_stdin(line, deadline);
    if (!st) return Error("cannot send to the MCP server '" + opts_.name + "': " + st.error().message);
    return {};
  }

  // A protocol violation: the server is killed and every request fails.
  void violation(const std::string& what) {
    std::string reason = "the MCP server '" + opts_.name + "' " + what +
                         "; it was stopped and will be started again on the next call";
    spdlog::warn("mcp[{}]: {}", opts_.name, reason);
    kill(-proc_->pid(), SIGKILL);
    fail(reason);
  }

  void handle_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;
    json msg = json::parse(line.begin(), line.end(), nullptr, false);
    if (msg.is_discarded()) {
      violation("wrote invalid JSON on stdout: '" + snippet(line) + "'");
      return;
    }
    if (msg.is_array()) {
      for (auto& m : msg) handle_message(m);
    } else {
      handle_message(msg);
    }
  }

  void handle_message(const json& msg) {
    if (!msg.is_object()) {
      violation("wrote a JSON value that is not a JSON-RPC message: '" + snippet(json_text(msg)) +
                "'");
      return;
    }
    if (msg.contains("method")) {
      std::string method = msg["method"].is_string() ? msg["method"].get<std::string>() : "";
      if (msg.contains("id")) {
        // A request from the server (ping, roots/list, sampling, ...): rewoo
        // offers no client capabilities, so only ping is answered with a result.
        json reply = {{"jsonrpc", "2.0"}, {"id", msg["id"]}};
        if (method == "ping")
          reply["result"] = json::object();
        else
          reply["error"] = {{"code", -32601},
                            {"message", "rewoo does not support '" + method + "'"}};
        (void)send(reply, Clock::now() + milliseconds(1000));
      } else if (method == "notifications/tools/list_changed") {
        tools_changed_ = true;
      } else if (method == "notifications/message") {
        spdlog::debug("mcp[{}] log: {}", opts_.name,
                      msg.contains("params") ? snippet(json_text(msg["params"]), 1000) : "");
      }
      return;
    }
    if (!msg.contains("id") || !msg["id"].is_number_integer()) {
      if (msg.contains("error"))
        spdlog::warn("mcp[{}]: {}", opts_.name, jsonrpc_error_text(msg["error"]));
      return;  // a reply to something we did not send (or an id-less error)
    }
    int64_t id = msg["id"].get<int64_t>();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // late reply to a request that timed out
    Pending& p = it->second;
    p.done = true;
    if (msg.contains("error")) {
      p.error = "the MCP server '" + opts_.name + "' answered with " +
                jsonrpc_error_text(msg["error"]);
    } else if (msg.contains("result")) {
      p.result = msg["result"];
    } else {
      p.error = "the MCP server '" + opts_.name +
                "' sent a response with neither 'result' nor 'error': " + snippet(json_text(msg));
    }
    cv_.notify_all();
  }

  void handle_stderr_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string l = snippet(line, 2000);
    if (++stderr_lines_ <= kStderrLogLines)
      spdlog::debug("mcp[{}] stderr: {}", opts_.name, l);
    else if (stderr_lines_ == kStderrLogLines + 1)
      spdlog::debug("mcp[{}] stderr: (further output not logged)", opts_.name);
    std::lock_guard<std::mutex> lock(mu_);
    stderr_tail_.push_back(std::move(l));
    if (stderr_tail_.size() > kStderrTailLines) stderr_tail_.pop_front();
  }

  // Reads whatever is available; false at EOF or error.
  static bool read_some(int fd, std::string& buf) {
    char tmp[65536];
    for (;;) {
      ssize_t n = read(fd, tmp, sizeof tmp);
      if (n > 0) {
        buf.append(tmp, static_cast<size_t>(n));
        if (buf.size() > (1u << 20)) return true;  // let the caller split lines
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }

  void split_stderr(bool final_flush) {
    size_t pos;
    while ((pos = err_buf_.find('\n')) != std::string::npos) {
      handle_stderr_line(std::string_view(err_buf_).substr(0, pos));
      err_buf_.erase(0, pos + 1);
    }
    if (err_buf_.size() > 64 * 1024 || (final_flush && !err_buf_.empty())) {
      handle_stderr_line(err_buf_);
      err_buf_.clear();
    }
  }

  void io_loop() {
    bool out_open = true, err_open = true;
    std::string out_buf;
    while (out_open && !dead()) {
      pollfd fds[3] = {{proc_->stdout_fd(), POLLIN, 0},
                       {err_open ? proc_->stderr_fd() : -1, POLLIN, 0},
                       {wake_[0], POLLIN, 0}};
      int rc = poll(fds, 3, -1);
      if (rc < 0 && errno != EINTR) break;
      if (fds[2].revents) break;
      if (err_open && fds[1].revents) {
        err_open = read_some(proc_->stderr_fd(), err_buf_);
        split_stderr(!err_open);
      }
      if (fds[0].revents) {
        out_open = read_some(proc_->stdout_fd(), out_buf);
        size_t start = 0, pos;
        while (!dead() && (pos = out_buf.find('\n', start)) != std::string::npos) {
          handle_line(std::string_view(out_buf).substr(start, pos - start));
          start = pos + 1;
        }
        out_buf.erase(0, start);
        if (!dead() && out_buf.size() > opts_.max_message_bytes)
          violation("wrote more than " + std::to_string(opts_.max_message_bytes) +
                    " bytes on stdout without a newline (flooding, or not newline-delimited "
                    "JSON-RPC)");
      }
    }
    if (!out_open && !dead()) {
      // stdout closed: the server exited or is about to. Its last words are
      // usually on stderr.
      auto until = Clock::now() + milliseconds(300);
      while (err_open && Clock::now() < until) {
        pollfd pfd{proc_->stderr_fd(), POLLIN, 0};
        if (poll(&pfd, 1, 50) > 0) {
          err_open = read_some(proc_->stderr_fd(), err_buf_);
          split_stderr(!err_open);
        }
      }
      split_stderr(true);
      proc_->wait_exit(milliseconds(500));
      bool closing;
      {
        std::lock_guard<std::mutex> lock(mu_);
        closing = closing_;
      }
      std::string reason = "the MCP server '" + opts_.name + "' " + proc_->status_text();
      std::string tail = stderr_tail();
      if (!tail.empty()) reason += "; its last stderr lines:\n" + tail;
      if (!closing) spdlog::warn("mcp[{}]: {}", opts_.name, reason);
      fail(reason);
    }
    // A server killed for a protocol violation is reaped here, not left a
    // zombie until the next call.
    if (dead()) proc_->wait_exit(milliseconds(1000));
    std::lock_guard<std::mutex> lock(mu_);
    io_done_ = true;
    cv_.notify_all();
  }

  const McpServerOptions opts_;
  std::unique_ptr<Subprocess> proc_;
  std::thread io_;
  int wake_[2] = {-1, -1};
  std::mutex write_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, Pending> pending_;
  int64_t next_id_ = 1;
  bool dead_ = false, closing_ = false, io_done_ = false;
  std::string dead_reason_;
  std::deque<std::string> stderr_tail_;
  std::string err_buf_;
  size_t stderr_lines_ = 0;
  std::atomic<bool> tools_changed_{false};
};

class McpClient::Impl {
 public:
  explicit Impl(McpServerOptions o) : opts(std::move(o)) {}

  // The live connection, starting the server when there is none.
  Result<std::shared_ptr<Connection>> connection() {
    std::lock_guard<std::mutex> lock(start_mu);
    if (conn && !conn->dead()) return conn;
    if (conn) {
      spdlog::info("mcp[{}]: starting the server again ({})", opts.name,
                   snippet(conn->dead_reason(), 300));
      last_tail = conn->stderr_tail();
      conn.reset();
    }
    Error last;
    for (int attempt = 0; attempt <= opts.start_retries; ++attempt) {
      bool retryable = true;
      auto r = start_once(retryable);
      if (r) {
        conn = *r;
        tools_cached = false;
        return conn;
      }
      last = r.error();
      if (!retryable) break;
      spdlog::warn("mcp[{}]: {}", opts.name, last.message);
    }
    return last;
  }

  Result<std::shared_ptr<Connection>> start_once(bool& retryable) {
    SpawnOptions so{opts.argv, opts.env, opts.cwd};
    auto proc = Subprocess::spawn(so);
    if (!proc) {
      retryable = false;
      return proc.error().wrap("cannot start the MCP server '" + opts.name + "'");
    }
    ++starts;
    auto c = std::make_shared<Connection>(opts, std::move(*proc));
    json params = {{"protocolVersion", mcp_protocol_versions().front()},
                   {"capabilities", json::object()},
                   {"clientInfo", {{"name", "rewoo"}, {"version", "0.1.0"}}}};
    auto init = c->request("initialize", params, opts.startup_timeout);
    auto failed = [&](const std::string& what) -> Error {
      std::string tail = c->stderr_tail();
      c->shutdown(milliseconds(0));
      bool has_tail = what.find("its last stderr lines") != std::string::npos;
      return Error("the MCP server '" + opts.name + "' (" + join_argv() + ") " + what +
                   (tail.empty() || has_tail ? "" : "; its last stderr lines:\n" + tail));
    };
    if (!init) return failed("did not initialize: " + init.error().message);
    const json& res = *init;
    std::string version = res.is_object() ? res.value("protocolVersion", "") : "";
    auto& known = mcp_protocol_versions();
    if (std::find(known.begin(), known.end(), version) == known.end()) {
      retryable = false;
      return failed("speaks MCP protocol version '" + version + "'; rewoo speaks " +
                    known.front() + ", " + known[1] + " and " + known[2]);
    }
    if (res.contains("serverInfo") && res["serverInfo"].is_object())
      info = res["serverInfo"].value("name", "") + " " + res["serverInfo"].value("version", "");
    c->notify("notifications/initialized", nullptr);
    spdlog::debug("mcp[{}]: started pid {} ({}), protocol {}", opts.name, c->pid(), info,
                  version);
    return c;
  }

  std::string join_argv() const {
    std::string s;
    for (auto& a : opts.argv) s += (s.empty() ? "" : " ") + a;
    return s;
  }

  void stop() {
    std::shared_ptr<Connection> c;
    {
      std::lock_guard<std::mutex> lock(start_mu);
      c = std::move(conn);
    }
    if (c) c->shutdown(milliseconds(500));
  }

  // After a timed-out call: a server that still answers ping is kept (the
  // slow tool was its own business); one that does not is stopped so the
  // next call gets a fresh one.
  void check_alive(const std::shared_ptr<Connection>& c) {
    if (c->dead()) return;
    auto pong = c->request("ping", nullptr, milliseconds(1000));
    if (pong) return;
    spdlog::warn("mcp[{}]: the server does not answer ping after a timed-out call; stopping it",
                 opts.name);
    std::lock_guard<std::mutex> lock(start_mu);
    if (conn == c) conn.reset();
    c->fail("the MCP server '" + opts.name + "' stopped answering");
    kill(-c->pid(), SIGKILL);
  }

  McpServerOptions opts;
  std::mutex start_mu;
  std::shared_ptr<Connection> conn;
  int starts = 0;
  std::string info;
  std::string last_tail;
  std::mutex tools_mu;
  bool tools_cached = false;
  std::vector<McpToolInfo> tools;
};

McpClient::McpClient(McpServerOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
McpClient::~McpClient() { impl_->stop(); }

const McpServerOptions& McpClient::options() const { return impl_->opts; }

Status McpClient::start() {
  auto c = impl_->connection();
  if (!c) return c.error();
  return {};
}

void McpClient::stop() { impl_->stop(); }

bool McpClient::running() const {
  std::lock_guard<std::mutex> lock(impl_->start_mu);
  return impl_->conn && !impl_->conn->dead();
}

pid_t McpClient::pid() const {
  std::lock_guard<std::mutex> lock(impl_->start_mu);
  return impl_->conn && !impl_->conn->dead() ? impl_->conn->pid() : -1;
}

int McpClient::start_count() const {
  std::lock_guard<std::mutex> lock(impl_->start_mu);
  return impl_->starts;
}

std::string McpClient::server_info() const {
  std::lock_guard<std::mutex> lock(impl_->start_mu);
  return impl_->info;
}

std::string McpClient::stderr_tail() const {
  std::lock_guard<std::mutex> lock(impl_->start_mu);
  return impl_->conn ? impl_->conn->stderr_tail() : impl_->last_tail;
}

Result<std::vector<McpToolInfo>> McpClient::list_tools() {
  auto c = impl_->connection();
  if (!c) return c.error();
  std::lock_guard<std::mutex> lock(impl_->tools_mu);
  if (impl_->tools_cached && !(*c)->tools_changed()) return impl_->tools;
  (*c)->clear_tools_changed();
  std::vector<McpToolInfo> out;
  json cursor;
  for (int page = 0;; ++page) {
    if (page >= kMaxListPages)
      return Error("the MCP server '" + impl_->opts.name + "' sent more than " +
                   std::to_string(kMaxListPages) + " pages of tools (a nextCursor loop?)");
    json params = json::object();
    if (!cursor.is_null()) params["cursor"] = cursor;
    auto r = (*c)->request("tools/list", params, impl_->opts.startup_timeout);
    if (!r) return r.error().wrap("listing the tools of the MCP server '" + impl_->opts.name + "'");
    const json& res = *r;
    if (!res.is_object() || !res.contains("tools") || !res["tools"].is_array())
      return Error("the MCP server '" + impl_->opts.name +
                   "' answered tools/list without a 'tools' array: " + snippet(json_text(res)));
    for (auto& t : res["tools"]) {
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
        return Error("the MCP server '" + impl_->opts.name +
                     "' listed a tool without a name: " + snippet(json_text(t)));
      McpToolInfo info;
      info.name = t["name"].get<std::string>();
      info.title = t.contains("title") && t["title"].is_string() ? t["title"].get<std::string>() : "";
      info.description =
          t.contains("description") && t["description"].is_string() ? t["description"].get<std::string>() : "";
      if (t.contains("inputSchema") && t["inputSchema"].is_object())
        info.input_schema = t["inputSchema"];
      out.push_back(std::move(info));
    }
    if (!res.contains("nextCursor") || res["nextCursor"].is_null()) break;
    if (res["nextCursor"].is_string() && res["nextCursor"].get<std::string>().empty()) break;
    cursor = res["nextCursor"];
  }
  impl_->tools = out;
  impl_->tools_cached = true;
  return out;
}

Result<McpCallResult> McpClient::call_tool(const std::string& name, const json& arguments,
                                           std::optional<milliseconds> timeout,
                                           const std::atomic<bool>* cancelled) {
  auto c = impl_->connection();
  if (!c) return c.error();
  milliseconds t = timeout.value_or(impl_->opts.call_timeout);
  json params = {{"name", name}, {"arguments", arguments.is_null() ? json::object() : arguments}};
  auto r = (*c)->request("tools/call", params, t, cancelled);
  if (!r) {
    const std::string& m = r.error().message;
    if (m.rfind("timed out", 0) == 0) {
      impl_->check_alive(*c);
      return Error("the MCP tool '" + name + "' on server '" + impl_->opts.name + "' " + m);
    }
    return r.error();
  }
  const json& res = *r;
  if (!res.is_object())
    return Error("the MCP server '" + impl_->opts.name + "' answered tools/call with " +
                 snippet(json_text(res)) + " (expected an object with 'content')");
  McpCallResult out;
  out.is_error = res.contains("isError") && res["isError"].is_boolean() && res["isError"].get<bool>();
  out.text = mcp_content_text(res);
  out.raw = res;
  return out;
}

}  // namespace rewoo::tools::plugins
