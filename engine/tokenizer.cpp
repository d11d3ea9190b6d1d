#include "engine/tokenizer.h"

#include <sentencepiece_processor.h>

#include <fmt/format.h>

namespace rewoo::engine {

struct Tokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
  std::vector<std::string> bytes;  // token_bytes per id
  std::vector<int32_t> newline_prefix;  // encode("\n") for encode_continuation
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return Error("is a directory (expected a tokenizer.model file)", path.string());
  auto impl = std::make_unique<Impl>();
  auto st = impl->sp.Load(path.string());
  if (!st.ok())
    return Error(fmt::format("cannot load SentencePiece model: {} (expected a tokenizer.model file)", st.ToString()),
                 path.string());
  const int n = impl->sp.GetPieceSize();
  impl->bytes.resize(n);
  for (int id = 0; id < n; ++id) {
    std::string p = impl->sp.IdToPiece(id);
    if (impl->sp.IsControl(id) || impl->sp.IsUnknown(id) || impl->sp.IsUnused(id)) continue;
    if (impl->sp.IsByte(id) && p.size() == 6 && p.rfind("<0x", 0) == 0) {
      impl->bytes[id] = std::string(1, static_cast<char>(std::stoi(p.substr(3, 2), nullptr, 16)));
      continue;
    }
    std::string out;
    for (size_t i = 0; i < p.size();) {
      if (p.compare(i, 3, "\xe2\x96\x81") == 0) {  // U+2581 LOWER ONE EIGHTH BLOCK
        out.push_back(' ');
        i += 3;
      } else {
        out.push_back(p[i++]);
      }
    }
    impl->bytes[id] = std::move(out);
  }
  std::vector<int> nl;
  impl->sp.Encode("\n", &nl);
  impl->newline_prefix.assign(nl.begin(), nl.end());
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  if (!text.empty()) impl_->sp.Encode(std::string(text), &ids);
  std::vector<int32_t> out;
  out.reserve(ids.size() + 1);
  if (add_bos && bos_id() >= 0) out.push_back(bos_id());
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

std::vector<int32_t> Tokenizer::encode_continuation(std::string_view text) const {
  if (text.empty()) return {};
  // SentencePiece always adds its dummy-prefix space; encode "\n" + text and
  // drop the tokens of "\n" (a byte-fallback piece that merges with nothing).
  std::vector<int> ids;
  std::string with_nl;
  with_nl.reserve(text.size() + 1);
  with_nl.push_back('\n');
  with_nl.append(text);
  impl_->sp.Encode(with_nl, &ids);
  const auto& pre = impl_->newline_prefix;
  if (ids.size() >= pre.size() && std::equal(pre.begin(), pre.end(), ids.begin()))
    return std::vector<int32_t>(ids.begin() + static_cast<long>(pre.size()), ids.end());
  return encode(text, false);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::vector<int> v(ids.begin(), ids.end());
  std::string out;
  impl_->sp.Decode(v, &out);
  return out;
}

int Tokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }
int32_t Tokenizer::bos_id() const { return impl_->sp.bos_id(); }
int32_t Tokenizer::eos_id() const { return impl_->sp.eos_id(); }
int32_t Tokenizer::unk_id() const { return impl_->sp.unk_id(); }
std::string Tokenizer::piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return impl_->sp.IdToPiece(id);
}
const std::string& Tokenizer::token_bytes(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || static_cast<size_t>(id) >= impl_->bytes.size()) return kEmpty;
  return impl_->bytes[id];
}
const std::vector<std::string>& Tokenizer::all_token_bytes() const { return impl_->bytes; }
bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && id < vocab_size() && (impl_->sp.IsControl(id) || impl_->sp.IsUnknown(id));
}

namespace {
// Length of the UTF-8 sequence a lead byte starts, 0 if it cannot start one.
int utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return 2;
  if (c >= 0xe0 && c <= 0xef) return 3;
  if (c >= 0xf0 && c <= 0xf4) return 4;
  return 0;
}
bool utf8_cont_ok(unsigned char lead, size_t i, unsigned char c) {
  if ((c & 0xc0) != 0x80) return false;
  if (i == 1) {  // exclude overlongs and surrogates
    if (lead == 0xe0 && c < 0xa0) return false;
    if (lead == 0xed && c > 0x9f) return false;
    if (lead == 0xf0 && c < 0x90) return false;
    if (lead == 0xf4 && c > 0x8f) return false;
  }
  return true;
}
constexpr const char* kReplacement = "\xef\xbf\xbd";

// Moves the complete, valid UTF-8 prefix of *buf into the result; with
// `final`, incomplete tails become U+FFFD too.
std::string take_utf8(std::string* buf, bool final) {
  std::string out;
  const std::string& b = *buf;
  size_t i = 0;
  while (i < b.size()) {
    unsigned char c = static_cast<unsigned char>(b[i]);
    int n = utf8_len(c);
    if (n == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    while (k < static_cast<size_t>(n) && i + k < b.size() &&
           utf8_cont_ok(c, k, static_cast<unsigned char>(b[i + k])))
      ++k;
    if (k == static_cast<size_t>(n)) {
      out.append(b, i, n);
      i += n;
    } else if (i + k == b.size() && !final) {
      break;  // may still complete
    } else {
      out += kReplacement;
      i += k;
    }
  }
  buf->erase(0, i);
  return out;
}
}  // namespace

std::string StreamDecoder::push(int32_t id, int32_t prev) {
  const std::string& b = tok_.token_bytes(id);
  if (!b.empty() && b[0] == ' ' && (prev < 0 || prev == tok_.bos_id()))
    pending_.append(b, 1, std::string::npos);
  else
    pending_ += b;
  return take_utf8(&pending_, false);
}

std::string StreamDecoder::flush() { return take_utf8(&pending_, true); }

}  // namespace rewoo::engine
