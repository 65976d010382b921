#pragma once
// Command-line flags of lastmile-server (see docs/server.md). Strict: an unknown
// flag, a missing or malformed value is a one-line reason, never a guess.
#include <lastmile/core/error.hpp>
#include <lastmile/webhook/retry.hpp>
#include <lastmile/webhook/ssrf.hpp>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lastmile_server {

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string log = "memory";  // "memory" or "sqlite:PATH"
  std::size_t retention = 100'000;
  double heartbeat_seconds = 15;
  std::optional<std::string> auth_secret;
  std::vector<std::string> allow_origins;  // empty: any
  std::optional<std::string> tls_cert, tls_key;
  unsigned threads = 0;  // 0: one event loop per core
  std::size_t max_connections = 10'000;
  // Webhooks (PROTOCOL.md "Webhooks").
  std::vector<std::string> webhook_allow;   // CIDRs webhooks may reach despite the SSRF guard
  std::string webhook_store;                // "" = next to the log, else lastmile-webhooks.db; "memory" = not durable
  std::string webhook_retry_schedule = "5,300,1800,7200,18000,36000,36000";
  double webhook_timeout_seconds = 15;
  std::size_t webhook_in_flight = 1;        // deliveries in flight per endpoint
  bool help = false;
};

inline constexpr std::string_view usage =
    "usage: lastmile-server [--listen HOST:PORT] [--log memory|sqlite:PATH] [--retention N]\n"
    "                       [--heartbeat SECONDS] [--auth-secret SECRET]\n"
    "                       [--allow-origin ORIGIN]... [--tls-cert PEM --tls-key PEM]\n"
    "                       [--threads N] [--max-connections N]\n"
    "                       [--webhook-allow CIDR]... [--webhook-store PATH|memory]\n"
    "                       [--webhook-retry-schedule S,S,...] [--webhook-timeout SECONDS]\n"
    "                       [--webhook-in-flight N]\n";

namespace detail {
template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

inline bool parse_listen(std::string_view v, options& o) {
  auto colon = v.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = v.substr(0, colon), port = v.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
  }
  unsigned p = 0;
  if (!parse_number(port, p) || p > 65535) return false;
  o.host = std::string(host);
  o.port = static_cast<std::uint16_t>(p);
  return true;
}
}  // namespace detail

// Returns the options, or the one-line reason they are wrong.
inline std::variant<options, std::string> parse_flags(const std::vector<std::string_view>& args) {
  options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view flag = args[i];
    std::optional<std::string_view> inline_value;
    if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string_view::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    if (flag == "--help" || flag == "-h") {
      o.help = true;
      continue;
    }
    if (!flag.starts_with("--")) return "unexpected argument '" + std::string(flag) + "'";
    static constexpr std::string_view known[] = {"--listen", "--log", "--retention", "--heartbeat",
                                                 "--auth-secret", "--allow-origin", "--tls-cert",
                                                 "--tls-key", "--threads", "--max-connections",
                                                 "--webhook-allow", "--webhook-store",
                                                 "--webhook-retry-schedule", "--webhook-timeout",
                                                 "--webhook-in-flight"};
    if (std::find(std::begin(known), std::end(known), flag) == std::end(known))
      return "unknown flag " + std::string(flag);
    std::string_view v;
    if (inline_value) {
      v = *inline_value;
    } else {
      if (i + 1 >= args.size()) return std::string(flag) + " needs a value";
      v = args[++i];
    }
    if (flag == "--listen") {
      if (!detail::parse_listen(v, o)) return "--listen: expected HOST:PORT, got '" + std::string(v) + "'";
    } else if (flag == "--log") {
      if (v.starts_with("sqlite:")) {
        if (v.size() == 7) return "--log: sqlite: needs a file path (sqlite:PATH)";
      } else if (v.starts_with("redis://")) {
        return "--log: '" + std::string(v) + "' is not available in this version (memory or sqlite:PATH)";
      } else if (v != "memory") {
        return "--log: expected memory, sqlite:PATH or redis://HOST:PORT/KEY, got '" + std::string(v) + "'";
      }
      o.log = std::string(v);
    } else if (flag == "--retention") {
      if (!detail::parse_number(v, o.retention) || o.retention == 0)
        return "--retention: expected a positive integer, got '" + std::string(v) + "'";
    } else if (flag == "--heartbeat") {
      if (!detail::parse_number(v, o.heartbeat_seconds) || !(o.heartbeat_seconds > 0) || o.heartbeat_seconds > 86400)
        return "--heartbeat: expected seconds in (0, 86400], got '" + std::string(v) + "'";
    } else if (flag == "--auth-secret") {
      if (v.empty()) return "--auth-secret: the secret must not be empty";
      o.auth_secret = std::string(v);
    } else if (flag == "--allow-origin") {
      if (v.empty()) return "--allow-origin: empty origin";
      o.allow_origins.emplace_back(v);
    } else if (flag == "--tls-cert") {
      o.tls_cert = std::string(v);
    } else if (flag == "--tls-key") {
      o.tls_key = std::string(v);
    } else if (flag == "--max-connections") {
      if (!detail::parse_number(v, o.max_connections) || o.max_connections == 0)
        return "--max-connections: expected a positive integer, got '" + std::string(v) + "'";
    } else if (flag == "--webhook-allow") {
      lastmile::webhook::address_policy probe;
      if (!probe.allow(v)) return "--webhook-allow: expected a CIDR such as 127.0.0.0/8, got '" + std::string(v) + "'";
      o.webhook_allow.emplace_back(v);
    } else if (flag == "--webhook-store") {
      if (v.empty()) return "--webhook-store: expected a file path or 'memory'";
      o.webhook_store = std::string(v);
    } else if (flag == "--webhook-retry-schedule") {
      if (!lastmile::webhook::retry_schedule::parse(v))
        return "--webhook-retry-schedule: expected comma-separated seconds such as 5,300,1800, got '" + std::string(v) + "'";
      o.webhook_retry_schedule = std::string(v);
    } else if (flag == "--webhook-in-flight") {
      if (!detail::parse_number(v, o.webhook_in_flight) || o.webhook_in_flight == 0 || o.webhook_in_flight > 256)
        return "--webhook-in-flight: expected 1-256, got '" + std::string(v) + "'";
    } else if (flag == "--webhook-timeout") {
      if (!detail::parse_number(v, o.webhook_timeout_seconds) || !(o.webhook_timeout_seconds > 0) ||
          o.webhook_timeout_seconds > 3600)
        return "--webhook-timeout: expected seconds in (0, 3600], got '" + std::string(v) + "'";
    } else if (flag == "--threads") {
      if (!detail::parse_number(v, o.threads) || o.threads == 0 || o.threads > 256)
        return "--threads: expected 1-256, got '" + std::string(v) + "'";
    }
  }
  if (o.tls_cert.has_value() != o.tls_key.has_value()) return "--tls-cert and --tls-key go together";
  return o;
}

}  // namespace lastmile_server
