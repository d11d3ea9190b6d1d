// URL helpers over libcurl's URL parser (so rewoo reads URLs exactly as the
// transfer will): resolve a reference against a base, split out the parts the
// HTTP client checks, percent-encode query values.
#pragma once

#include <string>

#include "engine/base/result.h"

namespace rewoo::tools::http {

struct UrlParts {
  std::string scheme;  // lower-case: "http" or "https"
  std::string host;    // as curl normalises it (IPv4 numbers in dotted form, IPv6 without [])
  int port = 0;        // explicit or the scheme's default
  std::string url;     // the normalised whole URL
};

// Parses an absolute http(s) URL; an error names what is wrong (no scheme,
// another scheme, no host, bad syntax).
Result<UrlParts> parse_http_url(const std::string& url);

// Resolves `ref` (absolute, scheme-relative, or relative) against `base`,
// returning an absolute http(s) URL. With an empty base only absolute refs
// resolve.
Result<std::string> resolve_url(const std::string& base, const std::string& ref);

// Percent-encodes every byte except unreserved characters (RFC 3986).
std::string url_encode(const std::string& s);
// Decodes %XX escapes (and '+' as space when plus_is_space).
std::string url_decode(const std::string& s, bool plus_is_space = false);

}  // namespace rewoo::tools::http
