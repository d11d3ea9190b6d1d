// libFuzzer target: what the web tools do with bytes from the network.
// Input: one selector byte, then a Content-Type line ending in '\n', then a
// body. Checks: charset conversion always yields valid UTF-8; main-text
// extraction of valid UTF-8 yields valid UTF-8; every extracted link is an
// absolute http(s) URL that parses again to itself; URL parsing, resolution
// and percent-coding never crash, and a parsed URL's normal form parses to
// the same parts. Build and run: see tests/fuzz/CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tools/html/main_text.h"
#include "tools/http/charset.h"
#include "tools/http/url.h"

using namespace rewoo::tools;

namespace {

void check_url(const std::string& s) {
  auto u = http::parse_http_url(s);
  if (!u) return;
  if (u->scheme != "http" && u->scheme != "https") __builtin_trap();
  if (u->port < 1 || u->port > 65535 || u->host.empty()) __builtin_trap();
  auto again = http::parse_http_url(u->url);
  if (!again || again->url != u->url || again->host != u->host || again->port != u->port)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t sel = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nl = in.find('\n');
  const std::string content_type(in.substr(0, nl == std::string_view::npos ? 0 : nl));
  const std::string_view body = nl == std::string_view::npos ? in : in.substr(nl + 1);

  switch (sel % 4) {
    case 0: {  // a fetched page, end to end
      const http::DecodedText d = http::decode_to_utf8(body, content_type, sel & 4);
      if (!http::is_valid_utf8(d.text)) __builtin_trap();
      const html::ExtractedPage page = html::extract_main_text(d.text, {(sel & 8) == 0});
      if (!http::is_valid_utf8(page.title) || !http::is_valid_utf8(page.text)) __builtin_trap();
      break;
    }
    case 1: {  // links of a page, against a base URL
      const std::string base = content_type.empty() ? "https://example.com/a/b?c" : content_type;
      for (const std::string& link : html::extract_links(body, base)) {
        auto u = http::parse_http_url(link);
        if (!u || link.find('#') != std::string::npos) __builtin_trap();
        check_url(link);
      }
      break;
    }
    case 2: {  // URLs the model writes
      const std::string s(body);
      check_url(s);
      auto r = http::resolve_url(content_type, s);
      if (r) {
        if (!http::parse_http_url(*r)) __builtin_trap();
        check_url(*r);
      }
      if (http::url_decode(http::url_encode(s)) != s) __builtin_trap();
      (void)http::url_decode(s, sel & 4);
      break;
    }
    default: {  // charset evidence alone
      (void)http::charset_from_content_type(content_type);
      (void)http::charset_from_meta(body);
      if (http::is_valid_utf8(body)) {
        const html::ExtractedPage page = html::extract_main_text(body, {(sel & 8) == 0});
        if (!http::is_valid_utf8(page.title) || !http::is_valid_utf8(page.text)) __builtin_trap();
      }
      break;
    }
  }
  return 0;
}
