#include "tools/web/web_config.h"

#include <cstdlib>
#include <set>

#include <yaml-cpp/yaml.h>

#include "tools/http/address_guard.h"

namespace rewoo::tools::web {

namespace {

Status check_keys(const YAML::Node& n, const std::string& where, const std::set<std::string>& known) {
  if (!n.IsMap()) return Error("web config: '" + where + "' must be a mapping");
  for (const auto& kv : n) {
    std::string k = kv.first.as<std::string>();
    if (!known.count(k)) {
      std::string list;
      for (const auto& s : known) list += (list.empty() ? "" : ", ") + s;
      return Error("web config: unknown key '" + where + (where.empty() ? "" : ".") + k +
                   "' (known: " + list + ")");
    }
  }
  return {};
}

template <class T>
Status read(const YAML::Node& n, const char* key, T* out, const std::string& where) {
  if (!n[key]) return {};
  try {
    *out = n[key].as<T>();
  } catch (const YAML::Exception&) {
    return Error("web config: '" + where + key + "' has the wrong type");
  }
  return {};
}

std::string expand_home(std::string p) {
  if (!p.empty() && p[0] == '~') {
    const char* home = std::getenv("HOME");
    if (home) p = std::string(home) + p.substr(1);
  }
  return p;
}

}  // namespace

Result<WebConfig> WebConfig::from_yaml(const YAML::Node& node) {
  WebConfig c;
  if (!node || node.IsNull()) return c;
  REWOO_TRY(check_keys(node, "", {"search", "timeouts", "max_body_bytes", "max_redirects", "allow_ranges",
                                  "user_agent", "concurrency", "cache", "text"}));
  if (auto s = node["search"]) {
    REWOO_TRY(check_keys(s, "search", {"backend", "url", "max_results", "dir", "db"}));
    REWOO_TRY(read(s, "backend", &c.search_backend, "search."));
    REWOO_TRY(read(s, "url", &c.search_url, "search."));
    REWOO_TRY(read(s, "max_results", &c.max_results, "search."));
    REWOO_TRY(read(s, "dir", &c.local_dir, "search."));
    REWOO_TRY(read(s, "db", &c.local_db, "search."));
    c.local_dir = expand_home(c.local_dir);
    c.local_db = expand_home(c.local_db);
    if (c.search_backend == "local" && !s["max_results"]) c.max_results = 5;
    if (c.search_backend != "duckduckgo" && c.search_backend != "searxng" && c.search_backend != "local")
      return Error("web config: search.backend must be duckduckgo, searxng or local, not '" + c.search_backend + "'");
  }
  if (auto t = node["timeouts"]) {
    REWOO_TRY(check_keys(t, "timeouts", {"connect_ms", "total_ms", "low_speed_bytes", "low_speed_seconds"}));
    REWOO_TRY(read(t, "connect_ms", &c.http.connect_timeout_ms, "timeouts."));
    REWOO_TRY(read(t, "total_ms", &c.http.total_timeout_ms, "timeouts."));
    REWOO_TRY(read(t, "low_speed_bytes", &c.http.low_speed_bytes, "timeouts."));
    REWOO_TRY(read(t, "low_speed_seconds", &c.http.low_speed_seconds, "timeouts."));
  }
  REWOO_TRY(read(node, "max_body_bytes", &c.http.max_body_bytes, ""));
  REWOO_TRY(read(node, "max_redirects", &c.http.max_redirects, ""));
  REWOO_TRY(read(node, "allow_ranges", &c.http.allow_ranges, ""));
  REWOO_TRY(read(node, "user_agent", &c.http.user_agent, ""));
  if (auto k = node["concurrency"]) {
    REWOO_TRY(check_keys(k, "concurrency", {"total", "per_host"}));
    REWOO_TRY(read(k, "total", &c.http.max_concurrency, "concurrency."));
    REWOO_TRY(read(k, "per_host", &c.http.per_host_concurrency, "concurrency."));
  }
  if (auto k = node["cache"]) {
    REWOO_TRY(check_keys(k, "cache", {"dir", "ttl_seconds", "replay"}));
    REWOO_TRY(read(k, "dir", &c.http.cache_dir, "cache."));
    REWOO_TRY(read(k, "ttl_seconds", &c.http.cache_ttl_seconds, "cache."));
    REWOO_TRY(read(k, "replay", &c.http.replay, "cache."));
    c.http.cache_dir = expand_home(c.http.cache_dir);
  }
  if (auto k = node["text"]) {
    REWOO_TRY(check_keys(k, "text", {"page_chars", "total_chars"}));
    REWOO_TRY(read(k, "page_chars", &c.page_text_chars, "text."));
    REWOO_TRY(read(k, "total_chars", &c.total_text_chars, "text."));
  }
  if (c.http.max_redirects < 0 || c.http.max_redirects > 50)
    return Error("web config: max_redirects must be between 0 and 50");
  if (c.http.connect_timeout_ms <= 0 || c.http.total_timeout_ms <= 0)
    return Error("web config: timeouts must be positive");
  for (const auto& r : c.http.allow_ranges) {
    auto range = http::IpRange::parse(r);
    if (!range) return range.error().wrap("web config allow_ranges");
  }
  return c;
}

Result<WebConfig> WebConfig::from_env() {
  WebConfig c;
  if (const char* path = std::getenv("REWOO_WEB_CONFIG"); path && *path) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
      return Error(std::string("cannot read web config: ") + e.what(), path);
    }
    auto r = from_yaml(root["web"] ? root["web"] : root);
    if (!r) return Error(r.error().message, path);
    c = std::move(*r);
  }
  if (const char* v = std::getenv("REWOO_SEARCH_URL"); v && *v) c.search_url = v;
  if (const char* v = std::getenv("REWOO_SEARCH_BACKEND"); v && *v) {
    if (std::string(v) == "local" && c.search_backend != "local" && c.max_results == 8) c.max_results = 5;
    c.search_backend = v;
  }
  if (const char* v = std::getenv("REWOO_LOCAL_DIR"); v && *v) c.local_dir = v;
  if (const char* v = std::getenv("REWOO_LOCAL_DB"); v && *v) c.local_db = v;
  if (const char* v = std::getenv("REWOO_WEB_CACHE"); v && *v) c.http.cache_dir = expand_home(v);
  if (const char* v = std::getenv("REWOO_WEB_REPLAY"); v && std::string(v) == "1") c.http.replay = true;
  if (const char* v = std::getenv("REWOO_WEB_ALLOW"); v && *v) {
    std::string s = v;
    size_t i = 0;
    while (i <= s.size()) {
      size_t comma = s.find(',', i);
      if (comma == std::string::npos) comma = s.size();
      std::string r = s.substr(i, comma - i);
      if (!r.empty()) {
        auto range = http::IpRange::parse(r);
        if (!range) return range.error().wrap("REWOO_WEB_ALLOW");
        c.http.allow_ranges.push_back(r);
      }
      i = comma + 1;
    }
  }
  return c;
}

}  // namespace rewoo::tools::web
