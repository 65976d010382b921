#pragma once

// Request-target helpers: splitting into path and query, strict percent-decoding
// and query-string parsing. Pure functions, no I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lastmile::http {

// Where a string came from decides whether '+' means space: only in the query
// component (application/x-www-form-urlencoded); in a path '+' is a literal plus.
enum class decode_component { path, query };

namespace detail {

inline int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace detail

// Appends the decoded form of `encoded` to `out`. Returns false (leaving `out`
// partially written) on a malformed escape (`%zz`, `%4`, trailing `%`) or when
// the decoded text would contain NUL, which downstream C APIs and logs mishandle.
// The decoded bytes are not checked for valid UTF-8.
inline bool percent_decode_append(std::string_view encoded, std::string& out,
                                  decode_component component = decode_component::path) {
  out.reserve(out.size() + encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '%') {
      if (encoded.size() - i < 3) return false;  // truncated escape
      const int high = detail::hex_digit_value(encoded[i + 1]);
      const int low = detail::hex_digit_value(encoded[i + 2]);
      if (high < 0 || low < 0) return false;
      const char decoded = static_cast<char>((high << 4) | low);
      if (decoded == '\0') return false;
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && component == decode_component::query) {
      out.push_back(' ');
    } else if (c == '\0') {
      return false;
    } else {
      out.push_back(c);
    }
  }
  return true;
}

// Decodes `encoded`; std::nullopt when it is malformed (see percent_decode_append).
inline std::optional<std::string> percent_decode(std::string_view encoded,
                                                 decode_component component = decode_component::path) {
  std::string out;
  if (!percent_decode_append(encoded, out, component)) return std::nullopt;
  return out;
}

// The path and query of a request-target, as views into the target.
struct target_parts {
  std::string_view path;   // still percent-encoded; "/" for an absolute-form target without a path
  std::string_view query;  // without the '?', still encoded; empty when absent
};

// Splits origin-form ("/a/b?x=1"), absolute-form ("http://host/a?x=1") and the
// asterisk-form ("*"). A fragment ("#...") is dropped: clients must not send one,
// but ignoring it is harmless. Authority-form (CONNECT) comes back as the path.
inline target_parts split_target(std::string_view target) noexcept {
  std::string_view rest = target;
  if (!rest.empty() && rest.front() != '/' && rest != "*") {
    // absolute-form: skip "scheme://authority"; RFC 9112 requires servers to accept it.
    const auto scheme_end = rest.find("://");
    if (scheme_end != std::string_view::npos) {
      const auto authority_start = scheme_end + 3;
      const auto path_start = rest.find_first_of("/?#", authority_start);
      rest = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
      if (rest.empty() || rest.front() != '/') {
        // "http://host?x" has an empty path, which means "/".
        target_parts parts{"/", {}};
        const auto fragment = rest.find('#');
        const auto before_fragment = rest.substr(0, fragment);
        if (!before_fragment.empty() && before_fragment.front() == '?')
          parts.query = before_fragment.substr(1);
        return parts;
      }
    }
  }
  rest = rest.substr(0, rest.find('#'));
  const auto question = rest.find('?');
  if (question == std::string_view::npos) return {rest, {}};
  return {rest.substr(0, question), rest.substr(question + 1)};
}

// Decoded query parameters in their original order. Repeated keys are kept
// (`topic=a&topic=b`), so get_all() can return every value.
class query_params {
 public:
  using entry = std::pair<std::string, std::string>;

  // First value of `key`, if present.
  std::optional<std::string_view> get(std::string_view key) const noexcept {
    for (const auto& [name, value] : entries_)
      if (name == key) return std::string_view{value};
    return std::nullopt;
  }

  // Every value of `key`, in order of appearance.
  std::vector<std::string_view> get_all(std::string_view key) const {
    std::vector<std::string_view> values;
    for (const auto& [name, value] : entries_)
      if (name == key) values.emplace_back(value);
    return values;
  }

  bool contains(std::string_view key) const noexcept { return get(key).has_value(); }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  auto begin() const noexcept { return entries_.begin(); }
  auto end() const noexcept { return entries_.end(); }

  void add(std::string name, std::string value) { entries_.emplace_back(std::move(name), std::move(value)); }

 private:
  std::vector<entry> entries_;
};

// Parses "a=1&b=x+y&a=2&flag". Names and values are decoded with '+' as space;
// a name without '=' gets an empty value; empty pieces ("a=1&&b=2") are skipped.
// Returns std::nullopt if any name or value has a malformed escape or decodes to NUL.
inline std::optional<query_params> parse_query(std::string_view query) {
  query_params params;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (piece.empty()) continue;

    const auto equals = piece.find('=');
    std::string name;
    std::string value;
    if (!percent_decode_append(piece.substr(0, equals), name, decode_component::query)) return std::nullopt;
    if (equals != std::string_view::npos &&
        !percent_decode_append(piece.substr(equals + 1), value, decode_component::query))
      return std::nullopt;
    params.add(std::move(name), std::move(value));
  }
  return params;
}

}  // namespace lastmile::http
