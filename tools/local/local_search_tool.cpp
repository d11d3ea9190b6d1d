#include "tools/local/local_search_tool.h"

#include <sstream>

#include "tools/local/doc_store.h"

namespace rewoo::tools {

std::string format_local_hits(const std::string& query, const std::vector<LocalHit>& hits) {
  if (hits.empty()) return "No results for '" + query + "'.";
  std::string out;
  for (size_t i = 0; i < hits.size(); ++i) {
    const LocalHit& h = hits[i];
    if (i) out += '\n';
    out += std::to_string(i + 1) + ". " + h.title + "\n   " + h.url + "\n   " + h.snippet + "\n";
  }
  return out;
}

namespace {

class LocalSearchTool final : public Tool {
 public:
  LocalSearchTool(std::shared_ptr<const LocalIndex> index, std::string name, int results)
      : index_(std::move(index)), name_(std::move(name)), results_(results) {}
  std::string name() const override { return name_; }
  std::string description() const override {
    return "Searches the local document collection and returns the best matching documents "
           "with their doc:// links and a snippet of each. The input is a search query.";
  }
  std::string input_description() const override { return "a search query"; }
  std::string source() const override { return "local index " + index_->db_path().string(); }
  ToolResult invoke(const std::string& input, const ToolContext&) override {
    auto hits = index_->search(input, results_);
    if (!hits) return ToolResult::failure(hits.error().to_string());
    std::vector<std::string> sources;
    for (const auto& h : *hits) sources.push_back(h.url);
    return ToolResult::success(format_local_hits(input, *hits), std::move(sources));
  }

 private:
  std::shared_ptr<const LocalIndex> index_;
  std::string name_;
  int results_;
};

class LocalReaderTool final : public Tool {
 public:
  LocalReaderTool(std::shared_ptr<const LocalIndex> index, std::string name, size_t per_doc,
                  size_t total)
      : store_(std::move(index)), name_(std::move(name)), per_doc_(per_doc), total_(total) {}
  std::string name() const override { return name_; }
  std::string description() const override {
    return "Reads documents of the local collection: give it doc:// links, one per line, and it "
           "returns the text of each.";
  }
  std::string input_description() const override { return "newline-separated doc:// links"; }
  ToolResult invoke(const std::string& input, const ToolContext& ctx) override {
    std::istringstream in(input);
    std::string line, out;
    std::vector<std::string> sources;
    bool any_ok = false;
    while (std::getline(in, line)) {
      if (ctx.is_cancelled()) break;
      // Accept the URL anywhere on the line (search results indent them).
      size_t at = line.find("doc://");
      std::string url;
      if (at == std::string::npos) {
        size_t b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos) continue;
        url = line.substr(b);
      } else {
        url = line.substr(at);
      }
      size_t e = url.find_first_of(" \t\r");
      if (e != std::string::npos) url.resize(e);
      if (out.size() >= total_) {
        out += "[stopped: total text cap of " + std::to_string(total_) + " bytes reached]\n";
        break;
      }
      auto text = store_.read_as_evidence(url, per_doc_);
      if (!out.empty()) out += '\n';
      if (!text) {
        out += url + "\n[refused: " + text.error().message + "]\n";
        continue;
      }
      any_ok = true;
      sources.push_back(url);
      out += *text + "\n";
    }
    if (out.empty()) return ToolResult::failure("no doc:// links in the input");
    if (!any_ok) return ToolResult::failure(out);
    return ToolResult::success(out, std::move(sources));
  }

 private:
  DocStore store_;
  std::string name_;
  size_t per_doc_, total_;
};

}  // namespace

ToolPtr make_local_search_tool(std::shared_ptr<const LocalIndex> index, std::string name,
                               int results) {
  return std::make_shared<LocalSearchTool>(std::move(index), std::move(name), results);
}

ToolPtr make_local_reader_tool(std::shared_ptr<const LocalIndex> index, std::string name,
                               size_t max_chars_per_doc, size_t max_chars_total) {
  return std::make_shared<LocalReaderTool>(std::move(index), std::move(name), max_chars_per_doc,
                                           max_chars_total);
}

}  // namespace rewoo::tools
