#include "tools/local/local_index.h"

#include "tools/html/html_dom.h"
#include "tools/html/main_text.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace rewoo::tools {
namespace fs = std::filesystem;

namespace {

// ---- SQLite helpers ----------------------------------------------------------

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

Error db_error(sqlite3* db, const std::string& what, const std::string& where) {
  return Error(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"), where);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

// 64-bit FNV-1a: enough to tell a changed file from a touched one.
uint64_t fnv1a(const std::string& data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// ---- Document types -----------------------------------------------------------

enum class DocType { kNone, kText, kMarkdown, kHtml };

DocType doc_type_of(const fs::path& p) {
  std::string ext = lower_ascii(p.extension().string());
  if (ext == ".txt" || ext == ".text") return DocType::kText;
  if (ext == ".md" || ext == ".markdown") return DocType::kMarkdown;
  if (ext == ".html" || ext == ".htm") return DocType::kHtml;
  return DocType::kNone;
}

std::string first_line_title(const std::string& text, const std::string& fallback) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty()) continue;
    if (line.rfind("#", 0) == 0) line = trim(line.substr(line.find_first_not_of('#')));
    if (line.size() > 160) line = line.substr(0, 160);
    if (!line.empty()) return line;
  }
  return fallback;
}

// The Markdown title: the first "# " heading, else the first line.
std::string markdown_title(const std::string& text, const std::string& fallback) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) {
      std::string t = trim(line.substr(2));
      if (!t.empty()) return t;
    }
  }
  return first_line_title(text, fallback);
}

struct Extracted {
  std::string title;
  std::string text;
};

Extracted extract(DocType type, const std::string& raw, const std::string& stem) {
  switch (type) {
    case DocType::kMarkdown:
      return {markdown_title(raw, stem), raw};
    case DocType::kHtml: {
      // The web tools' main-text extractor: the same text TextScraper would
      // keep of the page. A page it finds nothing in falls back to all text.
      html::ExtractedPage page = html::extract_main_text(raw);
      if (trim(page.text).empty()) {
        HtmlText h = html_to_text_basic(raw);
        page.text = h.text;
        if (page.title.empty()) page.title = h.title;
      }
      std::string title = page.title.empty() ? first_line_title(page.text, stem) : page.title;
      return {title, page.text};
    }
    case DocType::kText:
    case DocType::kNone:
      break;
  }
  return {first_line_title(raw, stem), raw};
}

// ---- Query rewriting ------------------------------------------------------------

const std::unordered_set<std::string>& stopwords() {
  static const std::unordered_set<std::string> kWords = {
      "a",     "about", "after", "all",   "also",  "an",    "and",   "any",   "are",  "as",
      "at",    "be",    "been",  "but",   "by",    "can",   "could", "did",   "do",   "does",
      "for",   "from",  "had",   "has",   "have",  "he",    "her",   "his",   "how",  "i",
      "if",    "in",    "into",  "is",    "it",    "its",   "me",    "my",    "no",   "not",
      "of",    "on",    "or",    "our",   "she",   "so",    "some",  "than",  "that", "the",
      "their", "them",  "then",  "there", "these", "they",  "this",  "those", "to",   "was",
      "we",    "were",  "what",  "when",  "where", "which", "who",   "whom",  "whose", "why",
      "will",  "with",  "would", "you",   "your",  "tell",  "find",  "give",  "name", "please"};
  return kWords;
}

}  // namespace

std::string fts_query_from_text(const std::string& query) {
  // Words: runs of ASCII letters/digits or any non-ASCII byte (UTF-8 letters);
  // everything else (punctuation, FTS5 operators, quotes) separates words.
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) words.push_back(lower_ascii(cur));
    cur.clear();
  };
  for (unsigned char c : query) {
    if (std::isalnum(c) || c >= 0x80)
      cur.push_back(static_cast<char>(c));
    else
      flush();
  }
  flush();
  std::vector<std::string> kept;
  std::set<std::string> seen;
  for (const auto& w : words)
    if (!stopwords().count(w) && seen.insert(w).second) kept.push_back(w);
  if (kept.empty())
    for (const auto& w : words)
      if (seen.insert(w).second) kept.push_back(w);
  std::string out;
  for (const auto& w : kept) {
    if (!out.empty()) out += " OR ";
    out += '"' + w + '"';  // words hold no '"': it is a separator above
  }
  return out;
}

std::filesystem::path default_index_path(const std::filesystem::path& folder) {
  return folder / ".rewoo-index.db";
}

Result<std::shared_ptr<LocalIndex>> open_and_update_index(const std::filesystem::path& folder,
                                                          const std::filesystem::path& db) {
  auto idx = LocalIndex::open(db.empty() ? default_index_path(folder) : db);
  if (!idx) return idx.error();
  auto stats = idx->update(folder);
  if (!stats) return stats.error();
  return std::make_shared<LocalIndex>(std::move(*idx));
}

std::string doc_url(const std::string& relative_path) { return "doc://" + relative_path; }

Result<std::string> doc_url_path(const std::string& url) {
  static const std::string kScheme = "doc://";
  if (url.size() < kScheme.size() || lower_ascii(url.substr(0, kScheme.size())) != kScheme)
    return Error("not a doc:// URL: '" + url + "'", "doc url");
  std::string enc = url.substr(kScheme.size());
  std::string path;
  for (size_t i = 0; i < enc.size(); ++i) {
    char c = enc[i];
    if (c == '%' && i + 2 < enc.size() && std::isxdigit(static_cast<unsigned char>(enc[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(enc[i + 2]))) {
      path.push_back(static_cast<char>(std::stoi(enc.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else if (c == '?' || c == '#') {
      break;  // a query or fragment names the same document
    } else {
      path.push_back(c);
    }
  }
  auto refuse = [&](const std::string& why) {
    return Error("refused '" + url + "': " + why +
                     "; expected doc://<path of a document in the index>",
                 "doc url");
  };
  if (path.empty()) return refuse("no document path");
  if (path[0] == '/') return refuse("absolute paths are outside the index");
  for (unsigned char c : path)
    if (c < 0x20 || c == 0x7f || c == '\\') return refuse("control byte or backslash in the path");
  std::istringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '/'))
    if (part == "..") return refuse("'..' leaves the indexed folder");
  if (path.find(':') != std::string::npos && path.find('/') > path.find(':'))
    return refuse("a scheme or drive inside the path");
  // Collapse "./" and "//" so that doc://a/./b and doc://a//b name a/b.
  std::string norm;
  std::istringstream again(path);
  while (std::getline(again, part, '/')) {
    if (part.empty() || part == ".") continue;
    if (!norm.empty()) norm += '/';
    norm += part;
  }
  if (norm.empty()) return refuse("no document path");
  return norm;
}

// ---- HTML fallback --------------------------------------------------------------

namespace {

// Paragraph breaks are marked by a line holding only kPara; other line breaks
// are single. Collapses runs of spaces inside lines, drops empty lines, and
// turns runs of paragraph marks into one blank line.
constexpr char kPara = '\x02';

std::string tidy_lines(const std::string& s) {
  std::string out;
  std::istringstream in(s);
  std::string line;
  bool para = false;
  while (std::getline(in, line)) {
    std::string t;
    bool space = false;
    for (char c : line) {
      if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        space = !t.empty();
      } else {
        if (space) t.push_back(' ');
        space = false;
        t.push_back(c);
      }
    }
    if (t.empty()) continue;
    if (t.size() == 1 && t[0] == kPara) {
      para = true;
      continue;
    }
    if (para && !out.empty()) out += '\n';
    para = false;
    out += t;
    out += '\n';
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

HtmlText html_to_text_basic(const std::string& html) {
  static const std::set<std::string> kDropWithContent = {
      "script", "style", "noscript", "template", "nav", "header", "footer",
      "aside",  "form",  "svg",      "iframe",   "head", "button", "select"};
  static const std::set<std::string> kParagraph = {
      "p",  "div", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "table",
      "section", "article", "main", "blockquote", "pre", "dl"};
  static const std::set<std::string> kLine = {"br", "li", "tr", "hr", "dd", "dt", "figcaption"};
  HtmlText r;
  std::string text;
  size_t i = 0, n = html.size();
  // <title> first: it lives in <head>, which is dropped below.
  {
    std::string low = lower_ascii(html.substr(0, std::min<size_t>(n, 1 << 16)));
    size_t a = low.find("<title");
    if (a != std::string::npos) {
      size_t gt = low.find('>', a);
      size_t b = gt == std::string::npos ? gt : low.find("</title", gt);
      if (b != std::string::npos)
        r.title = trim(tidy_lines(html::decode_entities(html.substr(gt + 1, b - gt - 1))));
      std::replace(r.title.begin(), r.title.end(), '\n', ' ');
    }
  }
  while (i < n) {
    if (html[i] != '<') {
      size_t next = html.find('<', i);
      if (next == std::string::npos) next = n;
      for (size_t k = i; k < next; ++k)
        if (html[k] != kPara) text.push_back(html[k]);
      i = next;
      continue;
    }
    if (html.compare(i, 4, "<!--") == 0) {
      size_t end = html.find("-->", i + 4);
      i = end == std::string::npos ? n : end + 3;
      continue;
    }
    size_t gt = html.find('>', i);
    if (gt == std::string::npos) break;
    std::string tag = html.substr(i + 1, gt - i - 1);
    bool closing = !tag.empty() && tag[0] == '/';
    size_t s = closing ? 1 : 0, e = s;
    while (e < tag.size() && (std::isalnum(static_cast<unsigned char>(tag[e])) || tag[e] == '-')) ++e;
    std::string name = lower_ascii(tag.substr(s, e - s));
    i = gt + 1;
    if (!closing && kDropWithContent.count(name) && (tag.empty() || tag.back() != '/')) {
      std::string low_close = "</" + name;
      // Case-insensitive search for the closing tag.
      size_t pos = i;
      size_t found = std::string::npos;
      while (pos < n) {
        size_t lt = html.find("</", pos);
        if (lt == std::string::npos) break;
        if (lower_ascii(html.substr(lt, low_close.size())) == low_close) {
          found = lt;
          break;
        }
        pos = lt + 2;
      }
      if (found == std::string::npos) {
        i = n;
      } else {
        size_t g2 = html.find('>', found);
        i = g2 == std::string::npos ? n : g2 + 1;
      }
      text += '\n';
      continue;
    }
    if (kParagraph.count(name)) text += "\n\x02\n";
    else if (kLine.count(name)) text += '\n';
    else if (name == "td" || name == "th") text += ' ';
  }
  r.text = tidy_lines(html::decode_entities(text));
  return r;
}

// ---- LocalIndex -------------------------------------------------------------------

struct LocalIndex::Impl {
  fs::path db_path;
  DbPtr db;
  mutable std::mutex mu;
  StmtPtr search_stmt;
  StmtPtr read_stmt;
  bool read_only = false;

  Status exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string m = msg ? msg : "unknown error";
      sqlite3_free(msg);
      return Error(std::string("SQL failed: ") + m, db_path.string());
    }
    return {};
  }

  Result<StmtPtr> prepare(const char* sql) const {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql, -1, &s, nullptr) != SQLITE_OK)
      return db_error(db.get(), std::string("cannot prepare '") + sql + "'", db_path.string());
    return StmtPtr(s);
  }

  std::string meta(const std::string& key) const {
    auto st = prepare("SELECT value FROM meta WHERE key = ?1");
    if (!st) return "";
    bind_text(st->get(), 1, key);
    return sqlite3_step(st->get()) == SQLITE_ROW ? column_text(st->get(), 0) : "";
  }

  Status set_meta(const std::string& key, const std::string& value) {
    auto st = prepare("INSERT INTO meta(key, value) VALUES(?1, ?2) "
                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!st) return st.error();
    bind_text(st->get(), 1, key);
    bind_text(st->get(), 2, value);
    if (sqlite3_step(st->get()) != SQLITE_DONE)
      return db_error(db.get(), "cannot write meta", db_path.string());
    return {};
  }
};

namespace {
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  mtime_ns INTEGER NOT NULL,
  size INTEGER NOT NULL,
  hash TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(
  title, body, content='docs', content_rowid='id',
  tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS docs_ai AFTER INSERT ON docs BEGIN
  INSERT INTO docs_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
CREATE TRIGGER IF NOT EXISTS docs_ad AFTER DELETE ON docs BEGIN
  INSERT INTO docs_fts(docs_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
CREATE TRIGGER IF NOT EXISTS docs_au AFTER UPDATE OF title, body ON docs BEGIN
  INSERT INTO docs_fts(docs_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
  INSERT INTO docs_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
)sql";

// Title matches weigh 4x body matches: a document named after the query's
// subject should win over one that mentions it in passing.
constexpr const char* kSearchSql =
    "SELECT d.path, d.title, snippet(docs_fts, 1, '', '', ' ... ', 40), bm25(docs_fts, 4.0, 1.0) AS s "
    "FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid "
    "WHERE docs_fts MATCH ?1 ORDER BY s LIMIT ?2";
constexpr const char* kReadSql = "SELECT path, title, body FROM docs WHERE path = ?1";
constexpr const char* kSchemaVersion = "1";
}  // namespace

LocalIndex::LocalIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalIndex::LocalIndex(LocalIndex&&) noexcept = default;
LocalIndex& LocalIndex::operator=(LocalIndex&&) noexcept = default;
LocalIndex::~LocalIndex() = default;

Result<LocalIndex> LocalIndex::open(const fs::path& db_path, Mode mode) {
  auto impl = std::make_unique<Impl>();
  impl->db_path = db_path;
  impl->read_only = mode == Mode::kReadOnly;
  if (impl->read_only && !fs::exists(db_path))
    return Error("no index here; build one with `rewoo index DIR --db " + db_path.string() + "`",
                 db_path.string());
  if (!impl->read_only && db_path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(db_path.parent_path(), ec);
  }
  sqlite3* raw = nullptr;
  int flags = impl->read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(db_path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  impl->db.reset(raw);
  if (rc != SQLITE_OK) return db_error(raw, "cannot open the index", db_path.string());
  sqlite3_busy_timeout(raw, 5000);
  if (!impl->read_only) {
    auto st = impl->exec(kSchema);
    if (!st) return st.error().wrap("creating the index schema (is this an rewoo index?)");
    std::string v = impl->meta("schema");
    if (v.empty()) REWOO_TRY(impl->set_meta("schema", kSchemaVersion));
    else if (v != kSchemaVersion)
      return Error("index schema version " + v + ", expected " + kSchemaVersion +
                       "; delete the file and index again", db_path.string());
  }
  auto s = impl->prepare(kSearchSql);
  if (!s) return s.error().wrap("not an rewoo index");
  impl->search_stmt = std::move(*s);
  auto r = impl->prepare(kReadSql);
  if (!r) return r.error().wrap("not an rewoo index");
  impl->read_stmt = std::move(*r);
  return LocalIndex(std::move(impl));
}

const fs::path& LocalIndex::db_path() const { return impl_->db_path; }

std::string LocalIndex::root() const {
  std::lock_guard lock(impl_->mu);
  return impl_->meta("root");
}

size_t LocalIndex::document_count() const {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->prepare("SELECT count(*) FROM docs");
  if (!st || sqlite3_step(st->get()) != SQLITE_ROW) return 0;
  return static_cast<size_t>(sqlite3_column_int64(st->get(), 0));
}

Result<IndexStats> LocalIndex::update(const fs::path& root_in, const IndexOptions& options) {
  if (impl_->read_only) return Error("the index was opened read-only", impl_->db_path.string());
  auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  fs::path root = fs::canonical(root_in, ec);
  if (ec || !fs::is_directory(root))
    return Error("not a folder: expected a directory of .md, .txt or .html documents",
                 root_in.string());
  fs::path db_abs = fs::weakly_canonical(impl_->db_path, ec);

  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  struct Known {
    int64_t id;
    int64_t mtime_ns;
    int64_t size;
    std::string hash;
    bool seen = false;
  };
  std::unordered_map<std::string, Known> known;
  {
    auto st = m.prepare("SELECT id, path, mtime_ns, size, hash FROM docs");
    if (!st) return st.error();
    while (sqlite3_step(st->get()) == SQLITE_ROW)
      known.emplace(column_text(st->get(), 1),
                    Known{sqlite3_column_int64(st->get(), 0), sqlite3_column_int64(st->get(), 2),
                          sqlite3_column_int64(st->get(), 3), column_text(st->get(), 4)});
  }
  REWOO_TRY(m.exec("BEGIN IMMEDIATE"));
  auto rollback = [&](Error e) {
    (void)m.exec("ROLLBACK");
    return e;
  };
  auto ins = m.prepare(
      "INSERT INTO docs(path, title, body, mtime_ns, size, hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  auto upd = m.prepare(
      "UPDATE docs SET title = ?2, body = ?3, mtime_ns = ?4, size = ?5, hash = ?6 WHERE id = ?1");
  auto stamp = m.prepare("UPDATE docs SET mtime_ns = ?2, size = ?3 WHERE id = ?1");
  auto del = m.prepare("DELETE FROM docs WHERE id = ?1");
  if (!ins || !upd || !stamp || !del) return rollback(Error("cannot prepare the index statements"));

  IndexStats stats;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return rollback(Error("cannot list the folder: " + ec.message(), root.string()));
  for (; it != end; it.increment(ec)) {
    if (ec) {
      ec.clear();
      continue;
    }
    const fs::path& p = it->path();
    std::string fname = p.filename().string();
    if (!fname.empty() && fname[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink(ec)) continue;
    if (!it->is_regular_file(ec)) continue;
    DocType type = doc_type_of(p);
    if (type == DocType::kNone) continue;
    if (p == db_abs) continue;
    ++stats.scanned;
    struct stat sb;
    if (::stat(p.c_str(), &sb) != 0) {
      ++stats.skipped;
      continue;
    }
    int64_t mtime_ns = static_cast<int64_t>(sb.st_mtim.tv_sec) * 1000000000 + sb.st_mtim.tv_nsec;
    int64_t size = static_cast<int64_t>(sb.st_size);
    std::string rel = fs::relative(p, root, ec).generic_string();
    if (ec || rel.empty() || rel.rfind("..", 0) == 0) {
      ++stats.skipped;
      continue;
    }
    auto k = known.find(rel);
    if (k != known.end()) {
      k->second.seen = true;
      if (k->second.mtime_ns == mtime_ns && k->second.size == size) {
        ++stats.unchanged;
        continue;
      }
    }
    if (static_cast<uint64_t>(size) > options.max_file_bytes) {
      ++stats.skipped;
      if (k != known.end()) k->second.seen = false;  // drop the stale copy
      continue;
    }
    std::ifstream f(p, std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (!f && !f.eof()) {
      ++stats.skipped;
      continue;
    }
    std::string hash = hex64(fnv1a(raw));
    if (k != known.end() && k->second.hash == hash) {
      sqlite3_stmt* s = stamp->get();
      sqlite3_reset(s);
      sqlite3_bind_int64(s, 1, k->second.id);
      sqlite3_bind_int64(s, 2, mtime_ns);
      sqlite3_bind_int64(s, 3, size);
      if (sqlite3_step(s) != SQLITE_DONE)
        return rollback(db_error(m.db.get(), "cannot update " + rel, m.db_path.string()));
      ++stats.unchanged;
      continue;
    }
    Extracted doc = extract(type, raw, p.stem().string());
    sqlite3_stmt* s = k != known.end() ? upd->get() : ins->get();
    sqlite3_reset(s);
    if (k != known.end()) sqlite3_bind_int64(s, 1, k->second.id);
    else bind_text(s, 1, rel);
    bind_text(s, 2, doc.title);
    bind_text(s, 3, doc.text);
    sqlite3_bind_int64(s, 4, mtime_ns);
    sqlite3_bind_int64(s, 5, size);
    bind_text(s, 6, hash);
    if (sqlite3_step(s) != SQLITE_DONE)
      return rollback(db_error(m.db.get(), "cannot store " + rel, m.db_path.string()));
    if (k != known.end()) ++stats.updated;
    else ++stats.added;
  }
  for (const auto& [path, k] : known) {
    if (k.seen) continue;
    sqlite3_stmt* s = del->get();
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, k.id);
    if (sqlite3_step(s) != SQLITE_DONE)
      return rollback(db_error(m.db.get(), "cannot remove " + path, m.db_path.string()));
    ++stats.removed;
  }
  if (auto st = m.set_meta("root", root.string()); !st) return rollback(st.error());
  if (auto st = m.exec("COMMIT"); !st) return rollback(st.error());
  {
    auto st = m.prepare("SELECT count(*) FROM docs");
    if (st && sqlite3_step(st->get()) == SQLITE_ROW)
      stats.documents = static_cast<size_t>(sqlite3_column_int64(st->get(), 0));
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

Result<std::vector<LocalHit>> LocalIndex::search(const std::string& query, int limit) const {
  std::string match = fts_query_from_text(query);
  if (match.empty())
    return Error("the query has no words to search for: '" + query + "'", "local search");
  if (limit <= 0) limit = 5;
  std::lock_guard lock(impl_->mu);
  sqlite3_stmt* s = impl_->search_stmt.get();
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  bind_text(s, 1, match);
  sqlite3_bind_int(s, 2, limit);
  std::vector<LocalHit> hits;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    LocalHit h;
    h.url = doc_url(column_text(s, 0));
    h.title = column_text(s, 1);
    h.snippet = column_text(s, 2);
    std::replace(h.snippet.begin(), h.snippet.end(), '\n', ' ');
    h.snippet = trim(h.snippet);
    h.score = sqlite3_column_double(s, 3);
    hits.push_back(std::move(h));
  }
  if (rc != SQLITE_DONE)
    return db_error(impl_->db.get(), "search failed for '" + query + "'", impl_->db_path.string());
  sqlite3_reset(s);
  return hits;
}

Result<LocalDoc> LocalIndex::read(const std::string& url_or_path) const {
  std::string path;
  if (url_or_path.rfind("doc://", 0) == 0) {
    auto p = doc_url_path(url_or_path);
    if (!p) return p.error();
    path = *p;
  } else {
    auto p = doc_url_path("doc://" + url_or_path);
    if (!p) return p.error();
    path = *p;
  }
  std::lock_guard lock(impl_->mu);
  sqlite3_stmt* s = impl_->read_stmt.get();
  sqlite3_reset(s);
  bind_text(s, 1, path);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    LocalDoc d;
    d.path = column_text(s, 0);
    d.url = doc_url(d.path);
    d.title = column_text(s, 1);
    d.text = column_text(s, 2);
    sqlite3_reset(s);
    return d;
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return db_error(impl_->db.get(), "cannot read " + path, impl_->db_path.string());
  return Error("refused 'doc://" + path + "': no such document in the index (" +
                   impl_->db_path.string() + "); only indexed documents can be read",
               "doc url");
}

}  // namespace rewoo::tools
