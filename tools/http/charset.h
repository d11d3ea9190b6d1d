// Charset detection and conversion to UTF-8 for fetched pages.
//
// Order of evidence, as browsers use it, with one correction for the web as
// it is: a byte-order mark wins; then the Content-Type header's charset; then
// a <meta charset> / <meta http-equiv> in the first 4 KiB of HTML; then
// uchardet's guess. A declared UTF-8 that isn't valid UTF-8 is not believed
// (detection decides instead). ISO-8859-1 and US-ASCII mean windows-1252, as
// in the WHATWG Encoding standard. Bytes that don't convert become U+FFFD;
// conversion never fails on bad input, only on an unknown charset name, and
// then falls back to detection.
#pragma once

#include <string>
#include <string_view>

namespace rewoo::tools::http {

// "text/html; charset=ISO-8859-1" -> "iso-8859-1" ("" when absent).
std::string charset_from_content_type(const std::string& content_type);
// The charset a <meta> declares in the first 4 KiB of `html`, lower-case, or "".
std::string charset_from_meta(std::string_view html);
bool is_valid_utf8(std::string_view s);

struct DecodedText {
  std::string text;     // UTF-8
  std::string charset;  // what it was read as
  std::string source;   // "bom", "header", "meta", "detected" or "default"
};

DecodedText decode_to_utf8(std::string_view body, const std::string& content_type, bool is_html);

}  // namespace rewoo::tools::http
