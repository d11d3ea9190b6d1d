#include "agent/grammar/regex_to_gbnf.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "agent/grammar/grammar.h"

namespace rewoo::agent::grammar {

namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;
constexpr uint32_t kMax = 0x10FFFF;

Ranges normalize(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (auto p : r) {
    if (!out.empty() && p.first <= out.back().second + 1)
      out.back().second = std::max(out.back().second, p.second);
    else
      out.push_back(p);
  }
  return out;
}

Ranges negate(const Ranges& r) {
  Ranges out;
  uint32_t next = 0;
  for (auto [lo, hi] : normalize(r)) {
    if (lo > next) out.push_back({next, lo - 1});
    next = hi + 1;
  }
  if (next <= kMax) out.push_back({next, kMax});
  return out;
}

Ranges subtract(const Ranges& a, const Ranges& b) {
  Ranges nb = negate(b), out;
  for (auto [alo, ahi] : normalize(a))
    for (auto [blo, bhi] : nb) {
      uint32_t lo = std::max(alo, blo), hi = std::min(ahi, bhi);
      if (lo <= hi) out.push_back({lo, hi});
    }
  return out;
}

const Ranges kDigit = {{'0', '9'}};
const Ranges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const Ranges kSpace = {{'\t', '\r'}, {' ', ' '},       {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
                       {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const Ranges kLineTerminators = {{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}};

std::string class_char(uint32_t c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return std::string(1, static_cast<char>(c));
  if (c < 0x10000) return fmt::format("\\u{:04X}", c);
  return fmt::format("\\U{:08X}", c);
}

class RegexParser {
 public:
  RegexParser(std::string_view p, const std::string& json_char) : p_(p), any_(json_char) {}

  Result<std::string> run() {
    // Top-level alternatives, each anchored or not at its ends.
    std::vector<std::string> alts;
    while (true) {
      bool start_anchor = false;
      if (cur() == '^') {
        start_anchor = true;
        ++pos_;
      }
      auto seq = parse_seq();
      if (!seq) return seq.error();
      bool end_anchor = false;
      if (cur() == '$') {
        end_anchor = true;
        ++pos_;
      }
      std::string a = *seq;
      if (!start_anchor) a = any_ + "* " + a;
      if (!end_anchor) a = a + " " + any_ + "*";
      alts.push_back("(" + a + ")");
      if (at_end()) break;
      if (cur() == '|') {
        ++pos_;
        continue;
      }
      return err(cur() == ')' ? "unbalanced ')'" : "anchor '^' or '$' inside the pattern is not supported");
    }
    std::string out;
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return "(" + out + ")";
  }

 private:
  bool at_end() const { return pos_ >= p_.size(); }
  char cur() const { return at_end() ? '\0' : p_[pos_]; }
  Error err(const std::string& what) const {
    return Error(fmt::format("pattern '{}': {} (at offset {})", p_, what, pos_));
  }

  Result<uint32_t> utf8_char() {
    unsigned char c = static_cast<unsigned char>(p_[pos_]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || pos_ + len > p_.size()) return err("invalid UTF-8");
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(p_[pos_ + i]) & 0x3F);
    pos_ += len;
    return cp;
  }

  Result<uint32_t> hex(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      char c = cur();
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return err("bad hex escape");
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    return v;
  }

  // After a backslash: a set of code points (one for plain escapes).
  Result<Ranges> escape(bool in_class) {
    if (at_end()) return err("pattern ends with '\\'");
    char e = cur();
    ++pos_;
    switch (e) {
      case 'd': return kDigit;
      case 'D': return negate(kDigit);
      case 'w': return kWord;
      case 'W': return negate(kWord);
      case 's': return kSpace;
      case 'S': return negate(kSpace);
      case 'n': return Ranges{{'\n', '\n'}};
      case 'r': return Ranges{{'\r', '\r'}};
      case 't': return Ranges{{'\t', '\t'}};
      case 'f': return Ranges{{'\f', '\f'}};
      case 'v': return Ranges{{'\v', '\v'}};
      case '0': return Ranges{{0, 0}};
      case 'x': {
        auto v = hex(2);
        if (!v) return v.error();
        return Ranges{{*v, *v}};
      }
      case 'u': {
        auto v = hex(4);
        if (!v) return v.error();
        return Ranges{{*v, *v}};
      }
      case 'b':
        if (in_class) return Ranges{{'\b', '\b'}};
        return err("'\\b' (word boundary) is not supported");
      case 'p': case 'P': return err(fmt::format("'\\{}{{...}}' (Unicode property) is not supported", e));
      default:
        if (e >= '1' && e <= '9') return err("backreferences are not supported");
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) return err(fmt::format("unknown escape '\\{}'", e));
        return Ranges{{static_cast<uint32_t>(static_cast<unsigned char>(e)), static_cast<uint32_t>(static_cast<unsigned char>(e))}};
    }
  }

  Result<std::string> parse_class() {
    ++pos_;  // '['
    bool neg = false;
    if (cur() == '^') {
      neg = true;
      ++pos_;
    }
    Ranges set;
    bool first = true;
    while (first || cur() != ']') {
      first = false;
      if (at_end()) return err("unbalanced '['");
      Ranges lo;
      if (cur() == '\\') {
        ++pos_;
        auto r = escape(true);
        if (!r) return r.error();
        lo = *r;
      } else {
        auto c = utf8_char();
        if (!c) return c.error();
        lo = {{*c, *c}};
      }
      if (lo.size() == 1 && lo[0].first == lo[0].second && cur() == '-' && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        uint32_t hi;
        if (cur() == '\\') {
          ++pos_;
          auto r = escape(true);
          if (!r) return r.error();
          if (r->size() != 1 || (*r)[0].first != (*r)[0].second) return err("class range ending in a class escape");
          hi = (*r)[0].first;
        } else {
          auto c = utf8_char();
          if (!c) return c.error();
          hi = *c;
        }
        if (hi < lo[0].first) return err("class range out of order");
        lo[0].second = hi;
      }
      set.insert(set.end(), lo.begin(), lo.end());
    }
    ++pos_;
    set = normalize(set);
    if (neg) set = negate(set);
    std::string g = json_chars_gbnf(set);
    if (g.empty()) return err("character class matches nothing");
    return g;
  }

  Result<std::string> parse_seq() {
    std::string out;
    while (!at_end() && cur() != '|' && cur() != ')' && cur() != '$') {
      std::string atom;
      char c = cur();
      if (c == '(') {
        if (++depth_ > 256) return err("groups nested too deeply");
        ++pos_;
        if (cur() == '?') {
          if (pos_ + 1 < p_.size() && p_[pos_ + 1] == ':') {
            pos_ += 2;
          } else {
            return err("lookaround and named groups are not supported");
          }
        }
        std::vector<std::string> alts;
        while (true) {
          auto s = parse_seq();
          if (!s) return s.error();
          alts.push_back(s->empty() ? "\"\"" : *s);
          if (cur() == '|') {
            ++pos_;
            continue;
          }
          break;
        }
        if (cur() != ')') return err("unbalanced '('");
        ++pos_;
        --depth_;
        atom.clear();  // not atom = "(": GCC 12 warns (-Wrestrict) on that assignment
        atom.push_back('(');
        for (size_t i = 0; i < alts.size(); ++i) {
          if (i) atom += " | ";
          atom += alts[i];
        }
        atom += ")";
      } else if (c == '[') {
        auto s = parse_class();
        if (!s) return s.error();
        atom = *s;
      } else if (c == '.') {
        ++pos_;
        atom = json_chars_gbnf(negate(kLineTerminators));
      } else if (c == '\\') {
        ++pos_;
        auto r = escape(false);
        if (!r) return r.error();
        atom = json_chars_gbnf(normalize(*r));
      } else if (c == '^') {
        return err("anchor '^' inside the pattern is not supported");
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        return err(fmt::format("'{}' with nothing to repeat", c));
      } else {
        auto cp = utf8_char();
        if (!cp) return cp.error();
        atom = json_chars_gbnf({{*cp, *cp}});
      }
      // Quantifier.
      std::string q;
      if (cur() == '*' || cur() == '+' || cur() == '?') {
        q = std::string(1, cur());
        ++pos_;
      } else if (cur() == '{') {
        size_t close = p_.find('}', pos_);
        std::string body = close == std::string_view::npos ? "" : std::string(p_.substr(pos_ + 1, close - pos_ - 1));
        bool ok = !body.empty() && std::all_of(body.begin(), body.end(), [](char ch) { return (ch >= '0' && ch <= '9') || ch == ','; }) &&
                  body[0] != ',' && std::count(body.begin(), body.end(), ',') <= 1;
        if (ok) {
          // {m}, {m,} or {m,n}: m <= n, both within what a grammar counts
          const size_t comma = body.find(',');
          const std::string m = body.substr(0, comma);
          const std::string n = comma == std::string::npos ? m : body.substr(comma + 1);
          auto value = [](const std::string& d) { return d.size() > 6 ? 1000000L : std::stol(d); };
          if (value(m) > kMaxRepeat || (!n.empty() && value(n) > kMaxRepeat))
            return Error(fmt::format("quantifier '{{{}}}' at offset {}: bounds above {} are not supported",
                                     body, pos_, kMaxRepeat));
          if (!n.empty() && value(n) < value(m))
            return Error(fmt::format("quantifier '{{{}}}' at offset {}: the minimum is above the maximum",
                                     body, pos_));
          q = "{" + body + "}";
          pos_ = close + 1;
        } else {
          // ECMA treats a '{' that is not a quantifier as a literal.
        }
      }
      if (!q.empty() && cur() == '?') ++pos_;  // lazy: same language
      if (!out.empty()) out += ' ';
      out += '(';
      out += atom;
      out += ')';
      out += q;
    }
    return out.empty() ? std::string("\"\"") : out;
  }

  std::string_view p_;
  std::string any_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::string gbnf_repeat(int min, int limit) {
  if (limit > 0) return fmt::format("{{{},{}}}", min, limit);
  if (min > 1) return fmt::format("{{{},}}", min);
  return min == 1 ? "+" : "*";
}

std::string gbnf_literal(std::string_view bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02X}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

std::string json_chars_gbnf(const Ranges& ranges) {
  std::vector<std::string> alts;
  Ranges plain = subtract(ranges, {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}});
  if (!plain.empty()) {
    std::string cls = "[";
    for (auto [lo, hi] : plain) {
      cls += class_char(lo);
      if (hi > lo) {
        cls += '-';
        cls += class_char(hi);
      }
    }
    alts.push_back(cls + "]");
  }
  auto has = [&](uint32_t c) {
    for (auto [lo, hi] : ranges)
      if (c >= lo && c <= hi) return true;
    return false;
  };
  if (has('"')) alts.push_back(gbnf_literal("\\\""));
  if (has('\\')) alts.push_back(gbnf_literal("\\\\"));
  for (uint32_t c = 0; c < 0x20; ++c) {
    if (!has(c)) continue;
    switch (c) {
      case '\b': alts.push_back(gbnf_literal("\\b")); break;
      case '\f': alts.push_back(gbnf_literal("\\f")); break;
      case '\n': alts.push_back(gbnf_literal("\\n")); break;
      case '\r': alts.push_back(gbnf_literal("\\r")); break;
      case '\t': alts.push_back(gbnf_literal("\\t")); break;
      default:
        alts.push_back(fmt::format("\"\\\\u00{}\" [{}{}]", c >> 4, "0123456789abcdef"[c & 15],
                                   "0123456789ABCDEF"[c & 15]));
    }
  }
  if (alts.empty()) return "";
  if (alts.size() == 1) return alts[0];
  std::string out = "(";
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out + ")";
}

Result<std::string> regex_to_gbnf(std::string_view pattern, const std::string& json_char) {
  RegexParser p(pattern, json_char);
  return p.run();
}

}  // namespace rewoo::agent::grammar
