#include "agent/grammar/byte_machine.h"

#include <algorithm>
#include <stdexcept>

namespace rewoo::agent::grammar {

namespace {
constexpr uint32_t kNoPos = 0xFFFFFFFFu;
// Gathered stacks up to which a step sorts them all (see step_slow).
constexpr size_t kSortWhole = 2048;
}

ByteMachine::ByteMachine(const Grammar& g) : g_(g) {
  // Sentinels: 0 = empty stack, 1 = unknown caller.
  for (int i = 0; i < 2; ++i) {
    pos_.push_back(kNoPos);
    parent_.push_back(kNoPos);
    depth_.push_back(0);
    advanced_.push_back(0);
    singleton_.push_back(0);
    expanded_.push_back(0);
  }
  intern_set({});  // kDeadSet
  std::vector<uint32_t> init;
  for (uint32_t a : g_.rules()[g_.root()].alternatives) closure(intern_stack(a, kEmptyStack), init);
  std::sort(init.begin(), init.end());
  init.erase(std::unique(init.begin(), init.end()), init.end());
  initial_ = intern_set(std::move(init));
}

uint32_t ByteMachine::intern_stack(uint32_t pos, uint32_t parent) {
  uint64_t key = (uint64_t{pos} << 32) | parent;
  uint32_t id = stack_ids_.find(key);
  if (id != FlatMap64::kMissing) return id;
  id = static_cast<uint32_t>(pos_.size());
  pos_.push_back(pos);
  parent_.push_back(parent);
  depth_.push_back(depth_[parent] + 1);
  advanced_.push_back(0);
  singleton_.push_back(0);
  expanded_.push_back(0);
  stack_ids_.insert(key, id);
  return id;
}

uint32_t ByteMachine::intern_set(std::vector<uint32_t> stacks) {
  auto it = set_ids_.find(stacks);
  if (it != set_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(sets_.size());
  set_ids_.emplace(stacks, id);
  sets_.push_back(std::move(stacks));
  return id;
}

void ByteMachine::closure(uint32_t start, std::vector<uint32_t>& out) {
  const auto& el = g_.elements();
  std::vector<uint32_t> work{start};
  // Stacks this call has expanded are marked with its number (ambiguous
  // recursive rules reach thousands of them).
  if (++closure_calls_ == 0) {  // wrapped: forget every mark
    std::fill(expanded_.begin(), expanded_.end(), 0);
    closure_calls_ = 1;
  }
  while (!work.empty()) {
    uint32_t s = work.back();
    work.pop_back();
    if (s == kEmptyStack || s == kUnknownStack) {
      out.push_back(s);
      continue;
    }
    if (expanded_[s] == closure_calls_) continue;
    expanded_[s] = closure_calls_;
    const Element& e = el[pos_[s]];
    switch (e.kind) {
      case Element::Kind::kBytes:
        out.push_back(s);
        break;
      case Element::Kind::kEnd:
        work.push_back(parent_[s]);
        break;
      case Element::Kind::kRule: {
        uint32_t ret = el[pos_[s] + 1].kind == Element::Kind::kEnd ? parent_[s]
                                                                   : intern_stack(pos_[s] + 1, parent_[s]);
        const auto& alts = g_.rules()[e.value].alternatives;
        for (auto it = alts.rbegin(); it != alts.rend(); ++it) work.push_back(intern_stack(*it, ret));
        break;
      }
    }
  }
}

uint32_t ByteMachine::advanced(uint32_t s) {
  if (advanced_[s]) return advanced_[s] - 1;
  std::vector<uint32_t> out;
  closure(intern_stack(pos_[s] + 1, parent_[s]), out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  uint32_t id = intern_set(std::move(out));
  advanced_[s] = id + 1;
  return id;
}

uint32_t ByteMachine::singleton(uint32_t s) {
  if (singleton_[s]) return singleton_[s] - 1;
  uint32_t id = intern_set({s});
  singleton_[s] = id + 1;
  return id;
}

void ByteMachine::drop_repeats(std::vector<uint32_t>& v) {
  // Per stack id: the call that last kept it. The calls of every machine on
  // this thread are numbered together, so no mark is ever mistaken for this
  // call's. (Held outside the machine: a larger ByteMachine measured 30%
  // slower grammar compiles in bench_grammar, the marks never touched.)
  thread_local std::vector<uint32_t> kept;
  thread_local uint32_t call = 0;
  if (++call == 0) {  // wrapped: forget every mark
    std::fill(kept.begin(), kept.end(), 0);
    call = 1;
  }
  if (kept.size() < pos_.size()) kept.resize(pos_.size(), 0);
  size_t n = 0;
  for (uint32_t x : v) {
    if (kept[x] == call) continue;
    kept[x] = call;
    v[n++] = x;
  }
  v.resize(n);
}

ByteMachine::Step ByteMachine::step_slow(uint32_t set, uint8_t byte) {
  const auto& el = g_.elements();
  const auto& bs = g_.byte_sets();
  bool escaped = false;
  scratch_.clear();
  // Copy: advanced() may grow sets_ and invalidate references into it.
  std::vector<uint32_t> members = sets_[set];
  for (uint32_t s : members) {
    if (s == kEmptyStack) continue;
    if (s == kUnknownStack) {
      escaped = true;
      continue;
    }
    if (!bs[el[pos_[s]].value].has(byte)) continue;
    uint32_t a = advanced(s);
    const auto& v = sets_[a];
    scratch_.insert(scratch_.end(), v.begin(), v.end());
  }
  // Ambiguous recursive rules give sets of hundreds of stacks whose
  // advanced sets mostly share their members (each of n stacks brings most
  // of the same n): there each stack is kept once, marked with this step's
  // number, and only the union is sorted. Small unions (every ordinary
  // grammar) are cheaper to sort whole than to mark in a table as large as
  // all stacks.
  if (scratch_.size() > kSortWhole) drop_repeats(scratch_);
  std::sort(scratch_.begin(), scratch_.end());
  scratch_.erase(std::unique(scratch_.begin(), scratch_.end()), scratch_.end());
  uint32_t next = intern_set(scratch_);
  trans_.insert((uint64_t{set} << 8) | byte, (next << 1) | (escaped ? 1u : 0u));
  return {next, escaped};
}

bool ByteMachine::can_end(uint32_t set) const {
  const auto& v = sets_[set];
  return !v.empty() && v.front() == kEmptyStack;
}

uint32_t ByteMachine::truncate(uint32_t s, int depth, bool always) {
  if (depth_[s] < depth || (depth_[s] == depth && !always)) return s;
  uint32_t frames[64];
  if (depth > 64) throw std::logic_error("truncate: depth above 64");
  uint32_t t = s;
  for (int i = 0; i < depth; ++i, t = parent_[t]) frames[i] = pos_[t];
  uint32_t out = kUnknownStack;
  for (int i = depth - 1; i >= 0; --i) out = intern_stack(frames[i], out);
  return out;
}

ByteSet ByteMachine::next_bytes(uint32_t set) const {
  ByteSet out;
  for (uint32_t s : sets_[set]) {
    if (s == kEmptyStack || s == kUnknownStack) continue;
    const ByteSet& b = g_.byte_sets()[g_.elements()[pos_[s]].value];
    for (int i = 0; i < 4; ++i) out.bits[i] |= b.bits[i];
  }
  return out;
}

}  // namespace rewoo::agent::grammar
