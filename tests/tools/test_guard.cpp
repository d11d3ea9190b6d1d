// The address guard: ranges, classification, and ≥ 30 URLs aimed at
// loopback, private and metadata addresses in every notation, each refused
// with a reason, through the real HTTP client against a fixture server.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "tests/fixtures/web_fixture_server.h"
#include "tools/http/address_guard.h"
#include "tools/http/http_client.h"

using namespace rewoo::tools::http;

namespace {

std::optional<std::string> literal(const AddressGuard& g, const std::string& a) {
  return g.refusal_for_literal(a);
}

std::unique_ptr<HttpClient> client(std::vector<std::string> allow = {}, std::vector<std::string> resolve = {}) {
  HttpOptions o;
  o.allow_ranges = std::move(allow);
  o.resolve = std::move(resolve);
  o.connect_timeout_ms = 2000;
  o.total_timeout_ms = 5000;
  auto c = HttpClient::create(o);
  REQUIRE(c);
  return std::move(*c);
}

}  // namespace

TEST_CASE("IpRange: parse and contains") {
  auto r = IpRange::parse("10.0.0.0/8");
  REQUIRE(r);
  unsigned char a[4] = {10, 200, 1, 1}, b[4] = {11, 0, 0, 1};
  CHECK(r->contains(AF_INET, a));
  CHECK_FALSE(r->contains(AF_INET, b));
  auto f = IpRange::parse("fc00::/7");
  REQUIRE(f);
  unsigned char fd[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  CHECK(f->contains(AF_INET6, fd));
  CHECK_FALSE(f->contains(AF_INET, a));
  CHECK(IpRange::parse("127.0.0.1")->prefix == 32);
  CHECK(IpRange::parse("[::1]")->prefix == 128);
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x", "1.2.3.4/"}) {
    auto e = IpRange::parse(bad);
    CHECK_MESSAGE(!e, bad);
  }
}

TEST_CASE("AddressGuard: every special-purpose range is refused, public ones pass") {
  AddressGuard g;
  struct Case {
    const char* addr;
    const char* why;
  };
  for (auto c : std::vector<Case>{{"127.0.0.1", "loopback"}, {"127.255.255.254", "loopback"},
                                  {"10.1.2.3", "private"}, {"172.16.0.1", "private"},
                                  {"172.31.255.255", "private"}, {"192.168.1.1", "private"},
                                  {"169.254.169.254", "link-local"}, {"100.64.0.1", "carrier-grade NAT"},
                                  {"100.127.255.255", "carrier-grade NAT"}, {"0.0.0.0", "unspecified"},
                                  {"224.0.0.1", "multicast"}, {"239.255.255.250", "multicast"},
                                  {"255.255.255.255", "broadcast"}, {"240.0.0.1", "reserved"},
                                  {"::1", "loopback"}, {"::", "unspecified"},
                                  {"::ffff:127.0.0.1", "IPv4-mapped"}, {"::ffff:8.8.8.8", "IPv4-mapped"},
                                  {"::127.0.0.1", "IPv4-compatible"}, {"fc00::1", "unique-local"},
                                  {"fd00:ec2::254", "unique-local"}, {"fe80::1", "link-local"},
                                  {"ff02::1", "multicast"}, {"64:ff9b::7f00:1", "NAT64"},
                                  {"2002:7f00:1::", "6to4"}}) {
    auto why = literal(g, c.addr);
    REQUIRE_MESSAGE(why, std::string(c.addr));
    CHECK_MESSAGE(why->find(c.why) != std::string::npos, std::string(c.addr) << " -> " << *why);
  }
  CHECK(literal(g, "::ffff:127.0.0.1")->find("i.e. 127.0.0.1") != std::string::npos);
  for (const char* ok : {"8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "1.1.1.1"})
    CHECK_MESSAGE(!literal(g, ok), ok);
  CHECK_FALSE(literal(g, "example.com"));  // names are checked at connect time
  AddressGuard allow({*IpRange::parse("127.0.0.1/32")});
  CHECK_FALSE(literal(allow, "127.0.0.1"));
  CHECK(literal(allow, "127.0.0.2"));
  CHECK(literal(allow, "::ffff:127.0.0.1"));  // the allowance is for that IPv4 address only
}

TEST_CASE("HttpClient refuses ≥ 30 loopback/private/metadata URLs in every notation") {
  rewoo::test::WebFixtureServer srv;
  const std::string P = std::to_string(srv.port());
  // Without an allowance even the fixture's own address is refused; names are
  // pinned with resolve (like curl --resolve) to play DNS answers.
  auto c = client({}, {"rebind.test:" + P + ":127.0.0.1", "metadata.test:80:169.254.169.254",
                       "internal.test:80:10.0.0.5", "v6local.test:" + P + ":::1"});
  std::vector<std::string> urls = {
      "http://127.0.0.1:" + P + "/page",            // dotted
      "http://2130706433:" + P + "/page",           // decimal
      "http://0177.0.0.1:" + P + "/page",           // octal
      "http://0x7f000001:" + P + "/page",           // hex
      "http://0x7f.0.0.1:" + P + "/page",           // hex octet
      "http://127.1:" + P + "/page",                // short
      "http://127.0.1:" + P + "/page",              // short
      "http://0177.1:" + P + "/page",               // short octal
      "http://127.127.127.127:" + P + "/page",
      "http://[::1]:" + P + "/page",                // IPv6 loopback
      "http://[::ffff:127.0.0.1]:" + P + "/page",   // IPv4-mapped
      "http://[::ffff:7f00:1]:" + P + "/page",      // IPv4-mapped, hex
      "http://[0:0:0:0:0:ffff:127.0.0.1]:" + P + "/page",
      "http://[::127.0.0.1]:" + P + "/page",        // IPv4-compatible
      "http://localhost:" + P + "/page",            // a name for 127.0.0.1 / ::1
      "http://LOCALHOST:" + P + "/page",
      "http://rebind.test:" + P + "/page",          // a name resolving to 127.0.0.1
      "http://v6local.test:" + P + "/page",         // a name resolving to ::1
      "http://metadata.test/latest/meta-data/",     // a name resolving to the metadata address
      "http://internal.test/",                      // a name resolving to 10/8
      "http://169.254.169.254/latest/meta-data/",   // cloud metadata
      "http://2852039166/latest/meta-data/",        // metadata, decimal
      "http://0xa9fea9fe/latest/meta-data/",        // metadata, hex
      "http://0251.0376.0251.0376/",                // metadata, octal
      "http://[::ffff:a9fe:a9fe]/",                 // metadata, IPv4-mapped
      "http://[fd00:ec2::254]/latest/meta-data/",   // AWS IPv6 metadata (unique-local)
      "http://10.0.0.1/", "http://10.255.255.254:8080/",
      "http://172.16.0.1/", "http://172.31.255.255/",
      "http://192.168.0.1/", "http://192.168.1.1:8080/admin",
      "http://100.64.0.1/", "http://100.127.255.254/",
      "http://0.0.0.0:" + P + "/page", "http://0:" + P + "/page",
      "http://[::]:" + P + "/page",
      "http://[fc00::1]/", "http://[fe80::1]/",
      "http://224.0.0.1/", "http://239.255.255.250:1900/",
      "http://255.255.255.255/", "http://[ff02::1]/",
      "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
  };
  auto results = c->get_many(urls);
  REQUIRE(results.size() == urls.size());
  int refused = 0;
  for (size_t i = 0; i < urls.size(); ++i) {
    REQUIRE_MESSAGE(!results[i], urls[i] << " was fetched");
    const auto& msg = results[i].error().message;
    bool guard = msg.find("refused by the address guard") != std::string::npos;
    CHECK_MESSAGE(guard, urls[i] << " -> " << msg);
    if (guard) ++refused;
  }
  MESSAGE("refused " << refused << " of " << urls.size() << " URLs");
  CHECK(refused >= 30);
  CHECK(srv.requests() == 0);  // nothing reached the fixture
}

TEST_CASE("HttpClient: with 127.0.0.1 allowed, the fixture works; redirects to refused hosts do not") {
  rewoo::test::WebFixtureServer srv;
  const std::string P = std::to_string(srv.port());
  auto c = client({"127.0.0.1/32"});
  auto ok = c->get(srv.url("/page"));
  REQUIRE_MESSAGE(ok, ok.error().message);
  CHECK(ok->status == 200);
  CHECK(ok->body.find("River report 1") != std::string::npos);
  // The same page without the allowance: refused with a reason.
  auto strict = client();
  auto no = strict->get(srv.url("/page"));
  REQUIRE_FALSE(no);
  CHECK(no.error().message.find("127.0.0.1 is loopback (127.0.0.0/8)") != std::string::npos);

  std::vector<std::string> targets = {
      "http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:" + P + "/page",
      "http://[::1]:" + P + "/page", "http://10.0.0.1/", "http://0x7f000002:" + P + "/page",
      "http://192.168.0.1/", "http://[::ffff:127.0.0.1]:" + P + "/page"};
  for (const auto& t : targets) {
    auto r = c->get(srv.url("/redirect-to?u=" + t));
    REQUIRE_MESSAGE(!r, t);
    CHECK_MESSAGE(r.error().message.find("redirect hop 1") != std::string::npos, r.error().message);
    CHECK_MESSAGE(r.error().message.find("refused by the address guard") != std::string::npos, r.error().message);
  }
  // Schemes other than http(s) are refused at any hop.
  for (const char* t : {"file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.com/", "dict://127.0.0.1:11211/"}) {
    auto r = c->get(srv.url("/redirect-to?u=" + std::string(t)));
    REQUIRE_MESSAGE(!r, t);
    CHECK_MESSAGE(r.error().message.find("not allowed") != std::string::npos, r.error().message);
    auto d = c->get(t);
    REQUIRE_MESSAGE(!d, t);
    CHECK_MESSAGE(d.error().message.find("not allowed") != std::string::npos, d.error().message);
  }
}
