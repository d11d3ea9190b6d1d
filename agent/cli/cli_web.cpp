// rewoo fetch / extract / search: the web tools by hand, for people and
// benchmarks. (rewoo index lives in cli_local.cpp.)
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "agent/cli/commands.h"
#include "engine/base/json_text.h"
#include "engine/base/read_file.h"
#include "tools/html/main_text.h"
#include "tools/http/charset.h"
#include "tools/http/http_client.h"
#include "tools/http/url.h"
#include "tools/web/page_text.h"
#include "tools/web/web_config.h"
#include "tools/web/web_tools.h"

namespace rewoo::cli {

void register_local_commands(CLI::App& app, Context& ctx);  // cli_local.cpp: rewoo index

namespace {

using tools::web::WebConfig;

struct WebFlags {
  std::string config;
  std::vector<std::string> allow;
  std::string cache;
  bool replay = false;
  bool json = false;
  long timeout_ms = 0;
};

void add_web_flags(CLI::App* cmd, WebFlags& f) {
  cmd->add_option("--config", f.config,
                  "YAML file with a `web:` section (default: $REWOO_WEB_CONFIG, else built-in defaults)");
  cmd->add_option("--allow", f.allow,
                  "address range the SSRF guard lets through, e.g. 127.0.0.1/32 (repeatable)");
  cmd->add_option("--cache", f.cache, "cache directory (responses stored by URL)");
  cmd->add_flag("--replay", f.replay, "serve only from the cache; never touch the network");
  cmd->add_option("--timeout-ms", f.timeout_ms,
                  "total time limit per transfer, redirects included (1 to 600000; default: the "
                  "config's, 30000)")
      ->check(CLI::Range(1L, 600000L));
  cmd->add_flag("--json", f.json, "machine-readable output");
}

Result<WebConfig> load_config(const WebFlags& f) {
  WebConfig c;
  if (!f.config.empty()) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(f.config);
    } catch (const YAML::Exception& e) {
      return Error(std::string("cannot read config: ") + e.what(), f.config);
    }
    auto r = WebConfig::from_yaml(root["web"] ? root["web"] : root);
    if (!r) return Error(r.error().message, f.config);
    c = std::move(*r);
  } else {
    auto r = WebConfig::from_env();
    if (!r) return r.error();
    c = std::move(*r);
  }
  for (const auto& a : f.allow) c.http.allow_ranges.push_back(a);
  if (!f.cache.empty()) c.http.cache_dir = f.cache;
  if (f.replay) c.http.replay = true;
  if (f.timeout_ms > 0) c.http.total_timeout_ms = f.timeout_ms;
  return c;
}

int fail(const std::string& msg, bool json) {
  if (json) std::cout << json_text(nlohmann::json{{"ok", false}, {"error", msg}}) << "\n";
  std::fprintf(stderr, "rewoo: %s\n", msg.c_str());
  return 1;
}

void register_fetch(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("fetch", "Fetch a URL through the hardened HTTP client and print its main text");
  auto f = std::make_shared<WebFlags>();
  auto url = std::make_shared<std::string>();
  auto raw = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  cmd->add_option("URL", *url, "http:// or https:// URL")->required();
  cmd->add_flag("--raw", *raw, "print the body as received (after gzip/deflate), not the extracted text");
  cmd->add_flag("--all", *all, "all visible text of an HTML page, not only the main content");
  add_web_flags(cmd, *f);
  cmd->footer(
      "Private, loopback and metadata addresses are refused (exit 1 with the reason) unless\n"
      "--allow or the config's allow_ranges covers them; every redirect hop is checked.\n\n"
      "Examples:\n"
      "  rewoo fetch https://example.com/\n"
      "  rewoo fetch --raw https://example.com/ > page.html\n"
      "  rewoo fetch --allow 127.0.0.1/32 http://127.0.0.1:8000/report.html\n"
      "  rewoo fetch --cache ~/.cache/rewoo/web --replay https://example.com/   # cached copy only");
  cmd->callback([&ctx, f, url, raw, all] {
    auto config = load_config(*f);
    if (!config) {
      ctx.exit_code = 2;
      std::fprintf(stderr, "rewoo: %s\n", config.error().to_string().c_str());
      return;
    }
    auto client = tools::http::HttpClient::create(config->http);
    if (!client) {
      ctx.exit_code = 2;
      std::fprintf(stderr, "rewoo: %s\n", client.error().to_string().c_str());
      return;
    }
    auto r = (*client)->get(*url);
    if (!r) {
      ctx.exit_code = fail(r.error().message, f->json);
      return;
    }
    if (*raw) {
      if (f->json) {
        auto dec = tools::http::decode_to_utf8(r->body, r->content_type, true);
        std::cout << json_text(nlohmann::json{{"ok", true},
                                              {"url", r->final_url},
                                              {"status", r->status},
                                              {"content_type", r->content_type},
                                              {"body", dec.text}})
                  << "\n";
      } else {
        std::cout.write(r->body.data(), static_cast<std::streamsize>(r->body.size()));
      }
      return;
    }
    auto t = tools::web::page_text(*r, !*all);
    if (!t) {
      std::string msg = "fetch ";
      msg.append(*url).append(": ").append(t.error().message);
      ctx.exit_code = fail(msg, f->json);
      return;
    }
    if (f->json) {
      std::cout << json_text(nlohmann::json{{"ok", true},
                                            {"url", r->final_url},
                                            {"status", r->status},
                                            {"content_type", r->content_type},
                                            {"charset", t->charset},
                                            {"title", t->title},
                                            {"text", t->text},
                                            {"redirects", r->redirects},
                                            {"from_cache", r->from_cache}})
                << "\n";
      return;
    }
    std::fprintf(stderr, "%d %s (%s, %zu bytes%s)\n", r->status, r->final_url.c_str(), r->content_type.c_str(),
                 r->body.size(), r->from_cache ? ", from cache" : "");
    if (!t->title.empty()) std::cout << t->title << "\n\n";
    std::cout << t->text << "\n";
  });
}

void register_extract(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("extract", "Print the main text (or the links) of an HTML document");
  auto file = std::make_shared<std::string>("-");
  auto base = std::make_shared<std::string>();
  auto links = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  cmd->add_option("FILE", *file, "HTML file, or - for stdin (default)");
  cmd->add_option("--url", *base, "the page's URL, to resolve relative links");
  cmd->add_flag("--links", *links, "print the page's links (resolved against --url), one per line");
  cmd->add_flag("--all", *all, "all visible text, not only the main content");
  cmd->add_flag("--json", *json, "machine-readable output");
  cmd->footer(
      "The charset comes from a BOM, a <meta> declaration or detection; output is UTF-8.\n\n"
      "Examples:\n"
      "  rewoo extract page.html\n"
      "  curl -s https://example.com/ | rewoo extract - --links --url https://example.com/\n"
      "  zcat ../shared/data/html/article-extraction-dev/html/<id>.html.gz | rewoo extract");
  cmd->callback([&ctx, file, base, links, all, json] {
    if (!base->empty()) {
      if (auto u = tools::http::parse_http_url(*base); !u) {
        std::fprintf(stderr, "rewoo extract: --url: %s\n", u.error().to_string().c_str());
        ctx.exit_code = 2;
        return;
      }
    }
    auto read = read_whole_file(*file, "the HTML file");
    if (!read) {
      std::fprintf(stderr, "rewoo extract: %s\n", read.error().to_string().c_str());
      ctx.exit_code = 2;
      return;
    }
    std::string html = std::move(*read);
    auto dec = tools::http::decode_to_utf8(html, "", true);
    if (*links) {
      auto l = tools::html::extract_links(dec.text, *base);
      if (*json) {
        std::cout << json_text(nlohmann::json{{"links", l}}) << "\n";
      } else {
        for (const auto& u : l) std::cout << u << "\n";
      }
      return;
    }
    auto page = tools::html::extract_main_text(dec.text, {!*all});
    if (*json) {
      std::cout << json_text(nlohmann::json{
                       {"title", page.title}, {"text", page.text}, {"charset", dec.charset}})
                << "\n";
      return;
    }
    std::cout << page.text << "\n";
  });
}

void register_search(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("search", "Web search with the DuckDuckGo tool's configured backend");
  auto f = std::make_shared<WebFlags>();
  auto query = std::make_shared<std::vector<std::string>>();
  auto backend = std::make_shared<std::string>();
  auto url = std::make_shared<std::string>();
  auto max = std::make_shared<int>(0);
  cmd->add_option("QUERY", *query, "the search words")->required();
  cmd->add_option("--backend", *backend, "duckduckgo (HTML endpoint) or searxng (JSON API)");
  cmd->add_option("--url", *url, "search endpoint, e.g. https://html.duckduckgo.com/html/ or http://host/search");
  cmd->add_option("--max", *max, "at most this many results");
  add_web_flags(cmd, *f);
  cmd->footer(
      "Prints the same numbered list (title, URL, snippet) that a plan's DuckDuckGo[...] step gets.\n\n"
      "Examples:\n"
      "  rewoo search nobel prize physics 2023\n"
      "  rewoo search --backend searxng --url http://localhost:8888/search --allow 127.0.0.1/32 rust async\n"
      "  rewoo search --json \"gptq quantization\"");
  cmd->callback([&ctx, f, query, backend, url, max] {
    auto config = load_config(*f);
    if (!config) {
      ctx.exit_code = 2;
      std::fprintf(stderr, "rewoo: %s\n", config.error().to_string().c_str());
      return;
    }
    if (!backend->empty()) config->search_backend = *backend;
    if (!url->empty()) config->search_url = *url;
    if (*max > 0) config->max_results = *max;
    std::string q;
    for (const auto& w : *query) {
      if (!q.empty()) q.push_back(' ');
      q.append(w);
    }
    auto r = tools::web::web_search(*config, q);
    if (!r) {
      ctx.exit_code = fail(r.error().message, f->json);
      return;
    }
    if (f->json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& s : *r) arr.push_back({{"title", s.title}, {"url", s.url}, {"snippet", s.snippet}});
      std::cout << json_text(nlohmann::json{{"ok", true}, {"query", q}, {"results", arr}}) << "\n";
      return;
    }
    if (r->empty()) {
      std::cout << "No results for: " << q << "\n";
      return;
    }
    std::cout << tools::web::format_results(*r) << "\n";
  });
}

}  // namespace

void register_web_commands(CLI::App& app, Context& ctx) {
  register_fetch(app, ctx);
  register_extract(app, ctx);
  register_search(app, ctx);
  register_local_commands(app, ctx);
}

}  // namespace rewoo::cli
