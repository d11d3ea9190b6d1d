// HttpCache: an on-disk cache of fetched responses, keyed by the requested
// URL, with a time-to-live. In replay mode the HTTP client serves only from
// it (whatever the age), so a research run can be repeated exactly.
//
// Layout: <dir>/<16 hex digits of FNV-1a(url)>.meta (JSON: url, final_url,
// status, content_type, fetched_at) and .body (raw bytes). The stored URL is
// compared on read, so a hash collision is a miss, never a wrong page.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/base/result.h"

namespace rewoo::tools::http {

struct CachedResponse {
  std::string url;        // as requested
  std::string final_url;  // after redirects
  int status = 0;
  std::string content_type;
  std::string body;
  int64_t fetched_at = 0;  // unix seconds
};

class HttpCache {
 public:
  HttpCache(std::string dir, int64_t ttl_seconds) : dir_(std::move(dir)), ttl_(ttl_seconds) {}

  // A fresh entry (younger than the TTL), or any entry when ignore_ttl.
  std::optional<CachedResponse> get(const std::string& url, bool ignore_ttl = false) const;
  Status put(const CachedResponse& r) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string path_for(const std::string& url) const;
  std::string dir_;
  int64_t ttl_;
};

}  // namespace rewoo::tools::http
