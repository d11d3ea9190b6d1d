#include "agent/knowledge_model.h"

#include <algorithm>
#include <cctype>
#include <numeric>

#include "engine/base/trace.h"

namespace rewoo::agent {
namespace {

// Largest prefix of `s` (at a UTF-8 boundary) with at most `tokens` tokens.
std::string prefix_with_tokens(const std::string& s, int tokens,
                               const std::function<int(std::string_view)>& count) {
  if (tokens <= 0) return std::string();
  size_t lo = 0, hi = s.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo + 1) / 2;
    while (mid > lo && (static_cast<unsigned char>(s[mid]) & 0xC0) == 0x80 && mid < s.size()) --mid;
    if (mid == lo) break;
    if (count(std::string_view(s).substr(0, mid)) <= tokens) lo = mid;
    else hi = mid - 1;
  }
  while (lo > 0 && lo < s.size() && (static_cast<unsigned char>(s[lo]) & 0xC0) == 0x80) --lo;
  return s.substr(0, lo);
}

}  // namespace

int fit_texts(std::vector<std::string>& texts, int budget,
              const std::function<int(std::string_view)>& count_tokens) {
  std::vector<int> sizes(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) sizes[i] = count_tokens(texts[i]);
  int total = std::accumulate(sizes.begin(), sizes.end(), 0);
  if (total <= budget) return 0;
  int marker = count_tokens(kTrimMarker);
  // Water-filling: find the cap c such that sum(min(size, c)) fits, then cut
  // every text above c down to c (marker included).
  std::vector<int> sorted = sizes;
  std::sort(sorted.begin(), sorted.end());
  int cap = 0;
  {
    long long used = 0;
    size_t n = sorted.size();
    for (size_t i = 0; i < n; ++i) {
      long long remaining = n - i;
      long long c = (budget - used) / remaining;
      if (c < sorted[i]) {
        cap = static_cast<int>(std::max<long long>(0, c));
        break;
      }
      used += sorted[i];
      cap = sorted[i];
    }
  }
  int cut = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (sizes[i] <= cap) continue;
    std::string kept = prefix_with_tokens(texts[i], cap - marker, count_tokens);
    while (!kept.empty() && std::isspace(static_cast<unsigned char>(kept.back()))) kept.pop_back();
    texts[i] = kept + std::string(kTrimMarker);
    ++cut;
  }
  return cut;
}

LlmKnowledgeBackend::LlmKnowledgeBackend(LanguageModel& model, PromptRenderer renderer,
                                         KnowledgeOptions options)
    : model_(model), renderer_(std::move(renderer)), options_(std::move(options)) {}

Result<std::string> LlmKnowledgeBackend::build_prompt(const tools::KnowledgeQuery& query) const {
  auto instruction = renderer_.knowledge_instruction(query.question);
  if (!instruction) return instruction.error();
  std::vector<InputBlock> blocks;
  std::vector<std::string> texts;
  for (auto& c : query.contexts) {
    blocks.push_back({c.context, ""});
    texts.push_back(c.text);
  }
  auto skeleton = renderer_.chat(renderer_.closed_context_message(blocks, *instruction));
  if (!skeleton) return skeleton.error();
  // Room for the texts: the window minus the prompt around them, the answer
  // and a little slack for tokenization at the joins.
  int budget = model_.context_size() - model_.count_tokens(*skeleton) - options_.max_tokens -
               8 * static_cast<int>(blocks.size() + 1);
  if (budget < 0) budget = 0;
  fit_texts(texts, budget, [this](std::string_view s) { return model_.count_tokens(s); });
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i].text = texts[i];
  return renderer_.chat(renderer_.closed_context_message(blocks, *instruction));
}

Result<std::string> LlmKnowledgeBackend::answer(const tools::KnowledgeQuery& query,
                                                const tools::ToolContext& ctx) {
  if (query.depth > options_.max_depth)
    return Error("depth limit reached (" + std::to_string(query.depth) + " > " +
                 std::to_string(options_.max_depth) + "); raise --knowledge-depth to allow it");
  auto prompt = build_prompt(query);
  if (!prompt) return prompt.error();
  CompletionRequest req;
  req.prompt = *prompt;
  req.options = options_.sampling;
  req.options.max_tokens = options_.max_tokens;
  req.options.stop = {std::string(kChatStop)};
  req.options.processor = nullptr;
  if (ctx.step >= 0) req.options.seed = options_.sampling.seed + 1000003ull * (ctx.step + 1);
  auto r = model_.complete(req);
  if (!r) return r.error();
  if (ctx.trace)
    ctx.trace->emit("knowledge_model", {{"step", ctx.step},
                                        {"depth", query.depth},
                                        {"prompt_tokens", r->prompt_tokens},
                                        {"completion_tokens", r->completion_tokens}});
  std::string text = r->text;
  size_t b = text.find_first_not_of(" \n");
  text = b == std::string::npos ? std::string() : text.substr(b);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.pop_back();
  return text;
}

}  // namespace rewoo::agent
