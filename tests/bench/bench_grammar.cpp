// bench_grammar: token-mask time per token on the Llama 2 vocabulary (32000)
// for the JSON grammar, a 5-tool function-call grammar and a 6-tool plan
// grammar, over realistic outputs; grammar compile time; the share of output
// tokens jump-forward supplies; optionally end-to-end tokens/s with and
// without jump-forward on a model.
//
//   build/tests/bench/bench_grammar [--repeat N] [--model DIR] [--max-tokens N]
//
// Each output is tokenized with SentencePiece and replayed: before each token
// the mask is computed (timed: thread CPU time, robust to other processes on
// a shared machine; wall-clock max is printed too), then the token is
// accepted. A fresh TokenGrammar per repeat, so first-use cache misses count.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "agent/grammar/function_call_grammar.h"
#include "agent/grammar/grammar.h"
#include "agent/grammar/grammar_processor.h"
#include "agent/grammar/plan_grammar.h"
#include "agent/grammar/token_matcher.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "tests/grammar/grammar_test_tools.h"
#include "tests/grammar/llama_vocab.h"

using namespace rewoo::agent::grammar;
using Clock = std::chrono::steady_clock;

namespace {

double cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

std::string read(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::string s;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

struct Case {
  std::string name;
  std::string gbnf;
  std::vector<std::string> outputs;
};

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[i];
}

// Replays `text` taking every forced continuation the grammar offers
// (tokenized as a continuation) and the text's own next token otherwise.
// Returns {forced tokens, sampled tokens}; -1s if the text leaves the grammar.
std::pair<int, int> jump_forward_share(const std::shared_ptr<TokenGrammar>& tg, const std::string& text,
                                       const rewoo::test::SpTokenizer& tok) {
  GrammarMatcher m(tg);
  size_t pos = 0;
  int forced = 0, sampled = 0;
  while (pos < text.size()) {
    std::string f = m.forced_continuation();
    if (!f.empty() && text.compare(pos, f.size(), f) == 0) {
      for (int t : tok.encode(f)) {
        if (!m.accept_token(t)) return {-1, -1};
        ++forced;
      }
      pos += f.size();
      continue;
    }
    std::vector<int> ids = tok.encode(text.substr(pos));
    if (ids.empty() || !m.accept_token(ids[0])) return {-1, -1};
    pos += tg->vocabulary().tokens[ids[0]].size();
    ++sampled;
  }
  return {forced, sampled + 1};  // + EOS
}

// Hides the forced continuation: the same processor without jump-forward.
class NoJumpForward : public rewoo::engine::LogitsProcessor {
 public:
  explicit NoJumpForward(std::shared_ptr<GrammarProcessor> p) : p_(std::move(p)) {}
  void apply(std::span<float> l) override { p_->apply(l); }
  void accept(int32_t t) override { p_->accept(t); }
  bool done() const override { return p_->done(); }

 private:
  std::shared_ptr<GrammarProcessor> p_;
};

}  // namespace

int main(int argc, char** argv) {
  int repeat = 1, max_tokens = 160;
  std::string model_dir;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--model") && i + 1 < argc) model_dir = argv[++i];
    else if (!std::strcmp(argv[i], "--max-tokens") && i + 1 < argc) max_tokens = std::atoi(argv[++i]);
  }
  std::string data = REWOO_DATA_DIR;
  std::string tok_path = data + "/tokenizers/llama2/tokenizer.model";
  auto vocab = rewoo::test::load_sentencepiece_vocab(tok_path);
  rewoo::test::SpTokenizer tok(tok_path);

  std::vector<Case> cases;
  cases.push_back({"json", read(data + "/grammars/json.gbnf"),
                   {R"({"name": "Ada Lovelace", "born": 1815, "died": 1852, "fields": ["mathematics", "computing"], "notes": {"first_program": true, "machine": "Analytical Engine", "collaborator": "Charles Babbage"}})",
                    R"({"results": [{"title": "Tokyo", "population": 13960000, "country": "Japan", "coords": [35.6762, 139.6503]}, {"title": "Delhi", "population": 16787941, "country": "India", "coords": [28.7041, 77.1025]}], "count": 2, "next": null})",
                    "{\n  \"query\": \"weather in Paris\",\n  \"units\": \"metric\",\n  \"days\": 3,\n  \"include\": [\"humidity\", \"wind\"]\n}",
                    R"({"model": "airoboros-c34b", "usage": {"prompt_tokens": 412, "completion_tokens": 96}, "choices": [{"index": 0, "text": "The capital of France is Paris.", "finish_reason": "stop"}]})"}});
  auto calls = function_call_gbnf(rewoo::test::call_registry(), rewoo::agent::CallFormat::kJson);
  auto calls_yaml = function_call_gbnf(rewoo::test::call_registry(), rewoo::agent::CallFormat::kYaml);
  PlanGrammarOptions po;
  po.max_steps = 10;
  auto plan = plan_grammar_gbnf(rewoo::test::plan_registry(), po);
  if (!calls || !calls_yaml || !plan) {
    std::fprintf(stderr, "grammar generation failed\n");
    return 1;
  }
  cases.push_back(
      {"call-json-5", *calls,
       {R"({"function": "search", "params": {"query": "latest research on grammar-constrained decoding", "limit": 10}})",
        R"({"function": "weather", "params": {"city": "San Francisco", "units": "imperial", "days": 3}})",
        R"({"function": "send_email", "params": {"to": ["alice@example.com", "bob@example.org"], "subject": "Meeting notes for Tuesday", "body": "Hi both,\nattached are the notes from today's sync. Action items are at the bottom.\nThanks!"}})",
        R"({"function": "calendar_add", "params": {"title": "Design review", "start": "2024-06-11T14:30", "duration_minutes": 45, "all_day": false}})",
        R"({"function": "KnowledgeModel", "params": {"input": "Summarize the causes of the 1929 stock market crash in three sentences."}})"}});
  cases.push_back({"call-yaml-5", *calls_yaml,
                   {"function: search\nparams:\n  query: latest research on grammar-constrained decoding\n  limit: 10",
                    "function: weather\nparams:\n  city: San Francisco\n  units: \"imperial\"\n  days: 3",
                    "function: KnowledgeModel\nparams:\n  input: Summarize the causes of the 1929 stock market crash."}});
  cases.push_back(
      {"plan-6", *plan,
       {"Plan: Search for who won the 2020 Nobel Prize in Literature.\n"
        ":evidence0: = DuckDuckGo[2020 Nobel Prize in Literature winner]\n"
        "Plan: Extract the relevant links from the search results.\n"
        ":evidence1: = HyperlinkExtractor[:evidence0:]\n"
        "Plan: Read the pages behind the links.\n"
        ":evidence2: = TextScraper[:evidence1:]\n"
        "Plan: Ask the model who won, given the page text.\n"
        ":evidence3: = KnowledgeModel[Who won the 2020 Nobel Prize in Literature, given :evidence2:?]\n"
        "Answer: :evidence3:",
        "Plan: Look up the population of Tokyo and of Delhi.\n"
        ":evidence0: = WikiSearch[Tokyo population 2023]\n"
        "Plan: Do the same for Delhi.\n"
        ":evidence1: = WikiSearch[Delhi population 2023]\n"
        "Plan: Compute the difference between the two numbers.\n"
        ":evidence2: = Calculator[difference between :evidence0: and :evidence1: (in millions)]\n"
        "Answer: :evidence2:",
        "Plan: Find out what the tallest building in Europe is.\n"
        ":evidence0: = DuckDuckGo[tallest building in Europe]\n"
        "Plan: Find its height using the knowledge model.\n"
        ":evidence1: = KnowledgeModel[How tall is the building named in :evidence0:? Give meters [m].]\n"
        "Answer: :evidence1:"}});

  std::printf("machine: %d hardware threads; times are thread CPU time per mask (us)\n",
              static_cast<int>(std::thread::hardware_concurrency()));
  std::printf("%-12s %7s %11s %10s %9s %9s %10s %10s %8s %8s %12s\n", "grammar", "tokens", "compile_ms", "median_us",
              "p99_us", "max_us", "wallp99_us", "wallmax_us", "mean_us", "entries", "jump-fwd");
  for (const Case& c : cases) {
    for (int r = 0; r < repeat; ++r) {
      auto t0 = Clock::now();
      auto g = Grammar::parse(c.gbnf);
      if (!g) {
        std::fprintf(stderr, "%s: %s\n", c.name.c_str(), g.error().to_string().c_str());
        return 1;
      }
      auto tg = TokenGrammar::create(std::move(*g), vocab);
      double compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      std::vector<double> times, walls;
      double wall_max = 0;
      std::vector<uint64_t> mask((vocab->tokens.size() + 63) / 64);
      auto timed_mask = [&](GrammarMatcher& m) {
        auto w0 = Clock::now();
        double c0 = cpu_us();
        m.fill_next_token_mask(mask.data());
        times.push_back(cpu_us() - c0);
        walls.push_back(std::chrono::duration<double, std::micro>(Clock::now() - w0).count());
        wall_max = std::max(wall_max, walls.back());
      };
      for (const std::string& out : c.outputs) {
        GrammarMatcher m(tg);
        for (int t : tok.encode(out)) {
          timed_mask(m);
          if (!((mask[t >> 6] >> (t & 63)) & 1) || !m.accept_token(t)) {
            std::fprintf(stderr, "%s: token %d '%s' rejected after %zu tokens in: %s\n", c.name.c_str(), t,
                         vocab->tokens[t].c_str(), m.num_accepted(), out.c_str());
            return 1;
          }
        }
        timed_mask(m);
        if (!((mask[vocab->eos >> 6] >> (vocab->eos & 63)) & 1)) {
          std::fprintf(stderr, "%s: EOS not allowed at the end of: %s\n", c.name.c_str(), out.c_str());
          return 1;
        }
      }
      int forced = 0, total = 0;
      for (const std::string& out : c.outputs) {
        auto [f, s] = jump_forward_share(tg, out, tok);
        if (f < 0) {
          std::fprintf(stderr, "%s: jump-forward replay left the grammar: %s\n", c.name.c_str(), out.c_str());
          return 1;
        }
        forced += f;
        total += f + s;
      }
      double sum = 0;
      for (double t : times) sum += t;
      std::printf("%-12s %7zu %11.1f %10.1f %9.1f %9.1f %10.1f %10.1f %8.1f %8zu %5d/%-3d%3.0f%%\n", c.name.c_str(),
                  times.size(), compile_ms, pct(times, 0.5), pct(times, 0.99), pct(times, 1.0), pct(walls, 0.99), wall_max,
                  sum / static_cast<double>(times.size()), tg->stats().entries, forced, total,
                  100.0 * forced / std::max(1, total));
    }
  }

  if (model_dir.empty()) return 0;
  // End to end: the same grammar-constrained generation with and without
  // jump-forward (greedy; the model's own choices, so outputs may differ).
  rewoo::engine::LoadOptions lo;
  auto model = rewoo::engine::Model::load(model_dir, lo);
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().to_string().c_str());
    return 1;
  }
  auto mvocab = vocabulary_from_tokenizer((*model)->tokenizer());
  rewoo::engine::Generator gen(**model);
  std::printf("\nend to end on %s (max %d tokens, greedy)\n", model_dir.c_str(), max_tokens);
  std::printf("%-12s %-8s %7s %7s %9s %8s %s\n", "grammar", "jump-fwd", "tokens", "forced", "tok/s", "valid", "stop");
  for (const Case& c : cases) {
    if (c.name == "json") continue;
    for (bool jf : {false, true}) {
      auto tg = TokenGrammar::create(*Grammar::parse(c.gbnf), mvocab);
      auto proc = std::make_shared<GrammarProcessor>(tg);
      rewoo::engine::GenerateOptions o;
      o.max_tokens = max_tokens;
      o.processor = jf ? std::static_pointer_cast<rewoo::engine::LogitsProcessor>(proc)
                       : std::make_shared<NoJumpForward>(proc);
      auto t0 = Clock::now();
      auto r = gen.generate("A chat. USER: Plan the task. ASSISTANT:", o);
      double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (!r) {
        std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
        return 1;
      }
      bool valid = tg->grammar().match(r->text).consumed == r->text.size();
      std::printf("%-12s %-8s %7zu %7d %9.1f %8s %s\n", c.name.c_str(), jf ? "on" : "off", r->tokens.size(),
                  r->forced_tokens, static_cast<double>(r->tokens.size()) / s, valid ? "prefix" : "NO",
                  rewoo::engine::stop_reason_name(r->stop_reason));
    }
  }
  return 0;
}
