// GBNF text -> Grammar (byte-level rules). See grammar.h for the language.
#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "agent/grammar/byte_machine.h"
#include "agent/grammar/grammar.h"

namespace rewoo::agent::grammar {

int ByteSet::count() const {
  int n = 0;
  for (uint64_t w : bits) n += __builtin_popcountll(w);
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

// A byte for an error message: printable ASCII as itself, anything else as \xNN
// (a NUL or control byte would cut or garble the message).
std::string shown_byte(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u >= 0x20 && u < 0x7f ? std::string(1, c) : fmt::format("\\x{:02X}", u);
}

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

using ByteRanges = std::vector<std::pair<uint8_t, uint8_t>>;

// Splits [lo, hi] (same UTF-8 length) into runs of byte ranges, as RE2 and
// Go's regexp do, so each run is one sequence of byte classes.
void utf8_split(uint32_t lo, uint32_t hi, std::vector<ByteRanges>& out) {
  static const uint32_t kLenMax[] = {0x7F, 0x7FF, 0xFFFF, kMaxCodePoint};
  for (int n = 0; n < 3; ++n) {
    if (lo <= kLenMax[n] && hi > kLenMax[n]) {
      utf8_split(lo, kLenMax[n], out);
      utf8_split(kLenMax[n] + 1, hi, out);
      return;
    }
  }
  if (hi < 0x80) {
    out.push_back({{static_cast<uint8_t>(lo), static_cast<uint8_t>(hi)}});
    return;
  }
  for (int i = 1; i < 4; ++i) {
    uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_split(lo, lo | m, out);
        utf8_split((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_split(lo, (hi & ~m) - 1, out);
        utf8_split(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::string a, b;
  append_utf8(a, lo);
  append_utf8(b, hi);
  ByteRanges r;
  for (size_t i = 0; i < a.size(); ++i)
    r.push_back({static_cast<uint8_t>(a[i]), static_cast<uint8_t>(b[i])});
  out.push_back(std::move(r));
}

// A code point range set -> UTF-8 byte-range runs (surrogates excluded).
std::vector<ByteRanges> utf8_runs(const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
  std::vector<ByteRanges> out;
  for (auto [lo, hi] : ranges) {
    if (lo <= 0xD7FF && hi >= 0xD800) {
      if (hi > 0xDFFF) utf8_split(0xE000, hi, out);
      hi = 0xD7FF;
    } else if (lo >= 0xD800 && lo <= 0xDFFF) {
      if (hi <= 0xDFFF) continue;
      lo = 0xE000;
    }
    utf8_split(lo, hi, out);
  }
  return out;
}

std::vector<std::pair<uint32_t, uint32_t>> normalize_ranges(
    std::vector<std::pair<uint32_t, uint32_t>> r) {
  std::sort(r.begin(), r.end());
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (auto p : r) {
    if (!out.empty() && p.first <= out.back().second + 1)
      out.back().second = std::max(out.back().second, p.second);
    else
      out.push_back(p);
  }
  return out;
}

std::vector<std::pair<uint32_t, uint32_t>> complement(
    const std::vector<std::pair<uint32_t, uint32_t>>& r) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  uint32_t next = 0;
  for (auto [lo, hi] : r) {
    if (lo > next) out.push_back({next, lo - 1});
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.push_back({next, kMaxCodePoint});
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

// Builds a Grammar while parsing. Rules are kept as alternatives of element
// lists until the end, then flattened.
class GbnfCompiler {
 public:
  explicit GbnfCompiler(std::string_view src) : src_(src) {}

  Result<Grammar> run(std::string_view root_name) {
    Status st = parse_all();
    if (!st) return st.error();
    for (size_t i = 0; i < names_.size(); ++i) {
      if (!defined_[i])
        return Error(fmt::format("undefined rule '{}'", names_[i]), loc(first_use_[i]));
    }
    auto it = ids_.find(std::string(root_name));
    if (it == ids_.end() || !defined_[it->second])
      return Error(fmt::format("the grammar has no '{}' rule (the start rule)", root_name), "1:1");
    Grammar g;
    g.root_ = it->second;
    g.byte_sets_ = byte_sets_;
    for (size_t r = 0; r < alts_.size(); ++r) {
      Rule rule;
      rule.name = names_[r];
      for (const auto& alt : alts_[r]) {
        rule.alternatives.push_back(static_cast<uint32_t>(g.elements_.size()));
        for (const Element& e : alt) g.elements_.push_back(e);
        g.elements_.push_back(Element{Element::Kind::kEnd, 0});
      }
      g.rules_.push_back(std::move(rule));
    }
    if (auto lr = find_left_recursion(g)) return *lr;
    return g;
  }

 private:
  static constexpr size_t kHelper = ~size_t{0};  // first_use_ of generated rules
  using Alt = std::vector<Element>;
  using Atom = std::vector<Element>;  // what a postfix operator repeats

  // ---- errors -------------------------------------------------------------
  std::string loc(size_t pos) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos && i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return fmt::format("{}:{}", line, col);
  }
  Error err(size_t pos, std::string msg) const { return Error(std::move(msg), loc(pos)); }

  // ---- rules --------------------------------------------------------------
  uint32_t rule_id(const std::string& name, size_t use_pos) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    uint32_t id = static_cast<uint32_t>(names_.size());
    ids_[name] = id;
    names_.push_back(name);
    defined_.push_back(false);
    first_use_.push_back(use_pos);
    alts_.emplace_back();
    return id;
  }
  uint32_t helper_rule(const std::string& base, std::vector<Alt> alts) {
    std::string name = fmt::format("{}_{}", base, helper_count_++);
    uint32_t id = rule_id(name, kHelper);
    defined_[id] = true;
    alts_[id] = std::move(alts);
    return id;
  }
  uint32_t byte_set_id(const ByteSet& s) {
    for (size_t i = 0; i < byte_sets_.size(); ++i)
      if (byte_sets_[i] == s) return static_cast<uint32_t>(i);
    byte_sets_.push_back(s);
    return static_cast<uint32_t>(byte_sets_.size() - 1);
  }
  Element bytes_elem(const ByteSet& s) { return Element{Element::Kind::kBytes, byte_set_id(s)}; }
  static Element rule_elem(uint32_t r) { return Element{Element::Kind::kRule, r}; }

  // ---- lexing -------------------------------------------------------------
  bool at_end() const { return pos_ >= src_.size(); }
  char cur() const { return at_end() ? '\0' : src_[pos_]; }

  void skip_space(bool newlines_ok) {
    while (!at_end()) {
      char c = cur();
      if (c == '#') {
        while (!at_end() && cur() != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '\n' && newlines_ok) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    size_t start = pos_;
    while (!at_end() && is_name_char(cur())) ++pos_;
    return std::string(src_.substr(start, pos_ - start));
  }

  Result<uint32_t> parse_hex(int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      char c = cur();
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return err(pos_, fmt::format("bad escape: expected {} hex digits", digits));
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    if (v > kMaxCodePoint) return err(pos_ - digits, "bad escape: code point above U+10FFFF");
    return v;
  }

  // One (possibly escaped) character of a literal or class, as a code point.
  Result<uint32_t> parse_char() {
    if (at_end()) return err(pos_, "unexpected end of grammar");
    unsigned char c = static_cast<unsigned char>(cur());
    if (c == '\\') {
      size_t esc = pos_;
      ++pos_;
      if (at_end()) return err(esc, "bad escape at end of grammar");
      char e = cur();
      ++pos_;
      switch (e) {
        case 'x': return parse_hex(2);
        case 'u': return parse_hex(4);
        case 'U': return parse_hex(8);
        case 't': return uint32_t{'\t'};
        case 'r': return uint32_t{'\r'};
        case 'n': return uint32_t{'\n'};
        case '\\': case '"': case '[': case ']': case '-': case '^': case '/': case '.':
          return static_cast<uint32_t>(e);
        default:
          return err(esc, fmt::format("bad escape '\\{}' (known: \\x \\u \\U \\t \\r \\n \\\\ \\\" \\[ \\])", e));
      }
    }
    // Decode one UTF-8 character of the grammar text itself.
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || pos_ + len > src_.size()) return err(pos_, "invalid UTF-8 in grammar");
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < len; ++i) {
      unsigned char cc = static_cast<unsigned char>(src_[pos_ + i]);
      if ((cc & 0xC0) != 0x80) return err(pos_, "invalid UTF-8 in grammar");
      cp = (cp << 6) | (cc & 0x3F);
    }
    pos_ += len;
    return cp;
  }

  // ---- syntax -------------------------------------------------------------
  Status parse_all() {
    skip_space(true);
    while (!at_end()) {
      size_t name_pos = pos_;
      std::string name = parse_name();
      if (name.empty())
        return err(pos_, fmt::format("expected a rule name, found '{}'", std::string(1, cur())));
      skip_space(false);
      if (src_.substr(pos_, 3) != "::=") return err(pos_, "expected '::=' after rule name '" + name + "'");
      pos_ += 3;
      skip_space(true);
      uint32_t id = rule_id(name, name_pos);
      if (defined_[id]) return err(name_pos, fmt::format("rule '{}' is defined twice", name));
      defined_[id] = true;
      first_use_[id] = name_pos;
      auto alts = parse_alternates(name, false);
      if (!alts) return alts.error();
      alts_[id] = std::move(*alts);
      if (!at_end() && cur() != '\n')
        return err(pos_, fmt::format("unexpected '{}': expected a newline or the end of the rule",
                                     shown_byte(cur())));
      skip_space(true);
    }
    if (names_.empty()) return err(0, "empty grammar: expected at least a 'root ::= ...' rule");
    return {};
  }

  Result<std::vector<Alt>> parse_alternates(const std::string& rule, bool nested) {
    std::vector<Alt> alts;
    while (true) {
      auto seq = parse_sequence(rule, nested);
      if (!seq) return seq.error();
      alts.push_back(std::move(*seq));
      if (cur() != '|') break;
      ++pos_;
      skip_space(true);
    }
    return alts;
  }

  Result<Alt> parse_sequence(const std::string& rule, bool nested) {
    Alt seq;
    size_t last_start = 0;  // index in seq where the last atom starts
    bool have_atom = false;
    while (!at_end()) {
      char c = cur();
      size_t here = pos_;
      if (c == '"') {
        ++pos_;
        last_start = seq.size();
        std::string bytes;
        while (cur() != '"') {
          if (at_end() || cur() == '\n') return err(here, "unterminated string literal");
          auto cp = parse_char();
          if (!cp) return cp.error();
          append_utf8(bytes, *cp);
        }
        ++pos_;
        for (unsigned char b : bytes) {
          ByteSet s;
          s.add(b);
          seq.push_back(bytes_elem(s));
        }
        have_atom = true;
      } else if (c == '[') {
        auto e = parse_class(rule);
        if (!e) return e.error();
        last_start = seq.size();
        seq.push_back(*e);
        have_atom = true;
      } else if (c == '.') {
        ++pos_;
        last_start = seq.size();
        seq.push_back(class_element(rule, {{0, kMaxCodePoint}}));
        have_atom = true;
      } else if (c == '(') {
        if (++depth_ > kMaxNesting) return err(here, fmt::format("groups nested deeper than {}", kMaxNesting));
        ++pos_;
        skip_space(true);
        auto alts = parse_alternates(rule, true);
        if (!alts) return alts.error();
        if (cur() != ')') return err(here, "unbalanced '(': no matching ')'");
        ++pos_;
        --depth_;
        last_start = seq.size();
        seq.push_back(rule_elem(helper_rule(rule, std::move(*alts))));
        have_atom = true;
      } else if (is_name_char(c)) {
        std::string name = parse_name();
        last_start = seq.size();
        seq.push_back(rule_elem(rule_id(name, here)));
        have_atom = true;
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (!have_atom) return err(here, fmt::format("'{}' has nothing before it to repeat", c));
        int min = 0, max = -1;
        ++pos_;
        if (c == '+') min = 1;
        if (c == '?') max = 1;
        if (c == '{') {
          auto mm = parse_braces(here);
          if (!mm) return mm.error();
          std::tie(min, max) = *mm;
        }
        Atom atom(seq.begin() + static_cast<long>(last_start), seq.end());
        seq.resize(last_start);
        for (const Element& e : repeat(rule, atom, min, max)) seq.push_back(e);
        have_atom = false;  // "a**" is refused, as llama.cpp does
      } else if (c == ')' || c == '|' || c == '\n') {
        break;
      } else if (c == ']') {
        return err(here, "unbalanced ']': no matching '['");
      } else {
        return err(here, fmt::format("unexpected '{}'", shown_byte(c)));
      }
      skip_space(nested);
    }
    if (!nested && cur() == ')') return err(pos_, "unbalanced ')': no matching '('");
    return seq;
  }

  Result<std::pair<int, int>> parse_braces(size_t open) {
    auto parse_int = [&]() -> std::optional<int> {
      size_t start = pos_;
      long v = 0;
      while (cur() >= '0' && cur() <= '9') {
        v = v * 10 + (cur() - '0');
        if (v > kMaxRepeat) v = kMaxRepeat + 1;
        ++pos_;
      }
      if (pos_ == start) return std::nullopt;
      return static_cast<int>(v);
    };
    skip_space(false);
    auto lo = parse_int();
    skip_space(false);
    int min = lo.value_or(0), max;
    if (cur() == '}') {
      if (!lo) return err(open, "expected a number in '{m,n}'");
      max = min;
    } else if (cur() == ',') {
      ++pos_;
      skip_space(false);
      auto hi = parse_int();
      skip_space(false);
      max = hi ? *hi : -1;
    } else {
      return err(pos_, "expected ',' or '}' in '{m,n}'");
    }
    if (cur() != '}') return err(open, "unbalanced '{': expected '}'");
    ++pos_;
    if (min > kMaxRepeat || max > kMaxRepeat)
      return err(open, fmt::format("repetition bound above {}", kMaxRepeat));
    if (max >= 0 && max < min) return err(open, "repetition '{m,n}' with n < m");
    return std::pair{min, max};
  }

  // X repeated min..max times (max -1 = unbounded), as elements of the caller.
  std::vector<Element> repeat(const std::string& rule, const Atom& atom, int min, int max) {
    // A multi-element atom (a string literal) becomes one rule so it repeats whole.
    Element x = atom.size() == 1 ? atom[0] : rule_elem(helper_rule(rule, {atom}));
    std::vector<Element> out(static_cast<size_t>(min), x);
    if (max < 0) {
      // R ::= X R | ε  (right recursion: the matcher's tail calls keep its stack flat)
      uint32_t r = rule_id(fmt::format("{}_{}", rule, helper_count_++), kHelper);
      defined_[r] = true;
      alts_[r] = {{x, rule_elem(r)}, {}};
      out.push_back(rule_elem(r));
    } else if (max > min) {
      // Nested optionals: R1 ::= X | ε, Rk ::= X R(k-1) | ε.
      uint32_t prev = helper_rule(rule, {{x}, {}});
      for (int k = 2; k <= max - min; ++k) prev = helper_rule(rule, {{x, rule_elem(prev)}, {}});
      out.push_back(rule_elem(prev));
    }
    return out;
  }

  Result<Element> parse_class(const std::string& rule) {
    size_t open = pos_;
    ++pos_;  // '['
    bool negated = false;
    if (cur() == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    while (cur() != ']') {
      if (at_end()) return err(open, "unbalanced '[': no matching ']'");
      auto lo = parse_char();
      if (!lo) return lo.error();
      uint32_t hi = *lo;
      if (cur() == '-' && pos_ + 1 < src_.size() && src_[pos_ + 1] != ']') {
        ++pos_;
        auto h = parse_char();
        if (!h) return h.error();
        hi = *h;
        if (hi < *lo) return err(open, "character class range with its end before its start");
      }
      ranges.push_back({*lo, hi});
    }
    ++pos_;
    ranges = normalize_ranges(std::move(ranges));
    if (negated) ranges = complement(ranges);
    if (ranges.empty()) return err(open, "empty character class: it can match nothing");
    return class_element(rule, ranges);
  }

  // A code point class as one element: a byte set when it is all ASCII,
  // otherwise a helper rule with one alternative per UTF-8 byte-range run.
  Element class_element(const std::string& rule, const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
    auto runs = utf8_runs(ranges);
    ByteSet ascii;
    std::vector<Alt> alts;
    for (const ByteRanges& run : runs) {
      if (run.size() == 1) {
        ascii.add_range(run[0].first, run[0].second);
        continue;
      }
      Alt alt;
      for (auto [lo, hi] : run) {
        ByteSet s;
        s.add_range(lo, hi);
        alt.push_back(bytes_elem(s));
      }
      alts.push_back(std::move(alt));
    }
    if (alts.empty()) return bytes_elem(ascii);
    if (!ascii.empty()) alts.insert(alts.begin(), Alt{bytes_elem(ascii)});
    std::string key;
    for (const Alt& a : alts)
      for (const Element& e : a) key += fmt::format("{},", e.value), key += ';';
    auto it = class_rules_.find(key);
    if (it != class_rules_.end()) return rule_elem(it->second);
    uint32_t r = helper_rule(rule + "_char", std::move(alts));
    class_rules_[key] = r;
    return rule_elem(r);
  }

  // A rule that can call itself before consuming a byte never terminates in a
  // top-down matcher (llama.cpp refuses these too).
  std::optional<Error> find_left_recursion(const Grammar& g) {
    size_t n = g.rules_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (uint32_t a : g.rules_[r].alternatives) {
          bool all = true;
          for (uint32_t i = a; g.elements_[i].kind != Element::Kind::kEnd; ++i) {
            const Element& e = g.elements_[i];
            if (e.kind == Element::Kind::kBytes || !nullable[e.value]) {
              all = false;
              break;
            }
          }
          if (all) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<uint32_t>> left(n);
    for (size_t r = 0; r < n; ++r)
      for (uint32_t a : g.rules_[r].alternatives)
        for (uint32_t i = a; g.elements_[i].kind == Element::Kind::kRule; ++i) {
          left[r].push_back(g.elements_[i].value);
          if (!nullable[g.elements_[i].value]) break;
        }
    // Iterative DFS (grammars can chain thousands of helper rules).
    std::vector<int> color(n, 0);
    std::vector<std::pair<uint32_t, size_t>> stack;  // rule, next edge
    for (uint32_t start = 0; start < n; ++start) {
      if (color[start] != 0) continue;
      stack.push_back({start, 0});
      color[start] = 1;
      while (!stack.empty()) {
        auto& [r, e] = stack.back();
        if (e == left[r].size()) {
          color[r] = 2;
          stack.pop_back();
          continue;
        }
        uint32_t s2 = left[r][e++];
        if (color[s2] == 0) {
          color[s2] = 1;
          stack.push_back({s2, 0});
        } else if (color[s2] == 1) {
          // A cycle: the rules on the stack from s2 up. Blame a user-named one.
          std::string cycle;
          uint32_t blame = s2;
          bool in_cycle = false;
          for (const auto& fr : stack) {
            if (fr.first == s2) in_cycle = true;
            if (!in_cycle) continue;
            if (!cycle.empty()) cycle += " -> ";
            cycle += g.rules_[fr.first].name;
            if (first_use_[fr.first] != kHelper) blame = fr.first;
          }
          cycle += " -> " + g.rules_[s2].name;
          return Error(fmt::format("left recursion: rule '{}' can reach itself without consuming "
                                   "input ({}); rewrite it with repetition, e.g. a ::= b (\"op\" b)*",
                                   g.rules_[blame].name, cycle),
                       first_use_[blame] == kHelper ? "1:1" : loc(first_use_[blame]));
        }
      }
    }
    return std::nullopt;
  }

  static constexpr int kMaxNesting = 256;
  std::string_view src_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::map<std::string, uint32_t> ids_;
  std::vector<std::string> names_;
  std::vector<bool> defined_;
  std::vector<size_t> first_use_;
  std::vector<std::vector<Alt>> alts_;
  std::vector<ByteSet> byte_sets_;
  std::map<std::string, uint32_t> class_rules_;
  int helper_count_ = 1;
};

Result<Grammar> Grammar::parse(std::string_view gbnf, std::string_view root) {
  GbnfCompiler c(gbnf);
  return c.run(root);
}

bool Grammar::matches(std::string_view text) const { return match(text).complete; }

Grammar::MatchResult Grammar::match(std::string_view text) const {
  ByteMachine m(*this);
  uint32_t s = m.initial_set();
  MatchResult r;
  for (unsigned char b : text) {
    uint32_t next = m.step(s, b).set;
    if (next == ByteMachine::kDeadSet) return r;
    s = next;
    ++r.consumed;
  }
  r.complete = m.can_end(s);
  return r;
}

std::string Grammar::dump() const {
  std::string out;
  for (const Rule& r : rules_) {
    out += r.name + " ::=";
    bool first = true;
    for (uint32_t a : r.alternatives) {
      out += first ? " " : " | ";
      first = false;
      for (uint32_t i = a; elements_[i].kind != Element::Kind::kEnd; ++i) {
        const Element& e = elements_[i];
        if (e.kind == Element::Kind::kRule) {
          out += rules_[e.value].name + " ";
          continue;
        }
        const ByteSet& s = byte_sets_[e.value];
        out += "[";
        for (int b = 0; b < 256; ++b) {
          if (!s.has(static_cast<uint8_t>(b))) continue;
          int e2 = b;
          while (e2 + 1 < 256 && s.has(static_cast<uint8_t>(e2 + 1))) ++e2;
          auto show = [](int x) {
            return (x > 32 && x < 127 && x != '\\' && x != ']' && x != '-') ? std::string(1, static_cast<char>(x))
                                                                          : fmt::format("\\x{:02X}", x);
          };
          out += show(b);
          if (e2 > b) {
            out += '-';
            out += show(e2);
          }
          b = e2;
        }
        out += "] ";
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace rewoo::agent::grammar
