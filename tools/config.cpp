#include "tools/config.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

namespace rewoo::tools {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Reading context: the file name for error locations and its folder.
struct Reader {
  std::string path;
  std::string dir;

  std::string where(const YAML::Node& n, const std::string& key_path) const {
    std::string loc = path.empty() ? "config" : path;
    if (n && n.Mark().line >= 0)
      loc += ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
    return loc + " (" + key_path + ")";
  }

  Error err(const YAML::Node& n, const std::string& key_path, const std::string& msg) const {
    return Error(msg, where(n, key_path));
  }

  // ${VAR} from the environment, ${CONFIG_DIR} = the file's folder.
  Result<std::string> expand(const std::string& s, const YAML::Node& n,
                             const std::string& key_path) const {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
      size_t p = s.find("${", i);
      if (p == std::string::npos) {
        out += s.substr(i);
        break;
      }
      out += s.substr(i, p - i);
      size_t e = s.find('}', p + 2);
      if (e == std::string::npos)
        return err(n, key_path, "unterminated '${' in '" + s + "' (expected ${NAME})");
      std::string var = s.substr(p + 2, e - p - 2);
      if (var == "CONFIG_DIR") {
        out += dir.empty() ? "." : dir;
      } else if (const char* v = std::getenv(var.c_str())) {
        out += v;
      } else {
        return err(n, key_path, "the environment variable '" + var + "' used in '" + s +
                                    "' is not set");
      }
      i = e + 1;
    }
    return out;
  }

  Result<std::string> str(const YAML::Node& n, const std::string& key_path) const {
    if (!n.IsScalar()) return err(n, key_path, "expected a string");
    return expand(n.Scalar(), n, key_path);
  }

  Result<std::vector<std::string>> str_list(const YAML::Node& n, const std::string& key_path) const {
    if (!n.IsSequence()) return err(n, key_path, "expected a list of strings");
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i) {
      auto s = str(n[i], key_path + "[" + std::to_string(i) + "]");
      if (!s) return s.error();
      out.push_back(*s);
    }
    return out;
  }

  Result<std::map<std::string, std::string>> str_map(const YAML::Node& n,
                                                     const std::string& key_path) const {
    if (!n.IsMap()) return err(n, key_path, "expected a map of NAME: value");
    std::map<std::string, std::string> out;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.Scalar();
      auto v = str(it->second, key_path + "." + k);
      if (!v) return v.error();
      out[k] = *v;
    }
    return out;
  }

  Result<long long> integer(const YAML::Node& n, const std::string& key_path, long long min) const {
    long long v = 0;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v))
      return err(n, key_path, "expected a whole number");
    if (v < min) return err(n, key_path, "expected a number >= " + std::to_string(min));
    return v;
  }

  Result<std::chrono::milliseconds> millis(const YAML::Node& n, const std::string& key_path) const {
    auto v = integer(n, key_path, 1);
    if (!v) return v.error();
    return std::chrono::milliseconds(*v);
  }

  // A path relative to the config file's folder.
  std::string resolve(const std::string& p) const {
    if (p.empty() || fs::path(p).is_absolute() || dir.empty()) return p;
    return (fs::path(dir) / p).lexically_normal().string();
  }

  // A command: a bare name stays a PATH lookup, anything with '/' is a path.
  std::string resolve_command(const std::string& c) const {
    return c.find('/') == std::string::npos ? c : resolve(c);
  }
};

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_key(const std::string& k, const std::set<std::string>& allowed) {
  std::string best;
  size_t best_d = 3;  // at most two edits away
  for (auto& a : allowed) {
    size_t d = edit_distance(k, a);
    if (d < best_d) best_d = d, best = a;
  }
  return best;
}

Status check_keys(const Reader& r, const YAML::Node& n, const std::string& key_path,
                  const std::set<std::string>& allowed) {
  if (!n.IsMap()) return r.err(n, key_path, "expected a map");
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string k = it->first.Scalar();
    if (allowed.count(k)) continue;
    std::string list;
    for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    std::string hint = nearest_key(k, allowed);
    return r.err(it->first, key_path, "unknown key '" + k + "'" +
                                          (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                                          "; expected one of: " + list);
  }
  return {};
}

// YAML to JSON for parameter schemas. Plain scalars become numbers, booleans
// or null when they read as one; quoted scalars stay strings.
json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json o = json::object();
      for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = yaml_to_json(it->second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (auto& e : n) a.push_back(yaml_to_json(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "?") {
        long long i;
        double d;
        bool b;
        if (YAML::convert<long long>::decode(n, i)) return i;
        if (YAML::convert<double>::decode(n, d)) return d;
        if (YAML::convert<bool>::decode(n, b)) return b;
        if (s == "null" || s == "~") return nullptr;
      }
      return s;
    }
    default:
      return nullptr;
  }
}

Result<std::optional<json>> schema_of(const Reader& r, const YAML::Node& n,
                                      const std::string& key_path) {
  json j;
  if (n.IsScalar()) {
    // A JSON text (e.g. a block scalar).
    j = json::parse(n.Scalar(), nullptr, false);
    if (j.is_discarded()) return r.err(n, key_path, "expected a JSON Schema (YAML map or JSON text)");
  } else {
    j = yaml_to_json(n);
  }
  if (!j.is_object()) return r.err(n, key_path, "expected a JSON Schema object");
  return std::optional<json>(j);
}

Status read_limits(const Reader& r, const YAML::Node& n, Limits& l) {
  REWOO_TRY(check_keys(r, n, "limits",
                       {"tool_timeout_ms", "max_output_bytes", "max_message_bytes",
                        "startup_timeout_ms"}));
  if (n["tool_timeout_ms"]) {
    auto v = r.millis(n["tool_timeout_ms"], "limits.tool_timeout_ms");
    if (!v) return v.error();
    l.tool_timeout = *v;
  }
  if (n["startup_timeout_ms"]) {
    auto v = r.millis(n["startup_timeout_ms"], "limits.startup_timeout_ms");
    if (!v) return v.error();
    l.startup_timeout = *v;
  }
  if (n["max_output_bytes"]) {
    auto v = r.integer(n["max_output_bytes"], "limits.max_output_bytes", 1);
    if (!v) return v.error();
    l.max_output_bytes = static_cast<size_t>(*v);
  }
  if (n["max_message_bytes"]) {
    auto v = r.integer(n["max_message_bytes"], "limits.max_message_bytes", 1024);
    if (!v) return v.error();
    l.max_message_bytes = static_cast<size_t>(*v);
  }
  return {};
}

#define REWOO_READ(dst, expr)        \
  do {                               \
    auto rewoo_v_ = (expr);          \
    if (!rewoo_v_) return rewoo_v_.error(); \
    dst = std::move(*rewoo_v_);      \
  } while (0)

Status read_mcp(const Reader& r, const YAML::Node& n, const std::string& kp, McpServerConfig& s) {
  REWOO_TRY(check_keys(r, n, kp,
                       {"name", "command", "args", "env", "env_allowlist", "cwd", "prefix",
                        "include", "timeout_ms", "startup_timeout_ms"}));
  if (!n["name"]) return r.err(n, kp, "an MCP server needs a 'name'");
  if (!n["command"]) return r.err(n, kp, "an MCP server needs a 'command' to start it");
  REWOO_READ(s.name, r.str(n["name"], kp + ".name"));
  REWOO_READ(s.command, r.str(n["command"], kp + ".command"));
  s.command = r.resolve_command(s.command);
  if (n["args"]) REWOO_READ(s.args, r.str_list(n["args"], kp + ".args"));
  if (n["env"]) REWOO_READ(s.env, r.str_map(n["env"], kp + ".env"));
  if (n["env_allowlist"]) REWOO_READ(s.env_allowlist, r.str_list(n["env_allowlist"], kp + ".env_allowlist"));
  if (n["cwd"]) {
    REWOO_READ(s.cwd, r.str(n["cwd"], kp + ".cwd"));
    s.cwd = r.resolve(s.cwd);
  }
  if (n["prefix"]) {
    REWOO_READ(s.prefix, r.str(n["prefix"], kp + ".prefix"));
  } else {
    s.prefix = s.name + ".";
  }
  if (n["include"]) REWOO_READ(s.include, r.str_list(n["include"], kp + ".include"));
  if (n["timeout_ms"]) REWOO_READ(s.timeout, r.millis(n["timeout_ms"], kp + ".timeout_ms"));
  if (n["startup_timeout_ms"])
    REWOO_READ(s.startup_timeout, r.millis(n["startup_timeout_ms"], kp + ".startup_timeout_ms"));
  return {};
}

Status read_command(const Reader& r, const YAML::Node& n, const std::string& kp,
                    CommandToolConfig& c) {
  REWOO_TRY(check_keys(r, n, kp,
                       {"name", "description", "input_description", "command", "args", "input",
                        "parameters", "timeout_ms", "env", "env_allowlist", "cwd",
                        "max_output_bytes"}));
  for (const char* k : {"name", "description", "command"})
    if (!n[k]) return r.err(n, kp, std::string("a command tool needs '") + k + "'");
  REWOO_READ(c.name, r.str(n["name"], kp + ".name"));
  REWOO_READ(c.description, r.str(n["description"], kp + ".description"));
  REWOO_READ(c.command, r.str(n["command"], kp + ".command"));
  c.command = r.resolve_command(c.command);
  if (n["input_description"])
    REWOO_READ(c.input_description, r.str(n["input_description"], kp + ".input_description"));
  if (n["args"]) REWOO_READ(c.args, r.str_list(n["args"], kp + ".args"));
  if (n["input"]) {
    std::string mode;
    REWOO_READ(mode, r.str(n["input"], kp + ".input"));
    if (mode == "stdin")
      c.input = CommandToolConfig::Input::kStdin;
    else if (mode == "argument" || mode == "arg")
      c.input = CommandToolConfig::Input::kArgument;
    else
      return r.err(n["input"], kp + ".input",
                   "expected 'stdin' or 'argument', got '" + mode + "'");
  }
  if (n["parameters"]) REWOO_READ(c.parameters_schema, schema_of(r, n["parameters"], kp + ".parameters"));
  if (n["timeout_ms"]) REWOO_READ(c.timeout, r.millis(n["timeout_ms"], kp + ".timeout_ms"));
  if (n["env"]) REWOO_READ(c.env, r.str_map(n["env"], kp + ".env"));
  if (n["env_allowlist"]) REWOO_READ(c.env_allowlist, r.str_list(n["env_allowlist"], kp + ".env_allowlist"));
  if (n["cwd"]) {
    REWOO_READ(c.cwd, r.str(n["cwd"], kp + ".cwd"));
    c.cwd = r.resolve(c.cwd);
  }
  if (n["max_output_bytes"]) {
    long long v;
    REWOO_READ(v, r.integer(n["max_output_bytes"], kp + ".max_output_bytes", 1));
    c.max_output_bytes = static_cast<size_t>(v);
  }
  return {};
}

Status read_library(const Reader& r, const YAML::Node& n, const std::string& kp,
                    LibraryToolConfig& l) {
  REWOO_TRY(check_keys(r, n, kp, {"path", "name", "timeout_ms"}));
  if (!n["path"]) return r.err(n, kp, "a library tool needs a 'path' to its .so file");
  REWOO_READ(l.path, r.str(n["path"], kp + ".path"));
  l.path = r.resolve(l.path);
  if (n["name"]) REWOO_READ(l.name, r.str(n["name"], kp + ".name"));
  if (n["timeout_ms"]) REWOO_READ(l.timeout, r.millis(n["timeout_ms"], kp + ".timeout_ms"));
  return {};
}

template <class T, class Fn>
Status read_list(const Reader& r, const YAML::Node& n, const std::string& kp, std::vector<T>& out,
                 Fn fn) {
  if (!n.IsSequence()) return r.err(n, kp, "expected a list (each entry starting with '- ')");
  for (size_t i = 0; i < n.size(); ++i) {
    T item;
    REWOO_TRY(fn(r, n[i], kp + "[" + std::to_string(i) + "]", item));
    out.push_back(std::move(item));
  }
  return {};
}

}  // namespace

YAML::Node Config::section(const std::string& key) const {
  auto it = sections.find(key);
  return it == sections.end() ? YAML::Node() : it->second;
}

Result<Config> parse_config(const std::string& yaml_text, const std::string& path) {
  Config cfg;
  cfg.path = path;
  if (!path.empty()) {
    std::error_code ec;
    fs::path abs = fs::absolute(path, ec);
    cfg.dir = (ec ? fs::path(path) : abs).parent_path().lexically_normal().string();
  }
  Reader r{path, cfg.dir};
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Error("invalid YAML: " + e.msg + " (line " + std::to_string(e.mark.line + 1) +
                     ", column " + std::to_string(e.mark.column + 1) + ")",
                 path.empty() ? "config" : path);
  }
  if (root.IsNull()) return cfg;  // an empty file: the defaults
  if (!root.IsMap()) return r.err(root, "top level", "expected a map of sections (limits, plugins, ...)");
  for (auto it = root.begin(); it != root.end(); ++it) cfg.sections[it->first.Scalar()] = it->second;

  if (auto n = root["limits"]) REWOO_TRY(read_limits(r, n, cfg.limits));
  if (auto n = root["plugins"]) {
    REWOO_TRY(check_keys(r, n, "plugins", {"mcp_servers", "commands", "libraries"}));
    if (auto m = n["mcp_servers"]) REWOO_TRY(read_list(r, m, "plugins.mcp_servers", cfg.mcp_servers, read_mcp));
    if (auto m = n["commands"]) REWOO_TRY(read_list(r, m, "plugins.commands", cfg.commands, read_command));
    if (auto m = n["libraries"]) REWOO_TRY(read_list(r, m, "plugins.libraries", cfg.libraries, read_library));
  }
  if (auto n = root["tools"]) {
    REWOO_TRY(check_keys(r, n, "tools", {"disable"}));
    if (auto d = n["disable"]) REWOO_READ(cfg.disabled_tools, r.str_list(d, "tools.disable"));
  }
  if (auto n = root["web"]) cfg.web = n;

  std::set<std::string> names;
  for (auto& s : cfg.mcp_servers)
    if (!names.insert(s.name).second)
      return Error("two MCP servers are named '" + s.name + "'", path.empty() ? "config" : path);
  return cfg;
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error("cannot read the configuration file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

CLI::Option* add_config_option(CLI::App& app, std::string* path) {
  return app.add_option("--config", *path,
                        "YAML configuration file (tools, plugins, limits); default $REWOO_CONFIG")
      ->type_name("FILE");
}

Result<Config> load_config_for_cli(const std::string& path) {
  if (!path.empty()) return load_config(path);
  if (const char* env = std::getenv("REWOO_CONFIG"); env && *env) {
    auto c = load_config(env);
    if (!c) return c.error().wrap("$REWOO_CONFIG");
    return c;
  }
  return Config{};
}

}  // namespace rewoo::tools
