#include "tools/http/url.h"

#include <curl/curl.h>

#include <memory>

namespace rewoo::tools::http {

namespace {

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

struct CurlStrDeleter {
  void operator()(char* p) const { curl_free(p); }
};
using CurlStr = std::unique_ptr<char, CurlStrDeleter>;

Result<std::string> get_part(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* p = nullptr;
  CURLUcode rc = curl_url_get(u, part, &p, flags);
  if (rc != CURLUE_OK) return Error(curl_url_strerror(rc));
  CurlStr s(p);
  return std::string(p ? p : "");
}

bool is_http_scheme(const std::string& s) { return s == "http" || s == "https"; }

}  // namespace

namespace {

// The parts of the URL set on `u` that the HTTP client checks, or why it is
// not one a fetch would take (`url` is what the messages quote).
Result<UrlParts> http_parts(CURLU* u, const std::string& url) {
  UrlParts parts;
  auto scheme = get_part(u, CURLUPART_SCHEME);
  if (!scheme) return Error("bad URL '" + url + "': no scheme");
  parts.scheme = *scheme;
  if (!is_http_scheme(parts.scheme))
    return Error("scheme '" + parts.scheme + "' is not allowed (only http and https): " + url);
  auto host = get_part(u, CURLUPART_HOST);
  if (!host || host->empty()) return Error("URL has no host: " + url);
  parts.host = *host;
  if (parts.host.size() >= 2 && parts.host.front() == '[') parts.host = parts.host.substr(1, parts.host.size() - 2);
  auto port = get_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT);
  parts.port = port ? std::atoi(port->c_str()) : 0;
  if (parts.port < 1 || parts.port > 65535)
    return Error("URL has port " + (port ? *port : std::string("(none)")) +
                 " (expected 1 to 65535): " + url);
  auto whole = get_part(u, CURLUPART_URL);
  if (!whole) return Error("bad URL '" + url + "'");
  parts.url = *whole;
  return parts;
}

}  // namespace

Result<UrlParts> parse_http_url(const std::string& url) {
  if (url.empty()) return Error("empty URL");
  if (url.find("://") == std::string::npos)
    return Error("'" + url + "' is not an absolute URL (expected http:// or https://)");
  UrlHandle u(curl_url());
  CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) return Error("bad URL '" + url + "': " + curl_url_strerror(rc));
  return http_parts(u.get(), url);
}

Result<std::string> resolve_url(const std::string& base, const std::string& ref) {
  if (ref.empty()) return Error("empty link");
  UrlHandle u(curl_url());
  if (!base.empty()) {
    if (curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK)
      return Error("bad base URL '" + base + "'");
  } else if (ref.find("://") == std::string::npos) {
    return Error("relative link '" + ref + "' without a base URL");
  }
  // curl resolves a URL set on a handle that already holds one relative to it.
  CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, ref.c_str(), CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) return Error("bad link '" + ref + "': " + curl_url_strerror(rc));
  auto scheme = get_part(u.get(), CURLUPART_SCHEME);
  if (!scheme || !is_http_scheme(*scheme)) return Error("not an http(s) link: " + ref);
  // Only links a fetch would take (a host, a port from 1 to 65535).
  auto whole = get_part(u.get(), CURLUPART_URL);
  if (!whole) return whole;
  auto parts = http_parts(u.get(), *whole);
  if (!parts) return Error("bad link '" + ref + "': " + parts.error().message);
  return parts->url;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::string url_decode(const std::string& s, bool plus_is_space) {
  auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(c | 32);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace rewoo::tools::http
