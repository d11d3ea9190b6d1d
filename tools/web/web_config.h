// WebConfig: every setting of the web tools (search, TextScraper, fetch) and
// of the HTTP client under them, with safe defaults.
//
// From YAML (the `web:` section of rewoo's config file; tools/config calls
// from_yaml on it):
//
//   web:
//     search: {backend: duckduckgo, url: "https://html.duckduckgo.com/html/", max_results: 8}
//     # or offline, over a folder indexed with `rewoo index` (tools/local):
//     # search: {backend: local, dir: tests/data/demo/corpus, db: ..., max_results: 5}
//     timeouts: {connect_ms: 10000, total_ms: 30000, low_speed_bytes: 512, low_speed_seconds: 10}
//     max_body_bytes: 8388608
//     max_redirects: 5
//     allow_ranges: ["127.0.0.1/32"]     # exempt from the SSRF guard (tests, intranets)
//     user_agent: "rewoo/0.1"
//     concurrency: {total: 16, per_host: 4}
//     cache: {dir: ~/.cache/rewoo/web, ttl_seconds: 86400, replay: false}
//     text: {page_chars: 20000, total_chars: 60000}
//
// Without a config file, the environment can point at one: REWOO_WEB_CONFIG
// names a YAML file (with a `web:` section or the keys at its top level), and
// REWOO_SEARCH_URL / REWOO_SEARCH_BACKEND / REWOO_LOCAL_DIR / REWOO_LOCAL_DB /
// REWOO_WEB_ALLOW (comma-separated
// ranges) / REWOO_WEB_CACHE / REWOO_WEB_REPLAY=1 override single keys.
#pragma once

#include <string>
#include <vector>

#include "engine/base/result.h"
#include "tools/http/http_client.h"

namespace YAML {
class Node;
}

namespace rewoo::tools::web {

struct WebConfig {
  http::HttpOptions http;                 // timeouts, caps, guard ranges, cache, replay, ...
  std::string search_backend = "duckduckgo";  // "duckduckgo", "searxng" or "local"
  std::string search_url = "https://html.duckduckgo.com/html/";
  int max_results = 8;                    // the local backend defaults to 5
  std::string local_dir;  // local backend: the document folder (search.dir, REWOO_LOCAL_DIR)
  std::string local_db;   // local backend: its index (search.db; default DIR/.rewoo-index.db)
  size_t page_text_chars = 20000;   // TextScraper: per page
  size_t total_text_chars = 60000;  // TextScraper: all pages together

  // Reads the keys above from a `web:` node; unknown keys are an error
  // naming them (a typo must not silently drop a safety setting).
  static Result<WebConfig> from_yaml(const YAML::Node& node);
  // Defaults, then REWOO_WEB_CONFIG's file, then the single-key variables.
  static Result<WebConfig> from_env();
};

}  // namespace rewoo::tools::web
