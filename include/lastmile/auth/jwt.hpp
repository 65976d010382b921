// HS256 JSON Web Tokens (RFC 7519 over RFC 7515 compact JWS), verify and sign.
//
// Only HS256 is accepted: the algorithm is fixed by the server configuration,
// never chosen by the token (that is how "alg":"none" / key-confusion attacks
// work). See docs/auth-notes.md for the claim rules.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <simdjson.h>

#include "lastmile/auth/claims.hpp"
#include "lastmile/detail/base64.hpp"
#include "lastmile/detail/crypto.hpp"

namespace lastmile::auth {

enum class jwt_error {
  malformed,        // not a compact JWS: segments, base64url, JSON, duplicate names, too long
  unsupported_alg,  // alg missing or not "HS256", or a "crit" header is present
  bad_signature,    // signature mismatch (or an empty secret, which never verifies)
  expired,          // now >= exp + leeway
  not_yet_valid,    // now + leeway < nbf
  missing_exp,      // no "exp" claim: tokens without expiry are refused
  bad_claims,       // a known claim has the wrong JSON type
};

constexpr std::string_view to_string(jwt_error error) noexcept {
  switch (error) {
    case jwt_error::malformed: return "malformed";
    case jwt_error::unsupported_alg: return "unsupported_alg";
    case jwt_error::bad_signature: return "bad_signature";
    case jwt_error::expired: return "expired";
    case jwt_error::not_yet_valid: return "not_yet_valid";
    case jwt_error::missing_exp: return "missing_exp";
    case jwt_error::bad_claims: return "bad_claims";
  }
  return "unknown";
}

/// Longer tokens are rejected as malformed before any decoding; it also caps
/// the JSON parser's allocation.
inline constexpr std::size_t max_token_length = 8 * 1024;
/// HS256 headers are tiny; bounding the header keeps the one pre-signature
/// parse of attacker-controlled JSON small.
inline constexpr std::size_t max_header_segment_length = 1024;

/// Either the verified claims or an error code plus a human-readable message.
/// Messages never echo token content (they end up in logs).
class verify_result {
 public:
  static verify_result success(claims granted) { return verify_result{std::move(granted)}; }
  static verify_result failure(jwt_error error, std::string message) {
    return verify_result{failure_info{error, std::move(message)}};
  }

  bool ok() const noexcept { return std::holds_alternative<claims>(state_); }
  explicit operator bool() const noexcept { return ok(); }

  /// The claims; throws std::logic_error when verification failed.
  const claims& value() const& { return checked_claims(); }
  claims value() && {
    checked_claims();
    return std::get<claims>(std::move(state_));
  }

  /// The failure reason; throws std::logic_error when verification succeeded.
  jwt_error error() const {
    if (ok()) throw std::logic_error("verify_result::error() on a successful result");
    return std::get<failure_info>(state_).code;
  }
  /// Empty on success.
  std::string_view message() const noexcept {
    return ok() ? std::string_view{} : std::string_view{std::get<failure_info>(state_).message};
  }

 private:
  struct failure_info {
    jwt_error code;
    std::string message;
  };
  explicit verify_result(claims granted) : state_{std::move(granted)} {}
  explicit verify_result(failure_info failure) : state_{std::move(failure)} {}

  const claims& checked_claims() const {
    if (!ok()) throw std::logic_error("verify_result::value() on a failed result");
    return std::get<claims>(state_);
  }

  std::variant<claims, failure_info> state_;
};

namespace jwt_internal {

// RFC 7515 §5.2 / RFC 7519 §4: duplicate member names must be rejected unless
// the parser keeps the last one; simdjson's lookup returns the first, so reject.
inline bool has_duplicate_keys(simdjson::dom::object object) {
  std::vector<std::string_view> keys;
  keys.reserve(object.size());
  for (const auto field : object) keys.push_back(field.key);
  std::sort(keys.begin(), keys.end());
  return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

inline bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

// JSON numbers may be huge or fractional; saturate instead of overflowing the
// clock's 64-bit tick count (undefined behaviour on float->int conversion).
inline std::chrono::system_clock::time_point time_point_from_seconds(double seconds) {
  using clock = std::chrono::system_clock;
  const double ticks = seconds * static_cast<double>(clock::period::den) /
                       static_cast<double>(clock::period::num);
  if (ticks >= static_cast<double>(clock::duration::max().count())) return clock::time_point::max();
  if (ticks <= static_cast<double>(clock::duration::min().count())) return clock::time_point::min();
  return clock::time_point{clock::duration{static_cast<clock::duration::rep>(ticks)}};
}

// Parses `json` and requires a top-level object without duplicate member names.
// The returned object lives until the next parse with the same parser.
inline bool parse_unique_object(simdjson::dom::parser& parser, const std::string& json,
                                simdjson::dom::object& out) {
  simdjson::dom::element document;
  if (parser.parse(json).get(document) != simdjson::SUCCESS) return false;
  if (document.get_object().get(out) != simdjson::SUCCESS) return false;
  return !has_duplicate_keys(out);
}

}  // namespace jwt_internal

/// Verifies a compact HS256 JWT and extracts its claims.
///
/// Checks, in order: size and shape (3 base64url segments), header (alg ==
/// "HS256", no "crit", typ == "JWT" case-insensitively if present), signature
/// (constant time, before the payload JSON is parsed), payload claims types,
/// then exp (required) and nbf (optional) against `now` with `leeway`.
/// A negative leeway counts as zero. An empty `secret` never verifies.
/// Throws only on allocation failure or an OpenSSL malfunction.
inline verify_result verify_hs256(std::string_view token, std::string_view secret,
                                  std::chrono::system_clock::time_point now,
                                  std::chrono::seconds leeway = std::chrono::seconds{0}) {
  using jwt_internal::parse_unique_object;
  auto fail = [](jwt_error error, std::string message) {
    return verify_result::failure(error, std::move(message));
  };

  // --- Shape: exactly three base64url segments.
  if (token.empty()) return fail(jwt_error::malformed, "empty token");
  if (token.size() > max_token_length) {
    return fail(jwt_error::malformed, "token longer than " + std::to_string(max_token_length) + " bytes");
  }
  const std::size_t first_dot = token.find('.');
  const std::size_t second_dot =
      first_dot == std::string_view::npos ? std::string_view::npos : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos) {
    return fail(jwt_error::malformed, "token must have exactly 3 dot-separated segments");
  }
  const std::string_view header_segment = token.substr(0, first_dot);
  const std::string_view payload_segment = token.substr(first_dot + 1, second_dot - first_dot - 1);
  const std::string_view signature_segment = token.substr(second_dot + 1);
  const std::string_view signing_input = token.substr(0, second_dot);

  if (header_segment.size() > max_header_segment_length) {
    return fail(jwt_error::malformed, "header segment too long");
  }
  auto header_json = detail::base64url_decode(header_segment);
  if (!header_json) return fail(jwt_error::malformed, "header is not valid unpadded base64url");
  auto payload_json = detail::base64url_decode(payload_segment);
  if (!payload_json) return fail(jwt_error::malformed, "payload is not valid unpadded base64url");
  const auto signature = detail::base64url_decode(signature_segment);
  if (!signature) return fail(jwt_error::malformed, "signature is not valid unpadded base64url");

  // --- Header: the only JSON parsed before the signature is checked.
  simdjson::dom::parser parser{max_token_length};
  simdjson::dom::object header;
  if (!parse_unique_object(parser, *header_json, header)) {
    return fail(jwt_error::malformed, "header is not a JSON object with unique member names");
  }
  bool alg_seen = false;
  for (const auto field : header) {
    if (field.key == "alg") {
      std::string_view alg;
      if (field.value.get_string().get(alg) != simdjson::SUCCESS || alg != "HS256") {
        return fail(jwt_error::unsupported_alg, "alg must be \"HS256\"");
      }
      alg_seen = true;
    } else if (field.key == "crit") {
      // We implement no JWS extensions, so any critical one must be refused (RFC 7515 §4.1.11).
      return fail(jwt_error::unsupported_alg, "crit header parameter is not supported");
    } else if (field.key == "typ") {
      std::string_view typ;
      if (field.value.get_string().get(typ) != simdjson::SUCCESS ||
          !jwt_internal::equals_ignoring_ascii_case(typ, "JWT")) {
        return fail(jwt_error::malformed, "typ must be \"JWT\" when present");
      }
    }
  }
  if (!alg_seen) return fail(jwt_error::unsupported_alg, "header has no alg");

  // --- Signature over the ASCII "header.payload" exactly as transmitted.
  if (secret.empty()) return fail(jwt_error::bad_signature, "empty secret: refusing to verify");
  const auto expected = detail::hmac_sha256(secret, signing_input);
  if (!detail::constant_time_equal(expected, detail::as_unsigned_bytes(*signature))) {
    return fail(jwt_error::bad_signature, "signature does not match");
  }

  // --- Payload claims (authenticated from here on).
  simdjson::dom::object payload;
  if (!parse_unique_object(parser, *payload_json, payload)) {
    return fail(jwt_error::malformed, "payload is not a JSON object with unique claim names");
  }
  claims granted;
  std::optional<double> exp_seconds;
  std::optional<double> nbf_seconds;
  for (const auto field : payload) {
    const std::string_view name = field.key;
    const simdjson::dom::element value = field.value;
    if (name == "sub") {
      std::string_view subject;
      if (value.get_string().get(subject) != simdjson::SUCCESS) {
        return fail(jwt_error::bad_claims, "sub must be a string");
      }
      granted.subject = subject;
    } else if (name == "topics") {
      simdjson::dom::array topics;
      if (value.get_array().get(topics) != simdjson::SUCCESS) {
        return fail(jwt_error::bad_claims, "topics must be an array of strings");
      }
      granted.topics_present = true;
      for (const auto topic_element : topics) {
        std::string_view topic;
        if (topic_element.get_string().get(topic) != simdjson::SUCCESS) {
          return fail(jwt_error::bad_claims, "topics must be an array of strings");
        }
        granted.topics.emplace_back(topic);
      }
    } else if (name == "publish") {
      bool may_publish = false;
      if (value.get_bool().get(may_publish) != simdjson::SUCCESS) {
        return fail(jwt_error::bad_claims, "publish must be a boolean");
      }
      granted.may_publish = may_publish;
    } else if (name == "exp" || name == "nbf") {
      double seconds = 0;
      if (!value.is_number() || value.get_double().get(seconds) != simdjson::SUCCESS) {
        return fail(jwt_error::bad_claims, std::string{name} + " must be a number of seconds");
      }
      (name == "exp" ? exp_seconds : nbf_seconds) = seconds;
    }
    // Unknown claims (iss, aud, iat, jti, ...) are ignored.
  }

  // --- Time window. Compared in double seconds: no overflow for absurd values,
  // and sub-microsecond precision for present-day timestamps.
  if (!exp_seconds) return fail(jwt_error::missing_exp, "exp claim is required");
  const double now_seconds = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double leeway_seconds = leeway.count() > 0 ? static_cast<double>(leeway.count()) : 0.0;
  if (now_seconds >= *exp_seconds + leeway_seconds) return fail(jwt_error::expired, "token has expired");
  if (nbf_seconds && now_seconds + leeway_seconds < *nbf_seconds) {
    return fail(jwt_error::not_yet_valid, "token is not valid yet (nbf)");
  }
  granted.expires = jwt_internal::time_point_from_seconds(*exp_seconds);
  return verify_result::success(std::move(granted));
}

/// Mints a compact JWS: base64url(header).base64url(payload).base64url(HMAC).
/// The JSON is used verbatim and not validated, so tests can mint bad tokens.
/// Throws std::invalid_argument for an empty secret (such a token could never verify).
inline std::string sign_hs256(std::string_view payload_json, std::string_view secret,
                              std::string_view header_json = R"({"alg":"HS256","typ":"JWT"})") {
  if (secret.empty()) throw std::invalid_argument("sign_hs256: empty secret");
  std::string token = detail::base64url_encode(header_json);
  token += '.';
  token += detail::base64url_encode(payload_json);
  const auto mac = detail::hmac_sha256(secret, token);
  token += '.';
  token += detail::base64url_encode(mac);
  return token;
}

}  // namespace lastmile::auth
