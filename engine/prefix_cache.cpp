#include "engine/prefix_cache.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace rewoo::engine {

PrefixCache::Entry& PrefixCache::at(int slot) {
  if (slot < 0) throw std::logic_error("PrefixCache: negative slot");
  if (static_cast<size_t>(slot) >= slots_.size()) slots_.resize(static_cast<size_t>(slot) + 1);
  return slots_[static_cast<size_t>(slot)];
}

std::span<const int32_t> PrefixCache::tokens(int slot) const {
  if (slot < 0 || static_cast<size_t>(slot) >= slots_.size()) return {};
  return slots_[static_cast<size_t>(slot)].tokens;
}

size_t PrefixCache::shared(int slot) const {
  if (slot < 0 || static_cast<size_t>(slot) >= slots_.size()) return 0;
  return slots_[static_cast<size_t>(slot)].shared;
}

void PrefixCache::set(int slot, std::span<const int32_t> toks) {
  Entry& e = at(slot);
  e.tokens.assign(toks.begin(), toks.end());
  e.shared = 0;
}

void PrefixCache::append(int slot, std::span<const int32_t> toks) {
  auto& v = at(slot).tokens;
  v.insert(v.end(), toks.begin(), toks.end());
}

void PrefixCache::truncate(int slot, size_t n) {
  Entry& e = at(slot);
  if (e.tokens.size() > n) e.tokens.resize(n);
  e.shared = std::min(e.shared, n);
}

void PrefixCache::forget(int slot) {
  if (slot >= 0 && static_cast<size_t>(slot) < slots_.size()) slots_[static_cast<size_t>(slot)] = Entry{};
}

size_t PrefixCache::common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

PrefixCache::Plan PrefixCache::plan(std::span<const int32_t> prompt, std::span<const int> free_slots,
                                    size_t max_reuse) const {
  Plan best;
  // The longest prefix any slot holds (the source of a copy).
  int src = -1;
  size_t src_len = 0;
  std::vector<size_t> match(slots_.size());  // per slot, reusable tokens
  for (size_t s = 0; s < slots_.size(); ++s) {
    match[s] = std::min(common_prefix(slots_[s].tokens, prompt), max_reuse);
    if (match[s] > src_len) src = static_cast<int>(s), src_len = match[s];
  }
  // Each option scores (tokens reused, -shared tokens destroyed, -cached
  // tokens destroyed, in place); the highest wins.
  using Score = std::tuple<long, long, long, int>;
  Score best_score{-1, 0, 0, 0};
  auto consider = [&](int slot, int source, size_t reuse, size_t keep) {
    size_t held = tokens(slot).size(), sh = shared(slot);
    Score score{static_cast<long>(reuse), -static_cast<long>(sh - std::min(sh, keep)),
                -static_cast<long>(held - std::min(held, keep)), source == slot ? 1 : 0};
    if (score > best_score) {
      best_score = score;
      best = {slot, source, static_cast<int>(reuse)};
    }
  };
  for (int f : free_slots) {
    // A free slot without a record holds nothing.
    size_t m = f >= 0 && static_cast<size_t>(f) < match.size() ? match[static_cast<size_t>(f)] : 0;
    consider(f, f, m, m);
    // A copy replaces everything the slot held.
    if (src >= 0 && src != f && src_len > m) consider(f, src, src_len, 0);
  }
  return best;
}

void PrefixCache::take(const Plan& p) {
  if (p.slot < 0 || p.source < 0) return;
  at(std::max(p.slot, p.source));  // both entries exist; no reallocation below
  Entry& dst = at(p.slot);
  const size_t n = static_cast<size_t>(std::max(0, p.reuse));
  if (n > 0 && p.source != p.slot) {
    Entry& src = at(p.source);
    dst.tokens.assign(src.tokens.begin(), src.tokens.begin() + static_cast<long>(std::min(n, src.tokens.size())));
    src.shared = std::max(src.shared, dst.tokens.size());
  } else if (dst.tokens.size() > n) {
    dst.tokens.resize(n);
  }
  dst.shared = dst.tokens.size();
}

}  // namespace rewoo::engine
