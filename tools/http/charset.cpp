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

// WHATWG label normalisation for the names that matter in practice.
std::string canonical(std::string cs) {
  if (cs == "utf8" || cs == "unicode-1-1-utf-8") return "utf-8";
  if (cs == "iso-8859-1" || cs == "latin1" || cs == "us-ascii" || cs == "ascii" ||
      cs == "iso8859-1" || cs == "l1" || cs == "cp1252")
    return "windows-1252";
  if (cs == "gb2312" || cs == "gbk" || cs == "x-gbk") return "gb18030";
  if (cs == "shift-jis" || cs == "sjis" || cs == "x-sjis") return "shift_jis";
  if (cs == "ks_c_5601-1987" || cs == "euc-kr") return "cp949";
  return cs;
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

// Replaces invalid UTF-8 sequences with U+FFFD.
std::string repair_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 2 && c < 0xC2) ok = false;  // overlong
    if (ok) {
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
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size() || (len == 2 && c < 0xC2)) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
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
  std::string h = charset_from_content_type(content_type);
  if (!h.empty()) cands.push_back({canonical(h), "header"});
  if (is_html) {
    std::string m = charset_from_meta(body);
    if (!m.empty()) cands.push_back({canonical(m), "meta"});
  }
  bool valid_utf8 = is_valid_utf8(body);
  for (const auto& c : cands) {
    if (c.cs == "utf-8") {
      if (!valid_utf8) continue;  // declared UTF-8 but isn't: don't believe it
      r.text = std::string(body);
      r.charset = "utf-8";
      r.source = c.source;
      return r;
    }
    if (c.cs == "utf-16" || c.cs == "utf-16le" || c.cs == "utf-16be") continue;  // a <meta> can't say so
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
