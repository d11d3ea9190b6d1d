// The tools a plan uses to work on a local document index instead of the web:
// a search tool (the `local` backend of DuckDuckGo[...]) and a reader for
// doc:// URLs (what TextScraper does for local documents).
//
// Search evidence has the shape of the web backends' results, a numbered list
// that HyperlinkExtractor can mine:
//
//   1. The Lantern Bridge of Varo
//      doc://places/lantern-bridge.md
//      The Lantern Bridge was completed in 1712 by ...
//
//   auto index = std::make_shared<LocalIndex>(std::move(*LocalIndex::open(db)));
//   registry.set(make_local_search_tool(index));          // "DuckDuckGo"
//   registry.set(make_local_reader_tool(index));          // "TextScraper"
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tools/local/local_index.h"
#include "tools/tool.h"

namespace rewoo::tools {

// The numbered evidence list for search hits ("No results for '<query>'." when empty).
std::string format_local_hits(const std::string& query, const std::vector<LocalHit>& hits);

// A search tool answering from `index`; `results` hits per query.
ToolPtr make_local_search_tool(std::shared_ptr<const LocalIndex> index,
                               std::string name = "DuckDuckGo", int results = 5);

// A TextScraper for doc:// URLs only: newline-separated URLs in, each
// document's stored text out (headed by its URL). Any other URL is refused as
// evidence, not read; per-document and total caps apply.
ToolPtr make_local_reader_tool(std::shared_ptr<const LocalIndex> index,
                               std::string name = "TextScraper", size_t max_chars_per_doc = 4000,
                               size_t max_chars_total = 12000);

}  // namespace rewoo::tools
