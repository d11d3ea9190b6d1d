// What the model reads of a fetched response: HTML → main text, text/plain
// as is, JSON pretty-printed, all as UTF-8; other types refused with a note.
#pragma once

#include <string>

#include "engine/base/result.h"
#include "tools/http/http_client.h"

namespace rewoo::tools::web {

struct PageText {
  std::string title;
  std::string text;
  std::string charset;  // what the body was decoded from
};

// main_only=false keeps all visible text of an HTML page.
Result<PageText> page_text(const http::HttpResponse& r, bool main_only = true);

// Cuts `s` to at most `max_chars` bytes on a UTF-8 boundary, preferring a line
// end, and appends a marker saying how much was dropped. Unchanged if short.
std::string truncate_text(const std::string& s, size_t max_chars);

}  // namespace rewoo::tools::web
