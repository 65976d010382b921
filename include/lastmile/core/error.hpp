#pragma once
// lastmile's error codes and their std::error_category. Codec and validation
// functions report these; the HTTP layer maps them to statuses and JSON error codes.
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace lastmile {

enum class errc {
  ok = 0,
  bad_cursor,          // a cursor's text form is malformed
  bad_topic,           // a topic name or topic filter is invalid
  bad_type,            // an event type is invalid
  payload_too_large,   // a payload exceeds what the log accepts
  out_of_order,        // an inserted cursor is not after the log's head
  shut_down,           // the hub (or server) is shutting down
  not_found,           // no such item (e.g. a webhook endpoint id)
  bad_url,             // a URL is malformed or not http(s)
  address_not_allowed, // an address is refused by the SSRF policy
  connect_failed,      // name resolution or TCP connect failed
  timeout,             // an operation ran out of time
  tls_failed,          // TLS handshake or certificate verification failed
  bad_response,        // a peer's HTTP response is malformed
  response_too_large,  // a peer's response exceeds a limit
  bad_secret,          // a webhook secret is not whsec_ + base64 of 24-64 bytes
  bad_signature,       // no webhook signature matches
  stale_timestamp,     // a webhook timestamp is outside the tolerance
  malformed_header,    // a required header is missing or malformed
  invalid_argument,    // a configuration value is out of range or malformed
};

class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "lastmile"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "success";
      case errc::bad_cursor: return "malformed cursor";
      case errc::bad_topic: return "invalid topic name or filter";
      case errc::bad_type: return "invalid event type";
      case errc::payload_too_large: return "payload too large";
      case errc::out_of_order: return "cursor is not after the log's head";
      case errc::shut_down: return "shut down";
      case errc::not_found: return "not found";
      case errc::bad_url: return "malformed or unsupported URL";
      case errc::address_not_allowed: return "address not allowed by policy";
      case errc::connect_failed: return "could not connect";
      case errc::timeout: return "timed out";
      case errc::tls_failed: return "TLS handshake or certificate verification failed";
      case errc::bad_response: return "malformed HTTP response";
      case errc::response_too_large: return "response too large";
      case errc::bad_secret: return "invalid webhook secret";
      case errc::bad_signature: return "webhook signature mismatch";
      case errc::stale_timestamp: return "webhook timestamp outside the tolerance";
      case errc::malformed_header: return "missing or malformed header";
      case errc::invalid_argument: return "invalid argument";
    }
    return "unknown lastmile error";
  }
};

inline const std::error_category& error_category() noexcept {
  static const error_category_impl instance;  // stateless; the standard idiom for categories
  return instance;
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// The short machine-readable code used in JSON error bodies ("bad_cursor", ...).
inline const char* error_code_name(errc e) noexcept {
  switch (e) {
    case errc::ok: return "ok";
    case errc::bad_cursor: return "bad_cursor";
    case errc::bad_topic: return "bad_topic";
    case errc::bad_type: return "bad_type";
    case errc::payload_too_large: return "too_large";
    case errc::out_of_order: return "out_of_order";
    case errc::shut_down: return "unavailable";
    case errc::not_found: return "not_found";
    case errc::bad_url: return "bad_url";
    case errc::address_not_allowed: return "url_not_allowed";
    case errc::connect_failed: return "connect_failed";
    case errc::timeout: return "timeout";
    case errc::tls_failed: return "tls_failed";
    case errc::bad_response: return "bad_response";
    case errc::response_too_large: return "response_too_large";
    case errc::bad_secret: return "bad_secret";
    case errc::bad_signature: return "bad_signature";
    case errc::stale_timestamp: return "stale_timestamp";
    case errc::malformed_header: return "bad_request";
    case errc::invalid_argument: return "bad_request";
  }
  return "error";
}

// A value or an error code: a small stand-in for std::expected (C++23).
template <class T>
class result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(errc e) : v_(make_error_code(e)) {}
  result(std::error_code ec) : v_(ec) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  std::error_code error() const noexcept {
    return has_value() ? std::error_code{} : std::get<1>(v_);
  }

 private:
  std::variant<T, std::error_code> v_;
};

// Success or an error code, for operations that return nothing.
template <>
class result<void> {
 public:
  result() = default;
  result(errc e) : ec_(make_error_code(e)) {}
  result(std::error_code ec) : ec_(ec) {}

  bool has_value() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return has_value(); }
  std::error_code error() const noexcept { return ec_; }

 private:
  std::error_code ec_;
};

}  // namespace lastmile

template <>
struct std::is_error_code_enum<lastmile::errc> : std::true_type {};
