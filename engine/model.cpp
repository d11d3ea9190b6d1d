#include "engine/model.h"

#include <stdexcept>

#include <fmt/format.h>

#include "engine/model_loader.h"

namespace rewoo::engine {

namespace fs = std::filesystem;

namespace {
// tokenizer.model beside the weights, or (llama2.c) a tok*.model there.
fs::path find_tokenizer(const fs::path& path) {
  fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  if (dir.empty()) dir = ".";
  if (fs::exists(dir / "tokenizer.model")) return dir / "tokenizer.model";
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".model" && e.path().filename().string().rfind("tok", 0) == 0) return e.path();
  return {};
}
}  // namespace

const Tokenizer& Model::tokenizer() const {
  if (!tokenizer_) throw std::logic_error("model was loaded without a tokenizer");
  return *tokenizer_;
}

Result<std::unique_ptr<Model>> Model::load(const fs::path& path, const LoadOptions& opts) {
  auto w = load_weights(path);
  if (!w) return w.error();
  std::unique_ptr<Tokenizer> tok;
  if (opts.load_tokenizer) {
    fs::path tp = opts.tokenizer_path.empty() ? find_tokenizer(path) : opts.tokenizer_path;
    if (tp.empty())
      return Error("no tokenizer.model beside the model; pass --tokenizer PATH (a SentencePiece .model)", path.string());
    auto t = Tokenizer::load(tp);
    if (!t) return t.error();
    tok = std::move(*t);
    if (tok->vocab_size() != (*w)->config.vocab_size)
      return Error(fmt::format("tokenizer has {} pieces but the model's vocab_size is {}", tok->vocab_size(),
                               (*w)->config.vocab_size), tp.string());
  }
  auto m = from_weights(std::move(*w), std::move(tok), opts.backend);
  if (!m) return m.error();
  (*m)->path_ = path;
  return m;
}

Result<std::unique_ptr<Model>> Model::from_weights(std::shared_ptr<const Weights> weights,
                                                   std::unique_ptr<Tokenizer> tokenizer,
                                                   const BackendOptions& opts) {
  std::unique_ptr<Model> m(new Model());
  auto be = make_backend(weights, opts);
  if (!be) return be.error();
  m->weights_ = std::move(weights);
  m->tokenizer_ = std::move(tokenizer);
  m->backend_ = std::move(*be);
  return m;
}

std::unique_ptr<Model> Model::from_backend(std::shared_ptr<const Weights> weights,
                                           std::unique_ptr<Tokenizer> tokenizer,
                                           std::unique_ptr<Backend> backend) {
  std::unique_ptr<Model> m(new Model());
  m->weights_ = std::move(weights);
  m->tokenizer_ = std::move(tokenizer);
  m->backend_ = std::move(backend);
  return m;
}

}  // namespace rewoo::engine
