#include "tools/local/doc_store.h"

namespace rewoo::tools {

bool DocStore::is_doc_url(const std::string& url) {
  if (url.size() < 6) return false;
  std::string head = url.substr(0, 6);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return head == "doc://";
}

Result<LocalDoc> DocStore::read(const std::string& url) const {
  if (!is_doc_url(url))
    return Error("refused '" + url + "': only doc:// URLs of the local index can be read here",
                 "doc url");
  auto path = doc_url_path(url);  // refuses "..", absolute paths, backslashes
  if (!path) return path.error();
  return index_->read(doc_url(*path));
}

Result<std::string> DocStore::read_as_evidence(const std::string& url, size_t max_chars) const {
  auto doc = read(url);
  if (!doc) return doc.error();
  std::string text = doc->text;
  if (text.size() > max_chars) {
    size_t cut = max_chars;
    // Do not split a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    size_t dropped = text.size() - cut;
    text = text.substr(0, cut) + "\n[truncated " + std::to_string(dropped) + " bytes]";
  }
  return doc->url + "\n" + doc->title + "\n\n" + text;
}

}  // namespace rewoo::tools
