// HttpClient: fetches untrusted, model-chosen URLs safely.
//
// Many transfers run at once on one curl multi handle, with a per-host
// limit. Every connection is checked by the AddressGuard at socket open (the
// address actually connected to, after DNS), redirects are followed by hand
// so each hop is parsed and checked again, only http and https are spoken,
// bodies are capped as they arrive (after gzip/deflate decoding, so a
// compression bomb stops at the cap too), and connect, total and low-speed
// timeouts bound every transfer. With a cache directory, responses are
// stored by URL; in replay mode nothing touches the network.
//
//   HttpClient client(opts);
//   auto r = client.get("https://example.com/");
//   if (!r) puts(r.error().message.c_str());  // "refused: 127.0.0.1 is loopback ..."
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/result.h"

namespace rewoo::tools::http {

struct HttpOptions {
  long connect_timeout_ms = 10000;
  long total_timeout_ms = 30000;
  long low_speed_bytes = 512;    // abort when slower than this many bytes/s ...
  long low_speed_seconds = 10;   // ... for this long
  size_t max_body_bytes = 8u << 20;
  int max_redirects = 5;
  std::vector<std::string> allow_ranges;  // CIDR ranges exempt from the guard ("127.0.0.1/32")
  std::string user_agent = "rewoo/0.1 (agent runtime; +https://github.com/rewoo)";
  int max_concurrency = 16;
  int per_host_concurrency = 4;
  std::string cache_dir;         // empty: no cache
  long cache_ttl_seconds = 86400;
  bool replay = false;           // serve only from the cache
  // Pins "host:port:address" like curl --resolve (tests use it to play DNS).
  std::vector<std::string> resolve;
};

struct HttpResponse {
  std::string url;         // as requested
  std::string final_url;   // after redirects
  int status = 0;
  std::string content_type;
  std::string body;        // decoded from gzip/deflate, not from its charset
  std::vector<std::string> redirects;  // every hop after the first, in order
  bool from_cache = false;
  double elapsed_ms = 0;
};

class HttpClient {
 public:
  // An error when the options are invalid (a bad allow range).
  static Result<std::unique_ptr<HttpClient>> create(const HttpOptions& opts);
  ~HttpClient();

  // One URL. A status >= 400 is an error naming the status.
  Result<HttpResponse> get(const std::string& url, const std::atomic<bool>* cancelled = nullptr);
  // Several URLs concurrently; results in the order of `urls`.
  std::vector<Result<HttpResponse>> get_many(const std::vector<std::string>& urls,
                                             const std::atomic<bool>* cancelled = nullptr);

  const HttpOptions& options() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rewoo::tools::http
