// ByteMachine: runs a Grammar over bytes as a set of parse stacks (the
// nondeterministic pushdown automaton llama.cpp's sampler uses), with every
// stack and every set of stacks interned to an integer id so that a state is
// one number and each (state, byte) step is computed once and then looked up.
//
// A stack is a linked list of frames (grammar position, parent stack); the
// top frame always points at a byte-set element after closure. Calls in tail
// position push no return frame, so `x*` keeps the stack flat.
//
// Two sentinel stacks end every chain: kEmptyStack (the root rule finished:
// the input may end here) and kUnknownStack (the bottom of a truncated stack,
// used by the token-mask precomputation: the caller is not known). A step
// that would need to pop below kUnknownStack reports `escaped`.
//
// Not thread-safe: callers serialise access (TokenGrammar holds a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "agent/grammar/grammar.h"

namespace rewoo::agent::grammar {

// Open-addressing hash map uint64 -> uint32 (no erase); the hot lookup table.
class FlatMap64 {
 public:
  FlatMap64() { rehash(1024); }
  // Returns the value or kMissing.
  static constexpr uint32_t kMissing = 0xFFFFFFFFu;
  uint32_t find(uint64_t key) const {
    size_t mask = keys_.size() - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
      if (keys_[i] == key + 1) return vals_[i];
      if (keys_[i] == 0) return kMissing;
    }
  }
  void insert(uint64_t key, uint32_t val) {
    if ((size_ + 1) * 2 > keys_.size()) rehash(keys_.size() * 2);
    size_t mask = keys_.size() - 1;
    for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
      if (keys_[i] == key + 1) {
        vals_[i] = val;
        return;
      }
      if (keys_[i] == 0) {
        keys_[i] = key + 1;
        vals_[i] = val;
        ++size_;
        return;
      }
    }
  }
  size_t size() const { return size_; }
  // Makes room for n entries without a rehash (a rehash of a big table is a
  // multi-millisecond pause, which a token mask must not take).
  void reserve(size_t n) {
    size_t cap = keys_.size();
    while (n * 2 > cap) cap *= 2;
    if (cap != keys_.size()) rehash(cap);
  }

 private:
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  void rehash(size_t cap) {
    std::vector<uint64_t> ok = std::move(keys_);
    std::vector<uint32_t> ov = std::move(vals_);
    keys_.assign(cap, 0);
    vals_.assign(cap, 0);
    size_ = 0;
    for (size_t i = 0; i < ok.size(); ++i)
      if (ok[i]) insert(ok[i] - 1, ov[i]);
  }
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> vals_;
  size_t size_ = 0;
};

class ByteMachine {
 public:
  static constexpr uint32_t kEmptyStack = 0;
  static constexpr uint32_t kUnknownStack = 1;
  static constexpr uint32_t kDeadSet = 0;  // the empty set of stacks

  struct Step {
    uint32_t set;
    bool escaped;  // a truncated stack needed its unknown caller for this byte
  };

  explicit ByteMachine(const Grammar& g);

  const Grammar& grammar() const { return g_; }
  // The stacks at the start of the root rule.
  uint32_t initial_set() const { return initial_; }
  // The set after one byte (kDeadSet if no stack takes it).
  Step step(uint32_t set, uint8_t byte) {
    uint32_t v = trans_.find((uint64_t{set} << 8) | byte);
    if (v != FlatMap64::kMissing) return {v >> 1, (v & 1) != 0};
    return step_slow(set, byte);
  }
  // Whether the input may end in this state.
  bool can_end(uint32_t set) const;
  const std::vector<uint32_t>& stacks(uint32_t set) const { return sets_[set]; }
  // The set holding just this (closed) stack.
  uint32_t singleton(uint32_t stack);
  // The top `depth` frames of `stack` over kUnknownStack, or `stack` itself
  // when it has no more than `depth` frames (unless `always`: then a stack of
  // exactly `depth` frames gets kUnknownStack for its kEmptyStack).
  uint32_t truncate(uint32_t stack, int depth, bool always = false);
  int stack_depth(uint32_t stack) const { return depth_[stack]; }
  // The stack with frame `pos` over `parent` (interned).
  uint32_t stack(uint32_t pos, uint32_t parent) { return intern_stack(pos, parent); }
  // Bytes that some stack of the set accepts next.
  ByteSet next_bytes(uint32_t set) const;

  size_t num_stacks() const { return pos_.size(); }
  size_t num_sets() const { return sets_.size(); }
  size_t num_transitions() const { return trans_.size(); }
  // Reserves hash-table room for `factor` times the current contents.
  void reserve_growth(size_t factor) {
    trans_.reserve(trans_.size() * factor);
    stack_ids_.reserve(stack_ids_.size() * factor);
    set_ids_.reserve(set_ids_.size() * factor);
  }

 private:
  uint32_t intern_stack(uint32_t pos, uint32_t parent);
  uint32_t intern_set(std::vector<uint32_t> stacks);
  // Stacks whose top is a byte set, reachable from `stack` without input.
  void closure(uint32_t stack, std::vector<uint32_t>& out);
  uint32_t advanced(uint32_t stack);  // set after the top byte element is consumed
  Step step_slow(uint32_t set, uint8_t byte);
  // Keeps the first of each stack id in v (order otherwise kept); out of
  // line, since only the large unions of ambiguous grammars need it.
  [[gnu::noinline]] void drop_repeats(std::vector<uint32_t>& v);

  struct VecHash {
    size_t operator()(const std::vector<uint32_t>& v) const {
      uint64_t h = 1469598103934665603ULL;
      for (uint32_t x : v) h = (h ^ x) * 1099511628211ULL;
      return static_cast<size_t>(h);
    }
  };

  const Grammar& g_;
  std::vector<uint32_t> pos_, parent_;
  std::vector<int> depth_;
  std::vector<uint32_t> advanced_;  // per stack: set id + 1, 0 = not computed
  std::vector<uint32_t> singleton_;  // per stack: set id + 1
  std::vector<uint32_t> expanded_;   // per stack: the closure() call that last expanded it
  uint32_t closure_calls_ = 0;
  FlatMap64 stack_ids_;
  std::vector<std::vector<uint32_t>> sets_;
  std::unordered_map<std::vector<uint32_t>, uint32_t, VecHash> set_ids_;
  FlatMap64 trans_;
  uint32_t initial_ = 0;
  std::vector<uint32_t> scratch_;
};

}  // namespace rewoo::agent::grammar
