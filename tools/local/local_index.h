// LocalIndex: offline full-text search over a folder of documents.
//
// An SQLite FTS5 index (BM25 ranking; unicode61 tokenizer with diacritics
// removed) of the text (.txt), Markdown (.md, .markdown) and HTML (.html, .htm)
// files under one root folder. update() is incremental: a file whose mtime and
// size are unchanged is skipped, one whose content hash is unchanged is only
// re-stamped, changed files are re-extracted and files that are gone are
// dropped. Each document is addressed as doc://<path relative to the root>,
// and its extracted text (HTML through tools/html's main-text extractor) is
// stored in the index, so readers (DocStore) never touch the file system.
//
//   auto idx = LocalIndex::open("corpus/.rewoo-index.db");   // creates it
//   auto stats = idx->update("corpus");                       // (re)indexes
//   auto hits = idx->search("who built the lantern bridge", 5);
//
// A LocalIndex may be shared between threads; calls are serialized.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/result.h"

namespace rewoo::tools {

struct LocalDoc {
  std::string url;    // doc://people/ada.md
  std::string path;   // people/ada.md (relative to the root, '/'-separated)
  std::string title;
  std::string text;   // extracted text (HTML → main text, Markdown/text as is)
};

struct LocalHit {
  std::string url;
  std::string title;
  std::string snippet;  // FTS5 snippet of the body around the matched terms
  double score = 0;     // BM25 (FTS5 sign: more negative = better)
};

struct IndexStats {
  size_t scanned = 0;    // candidate files seen under the root
  size_t added = 0;
  size_t updated = 0;    // content changed
  size_t unchanged = 0;  // same mtime+size, or same hash
  size_t removed = 0;    // in the index but gone from the folder
  size_t skipped = 0;    // unreadable, too large, or not a document type
  size_t documents = 0;  // in the index afterwards
  double seconds = 0;
};

struct IndexOptions {
  uint64_t max_file_bytes = 8u << 20;  // larger files are skipped
};

class LocalIndex {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (creating it unless read-only) the index database at `db`.
  static Result<LocalIndex> open(const std::filesystem::path& db, Mode mode = Mode::kReadWrite);

  LocalIndex(LocalIndex&&) noexcept;
  LocalIndex& operator=(LocalIndex&&) noexcept;
  ~LocalIndex();

  // Brings the index in line with the documents under `root`. Indexing a
  // different root than last time replaces the documents of the old one.
  // Hidden files and folders (".name") and symbolic links are not followed.
  Result<IndexStats> update(const std::filesystem::path& root, const IndexOptions& options = {});

  // The best `limit` documents for a natural-language or keyword query, best
  // first. Words are matched case- and accent-insensitively; common English
  // words are ignored unless the query has nothing else.
  Result<std::vector<LocalHit>> search(const std::string& query, int limit = 5) const;

  // The stored document for a doc:// URL or a relative path; an error if it is
  // not in the index (nothing outside the index is ever read).
  Result<LocalDoc> read(const std::string& url_or_path) const;

  size_t document_count() const;
  // The folder the index was last built from ("" if never).
  std::string root() const;
  const std::filesystem::path& db_path() const;

 private:
  struct Impl;
  explicit LocalIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Where `rewoo index DIR` keeps its database unless told: DIR/.rewoo-index.db
// (hidden, so never indexed itself).
std::filesystem::path default_index_path(const std::filesystem::path& folder);

// Opens the index of `folder` (at `db`, or the default path) and brings it up
// to date: what `rewoo ask` does before searching a local collection.
Result<std::shared_ptr<LocalIndex>> open_and_update_index(const std::filesystem::path& folder,
                                                          const std::filesystem::path& db = {});

// "doc://" + path. Paths use '/' and are relative to the index root.
std::string doc_url(const std::string& relative_path);

// The relative path of a doc:// URL after percent-decoding, or an error when
// it is not a doc:// URL or could name something outside the root (absolute,
// "..", backslashes, control bytes, empty).
Result<std::string> doc_url_path(const std::string& url);

// Text of an HTML document (script/style/nav/etc. dropped, block elements on
// their own lines, entities decoded) and its <title>: all of the visible text,
// used when the main-text extractor (tools/html) finds nothing.
struct HtmlText {
  std::string title;
  std::string text;
};
HtmlText html_to_text_basic(const std::string& html);

// The FTS5 MATCH expression rewoo uses for a free-text query: the query's
// words, quoted, joined with OR, common words dropped. "" if it has no words.
std::string fts_query_from_text(const std::string& query);

}  // namespace rewoo::tools
