#include "tools/local/local_backend.h"

#include <map>
#include <mutex>
#include <set>

#include "tools/local/doc_store.h"

namespace rewoo::tools {

Result<std::shared_ptr<LocalIndex>> shared_local_index(const std::string& dir,
                                                       const std::string& db) {
  if (dir.empty())
    return Error("the local search backend needs a folder: set search.dir in the web "
                 "configuration (or REWOO_LOCAL_DIR)");
  static std::mutex mu;
  static std::map<std::pair<std::string, std::string>, std::shared_ptr<LocalIndex>> cache;
  std::error_code ec;
  std::string key_dir = std::filesystem::weakly_canonical(dir, ec).string();
  if (ec) key_dir = dir;
  std::lock_guard lock(mu);
  auto key = std::make_pair(key_dir, db);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto idx = open_and_update_index(dir, db);
  if (!idx) return idx.error().wrap("local search backend");
  cache.emplace(key, *idx);
  return *idx;
}

namespace {
std::string cut(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  size_t n = max_chars;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n) + "\n[truncated " + std::to_string(text.size() - n) + " bytes]";
}
}  // namespace

LocalRead read_local_documents(const std::string& dir, const std::string& db,
                               const std::string& input, size_t page_chars, size_t total_chars) {
  LocalRead r;
  std::vector<std::string> urls;
  std::set<std::string> seen;
  for (size_t at = input.find("doc://"); at != std::string::npos; at = input.find("doc://", at + 6)) {
    size_t e = input.find_first_of(" \t\r\n,<>()[]\"'", at);
    std::string u = input.substr(at, e == std::string::npos ? std::string::npos : e - at);
    while (!u.empty() && (u.back() == '.' || u.back() == ';')) u.pop_back();
    if (seen.insert(u).second) urls.push_back(u);
  }
  if (urls.empty()) {
    r.text = "TextScraper: no doc:// URLs in the input";
    return r;
  }
  auto idx = shared_local_index(dir, db);
  if (!idx) {
    r.text = "TextScraper: doc:// URLs need the local search backend: " + idx.error().message;
    return r;
  }
  DocStore store(*idx);
  for (const auto& u : urls) {
    std::string block = "=== " + u + " ===\n";
    auto doc = store.read(u);
    if (!doc) {
      block += "[error: " + doc.error().message + "]";
    } else {
      r.ok = true;
      r.sources.push_back(doc->url);
      if (!doc->title.empty()) block += "Title: " + doc->title + "\n";
      block += cut(doc->text, page_chars);
    }
    if (!r.text.empty()) r.text += "\n\n";
    r.text += block;
  }
  r.text = cut(r.text, total_chars);
  return r;
}

}  // namespace rewoo::tools
