// DocStore: what TextScraper may read of the local documents: the stored text
// of doc:// URLs in one LocalIndex, and nothing else.
//
// It never opens a file: the text comes from the index database, so a doc://
// URL cannot reach past the indexed folder ("doc://../etc/passwd",
// "doc:///etc/passwd" and paths that were never indexed are refused with a
// reason). Safe to share between threads.
//
//   DocStore store(index);
//   if (DocStore::is_doc_url(url)) { auto doc = store.read(url); ... }
#pragma once

#include <memory>
#include <string>

#include "engine/base/result.h"
#include "tools/local/local_index.h"

namespace rewoo::tools {

class DocStore {
 public:
  explicit DocStore(std::shared_ptr<const LocalIndex> index) : index_(std::move(index)) {}

  static bool is_doc_url(const std::string& url);

  // The document, or an error saying why the URL is refused.
  Result<LocalDoc> read(const std::string& url) const;

  // The text TextScraper shows for one document: "doc://path\n<title>\n\n<text>",
  // cut to max_chars with a "[truncated ...]" marker.
  Result<std::string> read_as_evidence(const std::string& url, size_t max_chars = 8000) const;

  const LocalIndex& index() const { return *index_; }

 private:
  std::shared_ptr<const LocalIndex> index_;
};

}  // namespace rewoo::tools
