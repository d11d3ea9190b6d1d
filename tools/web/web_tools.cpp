#include "tools/web/web_tools.h"

#include <algorithm>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "tools/html/html_dom.h"
#include "tools/html/main_text.h"
#include "tools/http/charset.h"
#include "tools/http/url.h"
#include "tools/local/local_backend.h"
#include "tools/web/page_text.h"

namespace rewoo::tools::web {

namespace {

using html::HtmlDocument;
using html::Node;
using html::Tag;

constexpr size_t kMaxScrapeUrls = 20;

bool has_class(const Node& n, const std::string& cls) {
  const std::string* c = n.attr("class");
  if (!c) return false;
  size_t i = 0;
  while (i < c->size()) {
    size_t e = c->find_first_of(" \t\n", i);
    if (e == std::string::npos) e = c->size();
    if (c->compare(i, e - i, cls) == 0) return true;
    i = e + 1;
  }
  return false;
}

bool within(const HtmlDocument& d, int node, int ancestor) {
  for (int p = node; p >= 0; p = d.node(p).parent)
    if (p == ancestor) return true;
  return false;
}

// DuckDuckGo wraps targets as //duckduckgo.com/l/?uddg=<percent-encoded>&rut=...
std::string unwrap_ddg(const std::string& href, const std::string& page_url) {
  auto abs = http::resolve_url(page_url.empty() ? "https://duckduckgo.com/" : page_url, href);
  if (!abs) return {};
  const std::string& u = *abs;
  size_t q = u.find('?');
  if (u.find("/y.js") != std::string::npos) return {};  // ads
  if (q != std::string::npos && u.find("/l/") != std::string::npos) {
    std::string query = u.substr(q + 1);
    size_t i = 0;
    while (i <= query.size()) {
      size_t amp = query.find('&', i);
      if (amp == std::string::npos) amp = query.size();
      std::string kv = query.substr(i, amp - i);
      if (kv.rfind("uddg=", 0) == 0) {
        std::string target = http::url_decode(kv.substr(5), true);
        auto p = http::parse_http_url(target);
        return p ? target : std::string();
      }
      i = amp + 1;
    }
    return {};
  }
  return u;
}

std::vector<std::string> urls_in(const std::string& input) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  size_t i = 0;
  while (i < input.size()) {
    size_t e = input.find_first_of(" \t\r\n,", i);
    if (e == std::string::npos) e = input.size();
    std::string tok = input.substr(i, e - i);
    while (!tok.empty() && (tok.back() == '.' || tok.back() == ')' || tok.back() == ']' || tok.back() == '>'))
      tok.pop_back();
    while (!tok.empty() && (tok.front() == '<' || tok.front() == '(' || tok.front() == '['))
      tok.erase(0, 1);
    if (tok.rfind("http://", 0) == 0 || tok.rfind("https://", 0) == 0)
      if (seen.insert(tok).second) out.push_back(tok);
    i = e + 1;
  }
  return out;
}

}  // namespace

std::vector<SearchResult> parse_duckduckgo_html(const std::string& page, const std::string& page_url) {
  std::vector<SearchResult> out;
  auto dec = http::decode_to_utf8(page, "", true);
  HtmlDocument d = HtmlDocument::parse(dec.text);
  std::unordered_set<std::string> seen;
  for (int i = 0; i < d.size(); ++i) {
    const Node& n = d.node(i);
    if (n.tag != Tag::kDiv || !has_class(n, "result")) continue;
    if (has_class(n, "result--ad")) continue;
    SearchResult r;
    int end = i + 1;
    while (end < d.size() && within(d, end, i)) ++end;  // the block's nodes are contiguous
    for (int k = i + 1; k < end; ++k) {
      const Node& c = d.node(k);
      if (c.tag == Tag::kA && has_class(c, "result__a") && r.url.empty()) {
        const std::string* href = c.attr("href");
        if (href) r.url = unwrap_ddg(*href, page_url);
        r.title = html::collapse_whitespace(d.text_of(k));
      } else if (has_class(c, "result__snippet") && r.snippet.empty()) {
        r.snippet = html::collapse_whitespace(d.text_of(k));
      }
    }
    i = end - 1;
    if (r.url.empty() || !seen.insert(r.url).second) continue;
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<SearchResult>> parse_searxng_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Error("SearxNG reply is not a JSON object");
  if (!j.contains("results") || !j["results"].is_array())
    return Error("SearxNG reply has no 'results' array (is format=json enabled on the instance?)");
  std::vector<SearchResult> out;
  for (const auto& r : j["results"]) {
    if (!r.is_object() || !r.contains("url") || !r["url"].is_string()) continue;
    SearchResult s;
    s.url = r["url"].get<std::string>();
    if (!http::parse_http_url(s.url)) continue;
    if (r.contains("title") && r["title"].is_string()) s.title = html::collapse_whitespace(r["title"].get<std::string>());
    if (r.contains("content") && r["content"].is_string()) s.snippet = html::collapse_whitespace(r["content"].get<std::string>());
    out.push_back(std::move(s));
  }
  return out;
}

std::string format_results(const std::vector<SearchResult>& results) {
  std::string out;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (i) out += "\n\n";
    out += std::to_string(i + 1) + ". " + (r.title.empty() ? r.url : r.title) + "\n   " + r.url;
    if (!r.snippet.empty()) out += "\n   " + r.snippet;
  }
  return out;
}

Result<std::vector<SearchResult>> web_search(const WebConfig& config, const std::string& query,
                                             const std::atomic<bool>* cancelled) {
  std::string q = html::collapse_whitespace(query);
  if (q.empty()) return Error("empty search query");
  if (config.search_backend == "local") {  // tools/local: SQLite FTS5 over a folder
    auto idx = shared_local_index(config.local_dir, config.local_db);
    if (!idx) return Error("search failed: " + idx.error().to_string());
    auto hits = (*idx)->search(q, std::max(1, config.max_results));
    if (!hits) return Error("search failed: " + hits.error().message);
    std::vector<SearchResult> local;
    for (auto& h : *hits) local.push_back({h.title, h.url, h.snippet});
    return local;
  }
  auto client = http::HttpClient::create(config.http);
  if (!client) return client.error();
  std::string sep = config.search_url.find('?') == std::string::npos ? "?" : "&";
  std::vector<SearchResult> results;
  if (config.search_backend == "searxng") {
    std::string url = config.search_url + sep + "q=" + http::url_encode(q) + "&format=json";
    auto r = (*client)->get(url, cancelled);
    if (!r) return Error("search failed: " + r.error().message);
    auto parsed = parse_searxng_json(r->body);
    if (!parsed) return Error("search failed: " + parsed.error().message);
    results = std::move(*parsed);
  } else if (config.search_backend == "duckduckgo") {
    std::string url = config.search_url + sep + "q=" + http::url_encode(q);
    auto r = (*client)->get(url, cancelled);
    if (!r) return Error("search failed: " + r.error().message);
    results = parse_duckduckgo_html(r->body, r->final_url);
  } else {
    return Error("unknown search backend '" + config.search_backend + "' (duckduckgo or searxng)");
  }
  if (results.size() > static_cast<size_t>(std::max(1, config.max_results)))
    results.resize(static_cast<size_t>(std::max(1, config.max_results)));
  return results;
}

std::string SearchTool::description() const {
  return "Tool that allows the user to search for information using the DuckDuckGo search engine. "
         "This tool is useful in finding an appropriate list of sites that may include the answer "
         "to the user's question. The function doesn't directly answer the question; it finds a "
         "list of sites that may have the answer.";
}

ToolResult SearchTool::invoke(const std::string& input, const ToolContext& ctx) {
  auto r = web_search(config_, input, ctx.cancelled);
  if (!r) return ToolResult::failure(r.error().message);
  if (r->empty()) return ToolResult::success("No results for: " + html::collapse_whitespace(input));
  std::vector<std::string> sources;
  for (const auto& s : *r) sources.push_back(s.url);
  return ToolResult::success(format_results(*r), std::move(sources));
}

std::string TextScraperTool::description() const {
  return "Load one or more websites from the input string containing newline delimited links, "
         "where input is one or more links, and produces plain text output containing the content "
         "of the links.";
}

ToolResult TextScraperTool::invoke(const std::string& input, const ToolContext& ctx) {
  if (input.find("doc://") != std::string::npos) {  // documents of the local index (tools/local)
    auto local = read_local_documents(config_.local_dir, config_.local_db, input,
                                      config_.page_text_chars, config_.total_text_chars);
    if (!urls_in(input).empty())
      local.text += "\n\n[http(s) links were not fetched: give doc:// and web links in separate steps]";
    if (!local.ok) return ToolResult::failure(local.text);
    return ToolResult::success(local.text, std::move(local.sources));
  }
  auto urls = urls_in(input);
  if (urls.empty()) return ToolResult::failure("TextScraper: no http(s) URLs in the input");
  std::string note;
  if (urls.size() > kMaxScrapeUrls) {
    note.append("[").append(std::to_string(urls.size() - kMaxScrapeUrls));
    note.append(" more URLs not fetched: at most ").append(std::to_string(kMaxScrapeUrls)).append(" per call]\n");
    urls.resize(kMaxScrapeUrls);
  }
  auto client = http::HttpClient::create(config_.http);
  if (!client) return ToolResult::failure("TextScraper: " + client.error().message);
  auto responses = (*client)->get_many(urls, ctx.cancelled);
  std::string out;
  std::vector<std::string> sources;
  int ok = 0;
  std::string errors;
  for (size_t i = 0; i < urls.size(); ++i) {
    std::string block = "=== " + urls[i] + " ===\n";
    if (!responses[i]) {
      block += "[error: " + responses[i].error().message + "]";
      errors += responses[i].error().message + "\n";
    } else {
      auto t = page_text(*responses[i]);
      if (!t) {
        block += "[error: " + urls[i] + ": " + t.error().message + "]";
        errors += urls[i] + ": " + t.error().message + "\n";
      } else {
        ++ok;
        sources.push_back(responses[i]->final_url);
        if (!t->title.empty()) block += "Title: " + t->title + "\n";
        if (responses[i]->final_url != urls[i]) block += "(redirected to " + responses[i]->final_url + ")\n";
        block += truncate_text(t->text.empty() ? "[the page has no text]" : t->text, config_.page_text_chars);
      }
    }
    if (!out.empty()) out += "\n\n";
    out += block;
  }
  if (ok == 0) {
    while (!errors.empty() && errors.back() == '\n') errors.pop_back();
    return ToolResult::failure("TextScraper: no page could be read:\n" + errors);
  }
  out = truncate_text(out, config_.total_text_chars);
  return ToolResult::success(note + out, std::move(sources));
}

}  // namespace rewoo::tools::web
