#include "tools/http/http_client.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "tools/http/address_guard.h"
#include "tools/http/http_cache.h"
#include "tools/http/url.h"

namespace rewoo::tools::http {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  size_t index = 0;
  std::string original;   // as requested
  std::string current;    // this hop's URL
  std::string host;       // this hop's host (for messages)
  std::string host_key;   // scheme://host:port, for the per-host limit
  int hops = 0;
  std::vector<std::string> redirects;
  std::string body;
  size_t cap = 0;
  bool cap_hit = false;
  std::vector<std::string> refusals;
  const AddressGuard* guard = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* resolve = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::chrono::steady_clock::time_point start;     // of this hop
  std::chrono::steady_clock::time_point deadline;  // of the whole fetch, all hops

  ~Transfer() { release(); }
  void release() {
    if (easy) curl_easy_cleanup(easy);
    if (headers) curl_slist_free_all(headers);
    if (resolve) curl_slist_free_all(resolve);
    easy = nullptr;
    headers = nullptr;
    resolve = nullptr;
  }
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->body.size() + len > t->cap) {
    t->cap_hit = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  t->body.append(data, len);
  return len;
}

// The SSRF check, at the moment curl opens a socket to a resolved address.
curl_socket_t on_open_socket(void* user, curlsocktype purpose, curl_sockaddr* addr) {
  auto* t = static_cast<Transfer*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN) {
    t->refusals.push_back("unexpected socket type");
    return CURL_SOCKET_BAD;
  }
  if (auto why = t->guard->refusal(&addr->addr)) {
    t->refusals.push_back(*why);
    return CURL_SOCKET_BAD;
  }
  return ::socket(addr->family, addr->socktype, addr->protocol);
}

std::string host_key(const UrlParts& p) { return p.scheme + "://" + p.host + ":" + std::to_string(p.port); }

const char* reason_phrase(long status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 500 ? "client error" : "server error";
  }
}

}  // namespace

struct HttpClient::Impl {
  HttpOptions opts;
  AddressGuard guard;
  std::optional<HttpCache> cache;
  CURLM* multi = nullptr;
  std::mutex mu;  // one get_many at a time per client (the multi handle is not shareable)

  ~Impl() {
    if (multi) curl_multi_cleanup(multi);
  }

  std::string refused_message(const Transfer& t) const {
    std::string why = t.refusals.front();
    for (size_t i = 1; i < t.refusals.size(); ++i)
      if (t.refusals[i] != t.refusals[0]) why += "; " + t.refusals[i];
    return "refused by the address guard: " + t.host + " -> " + why +
           " (allow a range in the web config's allow_ranges to permit it)";
  }

  std::string describe(CURLcode rc, const Transfer& t) const {
    std::string detail = t.errbuf[0] ? std::string(t.errbuf) : curl_easy_strerror(rc);
    if (!t.refusals.empty() && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT))
      return refused_message(t);
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
        return "DNS lookup failed: host '" + t.host + "' does not resolve (" + detail + ")";
      case CURLE_COULDNT_CONNECT:
        return "could not connect to " + t.host + " (" + detail + ")";
      case CURLE_OPERATION_TIMEDOUT:
        if (detail.find("too slow") != std::string::npos)
          return "stalled: less than " + std::to_string(opts.low_speed_bytes) + " bytes/s for " +
                 std::to_string(opts.low_speed_seconds) + " s (" + detail + ")";
        if (detail.find("onnect") != std::string::npos || detail.find("Resolv") != std::string::npos)
          return "connect timed out after " + std::to_string(opts.connect_timeout_ms) + " ms (" + detail + ")";
        return "timed out after " + std::to_string(opts.total_timeout_ms) + " ms (" + detail + ")";
      case CURLE_WRITE_ERROR:
      case CURLE_FILESIZE_EXCEEDED:
        if (t.cap_hit || rc == CURLE_FILESIZE_EXCEEDED)
          return "response body larger than the cap of " + std::to_string(opts.max_body_bytes) +
                 " bytes; stopped reading";
        // curl reports a body it could not decode (an unknown or corrupt
        // Content-Encoding) as a failed write of the decoded data.
        return "the reply's body could not be decoded (Content-Encoding gzip and deflate are "
               "supported; " + detail + ")";
      case CURLE_BAD_CONTENT_ENCODING:
        return "bad compressed body (Content-Encoding could not be decoded: " + detail + ")";
      case CURLE_UNSUPPORTED_PROTOCOL:
        // (also a reply that is not HTTP at all: curl calls it HTTP/0.9)
        if (detail.find("HTTP/0.9") != std::string::npos)
          return "the server's reply is not HTTP (no status line): " + detail;
        return "scheme not allowed (only http and https): " + detail;
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
        return "connection failed mid-transfer: " + detail;
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_CACERT_BADFILE:
        return "TLS error: " + detail;
      case CURLE_TOO_MANY_REDIRECTS:
        return "too many redirects";
      default:
        return std::string(curl_easy_strerror(rc)) + " (" + detail + ")";
    }
  }

  // Sets up the easy handle for t's current hop.
  bool prepare(Transfer& t) {
    t.release();
    t.body.clear();
    t.cap_hit = false;
    t.refusals.clear();
    t.errbuf[0] = 0;
    t.easy = curl_easy_init();
    if (!t.easy) return false;
    CURL* e = t.easy;
    curl_easy_setopt(e, CURLOPT_URL, t.current.c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);  // redirects by hand: each hop re-checked
    curl_easy_setopt(e, CURLOPT_PROXY, "");            // never a proxy from the environment
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
    curl_easy_setopt(e, CURLOPT_USERAGENT, opts.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, opts.connect_timeout_ms);
    // The total limit covers the whole redirect chain, not each hop.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t.deadline - std::chrono::steady_clock::now());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, std::max<long>(1, static_cast<long>(left.count())));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, opts.low_speed_bytes);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, opts.low_speed_seconds);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(opts.max_body_bytes));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    t.headers = curl_slist_append(nullptr,
                                  "Accept: text/html,application/xhtml+xml,text/plain;q=0.9,"
                                  "application/json;q=0.9,*/*;q=0.5");
    t.headers = curl_slist_append(t.headers, "Accept-Language: en;q=0.9,*;q=0.5");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers);
    for (const auto& r : opts.resolve) t.resolve = curl_slist_append(t.resolve, r.c_str());
    if (t.resolve) curl_easy_setopt(e, CURLOPT_RESOLVE, t.resolve);
    t.start = std::chrono::steady_clock::now();
    return true;
  }

  // Whether the address guard refuses url's host as written (an address
  // literal, or localhost).
  bool guarded(const std::string& url) const {
    auto parts = parse_http_url(url);
    if (!parts) return true;
    std::string h = parts->host;
    for (char& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!h.empty() && h.back() == '.') h.pop_back();
    if (h == "localhost" || (h.size() > 10 && h.compare(h.size() - 10, 10, ".localhost") == 0)) {
      sockaddr_in lo{};
      lo.sin_family = AF_INET;
      lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      return guard.refusal(reinterpret_cast<const sockaddr*>(&lo)).has_value();
    }
    return guard.refusal_for_literal(parts->host).has_value();
  }

  // Parses and pre-checks a hop's URL; fills t's current/host/key.
  Status aim(Transfer& t, const std::string& url) {
    auto parts = parse_http_url(url);
    if (!parts) return parts.error();
    if (auto why = guard.refusal_for_literal(parts->host))
      return Error("refused by the address guard: " + parts->host + " -> " + *why +
                   " (allow a range in the web config's allow_ranges to permit it)");
    t.current = parts->url;
    t.host = parts->host;
    t.host_key = host_key(*parts);
    return {};
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

const HttpOptions& HttpClient::options() const { return impl_->opts; }

Result<std::unique_ptr<HttpClient>> HttpClient::create(const HttpOptions& opts) {
  global_init();
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  if (impl->opts.max_concurrency < 1) impl->opts.max_concurrency = 1;
  if (impl->opts.per_host_concurrency < 1) impl->opts.per_host_concurrency = 1;
  std::vector<IpRange> allowed;
  for (const auto& r : opts.allow_ranges) {
    auto range = IpRange::parse(r);
    if (!range) return range.error().wrap("web config allow_ranges");
    allowed.push_back(*range);
  }
  impl->guard = AddressGuard(std::move(allowed));
  if (!opts.cache_dir.empty()) impl->cache.emplace(opts.cache_dir, opts.cache_ttl_seconds);
  else if (opts.replay) return Error("replay mode needs a cache directory (web config cache_dir)");
  impl->multi = curl_multi_init();
  if (!impl->multi) return Error("curl_multi_init failed");
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::get(const std::string& url, const std::atomic<bool>* cancelled) {
  auto r = get_many({url}, cancelled);
  return std::move(r.front());
}

std::vector<Result<HttpResponse>> HttpClient::get_many(const std::vector<std::string>& urls,
                                                       const std::atomic<bool>* cancelled) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl& im = *impl_;
  std::vector<std::optional<Result<HttpResponse>>> out(urls.size());
  auto fail = [&](size_t i, const std::string& url, const std::string& what) {
    out[i] = Error("fetch " + url + ": " + what);
  };
  std::deque<std::unique_ptr<Transfer>> pending;
  for (size_t i = 0; i < urls.size(); ++i) {
    const std::string& url = urls[i];
    if (im.cache) {
      auto c = im.cache->get(url, im.opts.replay);
      // Outside replay mode a cached page is served only where a fetch would
      // be allowed now: a page of a loopback or private address cached
      // under another --allow goes to the fetch, which the guard refuses.
      // (Names are not resolved for this; literals and localhost are checked.)
      if (c && !im.opts.replay && (im.guarded(url) || im.guarded(c->final_url))) c.reset();
      if (c) {
        HttpResponse resp;
        resp.url = url;
        resp.final_url = c->final_url;
        resp.status = c->status;
        resp.content_type = c->content_type;
        resp.body = std::move(c->body);
        resp.from_cache = true;
        out[i] = std::move(resp);
        continue;
      }
      if (im.opts.replay) {
        fail(i, url, "not in the cache (replay mode serves only cached pages; cache " +
                         im.cache->dir() + ")");
        continue;
      }
    }
    auto t = std::make_unique<Transfer>();
    t->index = i;
    t->original = url;
    t->guard = &im.guard;
    t->cap = im.opts.max_body_bytes;
    t->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(im.opts.total_timeout_ms);
    if (auto st = im.aim(*t, url); !st) {
      fail(i, url, st.error().message);
      continue;
    }
    pending.push_back(std::move(t));
  }

  std::map<CURL*, std::unique_ptr<Transfer>> running;
  std::map<std::string, int> per_host;
  while (!pending.empty() || !running.empty()) {
    if (cancelled && cancelled->load()) {
      for (auto& [e, t] : running) {
        curl_multi_remove_handle(im.multi, e);
        fail(t->index, t->original, "cancelled (the step's time ran out or the run stopped)");
      }
      for (auto& t : pending) fail(t->index, t->original, "cancelled before it started");
      running.clear();
      pending.clear();
      break;
    }
    for (auto it = pending.begin();
         it != pending.end() && static_cast<int>(running.size()) < im.opts.max_concurrency;) {
      Transfer& t = **it;
      if (per_host[t.host_key] >= im.opts.per_host_concurrency) {
        ++it;
        continue;
      }
      if (!im.prepare(t)) {
        fail(t.index, t.original, "could not create a curl handle");
        it = pending.erase(it);
        continue;
      }
      curl_multi_add_handle(im.multi, t.easy);
      ++per_host[t.host_key];
      running[t.easy] = std::move(*it);
      it = pending.erase(it);
    }
    int still = 0;
    curl_multi_perform(im.multi, &still);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(im.multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      CURLcode rc = msg->data.result;
      auto node = running.extract(e);
      curl_multi_remove_handle(im.multi, e);
      std::unique_ptr<Transfer> t = std::move(node.mapped());
      --per_host[t->host_key];
      if (rc != CURLE_OK) {
        fail(t->index, t->original, (t->hops ? "at redirect hop " + std::to_string(t->hops) + " (" + t->current + "): " : "") +
                                        im.describe(rc, *t));
        continue;
      }
      long status = 0;
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
        char* loc = nullptr;
        curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc);
        if (!loc || !*loc) {
          fail(t->index, t->original, "HTTP " + std::to_string(status) + " redirect without a Location header");
          continue;
        }
        std::string next = loc;
        if (++t->hops > im.opts.max_redirects) {
          fail(t->index, t->original, "too many redirects (more than " + std::to_string(im.opts.max_redirects) +
                                          "); last hop to " + next);
          continue;
        }
        if (auto st = im.aim(*t, next); !st) {
          fail(t->index, t->original, "redirect hop " + std::to_string(t->hops) + " to " + next + ": " + st.error().message);
          continue;
        }
        t->redirects.push_back(t->current);
        pending.push_front(std::move(t));
        continue;
      }
      if (status >= 400) {
        fail(t->index, t->original, "HTTP " + std::to_string(status) + " " + reason_phrase(status) +
                                        (t->hops ? " (after redirects, at " + t->current + ")" : ""));
        continue;
      }
      HttpResponse resp;
      resp.url = t->original;
      resp.final_url = t->current;
      resp.status = static_cast<int>(status);
      char* ct = nullptr;
      curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
      if (ct) resp.content_type = ct;
      resp.body = std::move(t->body);
      resp.redirects = std::move(t->redirects);
      resp.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t->start).count();
      if (im.cache && status == 200) {
        CachedResponse c{resp.url, resp.final_url, resp.status, resp.content_type, resp.body, 0};
        (void)im.cache->put(c);  // a cache that can't be written is not a failed fetch
      }
      out[t->index] = std::move(resp);
    }
    if (!running.empty()) curl_multi_poll(im.multi, nullptr, 0, 50, nullptr);
  }
  std::vector<Result<HttpResponse>> results;
  results.reserve(out.size());
  for (auto& o : out) results.push_back(o ? std::move(*o) : Result<HttpResponse>(Error("fetch: no result")));
  return results;
}

}  // namespace rewoo::tools::http
