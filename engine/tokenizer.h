// Tokenizer: SentencePiece (Llama's tokenizer.model), plus what generation and
// grammar matching need on top of it.
//
//   auto tok = Tokenizer::load("tokenizer.model");
//   std::vector<int32_t> ids = (*tok)->encode("Hello world", /*add_bos=*/true);
//   std::string text = (*tok)->decode(ids);
//
// token_bytes() gives the exact bytes each id contributes to decoded text:
// `▁` is a space, byte-fallback pieces `<0xNN>` are the raw byte NN, control
// pieces (<s>, </s>, <unk>) are empty. StreamDecoder turns a stream of ids
// into text without ever emitting half a UTF-8 character.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/result.h"

namespace rewoo::engine {

class Tokenizer {
 public:
  // Loads a SentencePiece model file; errors name the file.
  static Result<std::unique_ptr<Tokenizer>> load(const std::filesystem::path& path);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text -> ids (SentencePiece's normalisation and dummy prefix), with BOS
  // first if add_bos. Empty text gives just [BOS] (or nothing).
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;
  // Text that continues existing text: no BOS and no dummy-prefix space
  // (for jump-forward and appended prompt pieces).
  std::vector<int32_t> encode_continuation(std::string_view text) const;
  // ids -> text as SentencePiece decodes it (leading dummy space removed).
  std::string decode(const std::vector<int32_t>& ids) const;

  int vocab_size() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t unk_id() const;
  // The piece as stored ("▁the", "<0x0A>", "<s>").
  std::string piece(int32_t id) const;
  // Bytes id contributes to output text (see the header comment).
  const std::string& token_bytes(int32_t id) const;
  // token_bytes for every id, indexed by id (for grammar matchers).
  const std::vector<std::string>& all_token_bytes() const;
  bool is_control(int32_t id) const;  // <s>, </s>, <unk> and other control pieces

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Incremental detokenizer for streaming: push ids, get back the text that is
// now complete. A space right after BOS (the dummy prefix) is dropped, as
// llama2.c and SentencePiece do. Bytes of an unfinished UTF-8 character are
// held back; invalid bytes become U+FFFD.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {}
  // `prev` is the token before `id` (BOS at the start of a sequence, -1 for
  // none); returns newly completed text (possibly empty).
  std::string push(int32_t id, int32_t prev);
  // Whatever is held back, with incomplete sequences as U+FFFD.
  std::string flush();

 private:
  const Tokenizer& tok_;
  std::string pending_;
};

}  // namespace rewoo::engine
