// PrefixCache: which token ids each KV-cache slot of a backend holds, so a
// prompt that starts like an earlier one (the planner's fixed tools block and
// instructions, the chat preamble) reuses that KV state and prefills only the
// rest.
//
// The Model owns one (Model::prefix_cache()); the Generator keeps it true and
// picks slots with plan(). Records are token ids, never text, so a shared
// prefix is reused only where the tokenizations agree. A record may be
// shorter than what the slot holds (always safe), never longer or different.
// Code that writes to the backend's slots without the Generator must call
// forget(slot) first.
//
// Each slot also remembers how many of its leading tokens have been reused
// by another request (its "shared" prefix: the planner's preamble, not the
// task after it). Choosing a slot to overwrite spares shared prefixes first,
// so one long prompt with nothing in common does not evict the preamble.
//
//   PrefixCache& pc = model.prefix_cache();
//   auto p = pc.plan(prompt_ids, free_slots, prompt_ids.size() - 1);
//   // backend.copy_slot(p.source, p.slot, p.reuse) (src == dst truncates)
//   pc.take(p);
//   // prefill from position p.reuse, then pc.append(p.slot, what ran)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace rewoo::engine {

class PrefixCache {
 public:
  // Where a new request runs and how much of its prompt is already computed.
  struct Plan {
    int slot = -1;    // a free slot the request takes
    int source = -1;  // slot holding the reused prefix (== slot: reuse in place)
    int reuse = 0;    // prompt tokens whose KV state is taken from `source`
  };

  // Tokens whose keys and values slot holds at positions 0..size-1.
  std::span<const int32_t> tokens(int slot) const;
  // Leading tokens of the slot that some request has reused.
  size_t shared(int slot) const;
  void set(int slot, std::span<const int32_t> toks);
  void append(int slot, std::span<const int32_t> toks);
  // The slot keeps only its first n tokens (a forward pass overwrites from n).
  void truncate(int slot, size_t n);
  void forget(int slot);

  // Picks one of `free_slots` (non-empty) for `prompt`, reusing at most
  // `max_reuse` tokens of the longest matching prefix held by any slot (busy
  // slots too: their prefix stays fixed while they append). Prefers the most
  // reused tokens, then the fewest shared tokens destroyed, then the fewest
  // cached tokens destroyed, then reuse in place over a copy.
  Plan plan(std::span<const int32_t> prompt, std::span<const int> free_slots, size_t max_reuse) const;
  // Records that `p` was carried out: p.slot now holds the first p.reuse
  // tokens of p.source, and those tokens count as shared in both.
  void take(const Plan& p);

  // Length of the common prefix of a and b.
  static size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b);

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    size_t shared = 0;  // <= tokens.size()
  };
  Entry& at(int slot);
  std::vector<Entry> slots_;
};

}  // namespace rewoo::engine
