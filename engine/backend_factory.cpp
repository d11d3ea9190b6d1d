// The only place that knows which backends are built.
#include <fmt/format.h>

#include "engine/backend.h"
#include "engine/sampler.h"

namespace rewoo::engine {

void Logits::resize_for(std::span<const SeqBatchEntry> batch, int vocab) {
  vocab_size = vocab;
  offsets.assign(batch.size() + 1, 0);
  for (size_t e = 0; e < batch.size(); ++e)
    offsets[e + 1] = offsets[e] + (batch[e].all_logits ? batch[e].tokens.size() : 1);
  data.resize(offsets.back() * static_cast<size_t>(vocab));
}

Status Backend::forward_greedy(std::span<const SeqBatchEntry> batch, std::vector<int32_t>& tokens) {
  std::vector<SeqBatchEntry> last(batch.begin(), batch.end());
  for (SeqBatchEntry& e : last) e.all_logits = false;
  Logits out;
  REWOO_TRY(forward(last, out));
  tokens.resize(last.size());
  for (size_t e = 0; e < last.size(); ++e) tokens[e] = Sampler::argmax(out.row(e));
  return {};
}

Result<Device> parse_device(const std::string& s) {
  if (s == "cpu") return Device::kCpu;
  if (s == "cuda" || s == "gpu") return Device::kCuda;
  if (s == "auto") return Device::kAuto;
  return Error(fmt::format("unknown device '{}' (expected cpu, cuda or auto)", s));
}

Result<std::unique_ptr<Backend>> make_backend(std::shared_ptr<const Weights> weights, const BackendOptions& opts) {
  switch (opts.device) {
    case Device::kCpu:
      return make_cpu_backend(std::move(weights), opts);
    case Device::kCuda:
#ifdef REWOO_HAVE_CUDA
      return make_cuda_backend(std::move(weights), opts);
#else
      return Error("this rewoo was built without CUDA (configure with -DREWOO_CUDA=ON on a machine with the CUDA toolkit), use --device cpu",
                   "device cuda");
#endif
    case Device::kAuto:
#ifdef REWOO_HAVE_CUDA
    {
      auto r = make_cuda_backend(weights, opts);
      if (r) return r;
    }
#endif
      return make_cpu_backend(std::move(weights), opts);
  }
  return Error("unknown device");
}

}  // namespace rewoo::engine
