#include "tools/http/address_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace rewoo::tools::http {

namespace {

struct Special {
  const char* cidr;
  const char* what;
};

// IANA special-purpose registries (RFC 6890 and successors).
const Special kSpecialV4[] = {
    {"0.0.0.0/8", "'this network' / unspecified"},
    {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "carrier-grade NAT (shared address space)"},
    {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local (cloud metadata lives at 169.254.169.254)"},
    {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "IETF protocol assignments"},
    {"192.0.2.0/24", "documentation (TEST-NET-1)"},
    {"192.88.99.0/24", "6to4 relay anycast"},
    {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "benchmarking"},
    {"198.51.100.0/24", "documentation (TEST-NET-2)"},
    {"203.0.113.0/24", "documentation (TEST-NET-3)"},
    {"224.0.0.0/4", "multicast"},
    {"255.255.255.255/32", "broadcast"},  // before 240/4, which holds it
    {"240.0.0.0/4", "reserved"},
};
const Special kSpecialV6[] = {
    {"::/128", "unspecified"},
    {"::1/128", "loopback"},
    {"::ffff:0:0/96", "IPv4-mapped IPv6"},
    {"::/96", "IPv4-compatible IPv6"},
    {"64:ff9b::/96", "NAT64 (embeds an IPv4 address)"},
    {"64:ff9b:1::/48", "local-use NAT64"},
    {"100::/64", "discard-only"},
    {"2001:db8::/32", "documentation"},
    {"2002::/16", "6to4 (embeds an IPv4 address)"},
    {"fc00::/7", "unique-local"},
    {"fe80::/10", "link-local"},
    {"fec0::/10", "site-local (deprecated)"},
    {"ff00::/8", "multicast"},
};

const std::vector<std::pair<IpRange, const char*>>& special_ranges() {
  static const auto* v = [] {
    auto* out = new std::vector<std::pair<IpRange, const char*>>();  // process lifetime
    for (const auto& s : kSpecialV4) out->push_back({*IpRange::parse(s.cidr), s.what});
    for (const auto& s : kSpecialV6) out->push_back({*IpRange::parse(s.cidr), s.what});
    return out;
  }();
  return *v;
}

bool sockaddr_bytes(const sockaddr* sa, int* family, const unsigned char** bytes) {
  if (!sa) return false;
  if (sa->sa_family == AF_INET) {
    *family = AF_INET;
    *bytes = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    *family = AF_INET6;
    *bytes = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
    return true;
  }
  return false;
}

}  // namespace

Result<IpRange> IpRange::parse(const std::string& cidr) {
  IpRange r;
  std::string addr = cidr;
  int prefix = -1;
  size_t slash = cidr.find('/');
  if (slash != std::string::npos) {
    addr = cidr.substr(0, slash);
    std::string p = cidr.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
      return Error("bad prefix length in address range '" + cidr + "'");
    prefix = std::stoi(p);
  }
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
  if (inet_pton(AF_INET, addr.c_str(), r.addr.data()) == 1) {
    r.family = AF_INET;
    r.prefix = prefix < 0 ? 32 : prefix;
    if (r.prefix > 32) return Error("prefix length over 32 in IPv4 range '" + cidr + "'");
  } else if (inet_pton(AF_INET6, addr.c_str(), r.addr.data()) == 1) {
    r.family = AF_INET6;
    r.prefix = prefix < 0 ? 128 : prefix;
    if (r.prefix > 128) return Error("prefix length over 128 in IPv6 range '" + cidr + "'");
  } else {
    return Error("'" + cidr + "' is not an address range (expected e.g. 127.0.0.1/32 or fc00::/7)");
  }
  return r;
}

bool IpRange::contains(int fam, const unsigned char* bytes) const {
  if (fam != family) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(addr.data(), bytes, static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xFF << (8 - rest));
  return (addr[static_cast<size_t>(full)] & mask) == (bytes[full] & mask);
}

std::string IpRange::to_string() const {
  return AddressGuard::address_string(family, addr.data()) + "/" + std::to_string(prefix);
}

std::string AddressGuard::address_string(int family, const unsigned char* bytes) {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(family, bytes, buf, sizeof(buf));
  return buf;
}

std::optional<std::string> AddressGuard::classify(int family, const unsigned char* bytes) {
  for (const auto& [range, what] : special_ranges())
    if (range.contains(family, bytes)) return std::string(what) + " (" + range.to_string() + ")";
  return std::nullopt;
}

std::optional<std::string> AddressGuard::refusal(const sockaddr* sa) const {
  int family = 0;
  const unsigned char* bytes = nullptr;
  if (!sockaddr_bytes(sa, &family, &bytes)) return std::string("not an IPv4 or IPv6 address");
  for (const auto& r : allowed_)
    if (r.contains(family, bytes)) return std::nullopt;
  auto what = classify(family, bytes);
  if (!what) return std::nullopt;
  std::string addr = address_string(family, bytes);
  std::string msg = addr + " is " + *what;
  if (family == AF_INET6 && what->find("IPv4") != std::string::npos) {
    // Name the IPv4 address hiding in the last 4 bytes.
    msg += ", i.e. " + address_string(AF_INET, bytes + 12);
  }
  return msg;
}

std::optional<std::string> AddressGuard::refusal_for_literal(const std::string& host) const {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    return refusal(reinterpret_cast<const sockaddr*>(&v4));
  }
  size_t pct = h.find('%');  // zone id: fe80::1%eth0
  if (pct != std::string::npos) h.resize(pct);
  if (inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    return refusal(reinterpret_cast<const sockaddr*>(&v6));
  }
  return std::nullopt;
}

}  // namespace rewoo::tools::http
