#include "tools/http/charset.h"

#include <iconv.h>
#include <uchardet.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace rewoo::tools::http {

namespace {

std::string lower_trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '"' || s[b] == '\'' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '"' || s[e - 1] == '\'' || s[e - 1] == '\t' ||
                   s[e - 1] == ';'))
    --e;
  std::string r(s.substr(b, e - b));
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return r;
}

// A charset label as the WHATWG Encoding Standard maps it (the labels that
// occur in practice), or "" for one that is not a web encoding at all
// (utf-7, utf-32, ucs-4, EBCDIC ...): such declarations are ignored, as
// browsers do, instead of decoding the page into noise.
std::string canonical(std::string cs) {
  if (cs == "utf-8" || cs == "utf8" || cs == "unicode-1-1-utf-8" || cs == "x-unicode20utf8")
    return "utf-8";
  if (cs == "iso-8859-1" || cs == "latin1" || cs == "us-ascii" || cs == "ascii" ||
      cs == "iso8859-1" || cs == "iso_8859-1" || cs == "l1" || cs == "cp1252" || cs == "cp819" ||
      cs == "ibm819" || cs == "x-cp1252" || cs == "windows-1252")
    return "windows-1252";
  if (cs == "gb2312" || cs == "gbk" || cs == "x-gbk" || cs == "gb18030" || cs == "chinese" ||
      cs == "csgb2312")
    return "gb18030";
  if (cs == "shift-jis" || cs == "shift_jis" || cs == "sjis" || cs == "x-sjis" ||
      cs == "ms_kanji" || cs == "windows-31j" || cs == "csshiftjis")
    return "shift_jis";
  if (cs == "ks_c_5601-1987" || cs == "euc-kr" || cs == "korean" || cs == "windows-949")
    return "cp949";
  if (cs == "big5" || cs == "big5-hkscs" || cs == "cn-big5" || cs == "x-x-big5") return "big5";
  if (cs == "euc-jp" || cs == "x-euc-jp") return "euc-jp";
  if (cs == "iso-2022-jp") return "iso-2022-jp";
  if (cs == "koi8-r" || cs == "koi8" || cs == "koi" || cs == "cskoi8r") return "koi8-r";
  if (cs == "koi8-u" || cs == "koi8-ru") return "koi8-u";
  if (cs == "ibm866" || cs == "cp866" || cs == "866") return "ibm866";
  if (cs == "macintosh" || cs == "mac" || cs == "x-mac-roman") return "macintosh";
  if (cs == "x-mac-cyrillic" || cs == "x-mac-ukrainian" || cs == "mac-cyrillic" || cs == "maccyrillic")
    return "mac-cyrillic";
  if (cs == "windows-874" || cs == "tis-620" || cs == "iso-8859-11" || cs == "dos-874")
    return "cp874";
  // windows-1250 .. 1258 and their cp / x-cp spellings
  for (const char* prefix : {"windows-", "cp", "x-cp"}) {
    const std::string p(prefix);
    if (cs.size() == p.size() + 4 && cs.compare(0, p.size(), p) == 0 &&
        cs.compare(p.size(), 3, "125") == 0 && cs.back() >= '0' && cs.back() <= '8')
      return "windows-125" + std::string(1, cs.back());
  }
  // iso-8859-N (and isoN / iso_8859-N / latinN spellings of the main ones)
  static const char* const kIso[][2] = {
      {"iso-8859-2", "iso-8859-2"},   {"latin2", "iso-8859-2"},     {"iso-8859-3", "iso-8859-3"},
      {"iso-8859-4", "iso-8859-4"},   {"iso-8859-5", "iso-8859-5"}, {"cyrillic", "iso-8859-5"},
      {"iso-8859-6", "iso-8859-6"},   {"arabic", "iso-8859-6"},     {"iso-8859-7", "iso-8859-7"},
      {"greek", "iso-8859-7"},        {"iso-8859-8", "iso-8859-8"}, {"hebrew", "iso-8859-8"},
      {"iso-8859-8-i", "iso-8859-8"}, {"iso-8859-10", "iso-8859-10"},
      {"iso-8859-13", "iso-8859-13"}, {"iso-8859-14", "iso-8859-14"},
      {"iso-8859-15", "iso-8859-15"}, {"latin9", "iso-8859-15"},   {"iso-8859-16", "iso-8859-16"},
      {"iso-8859-9", "windows-1254"}, {"latin5", "windows-1254"}};
  for (const auto& [label, name] : kIso)
    if (cs == label) return name;
  // UTF-16 labels (only a BOM or an HTTP header can mean them; see decode_to_utf8)
  if (cs == "utf-16" || cs == "utf-16le" || cs == "unicode" || cs == "ucs-2" ||
      cs == "csunicode" || cs == "iso-10646-ucs-2" || cs == "unicodefeff")
    return "utf-16le";
  if (cs == "utf-16be" || cs == "unicodefffe") return "utf-16be";
  return "";
}

// The charset value after "charset=" in s, or "".
std::string charset_param(std::string_view s) {
  std::string l(s);
  for (char& c : l)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  size_t p = l.find("charset");
  if (p == std::string::npos) return {};
  p += 7;
  while (p < l.size() && (l[p] == ' ' || l[p] == '\t')) ++p;
  if (p >= l.size() || l[p] != '=') return {};
  ++p;
  size_t e = p;
  while (e < l.size() && (l[e] == ' ' || l[e] == '"' || l[e] == '\'')) ++e;
  size_t start = e;
  while (e < l.size() && l[e] != ';' && l[e] != '"' && l[e] != '\'' && l[e] != ' ' && l[e] != '>' &&
         l[e] != '/')
    ++e;
  return lower_trim(l.substr(start, e - start));
}

struct Iconv {
  iconv_t cd;
  explicit Iconv(const std::string& from) : cd(iconv_open("UTF-8", from.c_str())) {}
  ~Iconv() {
    if (ok()) iconv_close(cd);
  }
  bool ok() const { return cd != reinterpret_cast<iconv_t>(-1); }
};

// Converts with iconv; undecodable bytes become U+FFFD. false if the
// charset is unknown to iconv.
bool convert(std::string_view in, const std::string& from, std::string* out) {
  Iconv cv(from);
  if (!cv.ok()) return false;
  out->clear();
  out->reserve(in.size() + in.size() / 4);
  char* src = const_cast<char*>(in.data());
  size_t src_left = in.size();
  char buf[16384];
  while (src_left > 0) {
    char* dst = buf;
    size_t dst_left = sizeof(buf);
    size_t r = iconv(cv.cd, &src, &src_left, &dst, &dst_left);
    out->append(buf, static_cast<size_t>(dst - buf));
    if (r == static_cast<size_t>(-1)) {
      if (errno == E2BIG) continue;
      // EILSEQ or EINVAL (truncated at the end): replace one byte and go on.
      out->append("\xEF\xBF\xBD");
      ++src;
      --src_left;
      iconv(cv.cd, nullptr, nullptr, nullptr, nullptr);
    }
  }
  return true;
}

// Length of the well-formed UTF-8 sequence at s[i] (Unicode table 3-7: no
// overlong forms, no surrogates, nothing past U+10FFFF), or 0.
size_t utf8_len(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
  if (c1 < lo || c1 > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return len;
}

// Replaces ill-formed UTF-8 with U+FFFD, one per bad byte.
std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = utf8_len(s, i);
    if (len) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

std::string detect(std::string_view body) {
  uchardet_t ud = uchardet_new();
  uchardet_handle_data(ud, body.data(), std::min<size_t>(body.size(), 256 * 1024));
  uchardet_data_end(ud);
  std::string cs = lower_trim(uchardet_get_charset(ud));
  uchardet_delete(ud);
  return cs;
}

}  // namespace

std::string charset_from_content_type(const std::string& content_type) {
  return charset_param(content_type);
}

std::string charset_from_meta(std::string_view html) {
  std::string_view head = html.substr(0, std::min<size_t>(html.size(), 4096));
  std::string l(head);
  for (char& c : l)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  size_t p = 0;
  while ((p = l.find("<meta", p)) != std::string::npos) {
    size_t e = l.find('>', p);
    if (e == std::string::npos) break;
    std::string tag = l.substr(p, e - p);
    std::string cs = charset_param(tag);
    if (!cs.empty()) return cs;
    p = e;
  }
  return {};
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t len = utf8_len(s, i);
    if (!len) return false;
    i += len;
  }
  return true;
}

DecodedText decode_to_utf8(std::string_view body, const std::string& content_type, bool is_html) {
  DecodedText r;
  // Byte-order marks.
  if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") {
    r.text = repair_utf8(body.substr(3));
    r.charset = "utf-8";
    r.source = "bom";
    return r;
  }
  if (body.size() >= 2 && (body.substr(0, 2) == "\xFF\xFE" || body.substr(0, 2) == "\xFE\xFF")) {
    std::string cs = body[0] == '\xFF' ? "utf-16le" : "utf-16be";
    if (convert(body.substr(2), cs, &r.text)) {
      r.charset = cs;
      r.source = "bom";
      return r;
    }
  }
  struct Candidate {
    std::string cs, source;
  };
  std::vector<Candidate> cands;
  const bool valid_utf8 = is_valid_utf8(body);
  std::string h = canonical(charset_from_content_type(content_type));
  // An HTTP header may say UTF-16 (the WHATWG rules honour it); a page that
  // is valid UTF-8 without a NUL byte in it was mislabelled.
  if ((h == "utf-16le" || h == "utf-16be") && valid_utf8 &&
      body.find('\0') == std::string_view::npos)
    h.clear();
  if (!h.empty()) cands.push_back({h, "header"});
  if (is_html) {
    std::string m = canonical(charset_from_meta(body));
    // A <meta> readable as ASCII can't be in UTF-16: it means UTF-8.
    if (m == "utf-16le" || m == "utf-16be") m = "utf-8";
    if (!m.empty()) cands.push_back({m, "meta"});
  }
  for (const auto& c : cands) {
    if (c.cs == "utf-8") {
      if (!valid_utf8) continue;  // declared UTF-8 but isn't: don't believe it
      r.text = std::string(body);
      r.charset = "utf-8";
      r.source = c.source;
      return r;
    }
    // A single-byte declaration on text that is valid UTF-8 with non-ASCII in
    // it is far more often wrong than right.
    if (valid_utf8 && c.cs == "windows-1252") {
      bool ascii = true;
      for (char ch : body)
        if (static_cast<unsigned char>(ch) >= 0x80) {
          ascii = false;
          break;
        }
      if (!ascii) continue;
    }
    if (convert(body, c.cs, &r.text)) {
      r.charset = c.cs;
      r.source = c.source;
      return r;
    }
  }
  if (valid_utf8) {
    r.text = std::string(body);
    r.charset = "utf-8";
    r.source = cands.empty() ? "default" : "detected";
    return r;
  }
  std::string d = canonical(detect(body));
  if (!d.empty() && d != "utf-8" && convert(body, d, &r.text)) {
    r.charset = d;
    r.source = "detected";
    return r;
  }
  if (convert(body, "windows-1252", &r.text)) {
    r.charset = "windows-1252";
    r.source = "default";
    return r;
  }
  r.text = repair_utf8(body);
  r.charset = "utf-8";
  r.source = "default";
  return r;
}

}  // namespace rewoo::tools::http
