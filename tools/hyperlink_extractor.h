// HyperlinkExtractor: the links in a text or an HTML page, one per line.
//
//   extract_links("see https://a.org/x (and https://b.org).")
//     -> {"https://a.org/x", "https://b.org"}
//
// Plain text: every http:// or https:// URL, greedy up to whitespace, '<',
// '>', '"', '`' or typographic quotes, then with trailing punctuation
// (. , ; : ! ? ' *) and closing brackets that have no opening partner inside
// the URL trimmed (so Wikipedia's "Foo_(bar)" keeps its ')'). When the input
// looks like HTML, the href of every <a>/<area> counts too, and URLs are
// looked for only in text outside <script>/<style>. Links come in order of
// first appearance, without duplicates.
//
// Relative hrefs are resolved against `base_url` by resolve_link() (dropped
// when there is no base URL).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/tool.h"

namespace rewoo::tools {

std::vector<std::string> extract_links(std::string_view text, std::string_view base_url = "");

// True when `text` contains HTML markup (a known tag such as <a ...>, <p>,
// <html>, or an href= attribute), so it is parsed as HTML.
bool looks_like_html(std::string_view text);

// Trims what cannot end a URL in running text: trailing . , ; : ! ? ' * and
// closing ) ] } without a matching opening one in the URL.
std::string trim_url(std::string_view url);

// The absolute http(s) URL an href points to, or "" when it has none
// (mailto:, javascript:, fragments, and relative links without a base URL).
std::string resolve_link(std::string_view href, std::string_view base_url);

class HyperlinkExtractor : public Tool {
 public:
  std::string name() const override { return "HyperlinkExtractor"; }
  std::string description() const override;
  std::string input_description() const override { return "text or HTML that contains links"; }
  ToolResult invoke(const std::string& input, const ToolContext& ctx) override;
};

}  // namespace rewoo::tools
