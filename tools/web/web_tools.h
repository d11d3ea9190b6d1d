// The web tools a plan calls: DuckDuckGo[query] (web search over DuckDuckGo's
// HTML endpoint or a SearxNG instance's JSON API) and TextScraper[urls] (the
// main text of each page, fetched concurrently). Both fetch through the
// hardened HttpClient with the WebConfig they are built with.
#pragma once

#include <string>
#include <vector>

#include "engine/base/result.h"
#include "tools/tool.h"
#include "tools/web/web_config.h"

namespace rewoo::tools::web {

struct SearchResult {
  std::string title, url, snippet;
};

// Parses DuckDuckGo's HTML results page: div.result blocks, a.result__a links
// whose href is //duckduckgo.com/l/?uddg=<target>, .result__snippet. Ads
// (result--ad, y.js links) are skipped. `page_url` resolves relative hrefs.
std::vector<SearchResult> parse_duckduckgo_html(const std::string& html, const std::string& page_url);
// Parses a SearxNG /search?format=json reply.
Result<std::vector<SearchResult>> parse_searxng_json(const std::string& json);
// The evidence text: "1. Title\n   URL\n   snippet", one blank line between.
std::string format_results(const std::vector<SearchResult>& results);

// Runs a search with the configured backend.
Result<std::vector<SearchResult>> web_search(const WebConfig& config, const std::string& query,
                                             const std::atomic<bool>* cancelled = nullptr);

class SearchTool : public Tool {
 public:
  explicit SearchTool(WebConfig config) : config_(std::move(config)) {}
  std::string name() const override { return "DuckDuckGo"; }
  std::string description() const override;
  std::string input_description() const override { return "a search query"; }
  ToolResult invoke(const std::string& input, const ToolContext& ctx) override;

 private:
  WebConfig config_;
};

class TextScraperTool : public Tool {
 public:
  explicit TextScraperTool(WebConfig config) : config_(std::move(config)) {}
  std::string name() const override { return "TextScraper"; }
  std::string description() const override;
  std::string input_description() const override { return "newline-separated URLs"; }
  ToolResult invoke(const std::string& input, const ToolContext& ctx) override;

 private:
  WebConfig config_;
};

}  // namespace rewoo::tools::web
