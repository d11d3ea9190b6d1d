#include "tools/html/html_dom.h"

#include <array>
#include <cstring>
#include <unordered_map>

namespace rewoo::tools::html {

namespace {

constexpr int kMaxDepth = 400;  // deeper elements are flattened into their ancestor

const char* const kTagNames[] = {
    "#document", "#text", "#other",
    "a", "abbr", "address", "article", "aside", "b", "blockquote", "body", "br", "button",
    "canvas", "caption", "code", "dd", "details", "dialog", "div", "dl", "dt", "em", "embed",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "head", "header", "hr", "html", "i", "iframe", "img", "input", "label", "legend", "li",
    "link", "main", "map", "menu", "meta", "nav", "noscript", "object", "ol", "option", "p",
    "picture", "pre", "q", "s", "section", "select", "small", "source", "span", "strong",
    "style", "sub", "summary", "sup", "svg", "table", "tbody", "td", "template", "textarea",
    "tfoot", "th", "thead", "time", "title", "tr", "u", "ul", "video", "audio", "script", "wbr",
    "math", "center", "font", "track", "param", "area", "base", "col", "colgroup", "keygen",
    "plaintext", "xmp", "noembed", "noframes", "mark", "cite", "kbd", "var", "samp", "dfn", "ins",
    "del", "tt", "big", "nobr", "data", "bdi", "bdo", "ruby", "rt", "rp", "output", "acronym", "strike"};
static_assert(sizeof(kTagNames) / sizeof(kTagNames[0]) == static_cast<size_t>(Tag::kCount));

const std::unordered_map<std::string_view, Tag>& tag_map() {
  static const auto* m = [] {
    auto* mm = new std::unordered_map<std::string_view, Tag>();  // process lifetime
    for (int i = 3; i < static_cast<int>(Tag::kCount); ++i) (*mm)[kTagNames[i]] = static_cast<Tag>(i);
    return mm;
  }();
  return *m;
}

bool is_void(Tag t) {
  switch (t) {
    case Tag::kArea: case Tag::kBase: case Tag::kBr: case Tag::kCol: case Tag::kEmbed:
    case Tag::kHr: case Tag::kImg: case Tag::kInput: case Tag::kKeygen: case Tag::kLink:
    case Tag::kMeta: case Tag::kParam: case Tag::kSource: case Tag::kTrack: case Tag::kWbr:
      return true;
    default:
      return false;
  }
}

bool is_raw_text(Tag t) {
  switch (t) {
    case Tag::kScript: case Tag::kStyle: case Tag::kTextarea: case Tag::kTitle: case Tag::kXmp:
    case Tag::kIframe: case Tag::kNoembed: case Tag::kNoframes: case Tag::kNoscript:
      return true;
    default:
      return false;
  }
}

// Start tags that close an open <p> (HTML's "close a p element in button scope").
bool closes_p(Tag t) {
  switch (t) {
    case Tag::kAddress: case Tag::kArticle: case Tag::kAside: case Tag::kBlockquote:
    case Tag::kDetails: case Tag::kDialog: case Tag::kDiv: case Tag::kDl: case Tag::kFieldset:
    case Tag::kFigcaption: case Tag::kFigure: case Tag::kFooter: case Tag::kForm: case Tag::kH1:
    case Tag::kH2: case Tag::kH3: case Tag::kH4: case Tag::kH5: case Tag::kH6: case Tag::kHeader:
    case Tag::kHr: case Tag::kMain: case Tag::kMenu: case Tag::kNav: case Tag::kOl: case Tag::kP:
    case Tag::kPre: case Tag::kSection: case Tag::kTable: case Tag::kUl: case Tag::kLi:
    case Tag::kDd: case Tag::kDt: case Tag::kCenter:
      return true;
    default:
      return false;
  }
}

bool in_head_ok(Tag t) {
  switch (t) {
    case Tag::kMeta: case Tag::kLink: case Tag::kTitle: case Tag::kStyle: case Tag::kScript:
    case Tag::kBase: case Tag::kNoscript: case Tag::kTemplate: case Tag::kHead: case Tag::kHtml:
    case Tag::kOther:
      return true;
    default:
      return false;
  }
}

// Elements that bound the search for an implied end tag.
bool is_scope_boundary(Tag t) {
  switch (t) {
    case Tag::kHtml: case Tag::kBody: case Tag::kTable: case Tag::kTd: case Tag::kTh:
    case Tag::kCaption: case Tag::kTemplate: case Tag::kButton: case Tag::kObject:
    case Tag::kSvg: case Tag::kMath:
      return true;
    default:
      return false;
  }
}

inline bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f'; }
inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline bool is_alpha(char c) { return (c | 32) >= 'a' && (c | 32) <= 'z'; }

// Latin-1 named references, U+00A0 .. U+00FF in order.
const char* const kLatin1Names[96] = {
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave",
    "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve",
    "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml",
    "Yacute", "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig",
    "ccedil", "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth",
    "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave",
    "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml"};

const std::unordered_map<std::string_view, uint32_t>& entity_map() {
  static const auto* m = [] {
    auto* mm = new std::unordered_map<std::string_view, uint32_t>{  // process lifetime
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
        {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026}, {"lsquo", 0x2018},
        {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"sbquo", 0x201A},
        {"bdquo", 0x201E}, {"bull", 0x2022}, {"trade", 0x2122}, {"euro", 0x20AC},
        {"dagger", 0x2020}, {"Dagger", 0x2021}, {"permil", 0x2030}, {"lsaquo", 0x2039},
        {"rsaquo", 0x203A}, {"OElig", 0x152}, {"oelig", 0x153}, {"Scaron", 0x160},
        {"scaron", 0x161}, {"Yuml", 0x178}, {"fnof", 0x192}, {"circ", 0x2C6}, {"tilde", 0x2DC},
        {"ensp", 0x2002}, {"emsp", 0x2003}, {"thinsp", 0x2009}, {"zwnj", 0x200C},
        {"zwj", 0x200D}, {"lrm", 0x200E}, {"rlm", 0x200F}, {"prime", 0x2032}, {"Prime", 0x2033},
        {"larr", 0x2190}, {"rarr", 0x2192}, {"uarr", 0x2191}, {"darr", 0x2193},
        {"harr", 0x2194}, {"minus", 0x2212}, {"hearts", 0x2665}, {"nbsp", 0xA0},
        {"NewLine", '\n'}, {"Tab", '\t'}, {"colon", ':'}, {"comma", ','}, {"period", '.'},
        {"excl", '!'}, {"quest", '?'}, {"lpar", '('}, {"rpar", ')'}, {"sol", '/'},
        {"num", '#'}, {"percnt", '%'}, {"lowbar", '_'}, {"hyphen", 0x2010}, {"dash", 0x2010},
        {"rsquor", 0x2019}, {"ldquor", 0x201E}, {"laquo", 0xAB}, {"raquo", 0xBB}};
    for (int i = 0; i < 96; ++i) mm->emplace(kLatin1Names[i], 0xA0 + i);
    return mm;
  }();
  return *m;
}

// Windows-1252 code points that numeric references 128..159 mean in practice.
constexpr std::array<uint16_t, 32> kCp1252High = {
    0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160,
    0x2039, 0x152, 0x8D, 0x17D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
    0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178};

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string decode_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t amp = s.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(s.substr(i));
      break;
    }
    out.append(s.substr(i, amp - i));
    i = amp + 1;
    if (i < s.size() && s[i] == '#') {
      size_t j = i + 1;
      bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
      if (hex) ++j;
      uint32_t cp = 0;
      size_t start = j;
      while (j < s.size() && j - start < 8) {
        char c = s[j];
        int d = (c >= '0' && c <= '9') ? c - '0'
                : (hex && (c | 32) >= 'a' && (c | 32) <= 'f') ? (c | 32) - 'a' + 10
                                                              : -1;
        if (d < 0) break;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
        ++j;
      }
      if (j == start) {
        out.push_back('&');
        continue;
      }
      if (j < s.size() && s[j] == ';') ++j;
      if (cp >= 0x80 && cp < 0xA0) cp = kCp1252High[cp - 0x80];
      append_utf8(out, cp);
      i = j;
      continue;
    }
    size_t j = i;
    while (j < s.size() && j - i < 32 &&
           (((s[j] | 32) >= 'a' && (s[j] | 32) <= 'z') || (s[j] >= '0' && s[j] <= '9')))
      ++j;
    std::string_view name = s.substr(i, j - i);
    bool semi = j < s.size() && s[j] == ';';
    const auto& m = entity_map();
    auto it = name.empty() ? m.end() : m.find(name);
    if (it != m.end() && (semi || name == "amp" || name == "lt" || name == "gt" ||
                          name == "quot" || name == "nbsp" || name == "copy")) {
      append_utf8(out, it->second);
      i = semi ? j + 1 : j;
    } else {
      out.push_back('&');
    }
  }
  return out;
}

const std::string* Node::attr(std::string_view name) const {
  for (const auto& a : attrs)
    if (a.name == name) return &a.value;
  return nullptr;
}

const char* HtmlDocument::tag_name(Tag t) { return kTagNames[static_cast<int>(t)]; }

int HtmlDocument::find_first(Tag tag) const {
  for (int i = 0; i < size(); ++i)
    if (nodes_[static_cast<size_t>(i)].tag == tag) return i;
  return -1;
}

std::string HtmlDocument::text_of(int i) const {
  std::string out;
  // Iterative walk of the subtree.
  int n = i;
  while (n >= 0) {
    const Node& nd = node(n);
    if (nd.tag == Tag::kText) out += nd.text;
    if (nd.first_child >= 0 && nd.tag != Tag::kText) {
      n = nd.first_child;
      continue;
    }
    while (n >= 0 && n != i && node(n).next_sibling < 0) n = node(n).parent;
    if (n < 0 || n == i) break;
    n = node(n).next_sibling;
  }
  return out;
}

class HtmlBuilder {
 public:
  explicit HtmlBuilder(HtmlDocument& d) : doc_(d) {
    doc_.nodes_.reserve(1024);
    doc_.nodes_.emplace_back();
    doc_.nodes_.back().tag = Tag::kDocument;
    stack_.push_back(0);
    open_count_.fill(0);
  }

  void text(std::string_view raw, bool decode) {
    if (raw.empty()) return;
    int top = stack_.back();
    Node& parent = doc_.nodes_[static_cast<size_t>(top)];
    // Merge with a preceding text sibling (split by a comment or a dropped tag).
    if (parent.last_child >= 0 && doc_.nodes_[static_cast<size_t>(parent.last_child)].tag == Tag::kText) {
      auto& t = doc_.nodes_[static_cast<size_t>(parent.last_child)].text;
      if (decode && raw.find('&') != std::string_view::npos) t += decode_entities(raw);
      else t.append(raw);
      return;
    }
    Node n;
    n.tag = Tag::kText;
    if (decode && raw.find('&') != std::string_view::npos) n.text = decode_entities(raw);
    else n.text.assign(raw);
    append(std::move(n));
  }

  void start(Tag tag, std::string_view other_name, std::vector<Attr>&& attrs, bool self_closing) {
    if (tag == Tag::kHtml || tag == Tag::kBody || tag == Tag::kHead) {
      // Repeated <html>/<body>: merge attributes into the first, like browsers.
      if (open_count_[static_cast<size_t>(tag)] > 0) return;
    }
    // Body content (or <body>) ends an unclosed <head>.
    if (open_count_[static_cast<size_t>(Tag::kHead)] > 0 && !in_head_ok(tag)) close_implied(Tag::kHead);
    if (closes_p(tag) && open_count_[static_cast<size_t>(Tag::kP)] > 0) close_implied(Tag::kP);
    if (tag == Tag::kLi) close_implied(Tag::kLi, Tag::kUl, Tag::kOl);
    if (tag == Tag::kDt || tag == Tag::kDd) {
      close_implied(Tag::kDt, Tag::kDl);
      close_implied(Tag::kDd, Tag::kDl);
    }
    if (tag == Tag::kTr) close_implied(Tag::kTr, Tag::kTable);
    if (tag == Tag::kTd || tag == Tag::kTh) {
      close_implied(Tag::kTd, Tag::kTr);
      close_implied(Tag::kTh, Tag::kTr);
    }
    if (tag == Tag::kOption) close_implied(Tag::kOption, Tag::kSelect);
    Node n;
    n.tag = tag;
    if (tag == Tag::kOther) n.text.assign(other_name);
    n.attrs = std::move(attrs);
    int idx = append(std::move(n));
    if (!is_void(tag) && !self_closing && static_cast<int>(stack_.size()) < kMaxDepth) {
      stack_.push_back(idx);
      ++open_count_[static_cast<size_t>(tag)];
    }
  }

  void end(Tag tag, std::string_view other_name) {
    if (tag == Tag::kHtml || tag == Tag::kBody) return;  // content after </body> stays in body
    if (tag == Tag::kBr) {  // </br> is <br> in browsers
      start(Tag::kBr, {}, {}, true);
      return;
    }
    if (open_count_[static_cast<size_t>(tag)] == 0) return;
    for (size_t k = stack_.size(); k-- > 1;) {
      const Node& n = doc_.nodes_[static_cast<size_t>(stack_[k])];
      if (n.tag == tag && (tag != Tag::kOther || n.text == other_name)) {
        while (stack_.size() > k) pop();
        return;
      }
      // An end tag never closes past a table cell or similar boundary it isn't in.
      if (is_scope_boundary(n.tag) && tag != Tag::kTable && !is_scope_boundary(tag)) return;
    }
  }

 private:
  int append(Node&& n) {
    int idx = static_cast<int>(doc_.nodes_.size());
    int parent = stack_.back();
    n.parent = parent;
    doc_.nodes_.push_back(std::move(n));
    Node& p = doc_.nodes_[static_cast<size_t>(parent)];
    if (p.last_child >= 0) doc_.nodes_[static_cast<size_t>(p.last_child)].next_sibling = idx;
    else p.first_child = idx;
    p.last_child = idx;
    return idx;
  }

  void pop() {
    Tag t = doc_.nodes_[static_cast<size_t>(stack_.back())].tag;
    --open_count_[static_cast<size_t>(t)];
    stack_.pop_back();
  }

  // Closes an open `tag` if it is found before `boundary` (or a scope boundary).
  void close_implied(Tag tag, Tag boundary = Tag::kCount, Tag boundary2 = Tag::kCount) {
    if (open_count_[static_cast<size_t>(tag)] == 0) return;
    for (size_t k = stack_.size(); k-- > 1;) {
      Tag t = doc_.nodes_[static_cast<size_t>(stack_[k])].tag;
      if (t == tag) {
        while (stack_.size() > k) pop();
        return;
      }
      if (t == boundary || t == boundary2 || is_scope_boundary(t)) return;
      // A <p> is closed only within its own block; deeper divs etc. keep it.
      if (tag == Tag::kP && t != Tag::kP && closes_p(t) && t != Tag::kLi) return;
    }
  }

  HtmlDocument& doc_;
  std::vector<int> stack_;
  std::array<int, static_cast<size_t>(Tag::kCount)> open_count_;
};

HtmlDocument HtmlDocument::parse(std::string_view s) {
  HtmlDocument doc;
  HtmlBuilder b(doc);
  size_t i = 0;
  const size_t n = s.size();
  std::string name;
  while (i < n) {
    if (doc.nodes_.size() >= kMaxNodes) {  // hostile or absurd markup: keep what came first
      doc.truncated_ = true;
      break;
    }
    size_t lt = s.find('<', i);
    if (lt == std::string_view::npos) {
      b.text(s.substr(i), true);
      break;
    }
    if (lt > i) b.text(s.substr(i, lt - i), true);
    i = lt;
    if (i + 1 >= n) {
      b.text(s.substr(i), true);
      break;
    }
    char c = s[i + 1];
    if (c == '!') {
      if (s.compare(i, 4, "<!--") == 0) {
        size_t e = s.find("-->", i + 4);
        i = e == std::string_view::npos ? n : e + 3;
      } else if (s.compare(i, 9, "<![CDATA[") == 0) {
        size_t e = s.find("]]>", i + 9);
        size_t stop = e == std::string_view::npos ? n : e;
        b.text(s.substr(i + 9, stop - i - 9), false);
        i = e == std::string_view::npos ? n : e + 3;
      } else {
        size_t e = s.find('>', i);
        i = e == std::string_view::npos ? n : e + 1;
      }
      continue;
    }
    if (c == '?') {
      size_t e = s.find('>', i);
      i = e == std::string_view::npos ? n : e + 1;
      continue;
    }
    bool closing = c == '/';
    size_t j = i + (closing ? 2 : 1);
    if (j >= n || !is_alpha(s[j])) {
      if (closing) {  // "</ >" or "</3": a bogus comment
        size_t e = s.find('>', i);
        i = e == std::string_view::npos ? n : e + 1;
      } else {
        b.text("<", false);
        i += 1;
      }
      continue;
    }
    name.clear();
    while (j < n && !is_space(s[j]) && s[j] != '>' && s[j] != '/') name.push_back(lower(s[j++]));
    auto it = tag_map().find(name);
    Tag tag = it == tag_map().end() ? Tag::kOther : it->second;
    // Attributes.
    std::vector<Attr> attrs;
    bool self_closing = false;
    while (j < n) {
      while (j < n && (is_space(s[j]) || (s[j] == '/' && j + 1 < n && s[j + 1] != '>'))) ++j;
      if (j >= n) break;
      if (s[j] == '>') {
        ++j;
        break;
      }
      if (s[j] == '/') {  // "/>"
        self_closing = true;
        j += 2;
        break;
      }
      size_t an = j;
      while (j < n && !is_space(s[j]) && s[j] != '>' && s[j] != '=' && !(s[j] == '/' && j > an)) ++j;
      if (j == an) ++j;  // a lone '=' or odd byte
      std::string_view aname = s.substr(an, j - an);
      while (j < n && is_space(s[j])) ++j;
      std::string_view aval;
      if (j < n && s[j] == '=') {
        ++j;
        while (j < n && is_space(s[j])) ++j;
        if (j < n && (s[j] == '"' || s[j] == '\'')) {
          char q = s[j++];
          size_t e = s.find(q, j);
          if (e == std::string_view::npos) e = n;
          aval = s.substr(j, e - j);
          j = e < n ? e + 1 : n;
        } else {
          size_t v = j;
          while (j < n && !is_space(s[j]) && s[j] != '>') ++j;
          aval = s.substr(v, j - v);
        }
      }
      if (!closing && attrs.size() < 64) {
        Attr a;
        a.name.reserve(aname.size());
        for (char ch : aname) a.name.push_back(lower(ch));
        a.value = aval.find('&') != std::string_view::npos ? decode_entities(aval) : std::string(aval);
        attrs.push_back(std::move(a));
      }
    }
    i = j;
    if (closing) {
      b.end(tag, name);
      continue;
    }
    b.start(tag, name, std::move(attrs), self_closing && (tag == Tag::kOther || tag == Tag::kSvg));
    if (is_raw_text(tag) && !self_closing) {
      // Raw text up to the matching end tag, case-insensitively.
      const char* tn = tag_name(tag);
      size_t tl = std::strlen(tn);
      size_t k = i;
      size_t end = n;
      while (true) {
        size_t p = s.find("</", k);
        if (p == std::string_view::npos) break;
        bool match = p + 2 + tl <= n;
        for (size_t q = 0; match && q < tl; ++q) match = lower(s[p + 2 + q]) == tn[q];
        if (match && (p + 2 + tl == n || is_space(s[p + 2 + tl]) || s[p + 2 + tl] == '>' ||
                      s[p + 2 + tl] == '/')) {
          end = p;
          break;
        }
        k = p + 2;
      }
      b.text(s.substr(i, end - i), tag == Tag::kTitle || tag == Tag::kTextarea);
      if (end == n) {
        i = n;
      } else {
        size_t e = s.find('>', end);
        i = e == std::string_view::npos ? n : e + 1;
      }
      b.end(tag, {});
    }
  }
  return doc;
}

}  // namespace rewoo::tools::html
