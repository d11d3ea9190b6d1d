// Tools and sampling helpers shared by the plan / function-call grammar tests.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/grammar/token_matcher.h"
#include "tools/registry.h"

namespace rewoo::test {

class FakeTool : public tools::Tool {
 public:
  FakeTool(std::string name, std::optional<nlohmann::json> schema = std::nullopt)
      : name_(std::move(name)), schema_(std::move(schema)) {}
  std::string name() const override { return name_; }
  std::string description() const override { return "test tool " + name_; }
  std::optional<nlohmann::json> parameters_schema() const override { return schema_; }
  tools::ToolResult invoke(const std::string&, const tools::ToolContext&) override {
    return tools::ToolResult::success("ok");
  }

 private:
  std::string name_;
  std::optional<nlohmann::json> schema_;
};

// Six tools for plans: the seed's four and two more.
inline tools::Registry plan_registry() {
  tools::Registry r;
  for (const char* n : {"DuckDuckGo", "TextScraper", "HyperlinkExtractor", "KnowledgeModel", "Calculator", "WikiSearch"})
    (void)r.add(std::make_shared<FakeTool>(n));
  return r;
}

// Five tools with parameter schemas for function calls.
inline tools::Registry call_registry() {
  using nlohmann::json;
  tools::Registry r;
  (void)r.add(std::make_shared<FakeTool>("search", json::parse(R"({"type":"object","properties":{
      "query":{"type":"string"},"limit":{"type":"integer","minimum":1,"maximum":50}},"required":["query"],"additionalProperties":false})")));
  (void)r.add(std::make_shared<FakeTool>("weather", json::parse(R"({"type":"object","properties":{
      "city":{"type":"string"},"units":{"enum":["metric","imperial"]},"days":{"type":"integer","minimum":1,"maximum":7}},
      "required":["city"],"additionalProperties":false})")));
  (void)r.add(std::make_shared<FakeTool>("send_email", json::parse(R"({"type":"object","properties":{
      "to":{"type":"array","items":{"type":"string"},"minItems":1},"subject":{"type":"string","maxLength":80},
      "body":{"type":"string"}},"required":["to","subject","body"],"additionalProperties":false})")));
  (void)r.add(std::make_shared<FakeTool>("calendar_add", json::parse(R"({"type":"object","properties":{
      "title":{"type":"string"},"start":{"type":"string","pattern":"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$"},
      "duration_minutes":{"type":"integer","exclusiveMinimum":0},"all_day":{"type":"boolean"}},
      "required":["title","start"],"additionalProperties":false})")));
  (void)r.add(std::make_shared<FakeTool>("KnowledgeModel"));  // one text input
  return r;
}

// Samples tokens from the grammar's masks: uniform among allowed tokens, but
// with probability `push` among allowed "closers" (tokens made only of
// `"`, `]`, `}`, newline, or EOS) so outputs finish. Random picks are tried
// first and the whole mask scanned only when they miss. Returns the text, or
// nullopt if max_tokens ran out.
inline std::optional<std::string> sample_from_grammar(agent::grammar::GrammarMatcher& m,
                                                      const agent::grammar::Vocabulary& v, std::mt19937& rng,
                                                      int max_tokens = 600, double push = 0.35) {
  static thread_local std::vector<int> closers;
  static thread_local const agent::grammar::Vocabulary* closers_for = nullptr;
  if (closers_for != &v) {
    closers.clear();
    for (size_t t = 0; t < v.tokens.size(); ++t) {
      const std::string& b = v.tokens[t];
      if (static_cast<int>(t) == v.eos || (!b.empty() && b.find_first_not_of("\"]}\n") == std::string::npos))
        closers.push_back(static_cast<int>(t));
    }
    closers_for = &v;
  }
  std::vector<uint64_t> mask(m.mask_words());
  auto bit = [&](int t) { return (mask[static_cast<size_t>(t) >> 6] >> (t & 63)) & 1; };
  std::string out;
  std::uniform_real_distribution<double> u(0, 1);
  for (int step = 0; step < max_tokens; ++step) {
    m.fill_next_token_mask(mask.data());
    int pick = -1;
    if (u(rng) < push) {
      std::vector<int> ok;
      for (int t : closers)
        if (bit(t)) ok.push_back(t);
      if (!ok.empty()) pick = ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
    }
    std::uniform_int_distribution<int> any(0, static_cast<int>(v.tokens.size()) - 1);
    for (int tries = 0; pick < 0 && tries < 256; ++tries) {
      int t = any(rng);
      if (bit(t)) pick = t;
    }
    if (pick < 0) {
      std::vector<int> allowed;
      for (size_t w = 0; w < mask.size(); ++w)
        for (uint64_t bits = mask[w]; bits; bits &= bits - 1)
          allowed.push_back(static_cast<int>(w * 64 + static_cast<size_t>(__builtin_ctzll(bits))));
      if (allowed.empty()) return std::nullopt;
      pick = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
    }
    if (!m.accept_token(pick)) return std::nullopt;
    if (pick == v.eos) return out;
    out += v.tokens[pick];
  }
  if (std::getenv("SAMPLE_DEBUG")) std::fprintf(stderr, "unfinished sample: %s\n", out.c_str());
  return std::nullopt;
}

}  // namespace rewoo::test
