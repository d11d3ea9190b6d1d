// EngineLanguageModel: the agent's front to the in-process engine, with
// concurrent calls gathered into batches by a leader thread.
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

#include "agent/engine_llm.h"
#include "engine/model.h"
#include "tests/test_util.h"

using namespace rewoo;

namespace {

// A backend whose forward pass throws (as the CPU backend's does when a
// parallel chunk throws, e.g. std::bad_alloc) on its first `throws` calls.
class ThrowingBackend final : public engine::Backend {
 public:
  explicit ThrowingBackend(int vocab, int throws) : vocab_(vocab), throws_(throws) {}
  std::string name() const override { return "throwing fake"; }
  Status forward(std::span<const engine::SeqBatchEntry> batch, engine::Logits& out) override {
    if (throws_ > 0) {
      --throws_;
      throw std::runtime_error("out of memory in a forward chunk");
    }
    out.resize_for(batch, vocab_);
    for (float& x : out.data) x = 0.0f;
    for (size_t e = 0; e < batch.size(); ++e) out.row(e)[5] = 10.0f;  // always token 5
    return {};
  }
  int n_slots() const override { return 2; }
  int max_seq_len() const override { return 256; }
  void clear_slot(int) override {}
  Status copy_slot(int, int, int) override { return Error("no copies", "fake"); }

 private:
  int vocab_;
  int throws_;
};

}  // namespace

TEST_CASE("EngineLanguageModel: an exception in the engine fails that batch's calls, never hangs later ones") {
  auto tok = engine::Tokenizer::load(test::data_dir() / "models" / "stories260K" / "tok512.model");
  REQUIRE(tok.ok());
  auto weights = std::make_shared<engine::Weights>();
  weights->config.vocab_size = (*tok)->vocab_size();
  weights->config.max_seq_len = 256;
  auto be = std::make_unique<ThrowingBackend>(weights->config.vocab_size, 1);
  // Shared with the worker thread below: if a call hangs, the test fails
  // without destroying the model under it.
  auto lm = std::make_shared<agent::EngineLanguageModel>(
      engine::Model::from_backend(weights, std::move(*tok), std::move(be)),
      agent::EngineLanguageModelOptions{"fake", false, 0, true});
  agent::CompletionRequest req;
  req.prompt = "Once upon a time";
  req.options.max_tokens = 3;
  req.options.stop_at_eos = false;

  auto call = [lm, req] {
    auto done = std::make_shared<std::promise<Result<agent::Completion>>>();
    auto fut = done->get_future();
    std::thread([lm, req, done] {
      try {
        done->set_value(lm->complete(req));
      } catch (const std::exception& e) {
        done->set_value(Error(std::string("threw: ") + e.what()));
      }
    }).detach();
    return fut;
  };
  auto first = call();
  REQUIRE(first.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  auto r1 = first.get();
  REQUIRE_FALSE(r1.ok());
  CHECK(r1.error().to_string().find("out of memory in a forward chunk") != std::string::npos);
  // The engine works again; the next call must run, not wait for a leader
  // that left with the exception.
  auto second = call();
  REQUIRE(second.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  auto r2 = second.get();
  REQUIRE_MESSAGE(r2.ok(), (r2.ok() ? "" : r2.error().to_string()));
  CHECK(r2->completion_tokens == 3);
}
