#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rewoo::engine {

// How sample_scaled() reproduces sample_scaled_reference() bit for bit.
//
// The reference sorts every finite candidate v = logit / T (larger first,
// ties by lower id), takes p_k = expf(v_k - max) as floats, sums them into a
// double in that order (total), optionally walks cum += p_k / total up to
// top_p, and draws r = U * total, returning the first k with r < sum(p_0..k)
// (or its last candidate when none is). Three facts allow cheaper, identical
// computations:
//
//  1. Any comparison sort gives the same order, because the keys (v, id) are
//     all distinct; so does a radix sort of a 64-bit key whose high half
//     orders v (descending, -0 == +0) and whose low half is the id.
//  2. Candidates with v - max < kTailCut have p < 2^-65. Every running sum
//     they are added to is >= 0.5 by then (the sums of p start with
//     p_0 = expf(0) = 1; the top-p sum of p/total is ~1 after the other
//     candidates), and adding less than half an ulp of a double >= 0.5
//     (2^-54) rounds back to the same double. So these tail candidates
//     change no sum and can never be drawn except as "the last candidate";
//     they are dropped before sorting, and only the reference's last
//     candidate is remembered. (sample_sorted: facts 1 and 2.)
//  3. The order matters only where a decision falls. sample_bucketed puts
//     the candidates into buckets of d = v - max (every candidate of a
//     bucket comes before those of the next in the reference's order), sums
//     e^d per bucket in any order, and bounds how far the reference's
//     running sums can be from these (expf is within 1 ulp of e^d; each side
//     rounds at most n additions). Each decision (the top-p cut, then the
//     draw) is narrowed to one bucket, whose few candidates are sorted and
//     summed with expf exactly as the reference does. When the bounds leave
//     the answer in doubt (about one draw in a hundred for flat logits),
//     sample_sorted decides instead, with the same random number.
//
// Scaled logits that are infinite (a tiny temperature) go to the reference.
namespace {

constexpr float kTailCut = -45.0f;  // e^-45 < 2^-64.9

// Ascending order of the result <=> descending float order; -0 and +0 equal.
inline uint32_t descending_key(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  if (b == 0x80000000u) b = 0;
  uint32_t asc = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return ~asc;
}
inline float key_value(uint64_t key) {
  uint32_t asc = ~static_cast<uint32_t>(key >> 32);
  uint32_t b = (asc & 0x80000000u) ? (asc & 0x7fffffffu) : ~asc;
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}
inline uint64_t make_key(float v, size_t id) {
  return (static_cast<uint64_t>(descending_key(v)) << 32) | static_cast<uint32_t>(id);
}
inline int32_t key_id(uint64_t key) { return static_cast<int32_t>(static_cast<uint32_t>(key)); }

// The three radix digits of a key's high half (11, 11, 10 bits); their
// histograms are kept side by side, 2048 counters each.
constexpr int kRadixShift[3] = {32, 43, 54};
constexpr uint32_t kRadixMask[3] = {2047, 2047, 1023};
inline void radix_count(uint32_t* count, uint64_t x) {
  ++count[(x >> 32) & 2047];
  ++count[2048 + ((x >> 43) & 2047)];
  ++count[4096 + ((x >> 54) & 1023)];
}

// Sorts keys ascending given their digit histograms. LSD radix on the high
// 32 bits; equal high halves keep their input order, which must therefore be
// ascending in the low half (ids), as the callers build it.
void radix_sort_by_high_half(std::vector<uint64_t>& a, std::vector<uint64_t>& tmp, uint32_t* count) {
  const size_t n = a.size();
  tmp.resize(n);
  uint64_t* src = a.data();
  uint64_t* dst = tmp.data();
  for (int p = 0; p < 3; ++p) {
    uint32_t* h = count + 2048 * p;
    const uint32_t buckets = kRadixMask[p] + 1;
    if (std::any_of(h, h + buckets, [&](uint32_t c) { return c == n; })) continue;  // one digit: no-op pass
    uint32_t sum = 0;
    for (uint32_t b = 0; b < buckets; ++b) {
      uint32_t c = h[b];
      h[b] = sum;
      sum += c;
    }
    const int shift = kRadixShift[p];
    const uint32_t mask = kRadixMask[p];
    for (size_t i = 0; i < n; ++i) {
      uint64_t x = src[i];
      dst[h[(x >> shift) & mask]++] = x;
    }
    std::swap(src, dst);
  }
  if (src != a.data()) std::copy(src, src + n, a.data());
}

// Buckets of the bucketed draw: equal widths of d = v - max over
// [kTailCut, 0], larger candidates first.
constexpr int kBuckets = 2048;
// expf (glibc: < 1 ulp) against e^d, with a factor 2 to spare.
constexpr double kExpfError = 0x1p-22;

// e^d for d in [-64, 0] within a relative 1e-9 (2^k e^x, |x| <= ln2 / 2,
// Taylor to x^8); written so that compilers vectorize it.
inline double exp_near(float df) {
  const double magic = 0x1.8p52;  // adding it rounds to an integer in the low bits
  const double t = static_cast<double>(df) * 1.4426950408889634;
  const double km = t + magic;
  const double kd = km - magic;
  const double x = (t - kd) * 0.6931471805599453;
  double p = 1.0 / 40320;
  p = p * x + 1.0 / 5040;
  p = p * x + 1.0 / 720;
  p = p * x + 1.0 / 120;
  p = p * x + 1.0 / 24;
  p = p * x + 1.0 / 6;
  p = p * x + 0.5;
  p = p * x + 1.0;
  p = p * x + 1.0;
  uint64_t kb, mb, pb;
  std::memcpy(&kb, &km, sizeof kb);
  std::memcpy(&mb, &magic, sizeof mb);
  std::memcpy(&pb, &p, sizeof pb);
  pb += (kb - mb) << 52;
  std::memcpy(&p, &pb, sizeof p);
  return p;
}

// Bucket (kBuckets when excluded) and e^d of each candidate, d = v - mx, for
// sample_bucketed: plain loops, so that compilers vectorize them; built a
// second time for AVX2, picked at load time on CPUs that have it (2.5x
// faster than SSE2 here; the results are the same either way).
#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute)
#if __has_attribute(target_clones)
__attribute__((target_clones("avx2", "default")))
#endif
#endif
void bucket_and_exp(const float* v, size_t n, float mx, uint32_t* bucket_of, float* dc, double* approx) {
  constexpr float kScale = kBuckets / -kTailCut;
  for (size_t i = 0; i < n; ++i) {
    float d = v[i] - mx;
    bool keep = d >= kTailCut;
    float dk = keep ? d : 0.0f;
    int b = static_cast<int>(-dk * kScale);
    b = b < kBuckets - 1 ? b : kBuckets - 1;
    bucket_of[i] = static_cast<uint32_t>(keep ? b : kBuckets);
    dc[i] = dk;
  }
  for (size_t i = 0; i < n; ++i) approx[i] = exp_near(dc[i]);
}

// What std::uniform_real_distribution<double>(0, total) returns for the
// canonical number u (libstdc++ and libc++ both compute u * (b - a) + a).
inline double uniform_draw(double u, double total) { return u * (total - 0.0) + 0.0; }

}  // namespace

Sampler::Sampler(const SamplerOptions& o) : o_(o), rng_(o.seed) {}

void Sampler::apply_repetition_penalty(std::span<float> logits, std::span<const int32_t> history, float penalty) {
  if (penalty == 1.0f) return;
  // Marks per id instead of a hash set: O(history), no allocation per call.
  thread_local std::vector<uint8_t> seen;
  if (seen.size() < logits.size()) seen.resize(logits.size(), 0);
  for (int32_t t : history) {
    if (t < 0 || static_cast<size_t>(t) >= logits.size() || seen[t]) continue;
    seen[t] = 1;
    float& l = logits[t];
    l = l > 0 ? l / penalty : l * penalty;
  }
  for (int32_t t : history)
    if (t >= 0 && static_cast<size_t>(t) < logits.size()) seen[t] = 0;
}

int32_t Sampler::argmax(std::span<const float> logits) {
  // NaN (a broken logit) never wins; token 0 only when every logit is NaN;
  // among equal logits the first. One pass over blocks of 64: each block's
  // maximum in independent lanes (the compiler vectorizes x > m ? x : m,
  // which also skips NaN), kept when it beats the best so far; then the
  // first block that reached the best is searched for its first index. For a
  // vocabulary of 32,000 that is several times faster than comparing entry by
  // entry, and this runs between decode steps while the GPU waits.
  constexpr size_t kBlock = 64, kLanes = 16;
  const float* v = logits.data();
  const size_t n = logits.size();
  float best = -std::numeric_limits<float>::infinity();
  size_t from = 0;
  bool found = false;  // best is a logit (not only the -inf start)
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    float m[kLanes];
    for (size_t k = 0; k < kLanes; ++k) m[k] = -std::numeric_limits<float>::infinity();
    for (size_t j = 0; j < kBlock; j += kLanes)
      for (size_t k = 0; k < kLanes; ++k) m[k] = v[i + j + k] > m[k] ? v[i + j + k] : m[k];
    float bm = m[0];
    for (size_t k = 1; k < kLanes; ++k) bm = m[k] > bm ? m[k] : bm;
    // bm == -inf also when the block is all NaN; the search below then
    // passes over it.
    if (bm > best || (!found && bm == best)) {
      best = bm;
      from = i;
      found = true;
    }
  }
  for (; i < n; ++i)
    if (v[i] > best || (!found && v[i] == best)) {
      best = v[i];
      from = i;
      found = true;
    }
  for (size_t j = from; found && j < n; ++j)
    if (v[j] == best) return static_cast<int32_t>(j);
  return 0;
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history) {
  apply_repetition_penalty(logits, history, o_.repetition_penalty);
  if (!(o_.temperature > 0.0f)) return argmax(logits);  // 0, negative or NaN: greedy
  return sample_scaled(logits);
}

int32_t Sampler::sample_reference(std::span<float> logits, std::span<const int32_t> history) {
  apply_repetition_penalty(logits, history, o_.repetition_penalty);
  if (!(o_.temperature > 0.0f)) return argmax(logits);
  return sample_scaled_reference(logits);
}

int32_t Sampler::sample_scaled_reference(std::span<const float> logits) {
  cand_.clear();
  for (size_t i = 0; i < logits.size(); ++i)
    if (std::isfinite(logits[i])) cand_.emplace_back(logits[i] / o_.temperature, static_cast<int32_t>(i));
  if (cand_.empty()) return argmax(logits);
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = cand_.size();
  if (o_.top_k > 0 && static_cast<size_t>(o_.top_k) < keep) {
    keep = static_cast<size_t>(o_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<long>(keep), cand_.end(), by_logit);
    cand_.resize(keep);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  // Softmax over the survivors (sorted, largest first).
  const float mx = cand_[0].first;
  if (!std::isfinite(mx)) {
    // logit / T overflowed (T near 0): the softmax's limit puts all mass on
    // the largest finite logit. (exp(inf - inf) is NaN and would draw the
    // last candidate, the least likely token.)
    int32_t best = cand_[0].second;
    for (size_t i = 0; i < logits.size(); ++i)
      if (std::isfinite(logits[i]) && logits[i] > logits[best]) best = static_cast<int32_t>(i);
    return best;
  }
  double total = 0;
  for (auto& c : cand_) {
    c.first = std::exp(c.first - mx);
    total += c.first;
  }
  if (o_.top_p < 1.0f) {
    // Keep the smallest prefix whose mass reaches top_p (at least one token).
    double cum = 0;
    size_t n = 0;
    for (; n < cand_.size(); ++n) {
      cum += cand_[n].first / total;
      if (cum >= o_.top_p) { ++n; break; }
    }
    n = std::max<size_t>(1, std::min(n, cand_.size()));
    cand_.resize(n);
    total = 0;
    for (auto& c : cand_) total += c.first;
  }
  std::uniform_real_distribution<double> u(0.0, total);
  double r = u(rng_), cum = 0;
  for (auto& c : cand_) {
    cum += c.first;
    if (r < cum) return c.second;
  }
  return cand_.back().second;
}

int32_t Sampler::sample_scaled(std::span<const float> logits) {
  const float temp = o_.temperature;
  const size_t n = logits.size();
  if (!std::isfinite(temp) || n == 0 || n > 0xffffffffu) {
    ++paths_.reference;
    return sample_scaled_reference(logits);
  }
  scaled_.resize(n);
  float* v = scaled_.data();
  size_t n_finite = 0;
  for (size_t i = 0; i < n; ++i) {
    v[i] = logits[i] / temp;
    n_finite += std::fabs(logits[i]) <= std::numeric_limits<float>::max();
  }
  if (n_finite == 0) return argmax(logits);
  // The largest candidate. -inf and NaN (masked or broken logits) lose every
  // comparison; +inf logits, and finite ones that overflow, go to the
  // reference, which sorts them out.
  float lanes[8];
  std::fill(lanes, lanes + 8, -std::numeric_limits<float>::infinity());
  size_t i = 0;
#if defined(__SSE2__)
  __m128 m0 = _mm_loadu_ps(lanes), m1 = m0;
  for (; i + 8 <= n; i += 8) {  // _mm_max_ps(x, m) = x > m ? x : m: NaN is skipped
    m0 = _mm_max_ps(_mm_loadu_ps(v + i), m0);
    m1 = _mm_max_ps(_mm_loadu_ps(v + i + 4), m1);
  }
  _mm_storeu_ps(lanes, m0);
  _mm_storeu_ps(lanes + 4, m1);
#endif
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) lanes[j] = lanes[j] < v[i + j] ? v[i + j] : lanes[j];
  for (; i < n; ++i) lanes[0] = lanes[0] < v[i] ? v[i] : lanes[0];
  float mx = lanes[0];
  for (int j = 1; j < 8; ++j) mx = mx < lanes[j] ? lanes[j] : mx;
  if (!std::isfinite(mx)) {
    ++paths_.reference;
    return sample_scaled_reference(logits);
  }

  // The reference's list: all finite candidates, or the top_k first of them.
  size_t ref_size = n_finite;
  if (o_.top_k > 0 && static_cast<size_t>(o_.top_k) < n_finite) ref_size = static_cast<size_t>(o_.top_k);
  // The one random number of the draw (nothing else uses the generator).
  const double u = std::generate_canonical<double, std::numeric_limits<double>::digits>(rng_);
  if (ref_size == n_finite) {
    int32_t id = sample_bucketed(n, mx, u);
    if (id >= 0) {
      ++paths_.bucketed;
      return id;
    }
  }
  ++paths_.sorted;
  return sample_sorted(logits, mx, ref_size, u);
}

int32_t Sampler::sample_sorted(std::span<const float> logits, float mx, size_t ref_size, double u) {
  const size_t n = logits.size();
  const float* v = scaled_.data();
  // Candidates within kTailCut of the maximum (never -inf or NaN), in id
  // order.
  keys_.resize(n);
  size_t m = 0;
  for (size_t k = 0; k < n; ++k) {
    keys_[m] = make_key(v[k], k);
    m += v[k] - mx >= kTailCut;
  }
  keys_.resize(m);
  if (ref_size < m) {
    std::nth_element(keys_.begin(), keys_.begin() + static_cast<long>(ref_size), keys_.end());
    keys_.resize(ref_size);
    std::sort(keys_.begin(), keys_.end());
  } else if (m < 256) {
    std::sort(keys_.begin(), keys_.end());
  } else {
    radix_count_.assign(3 * 2048, 0);
    for (uint64_t key : keys_) radix_count(radix_count_.data(), key);
    radix_sort_by_high_half(keys_, keys_tmp_, radix_count_.data());
  }
  m = keys_.size();
  // The id of the reference list's last candidate (drawn only when r reaches
  // the running sum's end after rounding): rare, so found by a rescan.
  auto reference_last = [&]() -> int32_t {
    if (ref_size == m) return key_id(keys_.back());
    std::vector<uint64_t> all;
    for (size_t k = 0; k < n; ++k)
      if (std::isfinite(logits[k])) all.push_back(make_key(v[k], k));
    std::nth_element(all.begin(), all.begin() + static_cast<long>(ref_size - 1), all.end());
    return key_id(all[ref_size - 1]);
  };

  probs_.resize(m);
  double total = 0;
  for (size_t k = 0; k < m; ++k) {
    float p = std::exp(key_value(keys_[k]) - mx);
    probs_[k] = p;
    total += p;
  }
  size_t kept = m;
  bool kept_is_reference_list = m == ref_size;
  if (o_.top_p < 1.0f) {
    double cum = 0;
    for (size_t k = 0; k < m; ++k) {
      cum += probs_[k] / total;
      if (cum >= o_.top_p) {
        kept = k + 1;
        kept_is_reference_list = true;
        total = 0;
        for (size_t j = 0; j < kept; ++j) total += probs_[j];
        break;
      }
    }
    // Not reached: the reference keeps its whole list and re-adds the same
    // sum in the same order (the tail adds nothing), so total is unchanged.
  }
  double r = uniform_draw(u, total), cum = 0;
  for (size_t k = 0; k < kept; ++k) {
    cum += probs_[k];
    if (r < cum) return key_id(keys_[k]);
  }
  return kept_is_reference_list ? key_id(keys_[kept - 1]) : reference_last();
}

int32_t Sampler::sample_bucketed(size_t n, float mx, double u) {
  const float* v = scaled_.data();
  // Bucket of each candidate by d = v - max (kBuckets for the tail, -inf and
  // NaN) and e^d to within kExpNearError; then each bucket's count and mass.
  bucket_.resize(n);
  approx_.resize(n);
  scratch_.resize(n);
  uint32_t* bucket_of = bucket_.data();
  double* approx = approx_.data();
  float* dc = scratch_.data();
  bucket_and_exp(v, n, mx, bucket_of, dc, approx);
  bucket_mass_.assign(kBuckets + 1, 0.0);
  for (size_t i = 0; i < n; ++i) bucket_mass_[bucket_of[i]] += approx[i];
  // before_[b]: mass of the buckets ahead of b (all larger candidates).
  before_.resize(kBuckets + 1);
  double acc = 0;
  for (int b = 0; b <= kBuckets; ++b) {
    before_[b] = acc;
    acc += b < kBuckets ? bucket_mass_[b] : 0.0;
  }
  const double total = before_[kBuckets];
  // Every running sum the reference forms, over the candidates down to some
  // position, is within a factor (1 +- tol) of ours: e^d vs expf (1 ulp),
  // and rounding of up to n additions on either side.
  const double tol = kExpfError + 8.0 * static_cast<double>(n) * 0x1p-53;

  // Finds the first position whose running sum exceeds a threshold known to
  // lie in [lo, hi]. Loads that candidate's bucket into found_ (sorted keys,
  // their exact probabilities, running sums from the bucket's start) and
  // returns its index there, or -1 when the bounds cannot decide.
  auto locate = [&](double lo, double hi, int& bucket) -> long {
    const double mid = 0.5 * (lo + hi);
    auto it = std::upper_bound(before_.begin() + 1, before_.end(), mid);
    if (it == before_.end()) return -1;
    int b = static_cast<int>(it - before_.begin()) - 1;
    if (b != bucket) {
      bucket = b;
      found_.clear();
      size_t i = 0;
#if defined(__SSE2__)
      const __m128i want = _mm_set1_epi32(b);
      for (; i + 4 <= n; i += 4) {
        __m128i got = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bucket_of + i));
        int hits = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(got, want)));
        for (; hits != 0; hits &= hits - 1) {
          size_t k = i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(hits)));
          found_.push_back(make_key(v[k], k));
        }
      }
#endif
      for (; i < n; ++i)
        if (bucket_of[i] == static_cast<uint32_t>(b)) found_.push_back(make_key(v[i], i));
      std::sort(found_.begin(), found_.end());
      found_run_.resize(found_.size());
      double run = 0;
      for (size_t j = 0; j < found_.size(); ++j) {
        run += std::exp(key_value(found_[j]) - mx);
        found_run_[j] = run;
      }
    }
    for (size_t j = 0; j < found_.size(); ++j) {
      double sum = before_[b] + found_run_[j];
      if (sum <= mid) continue;
      double prev = before_[b] + (j > 0 ? found_run_[j - 1] : 0.0);
      if (sum * (1 - tol) > hi && prev * (1 + tol) < lo) return static_cast<long>(j);
      return -1;
    }
    return -1;
  };

  int bucket = -1;
  double kept_total = total;  // the reference's total after top-p, approximately
  int cut_bucket = kBuckets;
  long cut_index = 0;
  if (o_.top_p < 1.0f) {
    // The reference keeps positions up to the first whose cumulative share
    // sum(p) / total reaches top_p.
    const double p = o_.top_p;
    long j = locate(p * total * (1 - 3 * tol), p * total * (1 + 3 * tol), bucket);
    if (j < 0) return -1;
    cut_bucket = bucket;
    cut_index = j;
    kept_total = before_[bucket] + found_run_[j];
  }
  const double r_lo = u * kept_total * (1 - tol) * (1 - 0x1p-52);
  const double r_hi = u * kept_total * (1 + tol) * (1 + 0x1p-52);
  long j = locate(r_lo, r_hi, bucket);
  if (j < 0 || bucket > cut_bucket || (bucket == cut_bucket && j > cut_index)) return -1;
  return key_id(found_[j]);
}

}  // namespace rewoo::engine
