// HtmlDocument: a fast, forgiving HTML parser into a compact tree, for text
// extraction (not for rendering).
//
// Why not gumbo: gumbo parses at ~24 MB/s on the project machine, which
// leaves nothing for extraction under the 20 MB/s budget. This parser does
// what extraction needs at several times that speed: tags and attributes,
// raw-text elements (script, style, textarea, title), comments, character
// references, void elements and the implied end tags that matter for text
// (p, li, dt/dd, tr, td/th, option). It never fails: any byte string gives a
// tree, nesting is capped so hostile input can't blow the stack, end tags
// that match nothing open are ignored, and a page is parsed up to kMaxNodes
// nodes (about 2 s and 150 MB; an 8 MB page of bare tags would otherwise
// take 700 MB and 25 s), the rest dropped.
//
//   HtmlDocument doc = HtmlDocument::parse(html);
//   for (int c = doc.node(0).first_child; c >= 0; c = doc.node(c).next_sibling) ...
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rewoo::tools::html {

// Tags the extractor cares about; anything else is kOther (name kept).
enum class Tag : uint8_t {
  kDocument, kText, kOther,
  kA, kAbbr, kAddress, kArticle, kAside, kB, kBlockquote, kBody, kBr, kButton, kCanvas, kCaption,
  kCode, kDd, kDetails, kDialog, kDiv, kDl, kDt, kEm, kEmbed, kFieldset, kFigcaption, kFigure,
  kFooter, kForm, kH1, kH2, kH3, kH4, kH5, kH6, kHead, kHeader, kHr, kHtml, kI, kIframe, kImg,
  kInput, kLabel, kLegend, kLi, kLink, kMain, kMap, kMenu, kMeta, kNav, kNoscript, kObject, kOl,
  kOption, kP, kPicture, kPre, kQ, kS, kSection, kSelect, kSmall, kSource, kSpan, kStrong,
  kStyle, kSub, kSummary, kSup, kSvg, kTable, kTbody, kTd, kTemplate, kTextarea, kTfoot, kTh,
  kThead, kTime, kTitle, kTr, kU, kUl, kVideo, kAudio, kScript, kWbr, kMath, kCenter, kFont,
  kTrack, kParam, kArea, kBase, kCol, kColgroup, kKeygen, kPlaintext, kXmp, kNoembed, kNoframes,
  // Inline phrasing elements (named so they are not taken for unknown blocks).
  kMark, kCite, kKbd, kVar, kSamp, kDfn, kIns, kDel, kTt, kBig, kNobr, kData, kBdi, kBdo, kRuby,
  kRt, kRp, kOutput, kAcronym, kStrike,
  kCount
};

struct Attr {
  std::string name;   // lower-case
  std::string value;  // character references decoded
};

struct Node {
  Tag tag = Tag::kOther;
  int parent = -1;
  int first_child = -1;
  int last_child = -1;
  int next_sibling = -1;
  std::string text;          // text nodes: decoded text; kOther: the tag name
  std::vector<Attr> attrs;   // elements only
  const std::string* attr(std::string_view name) const;
};

class HtmlDocument {
 public:
  // Far more than real pages have (large encyclopedia articles: ~100,000).
  static constexpr size_t kMaxNodes = 500000;

  static HtmlDocument parse(std::string_view html);
  // Whether parse() stopped at kMaxNodes.
  bool truncated() const { return truncated_; }

  const Node& node(int i) const { return nodes_[static_cast<size_t>(i)]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  int root() const { return 0; }
  // The first element with this tag in document order, or -1.
  int find_first(Tag tag) const;
  // The whole text under node i (no layout), for small things like <title>.
  std::string text_of(int i) const;

  static const char* tag_name(Tag t);

 private:
  friend class HtmlBuilder;
  std::vector<Node> nodes_;
  bool truncated_ = false;
};

// Decodes character references (&amp; &#233; &#x2014; &nbsp; ...) into UTF-8.
// Unknown names are kept as written.
std::string decode_entities(std::string_view s);
// Appends code point cp as UTF-8 (invalid ones as U+FFFD).
void append_utf8(std::string& out, uint32_t cp);

}  // namespace rewoo::tools::html
