// Main-text extraction: HTML page → the article text a reader would keep.
//
// Readability-style: drop what is never content (script, style, nav, header,
// footer, aside, forms, hidden parts, boilerplate by class/id), score blocks
// by text length, commas and link density, take the best-scoring container
// plus siblings that score like it, clean link lists and widgets out of it,
// and render headings, paragraphs, list items and table rows one per line
// with character references decoded. When nothing scores (a bare page), the
// whole visible body is returned.
//
//   auto page = extract_main_text(html);
//   std::cout << page.title << "\n\n" << page.text;
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace rewoo::tools::html {

struct ExtractOptions {
  // false: render all visible body text instead of the main block.
  bool main_only = true;
};

struct ExtractedPage {
  std::string title;  // <title>, og:title or the first <h1>; may be empty
  std::string text;   // UTF-8, lines separated by '\n', paragraphs by a blank line
};

// `html` must already be UTF-8 (tools/http/charset.h converts).
ExtractedPage extract_main_text(std::string_view html, const ExtractOptions& opts = {});

// Every <a href> of the page, resolved against `base_url` when given
// (relative ones are dropped when it is not), in order, without duplicates,
// http(s) only, fragments removed.
std::vector<std::string> extract_links(std::string_view html, const std::string& base_url = "");

// Runs of spaces, tabs and newlines become one space; none at either end.
std::string collapse_whitespace(const std::string& s);

}  // namespace rewoo::tools::html
