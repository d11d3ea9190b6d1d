#include "agent/grammar/token_matcher.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <numeric>
#include <stdexcept>

#include "agent/grammar/byte_machine.h"

namespace rewoo::agent::grammar {

namespace {

// The vocabulary as a trie flattened in preorder: node k's subtree is
// [k, end[k]), so a rejected prefix skips its whole subtree in one jump.
struct FlatTrie {
  std::vector<uint8_t> byte;
  std::vector<uint16_t> depth;
  std::vector<uint32_t> end;
  std::vector<uint32_t> tok_begin, tok_end;  // tokens ending at node k: toks[tok_begin..tok_end)
  std::vector<int> toks;
  int max_depth = 0;

  void build(const std::vector<std::string>& tokens, int skip_token) {
    std::vector<int> ids;
    for (size_t i = 0; i < tokens.size(); ++i)
      if (!tokens[i].empty() && static_cast<int>(i) != skip_token) ids.push_back(static_cast<int>(i));
    std::sort(ids.begin(), ids.end(), [&](int a, int b) {
      return std::lexicographical_compare(
          tokens[a].begin(), tokens[a].end(), tokens[b].begin(), tokens[b].end(),
          [](char x, char y) { return static_cast<uint8_t>(x) < static_cast<uint8_t>(y); });
    });
    auto add_node = [&](uint8_t b, int d) {
      byte.push_back(b);
      depth.push_back(static_cast<uint16_t>(d));
      end.push_back(0);
      tok_begin.push_back(0);
      tok_end.push_back(0);
    };
    add_node(0, 0);  // root
    std::vector<uint32_t> path{0};  // node at each depth of the current string
    std::string prev;
    // Tokens ending at a node are appended while the node is on the path.
    std::vector<std::vector<int>> ending;
    ending.emplace_back();
    auto close_to = [&](size_t d) {
      while (path.size() > d + 1) {
        uint32_t k = path.back();
        end[k] = static_cast<uint32_t>(byte.size());
        path.pop_back();
      }
    };
    for (int id : ids) {
      const std::string& s = tokens[id];
      size_t common = 0;
      while (common < s.size() && common < prev.size() && s[common] == prev[common]) ++common;
      close_to(common);
      for (size_t i = common; i < s.size(); ++i) {
        add_node(static_cast<uint8_t>(s[i]), static_cast<int>(i + 1));
        ending.emplace_back();
        path.push_back(static_cast<uint32_t>(byte.size() - 1));
      }
      ending[path.back()].push_back(id);
      max_depth = std::max(max_depth, static_cast<int>(s.size()));
      prev = s;
    }
    close_to(0);
    end[0] = static_cast<uint32_t>(byte.size());
    for (size_t k = 0; k < byte.size(); ++k) {
      tok_begin[k] = static_cast<uint32_t>(toks.size());
      toks.insert(toks.end(), ending[k].begin(), ending[k].end());
      tok_end[k] = static_cast<uint32_t>(toks.size());
    }
  }
};

constexpr size_t kRefineLimit = 1024;

inline void set_bit(uint64_t* m, int t) { m[t >> 6] |= uint64_t{1} << (t & 63); }
inline bool get_bit(const uint64_t* m, int t) { return (m[t >> 6] >> (t & 63)) & 1; }

}  // namespace

struct TokenGrammar::Impl {
  Grammar grammar;
  std::shared_ptr<const Vocabulary> vocab;
  TokenGrammarOptions opts;
  std::unique_ptr<ByteMachine> m;
  FlatTrie trie;
  size_t words = 0;
  std::mutex mu;

  // The mask of one (truncated) stack: tokens it surely accepts, and tokens
  // that need the rest of the stack to decide.
  struct Entry {
    std::vector<uint64_t> accepted;
    std::vector<int> uncertain;
  };
  std::vector<Entry> entries;
  FlatMap64 entry_of_key;    // truncated stack -> entry
  FlatMap64 entry_of_stack;  // full stack -> entry chosen for it
  double precompute_ms = 0;

  // Scratch for the trie walk.
  std::vector<uint32_t> walk_set;
  std::vector<uint8_t> walk_esc;

  uint32_t compute_entry(uint32_t key) {
    Entry e;
    e.accepted.assign(words, 0);
    walk_set.assign(static_cast<size_t>(trie.max_depth) + 1, 0);
    walk_esc.assign(static_cast<size_t>(trie.max_depth) + 1, 0);
    walk_set[0] = m->singleton(key);
    const uint32_t n = static_cast<uint32_t>(trie.byte.size());
    for (uint32_t k = 1; k < n;) {
      int d = trie.depth[k];
      ByteMachine::Step st = m->step(walk_set[d - 1], trie.byte[k]);
      bool esc = walk_esc[d - 1] || st.escaped;
      if (st.set == ByteMachine::kDeadSet) {
        if (esc)
          e.uncertain.insert(e.uncertain.end(), trie.toks.begin() + trie.tok_begin[k],
                             trie.toks.begin() + trie.tok_end[trie.end[k] - 1]);
        k = trie.end[k];
        continue;
      }
      walk_set[d] = st.set;
      walk_esc[d] = esc;
      for (uint32_t i = trie.tok_begin[k]; i < trie.tok_end[k]; ++i) set_bit(e.accepted.data(), trie.toks[i]);
      ++k;
    }
    entries.push_back(std::move(e));
    uint32_t idx = static_cast<uint32_t>(entries.size() - 1);
    entry_of_key.insert(key, idx);
    return idx;
  }

  // A deeper truncation of a stack can only settle tokens its shallower one
  // left uncertain (the top frames are the same), so only those are re-run.
  uint32_t refine_entry(uint32_t shallow, uint32_t key) {
    Entry e;
    e.accepted = entries[shallow].accepted;
    const std::vector<int> unc = entries[shallow].uncertain;
    uint32_t start = m->singleton(key);
    for (int t : unc) {
      uint32_t set = start;
      bool esc = false;
      for (char c : vocab->tokens[t]) {
        ByteMachine::Step st = m->step(set, static_cast<uint8_t>(c));
        esc = esc || st.escaped;
        set = st.set;
        if (set == ByteMachine::kDeadSet) break;
      }
      if (set != ByteMachine::kDeadSet) set_bit(e.accepted.data(), t);
      else if (esc) e.uncertain.push_back(t);
    }
    entries.push_back(std::move(e));
    uint32_t idx = static_cast<uint32_t>(entries.size() - 1);
    entry_of_key.insert(key, idx);
    return idx;
  }

  uint32_t ensure(uint32_t key, uint32_t shallow) {
    uint32_t idx = entry_of_key.find(key);
    if (idx != FlatMap64::kMissing) return idx;
    return entries[shallow].uncertain.size() > kRefineLimit ? compute_entry(key) : refine_entry(shallow, key);
  }

  // Every one-frame entry, then two-frame entries for the frames whose
  // one-frame entry leaves many tokens uncertain, over each statically
  // possible caller frame.
  void precompute() {
    const auto& el = grammar.elements();
    const auto& rules = grammar.rules();
    std::vector<uint32_t> rule_of(el.size(), 0);
    for (uint32_t r = 0; r < rules.size(); ++r)
      for (uint32_t a : rules[r].alternatives)
        for (uint32_t i = a; i < el.size(); ++i) {
          rule_of[i] = r;
          if (el[i].kind == Element::Kind::kEnd) break;
        }
    // callers[r]: return positions a frame of rule r can sit on; kNoCaller =
    // the bottom of the stack (r finishes the root).
    constexpr uint32_t kNoCaller = 0xFFFFFFFFu;
    std::vector<std::vector<uint32_t>> callers(rules.size());
    callers[grammar.root()].push_back(kNoCaller);
    for (bool changed = true; changed;) {
      changed = false;
      for (uint32_t i = 0; i < el.size(); ++i) {
        if (el[i].kind != Element::Kind::kRule) continue;
        auto& dst = callers[el[i].value];
        auto add = [&](uint32_t c) {
          if (std::find(dst.begin(), dst.end(), c) == dst.end()) {
            dst.push_back(c);
            changed = true;
          }
        };
        if (el[i + 1].kind != Element::Kind::kEnd) {
          add(i + 1);
        } else {
          const auto src = callers[rule_of[i]];  // tail call: the caller's callers
          for (uint32_t c : src) add(c);
        }
      }
    }
    size_t budget = 4096;
    for (uint32_t p = 0; p < el.size(); ++p) {
      if (el[p].kind != Element::Kind::kBytes) continue;
      uint32_t idx = compute_entry(m->stack(p, ByteMachine::kUnknownStack));
      if (entries[idx].uncertain.size() <= opts.uncertain_limit) continue;
      for (uint32_t c : callers[rule_of[p]]) {
        if (budget == 0) return;
        --budget;
        uint32_t parent = c == kNoCaller ? ByteMachine::kEmptyStack : m->stack(c, ByteMachine::kUnknownStack);
        ensure(m->stack(p, parent), idx);
      }
    }
  }

  uint32_t entry_for(uint32_t stack) {
    uint32_t idx = entry_of_stack.find(stack);
    if (idx != FlatMap64::kMissing) return idx;
    const int full = m->stack_depth(stack);
    // Keys over kUnknownStack up to the stack's own depth, then the exact
    // stack; a short stack is thus refined from its precomputed top frame.
    for (int depth = 1;; ++depth) {
      uint32_t key = depth <= full ? m->truncate(stack, depth, true) : stack;
      uint32_t shallow = idx;
      idx = entry_of_key.find(key);
      if (idx == FlatMap64::kMissing) {
        // Re-running a few uncertain tokens beats a trie walk; many of them
        // (e.g. every " x" token after optional whitespace) share prefixes
        // that a walk prunes at once.
        idx = depth == 1 || entries[shallow].uncertain.size() > kRefineLimit ? compute_entry(key)
                                                                                : refine_entry(shallow, key);
      }
      if (key == stack || depth > opts.max_depth || entries[idx].uncertain.size() <= opts.uncertain_limit)
        break;
    }
    entry_of_stack.insert(stack, idx);
    return idx;
  }

  bool accepts(uint32_t set, const std::string& bytes) {
    for (char c : bytes) {
      set = m->step(set, static_cast<uint8_t>(c)).set;
      if (set == ByteMachine::kDeadSet) return false;
    }
    return true;
  }

  void fill_mask(uint32_t set, uint64_t* mask) {
    std::fill(mask, mask + words, 0);
    const std::vector<uint32_t> stacks = m->stacks(set);
    for (uint32_t s : stacks) {
      if (s == ByteMachine::kEmptyStack) continue;
      const Entry& e = entries[entry_for(s)];
      for (size_t w = 0; w < words; ++w) mask[w] |= e.accepted[w];
      if (e.uncertain.empty()) continue;
      uint32_t single = m->singleton(s);
      // entries may grow (and move) inside accepts(); index, don't hold a reference
      const std::vector<int>& unc = entries[entry_for(s)].uncertain;
      for (size_t i = 0; i < unc.size(); ++i) {
        int t = unc[i];
        if (!get_bit(mask, t) && accepts(single, vocab->tokens[t])) set_bit(mask, t);
      }
    }
    if (vocab->eos >= 0 && m->can_end(set)) set_bit(mask, vocab->eos);
  }
};

TokenGrammar::TokenGrammar() : impl_(std::make_unique<Impl>()) {}
TokenGrammar::~TokenGrammar() = default;

std::shared_ptr<TokenGrammar> TokenGrammar::create(Grammar grammar, std::shared_ptr<const Vocabulary> vocab,
                                                   TokenGrammarOptions opts) {
  std::shared_ptr<TokenGrammar> tg(new TokenGrammar());
  Impl& im = *tg->impl_;
  im.grammar = std::move(grammar);
  im.vocab = std::move(vocab);
  im.opts = opts;
  im.m = std::make_unique<ByteMachine>(im.grammar);
  im.words = (im.vocab->tokens.size() + 63) / 64;
  auto t0 = std::chrono::steady_clock::now();
  im.trie.build(im.vocab->tokens, im.vocab->eos);
  if (opts.precompute) im.precompute();
  im.m->reserve_growth(4);
  im.entry_of_stack.reserve(4096);
  im.precompute_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return tg;
}

const Grammar& TokenGrammar::grammar() const { return impl_->grammar; }
const Vocabulary& TokenGrammar::vocabulary() const { return *impl_->vocab; }
size_t TokenGrammar::vocab_size() const { return impl_->vocab->tokens.size(); }

TokenGrammarStats TokenGrammar::stats() const {
  std::lock_guard lock(impl_->mu);
  TokenGrammarStats s;
  s.precompute_ms = impl_->precompute_ms;
  s.entries = impl_->entries.size();
  s.stacks = impl_->m->num_stacks();
  s.sets = impl_->m->num_sets();
  s.trie_nodes = impl_->trie.byte.size();
  s.transitions = impl_->m->num_transitions();
  return s;
}

// ---- GrammarMatcher ---------------------------------------------------------

GrammarMatcher::GrammarMatcher(std::shared_ptr<TokenGrammar> grammar) : g_(std::move(grammar)) { reset(); }

void GrammarMatcher::reset() {
  history_.clear();
  history_.push_back({g_->impl_->m->initial_set(), false});
}

size_t GrammarMatcher::mask_words() const { return g_->impl_->words; }

void GrammarMatcher::fill_next_token_mask(uint64_t* mask) {
  auto& im = *g_->impl_;
  if (is_terminated()) {
    std::fill(mask, mask + im.words, 0);
    return;
  }
  std::lock_guard lock(im.mu);
  im.fill_mask(history_.back().set, mask);
}

bool GrammarMatcher::is_token_allowed(int token) {
  auto& im = *g_->impl_;
  if (is_terminated() || token < 0 || static_cast<size_t>(token) >= im.vocab->tokens.size()) return false;
  if (token == im.vocab->eos) return can_end();
  const std::string& b = im.vocab->tokens[token];
  if (b.empty()) return false;
  std::lock_guard lock(im.mu);
  return im.accepts(history_.back().set, b);
}

bool GrammarMatcher::accept_token(int token) {
  auto& im = *g_->impl_;
  if (is_terminated() || token < 0 || static_cast<size_t>(token) >= im.vocab->tokens.size()) return false;
  if (token == im.vocab->eos) {
    if (!can_end()) return false;
    history_.push_back({history_.back().set, true});
    return true;
  }
  const std::string& b = im.vocab->tokens[token];
  if (b.empty()) return false;
  return accept_bytes(b);
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  auto& im = *g_->impl_;
  if (is_terminated()) return false;
  std::lock_guard lock(im.mu);
  uint32_t s = history_.back().set;
  for (char c : bytes) {
    s = im.m->step(s, static_cast<uint8_t>(c)).set;
    if (s == ByteMachine::kDeadSet) return false;
  }
  history_.push_back({s, false});
  return true;
}

void GrammarMatcher::rollback(int n) {
  if (n < 0 || static_cast<size_t>(n) >= history_.size())
    throw std::out_of_range("GrammarMatcher::rollback: more tokens than were accepted");
  history_.resize(history_.size() - static_cast<size_t>(n));
}

bool GrammarMatcher::can_end() const {
  auto& im = *g_->impl_;
  std::lock_guard lock(im.mu);
  return im.m->can_end(history_.back().set);
}

bool GrammarMatcher::is_exhausted() const {
  auto& im = *g_->impl_;
  std::lock_guard lock(im.mu);
  uint32_t s = history_.back().set;
  return im.m->can_end(s) && im.m->next_bytes(s).empty();
}

std::string GrammarMatcher::forced_continuation(size_t max_bytes) const {
  auto& im = *g_->impl_;
  if (is_terminated()) return {};
  std::lock_guard lock(im.mu);
  std::string out;
  uint32_t s = history_.back().set;
  while (out.size() < max_bytes && !im.m->can_end(s)) {
    ByteSet nb = im.m->next_bytes(s);
    if (nb.count() != 1) break;
    int b = 0;
    while (!nb.has(static_cast<uint8_t>(b))) ++b;
    out += static_cast<char>(b);
    s = im.m->step(s, static_cast<uint8_t>(b)).set;
  }
  // Cut an incomplete UTF-8 character off the end.
  size_t cut = out.size();
  size_t i = out.size();
  while (i > 0 && (static_cast<uint8_t>(out[i - 1]) & 0xC0) == 0x80) --i;
  if (i > 0) {
    uint8_t lead = static_cast<uint8_t>(out[i - 1]);
    size_t need = lead < 0x80 ? 1 : (lead >> 5) == 6 ? 2 : (lead >> 4) == 14 ? 3 : 4;
    if (out.size() - (i - 1) < need) cut = i - 1;
  }
  out.resize(cut);
  // Leave trailing spaces to the model: SentencePiece vocabularies attach a
  // space to the word after it ("▁Search"), so a forced lone space would
  // push the model off its usual tokenization.
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace rewoo::agent::grammar
