// The article-extraction benchmark's metric and data loader, shared by
// tests/bench/bench_extract.cpp and the F1 floor test in tests/tools.
//
// Metric (Zyte's article-extraction-benchmark, see ../shared/data/README.md):
// split both texts into \w+ tokens, take every 4-token shingle, count tp/fp/fn
// over the shingle multisets, normalise each page's counts to sum 1, sum them
// over pages; precision = TP/(TP+FP), recall = TP/(TP+FN), F1 from the two.
#pragma once

#include <zlib.h>

#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace rewoo::bench {

struct Page {
  std::string id, url, html, truth;
};

inline std::string gunzip_file(const std::filesystem::path& p) {
  std::string out;
  gzFile f = gzopen(p.c_str(), "rb");
  if (!f) return out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}

// Pages of article-extraction-dev in id order; empty if the data is missing.
inline std::vector<Page> load_pages(const std::filesystem::path& dir) {
  std::vector<Page> pages;
  std::string gt = gunzip_file(dir / "ground-truth.json");  // gzopen reads plain files too
  if (gt.empty()) return pages;
  auto j = nlohmann::json::parse(gt, nullptr, false);
  if (j.is_discarded()) return pages;
  std::map<std::string, nlohmann::json> sorted;
  for (auto& [k, v] : j.items()) sorted[k] = v;
  for (auto& [id, v] : sorted) {
    Page p;
    p.id = id;
    p.url = v.value("url", "");
    p.truth = v.value("articleBody", "");
    p.html = gunzip_file(dir / "html" / (id + ".html.gz"));
    pages.push_back(std::move(p));
  }
  return pages;
}

// \w+ tokens: ASCII letters, digits, '_' and every non-ASCII code point that
// is not punctuation or a space (Python's \w, closely enough for this data).
inline std::vector<std::string> word_tokens(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + len > s.size()) len = 1;
    bool word;
    if (len == 1) {
      word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    } else {
      uint32_t cp = len == 2 ? ((c & 0x1F) << 6) | (s[i + 1] & 0x3F)
                  : len == 3 ? ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F)
                             : ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) |
                                   ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
      word = !(cp <= 0xBF && cp != 0xAA && cp != 0xB2 && cp != 0xB3 && cp != 0xB5 && cp != 0xB9 &&
               cp != 0xBA && !(cp >= 0xBC && cp <= 0xBE)) &&
             cp != 0xD7 && cp != 0xF7 && !(cp >= 0x2000 && cp <= 0x206F) &&
             !(cp >= 0x3000 && cp <= 0x303F) && !(cp >= 0xFF00 && cp <= 0xFF0F) &&
             !(cp >= 0x2190 && cp <= 0x2BFF) && cp != 0xFFFD && !(cp >= 0x1F000 && cp <= 0x1FAFF);
    }
    if (word) cur.append(s, i, len);
    else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
    i += len;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

struct Counts {
  double tp = 0, fp = 0, fn = 0;
};

inline Counts shingle_match(const std::string& truth, const std::string& pred, size_t n = 4) {
  auto shingles = [n](const std::string& text) {
    std::unordered_map<std::string, int> m;
    auto toks = word_tokens(text);
    for (size_t i = 0; i + n <= toks.size(); ++i) {
      std::string key;
      for (size_t k = 0; k < n; ++k) {
        key += toks[i + k];
        key += '\x1f';
      }
      ++m[key];
    }
    return m;
  };
  auto t = shingles(truth), p = shingles(pred);
  Counts c;
  for (auto& [k, tc] : t) {
    auto it = p.find(k);
    int pc = it == p.end() ? 0 : it->second;
    c.tp += std::min(tc, pc);
    c.fn += std::max(0, tc - pc);
  }
  for (auto& [k, pc] : p) {
    auto it = t.find(k);
    int tc = it == t.end() ? 0 : it->second;
    c.fp += std::max(0, pc - tc);
  }
  double s = c.tp + c.fp + c.fn;
  if (s > 0) {
    c.tp /= s;
    c.fp /= s;
    c.fn /= s;
  }
  return c;
}

struct Score {
  double precision = 0, recall = 0, f1 = 0;
};

inline Score score_of(const std::vector<Counts>& per_page) {
  Counts sum;
  for (const auto& c : per_page) {
    sum.tp += c.tp;
    sum.fp += c.fp;
    sum.fn += c.fn;
  }
  Score s;
  s.precision = sum.tp + sum.fp > 0 ? sum.tp / (sum.tp + sum.fp) : 0;
  s.recall = sum.tp + sum.fn > 0 ? sum.tp / (sum.tp + sum.fn) : 0;
  s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0;
  return s;
}

}  // namespace rewoo::bench
