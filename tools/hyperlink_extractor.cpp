#include "tools/hyperlink_extractor.h"

#include "tools/http/url.h"

#include <gumbo.h>
#include <re2/re2.h>

#include <memory>
#include <unordered_set>

namespace rewoo::tools {
namespace {

// Greedy on purpose: the seed's lazy `https?://[^\s]+?` stopped after one
// character. Stops at whitespace (ASCII and U+00A0, U+3000), <, >, ", `,
// and the typographic quotes “ ” ‘ ’ « » and the ellipsis ….
const RE2& url_re() {
  static const RE2 re(
      R"((?i)\b(https?://[^\s<>"`\x{A0}\x{3000}\x{201C}\x{201D}\x{2018}\x{2019}\x{AB}\x{BB}\x{2026}]+))");
  return re;
}

const RE2& html_re() {
  static const RE2 re(
      R"((?i)(<(!doctype|html|head|body|a|div|p|span|ul|ol|li|table|tr|td|br|h[1-6]|meta|link|script|nav|section|article)\b[^<>]*>)|(\bhref\s*=))");
  return re;
}

bool has_host(std::string_view url) {
  size_t p = url.find("://");
  if (p == std::string_view::npos || p + 3 >= url.size()) return false;
  unsigned char c = static_cast<unsigned char>(url[p + 3]);
  return std::isalnum(c) || c == '[' || c >= 0x80;
}

class LinkList {
 public:
  void add(std::string url) {
    if (url.empty() || !has_host(url)) return;
    if (seen_.insert(url).second) out_.push_back(std::move(url));
  }
  std::vector<std::string> take() { return std::move(out_); }

 private:
  std::unordered_set<std::string> seen_;
  std::vector<std::string> out_;
};

void scan_text(std::string_view text, LinkList& links) {
  re2::StringPiece in(text.data(), text.size());
  re2::StringPiece m;
  while (RE2::FindAndConsume(&in, url_re(), &m)) links.add(trim_url(std::string_view(m.data(), m.size())));
}

struct GumboDeleter {
  void operator()(GumboOutput* o) const { gumbo_destroy_output(&kGumboDefaultOptions, o); }
};

// Gumbo takes about 12 us and 600 bytes a tag: pages are parsed up to
// their 200,000th tag (about 2.5 s), the rest dropped, so that hostile
// markup (8 MB of bare tags) can't take 25 s and 1.2 GB.
constexpr size_t kMaxTags = 200000;

std::string_view first_tags(std::string_view html) {
  size_t pos = 0;
  for (size_t n = 0; (pos = html.find('<', pos)) != std::string_view::npos; ++n, ++pos)
    if (n == kMaxTags) return html.substr(0, pos);
  return html;
}

void scan_html(std::string_view html, std::string_view base_url, LinkList& links) {
  html = first_tags(html);
  std::unique_ptr<GumboOutput, GumboDeleter> out(
      gumbo_parse_with_options(&kGumboDefaultOptions, html.data(), html.size()));
  if (!out) return scan_text(html, links);
  // Document order without recursion (pages can nest deeply).
  std::vector<const GumboNode*> stack{out->root};
  while (!stack.empty()) {
    const GumboNode* n = stack.back();
    stack.pop_back();
    if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_CDATA) {
      scan_text(n->v.text.text, links);
      continue;
    }
    if (n->type != GUMBO_NODE_ELEMENT && n->type != GUMBO_NODE_TEMPLATE &&
        n->type != GUMBO_NODE_DOCUMENT)
      continue;
    const GumboVector* children;
    if (n->type == GUMBO_NODE_DOCUMENT) {
      children = &n->v.document.children;
    } else {
      const GumboElement& e = n->v.element;
      if (e.tag == GUMBO_TAG_SCRIPT || e.tag == GUMBO_TAG_STYLE) continue;
      if (e.tag == GUMBO_TAG_A || e.tag == GUMBO_TAG_AREA) {
        if (const GumboAttribute* href = gumbo_get_attribute(&e.attributes, "href"))
          links.add(resolve_link(href->value, base_url));
      }
      children = &e.children;
    }
    for (unsigned i = children->length; i-- > 0;)
      stack.push_back(static_cast<const GumboNode*>(children->data[i]));
  }
}

bool starts_with_nocase(std::string_view s, std::string_view p) {
  if (s.size() < p.size()) return false;
  for (size_t i = 0; i < p.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) return false;
  return true;
}

}  // namespace

std::string trim_url(std::string_view url) {
  auto unmatched_close = [&](char open, char close) {
    long balance = 0;
    for (char c : url) balance += (c == open) - (c == close);
    return balance < 0;
  };
  while (!url.empty()) {
    char c = url.back();
    bool drop = false;
    switch (c) {
      case '.': case ',': case ';': case ':': case '!': case '?': case '\'': case '*':
        drop = true;
        break;
      case ')': drop = unmatched_close('(', ')'); break;
      case ']': drop = unmatched_close('[', ']'); break;
      case '}': drop = unmatched_close('{', '}'); break;
      default: break;
    }
    if (!drop) break;
    url.remove_suffix(1);
  }
  return std::string(url);
}

std::string resolve_link(std::string_view href, std::string_view base_url) {
  while (!href.empty() && std::isspace(static_cast<unsigned char>(href.front()))) href.remove_prefix(1);
  while (!href.empty() && std::isspace(static_cast<unsigned char>(href.back()))) href.remove_suffix(1);
  if (starts_with_nocase(href, "http://") || starts_with_nocase(href, "https://"))
    return std::string(href);
  if (base_url.empty() || href.empty() || href.front() == '#') return {};
  // Relative (or scheme-relative) link: resolved against the page's URL.
  auto abs = http::resolve_url(std::string(base_url), std::string(href));
  if (!abs) return {};
  std::string url = *abs;
  if (size_t hash = url.find('#'); hash != std::string::npos) url.resize(hash);
  return url;
}

bool looks_like_html(std::string_view text) {
  return RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), html_re());
}

std::vector<std::string> extract_links(std::string_view text, std::string_view base_url) {
  LinkList links;
  if (looks_like_html(text))
    scan_html(text, base_url, links);
  else
    scan_text(text, links);
  return links.take();
}

std::string HyperlinkExtractor::description() const {
  return "Extract links from plain text and produces a plain text, newline delimited response "
         "of links.";
}

ToolResult HyperlinkExtractor::invoke(const std::string& input, const ToolContext& ctx) {
  (void)ctx;
  std::string out;
  for (const auto& url : extract_links(input)) {
    if (!out.empty()) out += '\n';
    out += url;
  }
  return ToolResult::success(std::move(out));
}

}  // namespace rewoo::tools
