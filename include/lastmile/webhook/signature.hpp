#pragma once

// Standard Webhooks signatures (symmetric "v1" scheme): HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<body>", sent as "v1,<base64 mac>" in the
// webhook-signature header. Several secrets sign at once during a rotation: the
// header is then a space-separated list and a receiver accepts any match.
//
// Senders:    sign(secrets, id, unix_seconds, body)       -> header value
// Receivers:  verify(secrets, id, ts_header, sig_header, body, now) -> result<void>
//
// Pure functions over OpenSSL's HMAC; no I/O.

#include <lastmile/core/error.hpp>
#include <lastmile/detail/base64.hpp>
#include <lastmile/detail/crypto.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace lastmile::webhook {

// An HMAC key in its Standard Webhooks text form "whsec_<base64>".
class secret {
 public:
  static constexpr std::string_view prefix = "whsec_";
  static constexpr std::size_t min_bytes = 24;
  static constexpr std::size_t max_bytes = 64;

  secret() = default;  // empty: signs nothing useful; parse() or generate() one

  // "whsec_" + standard base64 of 24..64 bytes. Padding may be omitted (some
  // libraries print secrets unpadded); anything else is errc::bad_secret.
  static result<secret> parse(std::string_view text) {
    if (text.substr(0, prefix.size()) != prefix) return errc::bad_secret;
    std::string encoded(text.substr(prefix.size()));
    // Largest valid text: 64 bytes -> 88 characters; refuse early before decoding.
    if (encoded.empty() || encoded.size() > 88) return errc::bad_secret;
    while (encoded.size() % 4 != 0) encoded.push_back('=');
    auto key = detail::base64_decode(encoded);
    if (!key || key->size() < min_bytes || key->size() > max_bytes) return errc::bad_secret;
    return secret(std::move(*key));
  }

  // A fresh random key from OpenSSL's CSPRNG. `bytes` must be 24..64
  // (std::invalid_argument otherwise: a programming error, not input).
  static secret generate(std::size_t bytes = 32) {
    if (bytes < min_bytes || bytes > max_bytes)
      throw std::invalid_argument("webhook secret size must be 24..64 bytes");
    return secret(detail::random_bytes(bytes));
  }

  // Wraps raw key bytes (24..64 bytes, else errc::bad_secret).
  static result<secret> from_key(std::string_view raw) {
    if (raw.size() < min_bytes || raw.size() > max_bytes) return errc::bad_secret;
    return secret(std::string(raw));
  }

  // "whsec_" + padded base64 of the key.
  std::string text() const { return std::string(prefix) + detail::base64_encode(key_); }
  // The raw key bytes (what HMAC uses).
  std::string_view key() const noexcept { return key_; }
  bool empty() const noexcept { return key_.empty(); }

  friend bool operator==(const secret& a, const secret& b) noexcept {
    return detail::constant_time_equal(a.key_, b.key_);
  }

 private:
  explicit secret(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

namespace detail_signature {

inline std::string signed_content(std::string_view msg_id, std::string_view timestamp,
                                  std::string_view body) {
  std::string content;
  content.reserve(msg_id.size() + timestamp.size() + body.size() + 2);
  content.append(msg_id).push_back('.');
  content.append(timestamp).push_back('.');
  content.append(body);
  return content;
}

// base64 of HMAC-SHA256(key, content), without the "v1," prefix.
inline std::string mac_base64(const secret& key, std::string_view content) {
  const auto mac = detail::hmac_sha256(key.key(), content);
  return detail::base64_encode(std::span<const unsigned char>(mac));
}

// Strict 1*DIGIT (at most 18 digits, so no overflow), as Standard Webhooks sends it.
inline bool parse_unix_seconds(std::string_view text, std::int64_t& out) {
  if (text.empty() || text.size() > 18) return false;
  std::int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

}  // namespace detail_signature

// The webhook-signature header value: "v1,<b64>" per secret, space-separated, in
// the order given. Empty secrets are skipped; no secrets gives "".
inline std::string sign(std::span<const secret> secrets, std::string_view msg_id,
                        std::int64_t timestamp, std::string_view body) {
  const std::string content = detail_signature::signed_content(msg_id, std::to_string(timestamp), body);
  std::string header;
  for (const auto& key : secrets) {
    if (key.empty()) continue;
    if (!header.empty()) header.push_back(' ');
    header.append("v1,").append(detail_signature::mac_base64(key, content));
  }
  return header;
}

inline std::string sign(const secret& key, std::string_view msg_id, std::int64_t timestamp,
                        std::string_view body) {
  return sign(std::span<const secret>(&key, 1), msg_id, timestamp, body);
}

// Checks a received webhook against the receiver's secrets (any of them may match,
// which is how rotation works on the receiving side). In this order:
//  - errc::malformed_header: empty webhook-id, a timestamp that is not 1*DIGIT, an
//    empty signature header, or an entry without ',' in it;
//  - errc::stale_timestamp: |now_unix - timestamp| > tolerance_s (too old and too new);
//  - errc::bad_signature: no "v1," entry equals the HMAC under any secret.
// Entries with other versions ("v1a", "v2") are skipped. Comparison is constant-time.
inline result<void> verify(std::span<const secret> secrets, std::string_view msg_id,
                           std::string_view timestamp_header, std::string_view signature_header,
                           std::string_view body, std::int64_t now_unix,
                           std::int64_t tolerance_s = 300) {
  std::int64_t timestamp = 0;
  if (msg_id.empty() || !detail_signature::parse_unix_seconds(timestamp_header, timestamp))
    return errc::malformed_header;

  // Split once up front so a malformed entry is reported even if an earlier one matches.
  std::string_view rest = signature_header;
  bool any_entry = false;
  while (!rest.empty()) {
    const auto space = rest.find(' ');
    const auto entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    if (entry.empty()) continue;  // repeated spaces
    if (entry.find(',') == std::string_view::npos) return errc::malformed_header;
    any_entry = true;
  }
  if (!any_entry) return errc::malformed_header;

  const std::int64_t skew = now_unix > timestamp ? now_unix - timestamp : timestamp - now_unix;
  if (tolerance_s < 0 || skew > tolerance_s) return errc::stale_timestamp;

  const std::string content = detail_signature::signed_content(msg_id, timestamp_header, body);
  bool matched = false;
  for (const auto& key : secrets) {
    if (key.empty()) continue;
    const std::string expected = detail_signature::mac_base64(key, content);
    rest = signature_header;
    while (!rest.empty()) {
      const auto space = rest.find(' ');
      const auto entry = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      const auto comma = entry.find(',');
      if (comma == std::string_view::npos || entry.substr(0, comma) != "v1") continue;
      // No early exit: every entry is compared, so timing does not reveal which matched.
      matched |= detail::constant_time_equal(entry.substr(comma + 1), expected);
    }
  }
  if (!matched) return errc::bad_signature;
  return {};
}

inline result<void> verify(const secret& key, std::string_view msg_id, std::string_view timestamp_header,
                           std::string_view signature_header, std::string_view body,
                           std::int64_t now_unix, std::int64_t tolerance_s = 300) {
  return verify(std::span<const secret>(&key, 1), msg_id, timestamp_header, signature_header, body,
                now_unix, tolerance_s);
}

}  // namespace lastmile::webhook
