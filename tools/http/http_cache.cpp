#include "tools/http/http_cache.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/base/json_text.h"

namespace rewoo::tools::http {

namespace {

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes via a temporary file and rename, so readers never see half a file.
bool write_atomically(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "." +
                    std::to_string(std::hash<std::string>{}(data) & 0xffff);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

std::string HttpCache::path_for(const std::string& url) const {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : url) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return dir_ + "/" + buf;
}

std::optional<CachedResponse> HttpCache::get(const std::string& url, bool ignore_ttl) const {
  std::string base = path_for(url);
  auto meta = slurp(base + ".meta");
  if (!meta) return std::nullopt;
  auto j = nlohmann::json::parse(*meta, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("url", "") != url) return std::nullopt;
  CachedResponse r;
  r.url = url;
  r.final_url = j.value("final_url", url);
  r.status = j.value("status", 0);
  r.content_type = j.value("content_type", "");
  r.fetched_at = j.value("fetched_at", int64_t{0});
  if (!ignore_ttl && now_seconds() - r.fetched_at > ttl_) return std::nullopt;
  auto body = slurp(base + ".body");
  if (!body) return std::nullopt;
  r.body = std::move(*body);
  return r;
}

Status HttpCache::put(const CachedResponse& r) const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return Error("cannot create cache directory " + dir_ + ": " + ec.message());
  std::string base = path_for(r.url);
  nlohmann::json j = {{"url", r.url},
                      {"final_url", r.final_url},
                      {"status", r.status},
                      {"content_type", r.content_type},
                      {"fetched_at", r.fetched_at ? r.fetched_at : now_seconds()}};
  // Body first: a .meta without its .body reads as a miss.
  if (!write_atomically(base + ".body", r.body) || !write_atomically(base + ".meta", json_text(j)))
    return Error("cannot write cache entry under " + dir_);
  return {};
}

}  // namespace rewoo::tools::http
