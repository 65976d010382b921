#pragma once

// SSRF guard for outgoing webhook requests, sans-I/O:
//  - target_url / parse_target(): the http(s) URLs a webhook may point at;
//  - address_policy: which IP addresses a connection may go to. Everything that is
//    not public unicast is refused (loopback, private, CGNAT, link-local including
//    cloud metadata 169.254.169.254, multicast, reserved, documentation, benchmarking,
//    IPv6 ULA/site-local, and IPv6 forms that embed such an IPv4 address) unless an
//    allow-listed CIDR covers it.
//
// The check only helps if the address checked is the address connected to: resolve
// once, check every address, connect to a checked one (http::client does this when
// client_options::policy is set). Never check a name and let the OS resolve it again.

#include <lastmile/core/error.hpp>

#include <asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lastmile::webhook {

// ---- URLs ------------------------------------------------------------------

struct target_url {
  bool tls = false;        // https
  std::string host;        // lower-case name or IP literal, IPv6 without brackets
  std::uint16_t port = 0;  // explicit or the scheme's default
  std::string target;      // origin-form path + query, at least "/"; no fragment
  bool ipv6_literal = false;

  std::string_view scheme() const noexcept { return tls ? "https" : "http"; }
  bool default_port() const noexcept { return port == (tls ? 443 : 80); }
  // The Host header value: host (bracketed if IPv6) plus ":port" unless default.
  std::string host_header() const {
    std::string h = ipv6_literal ? "[" + host + "]" : host;
    if (!default_port()) h += ":" + std::to_string(port);
    return h;
  }
  // scheme://host[:port], the pool key.
  std::string origin() const { return std::string(scheme()) + "://" + host_header(); }
};

inline constexpr std::size_t max_url_bytes = 8 * 1024;

// Parses an absolute http:// or https:// URL (scheme case-insensitive). Refused with
// errc::bad_url: other schemes, userinfo ("user@host"), an empty or malformed host,
// percent-encoded hosts, IPv6 zone ids, a port outside 1..65535, bytes that must be
// percent-encoded (controls, space, non-ASCII), and URLs longer than 8 KiB.
// A fragment is dropped. The host is not resolved here.
inline result<target_url> parse_target(std::string_view url) {
  if (url.empty() || url.size() > max_url_bytes) return errc::bad_url;
  for (const char ch : url) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F) return errc::bad_url;
  }
  target_url t;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return errc::bad_url;
  std::string scheme(url.substr(0, sep));
  for (auto& c : scheme) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (scheme == "https") {
    t.tls = true;
  } else if (scheme != "http") {
    return errc::bad_url;
  }
  std::string_view rest = url.substr(sep + 3);
  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return errc::bad_url;  // userinfo

  std::string_view host, port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return errc::bad_url;
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return errc::bad_url;
      port = after.substr(1);
    }
    if (host.find('%') != std::string_view::npos) return errc::bad_url;  // zone id
    asio::error_code ec;
    const auto v6 = asio::ip::make_address_v6(std::string(host), ec);
    if (ec) return errc::bad_url;
    t.host = v6.to_string();
    t.ipv6_literal = true;
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    if (host.empty() || host.size() > 253) return errc::bad_url;
    for (const char ch : host) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '-' || ch == '.' || ch == '_';
      if (!ok) return errc::bad_url;
    }
    t.host.assign(host);
    for (auto& c : t.host) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  if (authority.empty()) return errc::bad_url;

  t.port = t.tls ? 443 : 80;
  if (!port.empty()) {
    if (port.size() > 5) return errc::bad_url;
    unsigned value = 0;
    for (const char c : port) {
      if (c < '0' || c > '9') return errc::bad_url;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return errc::bad_url;
    t.port = static_cast<std::uint16_t>(value);
  }

  rest = rest.substr(0, rest.find('#'));
  if (rest.empty() || rest.front() == '?') t.target = "/";
  t.target.append(rest);
  return t;
}

// ---- addresses -----------------------------------------------------------------

class address_policy {
 public:
  // Opens a range: "127.0.0.0/8", "10.1.2.3" (= /32), "fd00::/8", "::1" (= /128).
  // Host bits below the prefix are ignored. errc::invalid_argument when malformed.
  result<void> allow(std::string_view cidr) {
    const auto slash = cidr.find('/');
    asio::error_code ec;
    const auto addr = asio::ip::make_address(std::string(cidr.substr(0, slash)), ec);
    if (ec) return errc::invalid_argument;
    const unsigned max_prefix = addr.is_v4() ? 32 : 128;
    unsigned prefix = max_prefix;
    if (slash != std::string_view::npos) {
      const auto digits = cidr.substr(slash + 1);
      if (digits.empty() || digits.size() > 3) return errc::invalid_argument;
      prefix = 0;
      for (const char c : digits) {
        if (c < '0' || c > '9') return errc::invalid_argument;
        prefix = prefix * 10 + static_cast<unsigned>(c - '0');
      }
      if (prefix > max_prefix) return errc::invalid_argument;
    }
    if (addr.is_v4())
      v4_.push_back({addr.to_v4().to_uint(), prefix});
    else
      v6_.push_back({addr.to_v6().to_bytes(), prefix});
    return {};
  }

  // True for a public address, or one inside an allowed range. An IPv4-mapped IPv6
  // address (::ffff:a.b.c.d) is also matched against the IPv4 ranges.
  bool permits(const asio::ip::address& address) const {
    if (blocked_reason(address).empty()) return true;
    if (address.is_v4()) return allowed_v4(address.to_v4().to_uint());
    const auto v6 = address.to_v6();
    const auto bytes = v6.to_bytes();
    for (const auto& r : v6_)
      if (prefix_match(bytes, r.bytes, r.prefix)) return true;
    if (v6.is_v4_mapped()) return allowed_v4(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_uint());
    return false;
  }

  bool empty() const noexcept { return v4_.empty() && v6_.empty(); }

  // "" for a public unicast address, else a short reason: "unspecified", "loopback",
  // "private", "cgnat", "link_local", "multicast", "broadcast", "reserved",
  // "documentation", "benchmarking", "ula", "site_local". IPv6 forms that embed an
  // IPv4 address (mapped, compatible, SIIT, NAT64 64:ff9b::/96, 6to4, Teredo) give
  // the embedded address's reason.
  static std::string_view blocked_reason(const asio::ip::address& address) {
    if (address.is_v4()) return v4_reason(address.to_v4().to_uint());
    return v6_reason(address.to_v6().to_bytes());
  }

 private:
  struct v4_range {
    std::uint32_t base;
    unsigned prefix;
  };
  struct v6_range {
    asio::ip::address_v6::bytes_type bytes;
    unsigned prefix;
  };

  static bool in_v4(std::uint32_t a, std::uint32_t base, unsigned prefix) noexcept {
    if (prefix == 0) return true;
    const std::uint32_t mask = prefix >= 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> prefix);
    return (a & mask) == (base & mask);
  }

  static bool prefix_match(const asio::ip::address_v6::bytes_type& a,
                           const asio::ip::address_v6::bytes_type& b, unsigned prefix) noexcept {
    unsigned i = 0;
    for (; prefix >= 8; prefix -= 8, ++i)
      if (a[i] != b[i]) return false;
    if (prefix == 0) return true;
    const auto mask = static_cast<unsigned char>(0xFF << (8 - prefix));
    return (a[i] & mask) == (b[i] & mask);
  }

  bool allowed_v4(std::uint32_t a) const {
    for (const auto& r : v4_)
      if (in_v4(a, r.base, r.prefix)) return true;
    return false;
  }

  static constexpr std::uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d) noexcept {
    return (a << 24) | (b << 16) | (c << 8) | d;
  }

  static std::string_view v4_reason(std::uint32_t a) {
    if (a == 0) return "unspecified";
    if (a == 0xFFFFFFFFu) return "broadcast";
    if (in_v4(a, ip4(0, 0, 0, 0), 8)) return "reserved";  // "this network"
    if (in_v4(a, ip4(10, 0, 0, 0), 8)) return "private";
    if (in_v4(a, ip4(100, 64, 0, 0), 10)) return "cgnat";
    if (in_v4(a, ip4(127, 0, 0, 0), 8)) return "loopback";
    if (in_v4(a, ip4(169, 254, 0, 0), 16)) return "link_local";
    if (in_v4(a, ip4(172, 16, 0, 0), 12)) return "private";
    if (in_v4(a, ip4(192, 0, 0, 0), 24)) return "reserved";  // IETF protocol assignments
    if (in_v4(a, ip4(192, 0, 2, 0), 24)) return "documentation";
    if (in_v4(a, ip4(192, 88, 99, 0), 24)) return "reserved";  // deprecated 6to4 relay anycast
    if (in_v4(a, ip4(192, 168, 0, 0), 16)) return "private";
    if (in_v4(a, ip4(198, 18, 0, 0), 15)) return "benchmarking";
    if (in_v4(a, ip4(198, 51, 100, 0), 24)) return "documentation";
    if (in_v4(a, ip4(203, 0, 113, 0), 24)) return "documentation";
    if (in_v4(a, ip4(224, 0, 0, 0), 4)) return "multicast";
    if (in_v4(a, ip4(240, 0, 0, 0), 4)) return "reserved";
    return {};
  }

  static std::uint32_t v4_at(const asio::ip::address_v6::bytes_type& b, std::size_t i) noexcept {
    return (std::uint32_t{b[i]} << 24) | (std::uint32_t{b[i + 1]} << 16) | (std::uint32_t{b[i + 2]} << 8) |
           std::uint32_t{b[i + 3]};
  }

  static std::string_view v6_reason(const asio::ip::address_v6::bytes_type& b) {
    auto starts = [&](std::initializer_list<unsigned> prefix_bytes, unsigned prefix_bits) {
      asio::ip::address_v6::bytes_type p{};
      std::size_t i = 0;
      for (const unsigned v : prefix_bytes) p[i++] = static_cast<unsigned char>(v);
      return prefix_match(b, p, prefix_bits);
    };
    auto zero = [&](std::size_t from, std::size_t to) {
      for (std::size_t i = from; i < to; ++i)
        if (b[i] != 0) return false;
      return true;
    };
    if (zero(0, 16)) return "unspecified";
    if (zero(0, 15) && b[15] == 1) return "loopback";
    // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), ::ffff:0:a.b.c.d (SIIT)
    if (zero(0, 10) && b[10] == 0xFF && b[11] == 0xFF) return v4_reason(v4_at(b, 12));
    if (zero(0, 12)) return v4_reason(v4_at(b, 12));
    if (zero(0, 8) && b[8] == 0xFF && b[9] == 0xFF && b[10] == 0 && b[11] == 0) return v4_reason(v4_at(b, 12));
    if (starts({0x00, 0x64, 0xFF, 0x9B}, 32) && zero(4, 12)) return v4_reason(v4_at(b, 12));  // NAT64
    if (starts({0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01}, 48)) return "private";  // local-use NAT64
    if (starts({0x01, 0x00}, 64)) return "reserved";                        // discard-only 100::/64
    if (starts({0x20, 0x01, 0x0D, 0xB8}, 32)) return "documentation";
    if (starts({0x3F, 0xFF}, 20)) return "documentation";  // 3fff::/20 (RFC 9637)
    if (starts({0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48)) return "benchmarking";
    if (starts({0x20, 0x01, 0x00, 0x00}, 32)) {  // Teredo: server IPv4, then NOT(client IPv4)
      if (auto r = v4_reason(v4_at(b, 4)); !r.empty()) return r;
      return v4_reason(~v4_at(b, 12));
    }
    if (starts({0x20, 0x01}, 23)) return "reserved";                      // IETF protocol assignments
    if (starts({0x20, 0x02}, 16)) return v4_reason(v4_at(b, 2));          // 6to4
    if (starts({0x5F, 0x00}, 16)) return "reserved";                      // SRv6 SIDs
    if (starts({0xFC}, 7)) return "ula";
    if (starts({0xFE, 0x80}, 10)) return "link_local";
    if (starts({0xFE, 0xC0}, 10)) return "site_local";
    if (starts({0xFF}, 8)) return "multicast";
    if (!starts({0x20}, 3)) return "reserved";  // outside global unicast 2000::/3
    return {};
  }

  std::vector<v4_range> v4_;
  std::vector<v6_range> v6_;
};

}  // namespace lastmile::webhook
