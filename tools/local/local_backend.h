// The `local` search backend as the web tools use it: one LocalIndex per
// document folder per process, opened and brought up to date on first use.
//
//   web:
//     search: {backend: local, dir: tests/data/demo/corpus}   # db: DIR/.rewoo-index.db
//
// DuckDuckGo[query] then answers from the folder's index, and TextScraper
// reads doc:// URLs through a DocStore over the same index.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/base/result.h"
#include "tools/local/local_index.h"

namespace rewoo::tools {

// The shared index of `dir` (at `db`, or DIR/.rewoo-index.db). The first call
// for a folder indexes it incrementally; later calls return the same index.
Result<std::shared_ptr<LocalIndex>> shared_local_index(const std::string& dir,
                                                       const std::string& db = {});

// TextScraper's text for the doc:// URLs in `input` (one per line or
// anywhere in the text), read from the shared index of `dir`: per document
// "=== doc://path ===\nTitle: T\n<text>", blank-line separated, each cut to
// `page_chars` and the whole to `total_chars`. URLs outside the index are
// refused in the text; ok is false when none could be read.
struct LocalRead {
  bool ok = false;
  std::string text;
  std::vector<std::string> sources;
};
LocalRead read_local_documents(const std::string& dir, const std::string& db,
                               const std::string& input, size_t page_chars, size_t total_chars);

}  // namespace rewoo::tools
