#pragma once

// A parsed HTTP/1.x request plus the small ASCII helpers shared by the HTTP layer.

#include <lastmile/http/url.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lastmile::http {

namespace detail {

inline constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Case-insensitive ASCII comparison without allocating (header names, tokens).
inline constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

inline constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

inline constexpr std::string_view trim_ows(std::string_view text) noexcept {
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

// tchar from RFC 9110 section 5.6.2: the characters allowed in tokens such as header names.
inline constexpr bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return true;
    default: return false;
  }
}

// Calls `visit(element)` for every non-empty, OWS-trimmed element of a
// comma-separated header list ("a, b,,c"). Stops early when visit returns false.
template <typename Visitor>
constexpr void for_each_list_element(std::string_view list, Visitor&& visit) {
  while (true) {
    const auto comma = list.find(',');
    const auto element = trim_ows(list.substr(0, comma));
    if (!element.empty() && !visit(element)) return;
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace detail

using header_list = std::vector<std::pair<std::string, std::string>>;

struct request {
  std::string method;  // upper-case, as sent ("GET")
  std::string target;  // request-target exactly as sent, still percent-encoded
  int version_major = 1;
  int version_minor = 1;
  header_list headers;           // in arrival order; values without surrounding whitespace
  std::string body;              // de-chunked
  bool keep_alive = true;        // false for "Connection: close" or HTTP/1.0 without keep-alive
  bool upgrade = false;          // the connection switches protocols after this request's bytes
  bool expect_continue = false;  // HTTP/1.1 "Expect: 100-continue": send 100 before reading the body

  // Encoded path / query of the target (see split_target for the forms handled).
  std::string_view path() const noexcept { return split_target(target).path; }
  std::string_view query() const noexcept { return split_target(target).query; }

  // Value of the first header called `name` (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const noexcept {
    for (const auto& [field, value] : headers)
      if (detail::iequals(field, name)) return std::string_view{value};
    return std::nullopt;
  }

  // True if any `name` header lists `token` (case-insensitive), e.g.
  // has_header_token("Connection", "upgrade") for "Connection: keep-alive, Upgrade".
  bool has_header_token(std::string_view name, std::string_view token) const noexcept {
    bool found = false;
    for (const auto& [field, value] : headers) {
      if (!detail::iequals(field, name)) continue;
      detail::for_each_list_element(value, [&](std::string_view element) {
        found = detail::iequals(element, token);
        return !found;
      });
      if (found) return true;
    }
    return false;
  }

  // Empties the request but keeps the allocated capacity for the next request.
  void clear() noexcept {
    method.clear();
    target.clear();
    version_major = 1;
    version_minor = 1;
    headers.clear();
    body.clear();
    keep_alive = true;
    upgrade = false;
    expect_continue = false;
  }
};

}  // namespace lastmile::http
