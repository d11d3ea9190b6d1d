// Loads the Llama 2 vocabulary (32000 pieces) as grammar token bytes, straight
// from the SentencePiece model: "▁" -> space, byte pieces <0xNN> -> the byte,
// control and unknown pieces -> "" (never allowed by a grammar).
#pragma once

#include <cstdio>
#include <memory>
#include <vector>
#include <stdexcept>
#include <string>

#include <sentencepiece_processor.h>

#include "agent/grammar/token_matcher.h"

namespace rewoo::test {

inline std::shared_ptr<const agent::grammar::Vocabulary> load_sentencepiece_vocab(const std::string& path) {
  sentencepiece::SentencePieceProcessor sp;
  auto st = sp.Load(path);
  if (!st.ok()) throw std::runtime_error("cannot load " + path + ": " + st.ToString());
  auto v = std::make_shared<agent::grammar::Vocabulary>();
  v->eos = sp.eos_id();
  for (int i = 0; i < sp.GetPieceSize(); ++i) {
    std::string bytes;
    if (sp.IsControl(i) || sp.IsUnknown(i) || sp.IsUnused(i)) {
      // stays empty
    } else if (sp.IsByte(i)) {
      const std::string& p = sp.IdToPiece(i);  // "<0xNN>"
      bytes = std::string(1, static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
    } else {
      const std::string p = sp.IdToPiece(i);
      for (size_t j = 0; j < p.size();) {
        if (p.compare(j, 3, "\xE2\x96\x81") == 0) {
          bytes += ' ';
          j += 3;
        } else {
          bytes += p[j++];
        }
      }
    }
    v->tokens.push_back(std::move(bytes));
  }
  return v;
}

// Encodes text with the same model (no BOS), for feeding realistic token runs.
class SpTokenizer {
 public:
  explicit SpTokenizer(const std::string& path) {
    auto st = sp_.Load(path);
    if (!st.ok()) throw std::runtime_error("cannot load " + path);
  }
  // SentencePiece adds a leading "▁" to the first piece; a continuation in
  // the middle of an output has none, so the first piece is re-split.
  std::vector<int> encode(const std::string& text) const {
    std::vector<int> ids;
    sp_.Encode(text, &ids).IgnoreError();
    if (ids.empty() || text.empty()) return ids;
    std::string first = sp_.IdToPiece(ids[0]);
    if (first.rfind("\xE2\x96\x81", 0) != 0) return ids;
    first = first.substr(3);
    ids.erase(ids.begin());
    if (first.empty()) return ids;
    int id = sp_.PieceToId(first);
    if (id != sp_.unk_id()) {
      ids.insert(ids.begin(), id);
    } else {
      std::vector<int> bytes;
      for (unsigned char c : first) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "<0x%02X>", c);
        bytes.push_back(sp_.PieceToId(buf));
      }
      ids.insert(ids.begin(), bytes.begin(), bytes.end());
    }
    return ids;
  }

 private:
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace rewoo::test
