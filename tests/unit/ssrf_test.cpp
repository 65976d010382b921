// SSRF guard: address classification, the allow-list, webhook URL parsing, and the
// numeric shorthand forms the system resolver turns into loopback.
#include <lastmile/webhook/ssrf.hpp>

#include <doctest/doctest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace lastmile;
using namespace lastmile::webhook;

namespace {

std::string_view reason(const char* text) {
  return address_policy::blocked_reason(asio::ip::make_address(text));
}

// Every address the system resolver gives for `host`.
std::vector<asio::ip::address> resolve(const std::string& host) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  std::error_code ec;
  auto results = resolver.resolve(host, "80", ec);
  std::vector<asio::ip::address> out;
  if (!ec)
    for (const auto& r : results) out.push_back(r.endpoint().address());
  return out;
}

}  // namespace

TEST_CASE("ssrf: IPv4 ranges refused by default, with their reason") {
  const std::pair<const char*, std::string_view> cases[] = {
      {"127.0.0.1", "loopback"},        {"127.255.255.254", "loopback"},
      {"10.0.0.1", "private"},          {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},    {"192.168.1.1", "private"},
      {"100.64.0.1", "cgnat"},          {"100.127.255.255", "cgnat"},
      {"169.254.169.254", "link_local"}, {"169.254.0.1", "link_local"},
      {"224.0.0.1", "multicast"},       {"239.255.255.250", "multicast"},
      {"0.0.0.0", "unspecified"},       {"0.1.2.3", "reserved"},
      {"240.0.0.1", "reserved"},        {"255.255.255.255", "broadcast"},
      {"192.0.2.1", "documentation"},   {"198.51.100.7", "documentation"},
      {"203.0.113.9", "documentation"}, {"198.18.0.1", "benchmarking"},
      {"198.19.255.255", "benchmarking"}, {"192.0.0.8", "reserved"},
      {"192.88.99.1", "reserved"},
  };
  for (const auto& [addr, why] : cases) CHECK_MESSAGE(reason(addr) == why, addr);
  for (const char* pub : {"8.8.8.8", "1.1.1.1", "93.184.216.34", "172.15.255.255", "172.32.0.0",
                          "100.63.255.255", "100.128.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255",
                          "192.0.1.255", "11.0.0.0"})
    CHECK_MESSAGE(reason(pub).empty(), pub);
}

TEST_CASE("ssrf: IPv6 ranges and embedded-IPv4 forms") {
  const std::pair<const char*, std::string_view> cases[] = {
      {"::1", "loopback"},
      {"::", "unspecified"},
      {"::ffff:127.0.0.1", "loopback"},           // IPv4-mapped
      {"::ffff:10.1.2.3", "private"},
      {"::ffff:169.254.169.254", "link_local"},
      {"::127.0.0.1", "loopback"},                // IPv4-compatible (deprecated)
      {"::ffff:0:127.0.0.1", "loopback"},         // SIIT IPv4-translated
      {"64:ff9b::7f00:1", "loopback"},            // NAT64 of 127.0.0.1
      {"64:ff9b::a9fe:a9fe", "link_local"},       // NAT64 of 169.254.169.254
      {"64:ff9b:1::1", "private"},                // local-use NAT64
      {"2002:7f00:1::1", "loopback"},             // 6to4 of 127.0.0.1
      {"2002:c0a8:101::1", "private"},            // 6to4 of 192.168.1.1
      {"2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"},  // Teredo, client NOT(80ff:fffe) = 127.0.0.1
      {"2001:0:a00:1::1", "private"},             // Teredo server 10.0.0.1
      {"2001:db8::1", "documentation"},
      {"3fff::1", "documentation"},
      {"2001:2::1", "benchmarking"},
      {"2001:10::1", "reserved"},
      {"fc00::1", "ula"},
      {"fd12:3456::1", "ula"},
      {"fe80::1", "link_local"},
      {"febf::1", "link_local"},
      {"fec0::1", "site_local"},
      {"ff02::1", "multicast"},
      {"ff05::2", "multicast"},
      {"100::1", "reserved"},                     // discard-only
      {"5f00::1", "reserved"},                    // SRv6
      {"4000::1", "reserved"},                    // outside 2000::/3
      {"::2:3:4:5", "reserved"},
  };
  for (const auto& [addr, why] : cases) CHECK_MESSAGE(reason(addr) == why, addr);
  for (const char* pub : {"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450::1", "::ffff:8.8.8.8",
                          "64:ff9b::808:808", "2002:808:808::1", "2001:0:4136:e378:8000:63bf:f7f7:f7f7"})
    CHECK_MESSAGE(reason(pub).empty(), pub);
}

TEST_CASE("ssrf: the allow-list opens ranges, v4 and v6, and covers IPv4-mapped forms") {
  address_policy policy;
  CHECK_FALSE(policy.permits(asio::ip::make_address("127.0.0.1")));
  CHECK(policy.permits(asio::ip::make_address("8.8.8.8")));
  REQUIRE(policy.allow("127.0.0.0/8"));
  CHECK(policy.permits(asio::ip::make_address("127.0.0.1")));
  CHECK(policy.permits(asio::ip::make_address("127.1.2.3")));
  CHECK(policy.permits(asio::ip::make_address("::ffff:127.0.0.1")));
  CHECK_FALSE(policy.permits(asio::ip::make_address("::1")));  // v6 loopback is a different range
  CHECK_FALSE(policy.permits(asio::ip::make_address("10.0.0.1")));
  CHECK_FALSE(policy.permits(asio::ip::make_address("169.254.169.254")));

  REQUIRE(policy.allow("::1"));
  CHECK(policy.permits(asio::ip::make_address("::1")));
  REQUIRE(policy.allow("fd00::/8"));
  CHECK(policy.permits(asio::ip::make_address("fd12::1")));
  CHECK_FALSE(policy.permits(asio::ip::make_address("fc00::1")));
  REQUIRE(policy.allow("10.1.2.3"));  // a single address
  CHECK(policy.permits(asio::ip::make_address("10.1.2.3")));
  CHECK_FALSE(policy.permits(asio::ip::make_address("10.1.2.4")));
  REQUIRE(policy.allow("192.168.1.77/24"));  // host bits ignored
  CHECK(policy.permits(asio::ip::make_address("192.168.1.1")));
  CHECK_FALSE(policy.permits(asio::ip::make_address("192.168.2.1")));

  address_policy everything;
  REQUIRE(everything.allow("0.0.0.0/0"));
  CHECK(everything.permits(asio::ip::make_address("10.0.0.1")));
  CHECK_FALSE(everything.permits(asio::ip::make_address("fe80::1")));

  for (std::string_view bad : {"", "127.0.0.0/33", "::/129", "127.0.0.0/", "127.0.0.0/-1", "localhost",
                               "127.0.0.0/8x", "1.2.3/8", "127.0.0.0/0008"})
    CHECK_MESSAGE(policy.allow(bad).error() == errc::invalid_argument, bad);
}

TEST_CASE("ssrf: numeric shorthands resolve to loopback and are refused") {
  // getaddrinfo accepts inet_aton forms: 127.1, a 32-bit decimal, hex. The client
  // always goes through the resolver, so these are checked as 127.0.0.1.
  address_policy policy;
  for (const char* host : {"127.1", "2130706433", "0x7f.1", "127.0.0.1", "localhost"}) {
    const auto addrs = resolve(host);
    REQUIRE_MESSAGE(!addrs.empty(), host);
    for (const auto& a : addrs) {
      CHECK_MESSAGE(a.is_loopback(), host);
      CHECK_FALSE_MESSAGE(policy.permits(a), host);
    }
  }
  const auto metadata = resolve("169.254.169.254");
  REQUIRE(metadata.size() >= 1);
  CHECK_FALSE(policy.permits(metadata.front()));
}

TEST_CASE("ssrf: webhook URL parsing") {
  auto t = parse_target("https://Example.COM/hooks/in?x=1#frag");
  REQUIRE(t);
  CHECK(t->tls);
  CHECK(t->host == "example.com");
  CHECK(t->port == 443);
  CHECK(t->target == "/hooks/in?x=1");
  CHECK(t->host_header() == "example.com");
  CHECK(t->origin() == "https://example.com");

  t = parse_target("HTTP://127.1:8080");
  REQUIRE(t);
  CHECK_FALSE(t->tls);
  CHECK(t->host == "127.1");
  CHECK(t->port == 8080);
  CHECK(t->target == "/");
  CHECK(t->host_header() == "127.1:8080");

  t = parse_target("http://[::FFFF:127.0.0.1]:81?q");
  REQUIRE(t);
  CHECK(t->ipv6_literal);
  CHECK(t->host == "::ffff:127.0.0.1");
  CHECK(t->target == "/?q");
  CHECK(t->host_header() == "[::ffff:127.0.0.1]:81");

  t = parse_target("http://[::1]/");
  REQUIRE(t);
  CHECK(t->host == "::1");
  CHECK(t->port == 80);

  for (std::string_view bad :
       {"", "ftp://example.com/", "file:///etc/passwd", "gopher://x/", "//example.com/", "example.com/x",
        "http://user:pw@example.com/", "http://user@example.com/", "http://@example.com/",
        "http:///path", "http://:80/", "http://example.com:0/", "http://example.com:65536/",
        "http://example.com:8o/", "http://exa mple.com/", "http://example.com/a b",
        "http://[::1/", "http://[::1]x/", "http://[fe80::1%25eth0]/", "http://[127.0.0.1]/",
        "http://ex%61mple.com/", "http://example.com/\x01", "http://ex\xc3\xa4mple.com/",
        "http://example.com:123456/"})
    CHECK_MESSAGE(parse_target(bad).error() == errc::bad_url, bad);
  CHECK(parse_target("http://" + std::string(8200, 'a') + ".com/").error() == errc::bad_url);
}
