// bench_local_search: indexing and query speed of the local (SQLite FTS5)
// search backend on generated documents.
//
//   build/tests/bench/bench_local_search [--docs 10000] [--queries 1000] [--words 180]
//
// Targets (issue 8): index 10,000 documents in <= 20 s, query p50 <= 5 ms.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tools/local/local_index.h"

namespace fs = std::filesystem;
using rewoo::tools::LocalIndex;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A pseudo-word from a number: syllables, so words look like a language and
// the tokenizer sees realistic lengths.
std::string word(uint32_t n) {
  static const char* kSyl[] = {"ka", "lo", "mi", "ren", "tas", "vor", "el", "dun", "sa", "qui",
                               "bra", "neth", "o", "pil", "gar", "ith", "zu", "fen", "ma", "cor"};
  std::string w;
  do {
    w += kSyl[n % 20];
    n /= 20;
  } while (n);
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  int docs = 10000, queries = 1000, words = 180;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--docs") docs = std::atoi(argv[i + 1]);
    else if (a == "--queries") queries = std::atoi(argv[i + 1]);
    else if (a == "--words") words = std::atoi(argv[i + 1]);
  }
  fs::path dir = fs::temp_directory_path() / ("rewoo-bench-local-" + std::to_string(::getpid()));
  fs::create_directories(dir / "docs");
  std::mt19937 rng(42);
  // Zipf-like vocabulary: 20,000 words, word rank r drawn with weight 1/(r+1).
  const int kVocab = 20000;
  std::vector<double> cdf(kVocab);
  double acc = 0;
  for (int r = 0; r < kVocab; ++r) cdf[r] = (acc += 1.0 / (r + 1));
  auto draw = [&] {
    double u = std::uniform_real_distribution<double>(0, acc)(rng);
    return static_cast<uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
  };
  double t0 = now_s();
  for (int d = 0; d < docs; ++d) {
    std::string shard = "s", name = "doc";
    shard += std::to_string(d % 100);
    name += std::to_string(d);
    name += ".md";
    fs::path p = dir / "docs" / shard / name;
    fs::create_directories(p.parent_path());
    std::ofstream f(p);
    f << "# " << word(draw()) << ' ' << word(draw()) << "\n\n";
    for (int w = 0; w < words; ++w) f << word(draw()) << ((w % 15 == 14) ? ".\n" : " ");
  }
  double t_gen = now_s() - t0;

  auto idx = LocalIndex::open(dir / "index.db");
  if (!idx) {
    std::fprintf(stderr, "%s\n", idx.error().to_string().c_str());
    return 1;
  }
  t0 = now_s();
  auto st = idx->update(dir / "docs");
  double t_index = now_s() - t0;
  if (!st) {
    std::fprintf(stderr, "%s\n", st.error().to_string().c_str());
    return 1;
  }
  t0 = now_s();
  auto st2 = idx->update(dir / "docs");
  double t_reindex = now_s() - t0;

  // Queries: 2-4 words of mid-frequency ranks plus one common word, as
  // natural-language questions do.
  std::vector<double> lat;
  size_t total_hits = 0;
  std::uniform_int_distribution<int> nw(2, 4), mid(50, 5000);
  for (int q = 0; q < queries; ++q) {
    std::string text = "what is the";
    for (int k = nw(rng); k > 0; --k) {
      text += ' ';
      text += word(static_cast<uint32_t>(mid(rng)));
    }
    double a = now_s();
    auto hits = idx->search(text, 5);
    lat.push_back((now_s() - a) * 1000);
    if (hits) total_hits += hits->size();
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))]; };
  uintmax_t db_bytes = fs::file_size(dir / "index.db");

  std::printf("bench_local_search: %d docs x %d words, %d queries\n", docs, words, queries);
  std::printf("  generate files      %8.2f s\n", t_gen);
  std::printf("  index (full)        %8.2f s   (%zu added; target <= 20 s)\n", t_index, st->added);
  std::printf("  re-index (no change)%8.2f s   (%zu unchanged)\n", t_reindex,
              st2 ? st2->unchanged : 0);
  std::printf("  index size          %8.1f MB\n", db_bytes / 1e6);
  std::printf("  query p50           %8.3f ms  (target <= 5 ms)\n", pct(0.50));
  std::printf("  query p95           %8.3f ms\n", pct(0.95));
  std::printf("  query max           %8.3f ms\n", lat.back());
  std::printf("  mean hits/query     %8.2f\n", double(total_hits) / queries);
  std::error_code ec;
  fs::remove_all(dir, ec);
  bool ok = t_index <= 20.0 && pct(0.50) <= 5.0;
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
