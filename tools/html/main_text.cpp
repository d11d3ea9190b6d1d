#include "tools/html/main_text.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "tools/html/html_dom.h"
#include "tools/http/url.h"

namespace rewoo::tools::html {

namespace {

// Words in class/id that mark boilerplate (a subset of Readability's lists).
const char* const kUnlikely[] = {
    "-ad-", "ai2html", "banner", "breadcrumb", "combx", "comment", "community", "cover-wrap",
    "disqus", "extra", "footer", "gdpr", "legends", "menu", "related", "remark", "replies",
    "rss", "shoutbox", "sidebar", "skyscraper", "social", "sponsor", "supplemental",
    "ad-break", "agegate", "pagination", "pager", "popup", "yom-remote", "newsletter",
    "cookie", "share", "subscribe", "promo", "masthead", "navbar", "topbar", "signup",
    "recommend", "trending", "most-popular", "mostpopular", "outbrain", "taboola", "modal",
    "caption", "read-more", "readmore"};
const char* const kMaybe[] = {"and", "article", "body", "column", "content", "main", "shadow"};
const char* const kPositive[] = {"article", "body", "content", "entry", "hentry", "h-entry",
                                 "main", "page", "post", "text", "blog", "story"};
const char* const kNegative[] = {
    "-ad-", "hidden", "banner", "combx", "comment", "com-", "contact", "foot", "footnote",
    "gdpr", "masthead", "media", "meta", "outbrain", "promo", "related", "scroll", "share",
    "shoutbox", "sidebar", "skyscraper", "sponsor", "shopping", "tags", "tool", "widget",
    "byline", "author", "caption", "newsletter", "subscribe", "taboola", "recirc", "nav"};

template <size_t N>
bool contains_any(const std::string& s, const char* const (&words)[N]) {
  for (const char* w : words)
    if (s.find(w) != std::string::npos) return true;
  return false;
}

bool is_block(Tag t) {
  switch (t) {
    case Tag::kAddress: case Tag::kArticle: case Tag::kAside: case Tag::kBlockquote:
    case Tag::kBody: case Tag::kCaption: case Tag::kCenter: case Tag::kDd: case Tag::kDetails:
    case Tag::kDialog: case Tag::kDiv: case Tag::kDl: case Tag::kDt: case Tag::kFieldset:
    case Tag::kFigcaption: case Tag::kFigure: case Tag::kFooter: case Tag::kForm: case Tag::kH1:
    case Tag::kH2: case Tag::kH3: case Tag::kH4: case Tag::kH5: case Tag::kH6: case Tag::kHeader:
    case Tag::kHr: case Tag::kLi: case Tag::kMain: case Tag::kMenu: case Tag::kNav: case Tag::kOl:
    case Tag::kP: case Tag::kPre: case Tag::kSection: case Tag::kSummary: case Tag::kTable:
    case Tag::kTbody: case Tag::kTd: case Tag::kTfoot: case Tag::kTh: case Tag::kThead:
    case Tag::kTr: case Tag::kUl: case Tag::kHtml: case Tag::kDocument: case Tag::kOther:
    case Tag::kLegend:
      return true;
    default:
      return false;
  }
}

// Never content, whatever the page says.
bool is_junk_tag(Tag t) {
  switch (t) {
    case Tag::kScript: case Tag::kStyle: case Tag::kNoscript: case Tag::kTemplate: case Tag::kSvg:
    case Tag::kMath: case Tag::kIframe: case Tag::kNav: case Tag::kFooter: case Tag::kAside:
    case Tag::kForm: case Tag::kButton: case Tag::kSelect: case Tag::kInput: case Tag::kTextarea:
    case Tag::kHead: case Tag::kTitle: case Tag::kCanvas: case Tag::kObject: case Tag::kEmbed:
    case Tag::kVideo: case Tag::kAudio: case Tag::kMap: case Tag::kDialog: case Tag::kHeader:
    case Tag::kOption: case Tag::kLabel: case Tag::kNoembed: case Tag::kNoframes: case Tag::kMeta:
    case Tag::kLink: case Tag::kFigcaption:
      return true;
    default:
      return false;
  }
}

std::string lower_copy(const std::string& s) {
  std::string r(s);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return r;
}

bool is_hidden(const Node& n) {
  for (const auto& a : n.attrs) {
    if (a.name == "hidden") return true;
    if (a.name == "aria-hidden" && a.value == "true") return true;
    if (a.name == "style") {
      std::string s;
      s.reserve(a.value.size());
      for (char c : a.value)
        if (c != ' ' && c != '\t') s.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
      if (s.find("display:none") != std::string::npos ||
          s.find("visibility:hidden") != std::string::npos)
        return true;
    }
  }
  return false;
}

struct Info {
  int text = 0;      // visible characters (whitespace runs count once)
  int links = 0;     // of which inside <a>
  int direct = 0;    // text in direct text/inline children
  int commas = 0;
  int paras = 0, imgs = 0, lis = 0, inputs = 0, headings = 0;
  int ptext = 0;     // text in real paragraphs (<p>, >= 40 chars, few links) below
  float score = 0;
  int weight = 0;    // class/id weight
  std::string cls;   // lower-cased "class id"
  bool removed = false;
  bool in_link = false;
  bool candidate = false;
};

int count_text(const std::string& s, int* commas) {
  int n = 0;
  bool sp = true;
  for (unsigned char c : s) {
    bool is_sp = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f';
    if (is_sp) {
      if (!sp) ++n;
      sp = true;
    } else {
      if ((c & 0xC0) != 0x80) ++n;  // count code points, not bytes
      if (c == ',') ++*commas;
      sp = false;
    }
  }
  return n;
}

class Extractor {
 public:
  // The flags are Readability's: each retry turns one more heuristic off.
  Extractor(const HtmlDocument& d, bool strip_unlikely = true, bool weight_classes = true,
            bool clean_conditionally = true)
      : doc_(d), info_(static_cast<size_t>(d.size())), strip_unlikely_(strip_unlikely),
        weight_classes_(weight_classes), clean_conditionally_(clean_conditionally) {}

  void analyse() {
    const int n = doc_.size();
    for (int i = 1; i < n; ++i) {
      const Node& nd = doc_.node(i);
      Info& in = info_[static_cast<size_t>(i)];
      const Info& pin = info_[static_cast<size_t>(nd.parent)];
      in.removed = pin.removed;
      in.in_link = pin.in_link || nd.tag == Tag::kA;
      if (nd.tag == Tag::kText || in.removed) continue;
      if (is_junk_tag(nd.tag) || is_hidden(nd)) {
        in.removed = true;
        continue;
      }
      const std::string* c = nd.attr("class");
      const std::string* id = nd.attr("id");
      if (c || id) {
        in.cls = lower_copy((c ? *c : std::string()) + " " + (id ? *id : std::string()));
        if (weight_classes_ && contains_any(in.cls, kPositive)) in.weight += 25;
        if (weight_classes_ && contains_any(in.cls, kNegative)) in.weight -= 25;
        if (strip_unlikely_ && nd.tag != Tag::kBody && nd.tag != Tag::kA && nd.tag != Tag::kArticle &&
            nd.tag != Tag::kMain && nd.tag != Tag::kHtml && contains_any(in.cls, kUnlikely) &&
            !contains_any(in.cls, kMaybe))
          in.removed = true;
      }
      const std::string* role = nd.attr("role");
      if (role && (*role == "navigation" || *role == "complementary" || *role == "banner" ||
                   *role == "contentinfo" || *role == "menu" || *role == "dialog" || *role == "alert"))
        in.removed = true;
    }
    // Children have larger indices than parents: a reverse sweep sums subtrees.
    for (int i = n - 1; i >= 1; --i) {
      const Node& nd = doc_.node(i);
      Info& in = info_[static_cast<size_t>(i)];
      if (in.removed) continue;
      if (nd.tag == Tag::kText) {
        in.text = count_text(nd.text, &in.commas);
        if (in.in_link) in.links = in.text;
      } else {
        switch (nd.tag) {
          case Tag::kP: ++in.paras; break;
          case Tag::kImg: ++in.imgs; break;
          case Tag::kLi: ++in.lis; break;
          case Tag::kInput: ++in.inputs; break;
          case Tag::kH1: case Tag::kH2: case Tag::kH3: case Tag::kH4: ++in.headings; break;
          default: break;
        }
      }
      Info& p = info_[static_cast<size_t>(nd.parent)];
      p.text += in.text;
      p.links += in.links;
      p.commas += in.commas;
      p.paras += in.paras;
      p.imgs += in.imgs;
      p.lis += in.lis;
      p.inputs += in.inputs;
      p.headings += in.headings;
      if (nd.tag == Tag::kP && in.text >= 40 && in.links * 3 < in.text) in.ptext = in.text;
      p.ptext += in.ptext;
      if (nd.tag == Tag::kText || !is_block(nd.tag)) p.direct += in.text;
    }
  }

  float link_density(int i) const {
    const Info& in = info_[static_cast<size_t>(i)];
    return in.text > 0 ? static_cast<float>(in.links) / static_cast<float>(in.text) : 0.f;
  }

  void init_candidate(int i) {
    Info& in = info_[static_cast<size_t>(i)];
    if (in.candidate) return;
    in.candidate = true;
    candidates_.push_back(i);
    float s = 0;
    switch (doc_.node(i).tag) {
      case Tag::kDiv: case Tag::kArticle: case Tag::kMain: s = 5; break;
      case Tag::kPre: case Tag::kTd: case Tag::kBlockquote: s = 3; break;
      case Tag::kAddress: case Tag::kOl: case Tag::kUl: case Tag::kDl: case Tag::kDd:
      case Tag::kDt: case Tag::kLi: case Tag::kForm: s = -3; break;
      case Tag::kH1: case Tag::kH2: case Tag::kH3: case Tag::kH4: case Tag::kH5: case Tag::kH6:
      case Tag::kTh: s = -5; break;
      default: break;
    }
    in.score = s + static_cast<float>(in.weight);
  }

  void score() {
    for (int i = 1; i < doc_.size(); ++i) {
      const Node& nd = doc_.node(i);
      const Info& in = info_[static_cast<size_t>(i)];
      if (in.removed || nd.tag == Tag::kText || in.in_link) continue;
      int len;
      if (nd.tag == Tag::kP || nd.tag == Tag::kPre || nd.tag == Tag::kTd) len = in.text;
      else if (is_block(nd.tag) && nd.tag != Tag::kLi && nd.tag != Tag::kBody && nd.tag != Tag::kHtml)
        len = in.direct;
      else
        continue;
      if (len < 25) continue;
      float link = link_density(i);
      if (link > 0.5f) continue;
      float s = 1.f + static_cast<float>(std::min(in.commas, 20)) + std::min(static_cast<float>(len) / 100.f, 3.f);
      int anc = nd.parent;
      for (int level = 0; anc > 0 && level < 5; ++level, anc = doc_.node(anc).parent) {
        if (doc_.node(anc).tag == Tag::kHtml) break;
        init_candidate(anc);
        float div = level == 0 ? 1.f : level == 1 ? 2.f : static_cast<float>(level) * 3.f;
        info_[static_cast<size_t>(anc)].score += s / div;
      }
    }
  }

  int top_candidate() {
    int best = -1;
    float best_score = 0;
    for (int c : candidates_) {
      float s = info_[static_cast<size_t>(c)].score * (1.f - link_density(c));
      info_[static_cast<size_t>(c)].score = s;
    }
    for (int c : candidates_) {
      float s = info_[static_cast<size_t>(c)].score;
      if (best < 0 || s > best_score) {
        best = c;
        best_score = s;
      }
    }
    if (best < 0) return -1;
    // Readability: when several of the best candidates share an ancestor, that
    // ancestor holds the article (split into sections).
    // Only the 5 best (as Readability): bounds the ancestor walks below.
    std::vector<int> top;
    for (int c : candidates_)
      if (c != best && info_[static_cast<size_t>(c)].score >= best_score * 0.75f) top.push_back(c);
    std::partial_sort(top.begin(), top.begin() + std::min<size_t>(top.size(), 4), top.end(),
                      [&](int a, int b) { return info_[static_cast<size_t>(a)].score > info_[static_cast<size_t>(b)].score; });
    if (top.size() > 4) top.resize(4);
    if (top.size() >= 2) {
      for (int a = doc_.node(best).parent; a > 0 && doc_.node(a).tag != Tag::kBody; a = doc_.node(a).parent) {
        int shared = 0;
        for (int c : top)
          for (int x = c; x > 0; x = doc_.node(x).parent)
            if (x == a) {
              ++shared;
              break;
            }
        if (shared >= 2) {
          best = a;
          break;
        }
      }
    }
    // Paragraphs split across sibling containers: move up while an ancestor
    // holds much more paragraph text than the pick.
    {
      int p = doc_.node(best).parent;
      for (int hop = 0; hop < 6 && p > 0; ++hop, p = doc_.node(p).parent) {
        Tag pt = doc_.node(p).tag;
        if (pt == Tag::kBody || pt == Tag::kHtml) break;
        const Info& bi = info_[static_cast<size_t>(best)];
        const Info& pi = info_[static_cast<size_t>(p)];
        if (pi.ptext * 10 >= bi.ptext * 13 && pi.ptext * 10 >= pi.text * 6 && link_density(p) < 0.25f) best = p;
      }
    }
    // Climb while the parent scores no less (the article split across children).
    float last = info_[static_cast<size_t>(best)].score;
    for (int p = doc_.node(best).parent; p > 0 && doc_.node(p).tag != Tag::kBody; p = doc_.node(p).parent) {
      const Info& pi = info_[static_cast<size_t>(p)];
      if (!pi.candidate) continue;
      if (pi.score < last / 3) break;
      if (pi.score > last) {
        best = p;
        break;
      }
      last = pi.score;
    }
    return best;
  }

  std::vector<int> content_roots(int top) {
    std::vector<int> roots;
    int parent = doc_.node(top).parent;
    if (parent <= 0) return {top};
    const Info& ti = info_[static_cast<size_t>(top)];
    float threshold = std::max(10.f, ti.score * 0.2f);
    for (int s = doc_.node(parent).first_child; s >= 0; s = doc_.node(s).next_sibling) {
      if (s == top) {
        roots.push_back(s);
        continue;
      }
      const Node& sn = doc_.node(s);
      const Info& si = info_[static_cast<size_t>(s)];
      if (si.removed || sn.tag == Tag::kText) continue;
      float bonus = (!ti.cls.empty() && si.cls == ti.cls) ? ti.score * 0.2f : 0.f;
      bool keep = si.candidate && si.score + bonus >= threshold;
      if (!keep && sn.tag == Tag::kP) {
        float ld = link_density(s);
        if (si.text > 80 && ld < 0.25f) keep = true;
        else if (si.text > 0 && si.text <= 80 && ld == 0.f) {
          std::string t = doc_.text_of(s);
          keep = t.find(". ") != std::string::npos || (!t.empty() && t.back() == '.');
        }
      }
      if (keep) roots.push_back(s);
    }
    return roots;
  }

  // Readability's "clean conditionally": widgets, link lists and image
  // galleries inside the article.
  bool drop_in_article(int i) const {
    const Node& nd = doc_.node(i);
    const Info& in = info_[static_cast<size_t>(i)];
    if (in.removed) return true;
    if (!clean_conditionally_) return false;
    switch (nd.tag) {
      case Tag::kUl: case Tag::kOl: case Tag::kDiv: case Tag::kSection: case Tag::kTable:
      case Tag::kFieldset: case Tag::kOther: case Tag::kFigure:
        break;
      case Tag::kH1: case Tag::kH2: case Tag::kH3: case Tag::kH4: case Tag::kH5: case Tag::kH6:
        return in.weight < 0 || link_density(i) > 0.33f;
      default:
        return false;
    }
    float score = in.candidate ? in.score : 0.f;
    if (static_cast<float>(in.weight) + score < 0) return true;
    if (in.commas >= 10) return false;
    float ld = link_density(i);
    bool is_list = nd.tag == Tag::kUl || nd.tag == Tag::kOl;
    if (in.imgs > 1 && static_cast<float>(in.paras) / static_cast<float>(in.imgs) < 0.5f &&
        nd.tag != Tag::kFigure)
      return true;
    if (!is_list && in.lis - 100 > in.paras) return true;
    if (in.inputs > in.paras / 3) return true;
    if (!is_list && nd.tag != Tag::kTable && in.text < 25 && in.imgs == 0 && in.headings == 0 && in.paras == 0) return true;
    if (in.weight < 25 && ld > 0.2f) return true;
    if (in.weight >= 25 && ld > 0.5f) return true;
    return false;
  }

  // Renders the text of node i (and its subtree) into out_.
  void render(int root, bool clean) {
    // Iterative DFS with explicit enter/leave to emit block breaks.
    struct Frame {
      int node;
      bool leaving;
    };
    std::vector<Frame> st;
    st.push_back({root, false});
    while (!st.empty()) {
      Frame f = st.back();
      st.pop_back();
      const Node& nd = doc_.node(f.node);
      if (f.leaving) {
        leave(nd.tag);
        continue;
      }
      if (nd.tag == Tag::kText) {
        if (!info_[static_cast<size_t>(f.node)].removed) emit_text(nd.text);
        continue;
      }
      if (f.node != root && (clean ? drop_in_article(f.node) : info_[static_cast<size_t>(f.node)].removed))
        continue;
      enter(nd.tag);
      st.push_back({f.node, true});
      // Push children in reverse so they pop in order.
      std::vector<int> kids;
      for (int c = nd.first_child; c >= 0; c = doc_.node(c).next_sibling) kids.push_back(c);
      for (auto it = kids.rbegin(); it != kids.rend(); ++it) st.push_back({*it, false});
    }
  }

  std::string finish() {
    flush_line();
    while (!out_.empty() && out_.back() == '\n') out_.pop_back();
    return std::move(out_);
  }

 private:
  void enter(Tag t) {
    switch (t) {
      case Tag::kBr: flush_line(); break;
      case Tag::kLi: paragraph(false); line_ = "- "; line_has_text_ = false; break;
      case Tag::kTd: case Tag::kTh:
        if (line_has_text_) line_ += " | ";
        break;
      case Tag::kPre: paragraph(true); ++pre_; break;
      case Tag::kTr: case Tag::kDt: case Tag::kDd: paragraph(false); break;
      default:
        if (is_block(t)) paragraph(true);
        else if (t == Tag::kImg || t == Tag::kWbr) {}
        break;
    }
  }
  void leave(Tag t) {
    if (t == Tag::kPre) --pre_;
    if (t == Tag::kLi || t == Tag::kTr || t == Tag::kDt || t == Tag::kDd) paragraph(false);
    else if (t != Tag::kTd && t != Tag::kTh && is_block(t)) paragraph(true);
  }
  void paragraph(bool blank) {
    flush_line();
    if (blank && !out_.empty() && !(out_.size() >= 2 && out_[out_.size() - 1] == '\n' && out_[out_.size() - 2] == '\n'))
      out_ += '\n';
  }
  void flush_line() {
    while (!line_.empty() && line_.back() == ' ') line_.pop_back();
    if (line_has_text_) {
      out_ += line_;
      out_ += '\n';
    }
    line_.clear();
    line_has_text_ = false;
  }
  void emit_text(const std::string& s) {
    if (pre_ > 0) {
      for (char c : s) {
        if (c == '\n') flush_line();
        else {
          line_.push_back(c);
          if (c != ' ' && c != '\t') line_has_text_ = true;
        }
      }
      return;
    }
    for (size_t i = 0; i < s.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      // U+00A0 no-break space renders as a space.
      if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
        c = ' ';
        ++i;
      }
      if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f') {
        if (!line_.empty() && line_.back() != ' ') line_.push_back(' ');
      } else {
        line_.push_back(static_cast<char>(c));
        line_has_text_ = true;
      }
    }
  }

  const HtmlDocument& doc_;
  std::vector<Info> info_;
  std::vector<int> candidates_;
  std::string out_, line_;
  bool line_has_text_ = false;
  int pre_ = 0;
  bool strip_unlikely_, weight_classes_, clean_conditionally_;
};

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string page_title(const HtmlDocument& doc) {
  for (int i = 0; i < doc.size(); ++i) {
    const Node& n = doc.node(i);
    if (n.tag == Tag::kMeta) {
      const std::string* p = n.attr("property");
      const std::string* c = n.attr("content");
      if (p && c && *p == "og:title" && !c->empty()) return collapse_whitespace(*c);
    }
  }
  int t = doc.find_first(Tag::kTitle);
  if (t >= 0) {
    std::string s = collapse_whitespace(doc.text_of(t));
    if (!s.empty()) return s;
  }
  int h = doc.find_first(Tag::kH1);
  return h >= 0 ? collapse_whitespace(doc.text_of(h)) : std::string();
}

}  // namespace

std::string collapse_whitespace(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      if (!r.empty() && r.back() != ' ') r.push_back(' ');
    } else {
      r.push_back(c);
    }
  }
  if (!r.empty() && r.back() == ' ') r.pop_back();
  return r;
}

ExtractedPage extract_main_text(std::string_view html, const ExtractOptions& opts) {
  // Readability's retry: below this much text, a heuristic probably threw the
  // article away; try again with fewer of them and keep the longest result.
  constexpr size_t kEnoughText = 500;
  HtmlDocument doc = HtmlDocument::parse(html);
  ExtractedPage page;
  page.title = page_title(doc);
  int body = doc.find_first(Tag::kBody);
  if (body < 0) body = 0;
  if (opts.main_only) {
    static const bool kAttempts[3][3] = {{true, true, true}, {false, true, true}, {false, false, true}};
    for (const auto& a : kAttempts) {
      Extractor ex(doc, a[0], a[1], a[2]);
      ex.analyse();
      ex.score();
      int top = ex.top_candidate();
      if (top < 0) continue;
      for (int r : ex.content_roots(top)) ex.render(r, true);
      std::string text = ex.finish();
      if (text.size() > page.text.size()) page.text = std::move(text);
      if (page.text.size() >= kEnoughText) return page;
    }
    if (page.text.size() >= 200) return page;
  }
  Extractor all(doc);
  all.analyse();
  all.render(body, false);
  std::string full = all.finish();
  if (full.size() > page.text.size() || !opts.main_only) page.text = std::move(full);
  return page;
}

std::vector<std::string> extract_links(std::string_view html, const std::string& base_url) {
  HtmlDocument doc = HtmlDocument::parse(html);
  std::string base = base_url;
  int b = doc.find_first(Tag::kBase);
  if (b >= 0) {
    const std::string* h = doc.node(b).attr("href");
    if (h && !h->empty()) {
      auto r = http::resolve_url(base, trim(*h));
      if (r) base = *r;
    }
  }
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (int i = 0; i < doc.size(); ++i) {
    const Node& n = doc.node(i);
    if (n.tag != Tag::kA && n.tag != Tag::kArea) continue;
    const std::string* h = n.attr("href");
    if (!h) continue;
    std::string href = trim(*h);
    if (href.empty() || href[0] == '#') continue;
    auto r = http::resolve_url(base, href);
    if (!r) continue;
    std::string u = *r;
    size_t hash = u.find('#');
    if (hash != std::string::npos) u.resize(hash);
    if (seen.insert(u).second) out.push_back(std::move(u));
  }
  return out;
}

}  // namespace rewoo::tools::html
