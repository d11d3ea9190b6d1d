// bench_grammar: token-mask time per token on the Llama 2 vocabulary (32000)
// for the JSON grammar, a 5-tool function-call grammar and a 6-tool plan
// grammar, over realistic outputs; grammar compile time; jump-forward share.
//
//   build/tests/bench/bench_grammar [--repeat N]
//
// Each output is tokenized with SentencePiece and replayed: before each token
// the mask is computed (timed), then the token is accepted. A fresh matcher
// and a fresh TokenGrammar per grammar, so first-use cache misses count.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "agent/grammar/grammar.h"
#include "agent/grammar/token_matcher.h"
#include "tests/grammar/llama_vocab.h"

using namespace rewoo::agent::grammar;
using Clock = std::chrono::steady_clock;

// Thread CPU time in microseconds: robust to other processes on a shared
// machine (wall time is reported too).
double cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  int repeat = 1;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
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

  std::printf("grammar     tokens  compile_ms  mask_median_us  mask_p99_us  mask_max_us  mean_us  entries\n");
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
      if (std::getenv("BENCH_DEBUG"))
        std::fprintf(stderr, "after compile: %zu stacks %zu sets %zu transitions\n", tg->stats().stacks,
                     tg->stats().sets, tg->stats().transitions);
      std::vector<double> times;
      std::vector<uint64_t> mask((vocab->tokens.size() + 63) / 64);
      for (const std::string& out : c.outputs) {
        GrammarMatcher m(tg);
        for (int t : tok.encode(out)) {
          size_t e0 = std::getenv("BENCH_DEBUG") ? tg->stats().entries : 0;
          double c0 = cpu_us();
          m.fill_next_token_mask(mask.data());
          times.push_back(cpu_us() - c0);
          if (std::getenv("BENCH_DEBUG") && times.back() > 300)
            std::fprintf(stderr, "slow %.0f us at token %zu (+%zu entries)\n", times.back(), m.num_accepted(),
                         tg->stats().entries - e0);
          if (!((mask[t >> 6] >> (t & 63)) & 1) || !m.accept_token(t)) {
            std::fprintf(stderr, "%s: token %d '%s' rejected in: %s\n", c.name.c_str(), t, vocab->tokens[t].c_str(),
                         out.c_str());
            return 1;
          }
        }
        double c0 = cpu_us();
        m.fill_next_token_mask(mask.data());
        times.push_back(cpu_us() - c0);
        if (!((mask[vocab->eos >> 6] >> (vocab->eos & 63)) & 1)) {
          std::fprintf(stderr, "%s: EOS not allowed at the end of: %s\n", c.name.c_str(), out.c_str());
          return 1;
        }
      }
      double sum = 0;
      for (double t : times) sum += t;
      std::printf("%-10s %7zu  %10.1f  %14.1f  %11.1f  %11.1f  %7.1f  %7zu\n", c.name.c_str(), times.size(),
                  compile_ms, pct(times, 0.5), pct(times, 0.99), pct(times, 1.0), sum / times.size(),
                  tg->stats().entries);
      if (std::getenv("BENCH_DEBUG"))
        std::fprintf(stderr, "after run: %zu stacks %zu sets %zu transitions\n", tg->stats().stacks,
                     tg->stats().sets, tg->stats().transitions);
    }
  }
  return 0;
}
