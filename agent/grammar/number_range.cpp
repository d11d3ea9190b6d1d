#include "agent/grammar/number_range.h"

#include <map>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "agent/grammar/regex_to_gbnf.h"

namespace rewoo::agent::grammar {

namespace {

// A decimal: sign, integer digits (no leading zeros, "0" for none) and
// fraction digits (no trailing zeros).
struct Dec {
  bool neg = false;
  std::string ip = "0";
  std::string fp;
  bool is_zero() const { return ip == "0" && fp.empty(); }
};

Result<Dec> parse_dec(const std::string& text) {
  size_t i = 0;
  Dec d;
  if (i < text.size() && text[i] == '-') {
    d.neg = true;
    ++i;
  }
  std::string digits;
  long point = -1;
  for (; i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'); ++i) {
    if (text[i] == '.') point = static_cast<long>(digits.size());
    else digits += text[i];
  }
  if (digits.empty()) return Error("not a number: '" + text + "'");
  if (point < 0) point = static_cast<long>(digits.size());
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    try {
      point += std::stol(text.substr(i + 1));
    } catch (...) {
      return Error("bad exponent in '" + text + "'");
    }
  } else if (i != text.size()) {
    return Error("not a number: '" + text + "'");
  }
  if (point < 0) {
    digits.insert(0, static_cast<size_t>(-point), '0');
    point = 0;
  }
  if (point > static_cast<long>(digits.size())) digits.append(static_cast<size_t>(point) - digits.size(), '0');
  d.ip = digits.substr(0, static_cast<size_t>(point));
  d.fp = digits.substr(static_cast<size_t>(point));
  size_t nz = d.ip.find_first_not_of('0');
  d.ip = nz == std::string::npos ? "0" : d.ip.substr(nz);
  while (!d.fp.empty() && d.fp.back() == '0') d.fp.pop_back();
  if (d.is_zero()) d.neg = false;
  return d;
}

int cmp_abs(const Dec& a, const Dec& b) {
  if (a.ip.size() != b.ip.size()) return a.ip.size() < b.ip.size() ? -1 : 1;
  if (int c = a.ip.compare(b.ip)) return c < 0 ? -1 : 1;
  if (int c = a.fp.compare(b.fp)) return c < 0 ? -1 : 1;  // no trailing zeros: lexicographic works
  return 0;
}

int cmp(const Dec& a, const Dec& b) {
  if (a.neg != b.neg) return a.neg ? -1 : 1;
  int c = cmp_abs(a, b);
  return a.neg ? -c : c;
}

std::string inc_digits(std::string s) {
  int i = static_cast<int>(s.size()) - 1;
  while (i >= 0 && s[static_cast<size_t>(i)] == '9') s[static_cast<size_t>(i--)] = '0';
  if (i < 0) return "1" + s;
  ++s[static_cast<size_t>(i)];
  return s;
}

std::string dec_digits(std::string s) {  // s > 0
  int i = static_cast<int>(s.size()) - 1;
  while (s[static_cast<size_t>(i)] == '0') s[static_cast<size_t>(i--)] = '9';
  --s[static_cast<size_t>(i)];
  size_t nz = s.find_first_not_of('0');
  return nz == std::string::npos ? "0" : s.substr(nz);
}

Dec plus_one(Dec d) {  // integral d
  if (!d.neg) {
    d.ip = inc_digits(d.ip);
  } else {
    d.ip = dec_digits(d.ip);
    if (d.ip == "0") d.neg = false;
  }
  return d;
}

Dec minus_one(Dec d) {
  if (d.neg || d.is_zero()) {
    d.ip = d.is_zero() ? "1" : inc_digits(d.ip);
    d.neg = true;
  } else {
    d.ip = dec_digits(d.ip);
  }
  return d;
}

struct Bound {
  Dec v;
  bool incl = true;
};

// Non-negative numbers in [lo, hi] as GBNF, by digit positions with "still
// equal to the bound" flags, as digit-DP range generators do.
class NonNegRange {
 public:
  NonNegRange(Bound lo, std::optional<Bound> hi, bool int_only, int max_digits,
              const std::function<std::string(const std::string&, const std::string&)>& add_rule)
      : lo_(std::move(lo)), hi_(std::move(hi)), int_only_(int_only), max_digits_(max_digits),
        add_rule_(add_rule) {}

  std::optional<std::string> run() {
    if (hi_) {
      int c = cmp(lo_.v, hi_->v);
      if (c > 0 || (c == 0 && (!lo_.incl || !hi_->incl))) return std::nullopt;
    }
    size_t nlo = lo_.v.ip.size();
    std::vector<std::string> alts;
    const std::string free_frac = frac();
    if (!hi_) {
      add(alts, int_state(nlo, 0, true, false));
      // Integer parts longer than the bound's: up to max_digits_ digits in all.
      if (max_digits_ > 0)
        alts.push_back(fmt::format("[1-9] [0-9]{{{},{}}} {}", nlo,
                                   std::max<size_t>(nlo, (size_t)max_digits_ - 1), free_frac));
      else
        alts.push_back(fmt::format("[1-9] [0-9]{{{},}} {}", nlo, free_frac));
    } else {
      size_t nhi = hi_->v.ip.size();
      if (nlo == nhi) {
        add(alts, int_state(nlo, 0, true, true));
      } else {
        add(alts, int_state(nlo, 0, true, false));
        if (nhi >= nlo + 2) alts.push_back(fmt::format("[1-9] [0-9]{{{},{}}} {}", nlo, nhi - 2, free_frac));
        add(alts, int_state(nhi, 0, false, true));
      }
    }
    if (alts.empty()) return std::nullopt;
    return join(alts);
  }

 private:
  // Repetitions of free digits: unbounded, or at most max_digits_.
  std::string plus() const { return gbnf_repeat(1, max_digits_); }
  std::string star() const { return gbnf_repeat(0, max_digits_); }
  // An optional fraction the bounds do not constrain.
  std::string frac() const {
    return int_only_ ? "(\".\" \"0\"" + plus() + ")?" : "(\".\" [0-9]" + plus() + ")?";
  }
  static void add(std::vector<std::string>& alts, const std::optional<std::string>& e) {
    if (e) alts.push_back(*e);
  }
  static std::string join(const std::vector<std::string>& alts) {
    if (alts.size() == 1) return alts[0];
    std::string s = "(";
    for (size_t i = 0; i < alts.size(); ++i) s += (i ? " | " : "") + alts[i];
    return s + ")";
  }
  static std::string cls(int a, int b) { return a == b ? fmt::format("\"{}\"", a) : fmt::format("[{}-{}]", a, b); }

  // Digits d in [dmin, dmax], grouped by the flags they leave; child(tl, th).
  template <class Child>
  void digit_alts(std::vector<std::string>& alts, int dmin, int dmax, bool tl, int ld, bool th, int hd,
                  Child child) {
    for (int d = dmin; d <= dmax;) {
      bool ntl = tl && d == ld, nth = th && d == hd;
      int e = d;
      while (e + 1 <= dmax && (tl && e + 1 == ld) == ntl && (th && e + 1 == hd) == nth) ++e;
      if (auto c = child(ntl, nth)) alts.push_back(cls(d, e) + (c->empty() ? "" : " " + *c));
      d = e + 1;
    }
  }

  // Rule for: integer part of length n, i digits written, tight flags.
  std::optional<std::string> int_state(size_t n, size_t i, bool tl, bool th) {
    auto key = std::make_tuple(0, n, i, tl, th);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    std::vector<std::string> alts;
    if (!tl && !th) {
      std::string frac = this->frac();
      alts.push_back((n > i ? fmt::format("[0-9]{{{}}} ", n - i) : std::string()) + frac);
    } else if (i == n) {
      bool low_ok = !tl || (lo_.incl && lo_.v.fp.empty());
      bool high_ok = !th || hi_->incl || !hi_->v.fp.empty();
      if (int_only_) {
        if (low_ok && high_ok) alts.push_back(frac());
      } else {
        if (low_ok && high_ok) alts.push_back("\"\"");
        if (auto f = frac_state(0, tl, th)) alts.push_back("\".\" " + *f);
      }
    } else {
      int dmin = (i == 0 && n > 1) ? 1 : 0, dmax = 9;
      int ld = tl ? lo_.v.ip[i] - '0' : -1, hd = th ? hi_->v.ip[i] - '0' : -1;
      if (tl) dmin = std::max(dmin, ld);
      if (th) dmax = std::min(dmax, hd);
      digit_alts(alts, dmin, dmax, tl, ld, th, hd, [&](bool a, bool b) { return int_state(n, i + 1, a, b); });
    }
    std::optional<std::string> out;
    if (!alts.empty()) out = add_rule_("num-range", join(alts));
    memo_[key] = out;
    return out;
  }

  // Fraction digits after the point; i written so far.
  std::optional<std::string> frac_state(size_t i, bool tl, bool th) {
    size_t llen = tl ? lo_.v.fp.size() : 0, hlen = th ? hi_->v.fp.size() : 0;
    size_t k = std::max({llen, hlen, size_t{1}});
    if (!tl && !th) return "[0-9]" + (i == 0 ? plus() : star());
    if (i >= k) {
      // Past both bounds' digits: the bound digits are all zero from here.
      const std::string zeros = "\"0\"" + star();
      if (tl && th) return (lo_.incl && hi_->incl) ? std::optional<std::string>(zeros) : std::nullopt;
      if (th) return hi_->incl ? std::optional<std::string>(zeros) : std::nullopt;
      return lo_.incl ? "[0-9]" + star() : "\"0\"" + star() + " [1-9] [0-9]" + star();
    }
    auto key = std::make_tuple(1, size_t{0}, i, tl, th);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    std::vector<std::string> alts;
    bool low_ok = !tl || (i >= lo_.v.fp.size() && lo_.incl);
    bool high_ok = !th || i < hi_->v.fp.size() || hi_->incl;
    if (i >= 1 && low_ok && high_ok) alts.push_back("\"\"");
    int ld = tl ? (i < lo_.v.fp.size() ? lo_.v.fp[i] - '0' : 0) : -1;
    int hd = th ? (i < hi_->v.fp.size() ? hi_->v.fp[i] - '0' : 0) : -1;
    int dmin = tl ? ld : 0, dmax = th ? hd : 9;
    digit_alts(alts, dmin, dmax, tl, ld, th, hd, [&](bool a, bool b) { return frac_state(i + 1, a, b); });
    std::optional<std::string> out;
    if (!alts.empty()) out = add_rule_("num-frac", join(alts));
    memo_[key] = out;
    return out;
  }

  Bound lo_;
  std::optional<Bound> hi_;
  bool int_only_;
  int max_digits_;  // 0: unbounded
  const std::function<std::string(const std::string&, const std::string&)>& add_rule_;
  std::map<std::tuple<int, size_t, size_t, bool, bool>, std::optional<std::string>> memo_;
};

Dec negated(Dec d) {
  if (!d.is_zero()) d.neg = !d.neg;
  return d;
}

}  // namespace

Result<std::optional<std::string>> number_range_gbnf(
    std::optional<NumberBound> lower, std::optional<NumberBound> upper, bool integer_only,
    const std::function<std::string(const std::string&, const std::string&)>& add_rule,
    int max_digits) {
  std::optional<Bound> lo, hi;
  if (lower) {
    auto d = parse_dec(lower->value);
    if (!d) return d.error();
    lo = Bound{*d, lower->inclusive};
  }
  if (upper) {
    auto d = parse_dec(upper->value);
    if (!d) return d.error();
    hi = Bound{*d, upper->inclusive};
  }
  if (integer_only) {
    // Integer bounds, inclusive: ceil / floor of the decimal bounds.
    if (lo) {
      Dec v = lo->v;
      bool integral = v.fp.empty();
      v.fp.clear();
      if (!integral) v = v.neg ? v : plus_one(v);  // ceil: -1.5 -> -1, 1.5 -> 2
      else if (!lo->incl) v = plus_one(v);
      if (v.ip == "0") v.neg = false;
      lo = Bound{v, true};
    }
    if (hi) {
      Dec v = hi->v;
      bool integral = v.fp.empty();
      v.fp.clear();
      if (!integral) v = v.neg ? minus_one(v) : v;  // floor: -1.5 -> -2, 1.5 -> 1
      else if (!hi->incl) v = minus_one(v);
      if (v.ip == "0") v.neg = false;
      hi = Bound{v, true};
    }
  }
  Dec zero;
  std::vector<std::string> alts;
  // x >= 0
  if (!hi || !hi->v.neg) {
    Bound l = (lo && !lo->v.neg) ? *lo : Bound{zero, true};
    NonNegRange r(l, hi, integer_only, max_digits, add_rule);
    if (auto e = r.run()) alts.push_back(*e);
  }
  // x < 0, as "-" y with y = -x > 0
  if (!lo || lo->v.neg) {
    Bound ylo = (hi && hi->v.neg) ? Bound{negated(hi->v), hi->incl} : Bound{zero, false};
    std::optional<Bound> yhi;
    if (lo) yhi = Bound{negated(lo->v), lo->incl};
    NonNegRange r(ylo, yhi, integer_only, max_digits, add_rule);
    if (auto e = r.run()) alts.push_back("\"-\" " + *e);
  }
  if (alts.empty()) return std::optional<std::string>();
  if (alts.size() == 1) return std::optional<std::string>(alts[0]);
  return std::optional<std::string>("(" + alts[0] + " | " + alts[1] + ")");
}

}  // namespace rewoo::agent::grammar
