// AddressGuard: the SSRF check. Decides, for the address a connection is
// about to be opened to (after DNS, at socket creation), whether rewoo may
// talk to it.
//
// Refused unless an allowed range covers them: loopback, private (RFC 1918),
// link-local (incl. cloud metadata 169.254.169.254), CGNAT, "this network"
// and unspecified, multicast, broadcast and reserved, documentation and
// benchmarking nets, IPv6 unique-local / link-local / site-local, and every
// IPv6 form that embeds an IPv4 address (mapped, compatible, NAT64, 6to4),
// since those reach the IPv4 network behind the host.
//
//   AddressGuard guard({*IpRange::parse("127.0.0.1/32")});
//   if (auto why = guard.refusal(sa)) ... // "127.0.0.1 is loopback (127.0.0.0/8)"
#pragma once

#include <sys/socket.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/result.h"

namespace rewoo::tools::http {

struct IpRange {
  int family = AF_INET;             // AF_INET or AF_INET6
  std::array<unsigned char, 16> addr{};
  int prefix = 32;

  // "10.0.0.0/8", "127.0.0.1" (a single address), "::1/128", "fc00::/7".
  static Result<IpRange> parse(const std::string& cidr);
  bool contains(int family, const unsigned char* bytes) const;
  std::string to_string() const;
};

class AddressGuard {
 public:
  AddressGuard() = default;
  explicit AddressGuard(std::vector<IpRange> allowed) : allowed_(std::move(allowed)) {}

  // Why connecting to `sa` is refused, or nullopt when it is allowed.
  std::optional<std::string> refusal(const sockaddr* sa) const;
  // The same for an address literal ("10.0.0.1", "::1"); nullopt when allowed
  // or when `host` is not an address literal.
  std::optional<std::string> refusal_for_literal(const std::string& host) const;

  // The special-purpose range `sa` falls in ("loopback (127.0.0.0/8)"), or
  // nullopt for a public address. Ignores the allowed ranges.
  static std::optional<std::string> classify(int family, const unsigned char* bytes);
  static std::string address_string(int family, const unsigned char* bytes);

 private:
  std::vector<IpRange> allowed_;
};

}  // namespace rewoo::tools::http
