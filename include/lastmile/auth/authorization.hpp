#pragma once
// Policy over verified claims: which topic filters a token may read, whether it may
// publish, and the JWT authenticator the HTTP server calls on every request.
//
// An absent "topics" claim grants no reads (deny by default); "publish" absent
// grants no publishing.
#include <lastmile/auth/claims.hpp>
#include <lastmile/auth/jwt.hpp>
#include <lastmile/core/topic.hpp>
#include <lastmile/http/request.hpp>
#include <lastmile/http/server.hpp>
#include <lastmile/http/url.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace lastmile::auth {

// True if a claim pattern covers a requested pattern: every topic the request can
// match, the claim matches too (`orders.*` covers `orders.eu` and `orders.eu.*`).
inline bool pattern_covers(const topic_filter::pattern& granted, const topic_filter::pattern& wanted) {
  if (!wanted.prefix) return granted.matches(wanted.text);
  return granted.prefix && wanted.text.starts_with(granted.text);  // "a.b." within "a."
}

// May the holder read everything `wanted` matches? A match-all request needs a
// match-all grant, which claims cannot express: it is refused.
inline bool may_read(const claims& c, const topic_filter& wanted) {
  if (wanted.matches_all()) return false;
  std::vector<topic_filter::pattern> granted;
  for (const auto& t : c.topics)
    if (auto p = topic_filter::parse_pattern(t)) granted.push_back(std::move(*p));
  for (const auto& w : wanted.patterns()) {
    bool ok = false;
    for (const auto& g : granted)
      if (pattern_covers(g, w)) { ok = true; break; }
    if (!ok) return false;
  }
  return true;
}

inline bool may_publish(const claims& c, std::string_view topic) {
  if (!c.may_publish) return false;
  // Publishing is not limited by "topics": that claim lists what the holder may read.
  (void)topic;
  return true;
}

// The bearer token of a request: `Authorization: Bearer <jwt>`, else `?token=<jwt>`
// (browsers cannot set headers on EventSource and WebSocket).
inline std::optional<std::string> bearer_token(const http::request& r) {
  if (auto h = r.header("Authorization")) {
    std::string_view v = *h;
    if (v.size() > 7 && http::detail::iequals(v.substr(0, 7), "bearer ")) return std::string(http::detail::trim_ows(v.substr(7)));
    return std::nullopt;
  }
  if (auto q = http::parse_query(r.query()))
    if (auto t = q->get("token")) return std::string(*t);
  return std::nullopt;
}

// An authenticator for http::server that requires an HS256 JWT signed with `secret`.
inline http::authenticator jwt_authenticator(std::string secret) {
  return [secret = std::move(secret)](const http::request& r) {
    auto token = bearer_token(r);
    if (!token) return http::auth_outcome::deny(401, "unauthorized", "a bearer token is required");
    auto v = verify_hs256(*token, secret, std::chrono::system_clock::now());
    if (!v) return http::auth_outcome::deny(401, "unauthorized", std::string(v.message()));
    return http::auth_outcome::allow(std::move(v).value());
  };
}

}  // namespace lastmile::auth
