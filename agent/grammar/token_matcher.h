// Token-level grammar matching: which vocabulary tokens may come next.
//
// TokenGrammar binds a compiled Grammar to a vocabulary (each token's bytes,
// with SentencePiece's "▁" already turned into a space and byte-fallback
// pieces into their byte) and owns the caches that make masks cheap. Build it
// once per (grammar, vocabulary) and share it; GrammarMatcher is the cheap
// per-sequence state.
//
//   auto tg = TokenGrammar::create(std::move(grammar), vocab);
//   GrammarMatcher m(tg);
//   std::vector<uint64_t> mask(m.mask_words());
//   m.fill_next_token_mask(mask.data());   // bit t set = token t allowed
//   m.accept_token(t);                      // false if t is not allowed
//   m.rollback(1);
//
// How masks stay fast (the ideas of XGrammar, over llama.cpp's stacks): the
// vocabulary is a trie walked once per parser state with every byte step
// memoised; for each stack only its top few frames decide most tokens, so the
// mask of that truncated stack is computed once (eagerly for one frame) and
// reused in every context. Only tokens that run past the truncated frames
// ("uncertain" ones) are checked against the full stack at run time, and the
// truncation deepens until few of those remain.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/grammar/grammar.h"

namespace rewoo::agent::grammar {

struct Vocabulary {
  // Token id -> the bytes it stands for; empty for control tokens (BOS, UNK,
  // ...), which a grammar never allows.
  std::vector<std::string> tokens;
  int eos = -1;  // allowed exactly when the grammar may end
};

struct TokenGrammarOptions {
  // Deepen a truncated stack's cache entry while more than this many tokens
  // are left for the run-time check.
  size_t uncertain_limit = 48;
  int max_depth = 12;
  // Compute every one-frame entry at creation (compile time) instead of on
  // first use.
  bool precompute = true;
};

struct TokenGrammarStats {
  double precompute_ms = 0;
  size_t entries = 0;       // cached truncated-stack masks
  size_t stacks = 0;        // interned stacks
  size_t sets = 0;          // interned parser states
  size_t trie_nodes = 0;
  size_t transitions = 0;   // memoised (state, byte) steps
};

class TokenGrammar {
 public:
  static std::shared_ptr<TokenGrammar> create(Grammar grammar, std::shared_ptr<const Vocabulary> vocab,
                                              TokenGrammarOptions opts = {});
  ~TokenGrammar();
  TokenGrammar(const TokenGrammar&) = delete;
  TokenGrammar& operator=(const TokenGrammar&) = delete;

  const Grammar& grammar() const;
  const Vocabulary& vocabulary() const;
  size_t vocab_size() const;
  TokenGrammarStats stats() const;

  struct Impl;

 private:
  TokenGrammar();
  std::unique_ptr<Impl> impl_;
  friend class GrammarMatcher;
};

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<TokenGrammar> grammar);

  // 64-bit words in a mask: (vocab size + 63) / 64.
  size_t mask_words() const;
  // Sets bit t of `mask` (little-endian words) iff token t may come next.
  // EOS is set only when the grammar may end; after EOS nothing is set.
  void fill_next_token_mask(uint64_t* mask);
  bool is_token_allowed(int token);

  // Advances by one token; false (and no change) if the grammar rejects it.
  bool accept_token(int token);
  // Advances by raw bytes (e.g. forced text); false (and no change) if rejected.
  bool accept_bytes(std::string_view bytes);
  // Undoes the last n accepted tokens/byte runs (at most what was accepted).
  void rollback(int n);
  size_t num_accepted() const { return history_.size() - 1; }
  void reset();

  // The input so far may end here (EOS would be allowed).
  bool can_end() const;
  // EOS was accepted.
  bool is_terminated() const { return history_.back().terminated; }
  // The grammar may end here and can take no further byte.
  bool is_exhausted() const;
  // The text every continuation must start with (empty when there is a
  // choice), cut at a UTF-8 character boundary and before trailing spaces
  // (which a SentencePiece model writes with the next word); jump-forward
  // decoding feeds it to the model without sampling. At most max_bytes.
  std::string forced_continuation(size_t max_bytes = 256) const;

 private:
  struct State {
    uint32_t set;
    bool terminated;
  };
  std::shared_ptr<TokenGrammar> g_;
  std::vector<State> history_;
};

}  // namespace rewoo::agent::grammar
