#include "tools/web/page_text.h"

#include <nlohmann/json.hpp>

#include "engine/base/json_text.h"
#include "tools/html/main_text.h"
#include "tools/http/charset.h"

namespace rewoo::tools::web {

namespace {

std::string media_type(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (char& c : t)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return t;
}

bool sniff_html(const std::string& body) {
  std::string head = body.substr(0, 1024);
  for (char& c : head)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return head.find("<html") != std::string::npos || head.find("<!doctype html") != std::string::npos ||
         head.find("<body") != std::string::npos || head.find("<p>") != std::string::npos ||
         head.find("<div") != std::string::npos;
}

}  // namespace

std::string truncate_text(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  size_t nl = s.rfind('\n', cut);
  if (nl != std::string::npos && nl > cut * 3 / 4) cut = nl;
  std::string out = s.substr(0, cut);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  out += "\n[... truncated: " + std::to_string(s.size() - cut) + " more characters not shown]";
  return out;
}

Result<PageText> page_text(const http::HttpResponse& r, bool main_only) {
  std::string type = media_type(r.content_type);
  bool html = type == "text/html" || type == "application/xhtml+xml";
  bool json = type == "application/json" || (type.size() > 5 && type.substr(type.size() - 5) == "+json");
  bool plain = type.rfind("text/", 0) == 0 && !html;
  bool xml = type == "application/xml" || type == "text/xml" || type == "application/rss+xml" ||
             type == "application/atom+xml";
  if (type.empty()) {
    if (sniff_html(r.body)) html = true;
    else if (http::is_valid_utf8(r.body)) plain = true;
  }
  if (!html && !json && !plain && !xml)
    return Error("unsupported content type '" + (type.empty() ? std::string("unknown binary") : type) +
                 "' (the text tools read HTML, plain text, XML and JSON)");
  auto dec = http::decode_to_utf8(r.body, r.content_type, html || xml);
  PageText p;
  p.charset = dec.charset;
  if (html || xml) {
    auto page = html::extract_main_text(dec.text, {main_only && html});
    p.title = std::move(page.title);
    p.text = std::move(page.text);
  } else if (json) {
    auto j = nlohmann::json::parse(dec.text, nullptr, false);
    p.text = j.is_discarded() ? dec.text : json_text(j, 2);
  } else {
    p.text = std::move(dec.text);
  }
  return p;
}

}  // namespace rewoo::tools::web
