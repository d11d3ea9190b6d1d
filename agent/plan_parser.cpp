#include "agent/plan_parser.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace rewoo::agent {

std::string PlanError::to_string() const {
  std::string s = std::to_string(line) + ":" + std::to_string(col) + ": " + message;
  if (!hint.empty()) s += "\n  hint: " + hint;
  return s;
}

Result<Plan> PlanParseResult::to_result() const {
  if (ok() && plan) return *plan;
  std::string msg = "invalid plan:";
  for (const auto& e : errors) msg += "\n" + e.to_string();
  return Error(msg);
}

nlohmann::json plan_errors_to_json(const std::vector<PlanError>& errors) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : errors)
    out.push_back({{"line", e.line}, {"col", e.col}, {"message", e.message}, {"hint", e.hint}});
  return out;
}

namespace {

constexpr std::string_view kEvidence = ":evidence";
constexpr std::string_view kFormatHint =
    "a plan is 'Plan: ...' lines, steps ':evidence0: = Tool[input]' numbered from 0, and a "
    "final 'Answer: :evidenceK:' line";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_name_char(char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; }

size_t skip_space(std::string_view s, size_t p) {
  while (p < s.size() && is_space(s[p])) ++p;
  return p;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// 1-based column of byte offset `off`, counting UTF-8 code points.
int col_of(std::string_view line, size_t off) {
  int c = 1;
  for (size_t i = 0; i < off && i < line.size(); ++i)
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++c;
  return c;
}

std::string ev(int k) { return ":evidence" + std::to_string(k) + ":"; }

// A LangChain-style `#E1` at `p`: "#E" + digits, not glued to a word before or after.
size_t langchain_ref_len(std::string_view s, size_t p) {
  if (p + 2 >= s.size() || s[p] != '#' || s[p + 1] != 'E' || !is_digit(s[p + 2])) return 0;
  if (p > 0) {
    char b = s[p - 1];
    if (!(is_space(b) || b == '[' || b == '(' || b == ',' || b == ':' || b == '"' || b == '\''))
      return 0;
  }
  size_t q = p + 2;
  while (q < s.size() && is_digit(s[q])) ++q;
  if (q < s.size() && (is_alpha(s[q]) || s[q] == '_')) return 0;
  return q - p;
}

struct RefAt {
  int index;
  int col;
};

struct RawStep {
  PlanStep step;
  std::vector<RefAt> refs;
};

class Parser {
 public:
  Parser(std::string_view text, const tools::Registry* registry)
      : text_(text), registry_(registry) {}

  PlanParseResult run() {
    split_lines();
    bool any_text = false;
    for (size_t i = 0; i < lines_.size(); ++i) {
      std::string_view lt = lines_[i];
      int ln = static_cast<int>(i) + 1;
      size_t b = skip_space(lt, 0);
      if (b == lt.size()) continue;
      any_text = true;
      if (answer_line_ && !after_answer_reported_) {
        after_answer_reported_ = true;
        add(ln, lt, b, "unexpected text after the 'Answer:' line",
            "'Answer:' must be the plan's last line; put every step before it");
      }
      parse_line(ln, lt, b, answer_line_ != 0);
    }
    if (!any_text) {
      push({1, 1, "empty plan", std::string(kFormatHint)});
      return finish();
    }
    validate();
    return finish();
  }

 private:
  void split_lines() {
    std::string_view t = text_;
    if (t.substr(0, 3) == "\xEF\xBB\xBF") t.remove_prefix(3);  // a UTF-8 BOM
    size_t start = 0;
    for (;;) {
      size_t nl = t.find('\n', start);
      std::string_view l = t.substr(start, nl == std::string_view::npos ? t.size() - start
                                                                       : nl - start);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      lines_.push_back(l);
      if (nl == std::string_view::npos) break;
      start = nl + 1;
    }
  }

  void add(int line, std::string_view lt, size_t off, std::string msg, std::string hint = {}) {
    push({line, col(lt, off), std::move(msg), std::move(hint)});
  }

  // The first kMaxErrors errors found are kept; the rest are counted.
  static constexpr size_t kMaxErrors = 100;
  bool room() {
    if (errors_.size() < kMaxErrors) return true;
    ++dropped_;
    return false;
  }
  void push(PlanError e) {
    if (room()) errors_.push_back(std::move(e));
  }

  // col_of() that carries on from the last offset asked on the same line, so
  // a line's references and errors (left to right) cost one pass, not one
  // pass each.
  int col(std::string_view lt, size_t off) {
    off = std::min(off, lt.size());
    if (lt.data() != col_line_ || lt.size() != col_len_ || off < col_off_) {
      col_line_ = lt.data();
      col_len_ = lt.size();
      col_off_ = 0;
      col_ = 1;
    }
    col_ += col_of(lt.substr(col_off_, off - col_off_), off - col_off_) - 1;
    col_off_ = off;
    return col_;
  }

  // `after_answer`: the line already has the "text after Answer" error, so
  // text that is no plan line gets no second one.
  void parse_line(int ln, std::string_view lt, size_t b, bool after_answer) {
    std::string_view rest = lt.substr(b);
    if (rest.substr(0, 5) == "Plan:") return parse_thought(ln, lt, b + 5);
    if (rest.substr(0, 7) == "Answer:") return parse_answer(ln, lt, b, b + 7);
    if (rest.substr(0, kEvidence.size()) == kEvidence) return parse_step(ln, lt, b);
    if (size_t n = langchain_ref_len(lt, b)) {
      had_step_line_ = true;
      add(ln, lt, b, "'" + std::string(lt.substr(b, n)) + "' is LangChain's evidence syntax, not this plan format",
          "write steps as ':evidence0: = Tool[input]', numbered from 0, and refer to them as "
          "':evidence0:'");
      return;
    }
    for (std::string_view kw : {std::string_view("Plan:"), std::string_view("Answer:"), kEvidence}) {
      if (starts_with_nocase(rest, kw)) {
        // Counts as the line it was meant to be, so no "missing" error follows.
        if (kw == "Answer:") answer_like_seen_ = true;
        if (kw == kEvidence) had_step_line_ = true;
        add(ln, lt, b, "unexpected text '" + std::string(rest.substr(0, kw.size())) + "'",
            "keywords are case-sensitive: write '" + std::string(kw) + "'");
        return;
      }
    }
    if (after_answer) return;
    add(ln, lt, b, "unexpected text: expected 'Plan:', ':evidenceN: = Tool[input]' or 'Answer:'",
        std::string(kFormatHint));
  }

  void parse_thought(int ln, std::string_view lt, size_t p) {
    size_t b = skip_space(lt, p);
    size_t e = lt.size();
    while (e > b && is_space(lt[e - 1])) --e;
    std::string_view body = lt.substr(b, e - b);
    // A step glued onto the Plan: line ("Plan: ... :evidence0: = Tool[...]").
    for (const auto& r : find_evidence_refs(body)) {
      size_t q = skip_space(body, r.offset + r.length);
      if (q < body.size() && body[q] == '=') {
        add(ln, lt, b + r.offset, "a step must start its own line",
            "put '" + ev(r.index) + " = Tool[input]' on the line after the 'Plan:' line");
        pending_thought_ += std::string(body.substr(0, r.offset));
        parse_step(ln, lt, b + r.offset);
        return;
      }
    }
    for (size_t i = 0; i < body.size(); ++i) {
      if (size_t n = langchain_ref_len(body, i)) {
        size_t q = skip_space(body, i + n);
        if (q < body.size() && body[q] == '=') {
          had_step_line_ = true;
          add(ln, lt, b + i,
              "'" + std::string(body.substr(i, n)) + "' is LangChain's evidence syntax, not this plan format",
              "write steps as ':evidence0: = Tool[input]' on their own line, numbered from 0");
          return;
        }
      }
    }
    if (!pending_thought_.empty()) pending_thought_ += " ";
    pending_thought_ += std::string(body);
  }

  // Scans lt[b, e) (a step input or the answer) for references, LangChain
  // references and incomplete references; records the good ones in *refs.
  void scan_refs(int ln, std::string_view lt, size_t b, size_t e, std::vector<RefAt>* refs) {
    std::string_view body = lt.substr(b, e - b);
    for (const auto& r : find_evidence_refs(body)) refs->push_back({r.index, col(lt, b + r.offset)});
    for (size_t i = 0; i < body.size(); ++i) {
      if (size_t n = langchain_ref_len(body, i)) {
        add(ln, lt, b + i,
            "'" + std::string(body.substr(i, n)) + "' is LangChain's evidence syntax, not this plan format",
            "refer to earlier evidence as ':evidenceK:' (numbered from 0)");
        i += n - 1;
        continue;
      }
      if (body.substr(i, kEvidence.size()) == kEvidence) {
        size_t q = i + kEvidence.size();
        size_t d = q;
        while (d < body.size() && is_digit(body[d])) ++d;
        if (d > q && (d == body.size() || body[d] != ':')) {
          std::string got(body.substr(i, d - i));
          add(ln, lt, b + i, "incomplete evidence reference '" + got + "'",
              "write '" + got + ":' with a closing ':'");
        } else if (d - q > 9) {
          add(ln, lt, b + i,
              "evidence number '" + std::string(body.substr(q, d - q)) + "' is too large",
              "refer to a step's evidence as ':evidenceK:', K as on its step line");
        } else if (d - q > 1 && body[q] == '0') {
          add(ln, lt, b + i,
              "evidence reference '" + std::string(body.substr(i, d + 1 - i)) +
                  "' has a leading zero",
              "write " + ev(std::stoi(std::string(body.substr(q, d - q)))));
        }
        i = (d > q ? d : q) - 1;
      }
    }
  }

  void parse_step(int ln, std::string_view lt, size_t b) {
    const char* kStepHint = "write ':evidenceN: = Tool[input]'";
    had_step_line_ = true;
    size_t p = b + kEvidence.size();
    size_t d = p;
    while (d < lt.size() && is_digit(lt[d])) ++d;
    if (d == p) {
      add(ln, lt, p, "expected the evidence number after ':evidence'", kStepHint);
      return;
    }
    if (d - p > 9) {
      add(ln, lt, p, "evidence number '" + std::string(lt.substr(p, d - p)) + "' is too large",
          "number the steps 0, 1, 2, ...");
      return;
    }
    int n = std::stoi(std::string(lt.substr(p, d - p)));
    if (d - p > 1 && lt[p] == '0')
      add(ln, lt, p, "evidence number '" + std::string(lt.substr(p, d - p)) + "' has a leading zero",
          "write " + ev(n));
    // From here on the line defines evidence n, even if the rest is malformed,
    // so references to n do not add errors of their own.
    check_number(ln, lt, b, n);
    if (d >= lt.size() || lt[d] != ':') {
      add(ln, lt, d, "expected ':' after ':evidence" + std::to_string(n) + "'", kStepHint);
      return;
    }
    size_t q = skip_space(lt, d + 1);
    if (q >= lt.size() || lt[q] != '=') {
      add(ln, lt, q, "expected '=' after '" + ev(n) + "'", kStepHint);
      return;
    }
    q = skip_space(lt, q + 1);
    size_t name_b = q;
    if (q < lt.size() && is_alpha(lt[q]))
      while (q < lt.size() && is_name_char(lt[q])) ++q;
    if (q == name_b) {
      add(ln, lt, name_b, "expected a tool name after '='", kStepHint);
      return;
    }
    std::string tool(lt.substr(name_b, q - name_b));
    size_t open = skip_space(lt, q);
    if (open >= lt.size() || lt[open] != '[') {
      std::string found = open >= lt.size() ? std::string("end of line")
                                            : "'" + std::string(1, lt[open]) + "'";
      add(ln, lt, open, "expected '[' after the tool name '" + tool + "', found " + found,
          "the input goes in square brackets: " + tool + "[input]");
      return;
    }
    // The input ends at the ']' that balances the opening '['.
    std::vector<size_t> open_at{open};
    size_t close = std::string_view::npos;
    for (size_t i = open + 1; i < lt.size(); ++i) {
      if (lt[i] == '[') {
        open_at.push_back(i);
      } else if (lt[i] == ']') {
        open_at.pop_back();
        if (open_at.empty()) {
          close = i;
          break;
        }
      }
    }

    RawStep rs;
    rs.step.index = n;
    rs.step.tool = tool;
    rs.step.line = ln;
    rs.step.thought = std::move(pending_thought_);
    pending_thought_.clear();
    check_tool(ln, lt, name_b, tool);

    if (close == std::string_view::npos) {
      add(ln, lt, open_at.back(), "unbalanced brackets: '[' is never closed",
          "a step's input ends with the ']' that matches the '[' after the tool name, on the "
          "same line; brackets inside it must be balanced");
      rs.step.input_template = std::string(lt.substr(open + 1));
      steps_.push_back(std::move(rs));
      return;
    }
    rs.step.input_template = std::string(lt.substr(open + 1, close - open - 1));
    scan_refs(ln, lt, open + 1, close, &rs.refs);
    steps_.push_back(std::move(rs));

    size_t after = skip_space(lt, close + 1);
    if (after < lt.size()) {
      int depth = 0;
      for (size_t i = after; i < lt.size(); ++i) {
        if (lt[i] == '[') ++depth;
        if (lt[i] == ']' && --depth < 0) {
          add(ln, lt, i, "unbalanced brackets: ']' has no matching '['",
              "the input ends at the ']' that matches the '[' after the tool name; brackets "
              "inside it must be balanced");
          return;
        }
      }
      add(ln, lt, after, "unexpected text after the step's input",
          "a step line ends with the ']' that closes its input");
    }
  }

  void check_number(int ln, std::string_view lt, size_t b, int n) {
    int expected = last_index_ + 1;
    if (n != expected) {
      std::string hint;
      auto it = defined_.find(n);
      if (it != defined_.end())
        hint = "'" + ev(n) + "' is already defined on line " + std::to_string(it->second);
      else if (expected == 0)
        hint = "the first step is ':evidence0:'";
      else
        hint = "number the steps 0, 1, 2, ... with no gaps";
      add(ln, lt, b,
          "evidence numbers must count 0, 1, 2, ... in order: expected '" + ev(expected) +
              "', found '" + ev(n) + "'",
          hint);
    }
    defined_.emplace(n, ln);  // keeps the first definition
    last_index_ = n;
  }

  void check_tool(int ln, std::string_view lt, size_t at, const std::string& tool) {
    if (!registry_ || registry_->contains(tool)) return;
    std::string hint;
    std::string near = registry_->nearest(tool);
    if (!near.empty()) hint = "did you mean '" + near + "'? ";
    auto names = registry_->names();
    if (names.empty()) {
      hint += "no tools are registered";
    } else {
      hint += "registered tools: ";
      for (size_t i = 0; i < names.size(); ++i) hint += (i ? ", " : "") + names[i];
    }
    add(ln, lt, at, "unknown tool '" + tool + "'", hint);
  }

  void parse_answer(int ln, std::string_view lt, size_t kw, size_t p) {
    if (answer_line_) return;  // already reported as text after the answer
    answer_line_ = ln;
    size_t b = skip_space(lt, p);
    size_t e = lt.size();
    while (e > b && is_space(lt[e - 1])) --e;
    answer_ = std::string(lt.substr(b, e - b));
    if (b == e) {
      add(ln, lt, kw, "empty answer",
          "write 'Answer: :evidenceK:' naming the evidence that holds the answer");
      return;
    }
    scan_refs(ln, lt, b, e, &answer_refs_);
  }

  // (Built once: a plan can hold many references to undefined evidence.)
  const std::string& defined_list() {
    if (!defined_list_.empty()) return defined_list_;
    if (defined_.empty()) return defined_list_ = "no step is defined";
    defined_list_ = "defined evidence: ";
    bool first = true;
    for (auto& [k, line] : defined_) {
      defined_list_ += (first ? "" : ", ") + ev(k);
      first = false;
    }
    return defined_list_;
  }

  void validate() {
    for (auto& rs : steps_) {
      std::set<int> deps;
      std::string earlier;  // earlier_hint() of this step, once needed
      auto hint = [&]() -> const std::string& {
        if (earlier.empty()) earlier = earlier_hint(rs.step.line);
        return earlier;
      };
      for (const auto& r : rs.refs) {
        auto it = defined_.find(r.index);
        int at = rs.step.line;
        if (it != defined_.end() && it->second < at) {
          deps.insert(r.index);
        } else if (!room()) {
          continue;
        } else if (r.index == rs.step.index) {
          errors_.push_back({at, r.col, "'" + ev(r.index) + "' refers to its own step", hint()});
        } else if (it != defined_.end()) {
          errors_.push_back({at, r.col,
                             "'" + ev(r.index) + "' refers to a later step (defined on line " +
                                 std::to_string(it->second) + ")",
                             "a step can only use evidence from steps before it; reorder the "
                             "steps"});
        } else {
          errors_.push_back({at, r.col, "'" + ev(r.index) + "' is not defined by any step",
                             hint()});
        }
      }
      rs.step.depends_on.assign(deps.begin(), deps.end());
    }
    std::set<int> arefs;
    for (const auto& r : answer_refs_) {
      if (defined_.count(r.index))
        arefs.insert(r.index);
      else if (room())
        errors_.push_back({answer_line_, r.col,
                           "the answer refers to '" + ev(r.index) + "', which no step defines",
                           defined_list()});
    }
    answer_refs_set_.assign(arefs.begin(), arefs.end());
    if (steps_.empty() && !had_step_line_)
      push({1, 1, "empty plan: no ':evidenceN: = Tool[input]' steps",
                         std::string(kFormatHint)});
    if (!answer_line_ && !answer_like_seen_) {
      // At the end of the input.
      int line = static_cast<int>(lines_.size());
      int col = col_of(lines_.back(), lines_.back().size());
      push({line, col, "missing 'Answer:' line",
                         "end the plan with 'Answer: :evidenceK:' naming the evidence that "
                         "holds the answer"});
    }
  }

  std::string earlier_hint(int line) const {
    std::string s;
    for (auto& [k, l] : defined_)
      if (l < line) s += (s.empty() ? "" : ", ") + ev(k);
    return s.empty() ? "the first step cannot use any evidence"
                     : "a step can only use evidence from steps before it: " + s;
  }

  PlanParseResult finish() {
    PlanParseResult r;
    std::stable_sort(errors_.begin(), errors_.end(), [](const PlanError& a, const PlanError& b) {
      return a.line != b.line ? a.line < b.line : a.col < b.col;
    });
    r.errors = std::move(errors_);
    if (dropped_)
      r.errors.push_back({static_cast<int>(lines_.size()), 1,
                          std::to_string(dropped_) + " more error" + (dropped_ == 1 ? "" : "s") +
                              " not shown",
                          "fix the errors above and check the plan again"});
    if (r.errors.empty()) {
      Plan plan;
      for (auto& rs : steps_) plan.steps.push_back(std::move(rs.step));
      plan.answer_template = std::move(answer_);
      plan.answer_refs = std::move(answer_refs_set_);
      plan.answer_line = answer_line_;
      r.plan = std::move(plan);
    }
    return r;
  }

  std::string_view text_;
  const tools::Registry* registry_;
  std::vector<std::string_view> lines_;
  std::vector<PlanError> errors_;
  size_t dropped_ = 0;  // errors past kMaxErrors
  std::vector<RawStep> steps_;
  std::map<int, int> defined_;  // evidence index -> line of its first definition
  std::string defined_list_;
  const char* col_line_ = nullptr;  // col()'s place: line, length, offset, column
  size_t col_len_ = 0, col_off_ = 0;
  int col_ = 1;
  int last_index_ = -1;
  std::string pending_thought_;
  int answer_line_ = 0;
  bool after_answer_reported_ = false;
  bool had_step_line_ = false;    // a line meant as a step, even if malformed
  bool answer_like_seen_ = false;  // an 'answer:' line with the wrong case
  std::string answer_;
  std::vector<RefAt> answer_refs_;
  std::vector<int> answer_refs_set_;
};

}  // namespace

PlanParseResult parse_plan(std::string_view text, const tools::Registry& registry) {
  return Parser(text, &registry).run();
}

PlanParseResult parse_plan_any_tools(std::string_view text) { return Parser(text, nullptr).run(); }

}  // namespace rewoo::agent
