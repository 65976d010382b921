#pragma once
// A cursor is a position in one ordered log: (epoch, offset). Reading "after" a
// cursor yields the events whose offset is greater. The epoch names one history of
// the log; a cursor from another epoch is never silently accepted (readers get a
// reset). The text form is opaque to clients: "<epoch hex>-<offset decimal>", both
// without leading zeros, so every cursor has exactly one spelling (<= 37 chars,
// URL-safe).
#include <lastmile/core/error.hpp>

#include <charconv>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace lastmile {

struct cursor {
  std::uint64_t epoch = 0;
  std::uint64_t offset = 0;
  friend constexpr bool operator==(const cursor&, const cursor&) = default;
};

inline constexpr std::size_t max_cursor_text = 64;  // the protocol's promise to clients

inline void append_cursor(std::string& out, cursor c) {
  char buf[48];
  auto r = std::to_chars(buf, buf + sizeof buf, c.epoch, 16);
  *r.ptr++ = '-';
  r = std::to_chars(r.ptr, buf + sizeof buf, c.offset, 10);
  out.append(buf, r.ptr);
}

inline std::string to_string(cursor c) {
  std::string s;
  append_cursor(s, c);
  return s;
}

namespace detail {
// Parses all of `s` as an unsigned integer in `base`, canonical form only: no sign,
// no leading zeros (except "0" itself), no upper-case hex, no overflow.
inline bool parse_canonical_u64(std::string_view s, int base, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  if (s.size() > 1 && s.front() == '0') return false;
  for (char ch : s) {
    bool ok = (ch >= '0' && ch <= '9') || (base == 16 && ch >= 'a' && ch <= 'f');
    if (!ok) return false;
  }
  auto r = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}
}  // namespace detail

// Strict parse of a cursor's text form. Keywords are not cursors: see position.
inline result<cursor> parse_cursor(std::string_view text) {
  if (text.empty() || text.size() > max_cursor_text) return errc::bad_cursor;
  auto dash = text.find('-');
  if (dash == std::string_view::npos) return errc::bad_cursor;
  cursor c;
  if (!detail::parse_canonical_u64(text.substr(0, dash), 16, c.epoch) ||
      !detail::parse_canonical_u64(text.substr(dash + 1), 10, c.offset))
    return errc::bad_cursor;
  return c;
}

// Where a client asks to start: a concrete cursor or one of the keywords
// `earliest` (everything retained) and `latest` (only what is published from now).
struct position {
  enum class kind : std::uint8_t { at, earliest, latest };
  kind k = kind::latest;
  cursor at{};

  static position earliest() { return {kind::earliest, {}}; }
  static position latest() { return {kind::latest, {}}; }
  static position after(cursor c) { return {kind::at, c}; }
  friend bool operator==(const position&, const position&) = default;
};

inline result<position> parse_position(std::string_view text) {
  if (text == "earliest") return position::earliest();
  if (text == "latest") return position::latest();
  auto c = parse_cursor(text);
  if (!c) return c.error();
  return position::after(*c);
}

}  // namespace lastmile
