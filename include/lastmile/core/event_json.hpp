#pragma once
// The JSON form of an event, shared by REST, WebSocket, long polling and webhooks:
//
//   {"id":"<cursor>","topic":"orders","type":"created","data":{"order":42},
//    "time":"2026-11-28T10:00:00.123Z"}
//
// `data` is the payload verbatim (minus surrounding JSON whitespace) when it is one
// valid JSON value, else the payload as a JSON string. Invalid UTF-8 is replaced by
// U+FFFD, so the output is always valid JSON and valid UTF-8. Note the ambiguity this
// implies: the text payload `hi` and the JSON payload `"hi"` look the same on the wire.
//
// event_json() computes the form once per event (wire_slot::json) and every reader
// shares the bytes; append_batch_json() splices those cached forms into a batch.
#include <lastmile/core/cursor.hpp>
#include <lastmile/core/event.hpp>
#include <lastmile/detail/json_writer.hpp>

#include <simdjson.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace lastmile {

namespace detail {

// JSON's insignificant whitespace (RFC 8259 section 2); nothing else is trimmed.
constexpr bool is_json_ws(char ch) noexcept {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

constexpr std::string_view trim_json_ws(std::string_view s) noexcept {
  while (!s.empty() && is_json_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_json_ws(s.back())) s.remove_suffix(1);
  return s;
}

// Payloads up to this size are validated with a per-thread cached parser; bigger
// ones get a throwaway parser, so no thread keeps ~15x a huge payload's size in
// parser buffers forever.
inline constexpr std::size_t json_parser_cache_limit = 64 * 1024;

// Copies `s` to `out`, replacing each ill-formed UTF-8 sequence with U+FFFD. Uses
// "maximal subparts" (Unicode 15 section 3.9, as the WHATWG decoder does): a truncated
// but otherwise valid prefix becomes one U+FFFD, every other bad byte one each.
// Overlongs (C0, C1, E0 80.., F0 80..), surrogates (ED A0..) and code points above
// U+10FFFF (F4 90.., F5..) are ill-formed.
inline void append_utf8_replacing(std::string& out, std::string_view s) {
  static constexpr char replacement[] = "\xEF\xBF\xBD";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  std::size_t run = 0;  // start of the pending well-formed run, copied in one go
  while (i < n) {
    const unsigned char lead = p[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t trail = 0;  // continuation bytes the lead byte announces
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
    if (lead >= 0xC2 && lead <= 0xDF) {
      trail = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      trail = 2;
      if (lead == 0xE0) lo = 0xA0;       // overlong
      else if (lead == 0xED) hi = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      trail = 3;
      if (lead == 0xF0) lo = 0x90;       // overlong
      else if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
    }
    std::size_t len = 1;  // bytes of the (maximal) subpart seen so far
    while (len <= trail && i + len < n && p[i + len] >= lo && p[i + len] <= hi) {
      ++len;
      lo = 0x80;
      hi = 0xBF;
    }
    if (trail != 0 && len == trail + 1) {  // well-formed
      i += len;
      continue;
    }
    out.append(s.data() + run, i - run);
    out.append(replacement, 3);
    i += len;
    run = i;
  }
  out.append(s.data() + run, n - run);
}

// A JSON string literal of arbitrary bytes: escaped, and UTF-8-repaired if needed
// (append_json_string copies bytes >= 0x80 through, so it must see valid UTF-8).
inline void append_json_text(std::string& out, std::string_view s) {
  if (simdjson::validate_utf8(s.data(), s.size())) {
    append_json_string(out, s);
    return;
  }
  std::string clean;  // rare path: allocation is fine here
  clean.reserve(s.size() + 16);
  append_utf8_replacing(clean, s);
  append_json_string(out, clean);
}

// Validation proper; `s` must already be trimmed.
inline bool is_trimmed_json_value(std::string_view s) {
  if (s.empty()) return false;
  if (s.size() <= json_parser_cache_limit) {
    // Per-thread cache, not shared state: the parser only keeps its buffers between
    // calls so small payloads are validated without allocating.
    thread_local simdjson::dom::parser parser;
    return parser.parse(s.data(), s.size()).error() == simdjson::SUCCESS;
  }
  simdjson::dom::parser parser;
  return parser.parse(s.data(), s.size()).error() == simdjson::SUCCESS;
}

inline char* put_digits(char* p, unsigned v, int width) noexcept {
  for (int k = width - 1; k >= 0; --k) {
    p[k] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return p + width;
}

}  // namespace detail

// True when `text`, ignoring surrounding JSON whitespace, is exactly one JSON value
// (object, array, string, number, true, false or null) as simdjson's strict parser
// sees it. Things simdjson refuses although RFC 8259 allows them (numbers beyond
// double range such as 1e400, nesting deeper than 1024) count as not JSON: such
// payloads are then sent as JSON strings, which is still valid output.
inline bool is_json_value(std::string_view text) {
  return detail::is_trimmed_json_value(detail::trim_json_ws(text));
}

// Appends `t` as RFC 3339 UTC with milliseconds, e.g. 2026-11-28T10:00:00.123Z.
// Sub-millisecond parts are floored (toward the past), so times before 1970 work:
// -1 ns is 1969-12-31T23:59:59.999Z. Years outside 0000..9999 (unreachable with
// libstdc++'s nanosecond clock, whose range is 1677..2262) are clamped to the first
// or last representable instant, because RFC 3339 has exactly four year digits.
inline void append_rfc3339_ms(std::string& out, clock_type::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  int year = static_cast<int>(ymd.year());
  unsigned month = static_cast<unsigned>(ymd.month());
  unsigned mday = static_cast<unsigned>(ymd.day());
  auto in_day = static_cast<std::uint32_t>((ms - day).count());  // [0, 86'400'000)
  if (year < 0) {
    year = 0, month = 1, mday = 1, in_day = 0;
  } else if (year > 9999) {
    year = 9999, month = 12, mday = 31, in_day = 86'400'000 - 1;
  }
  char buf[24];  // YYYY-MM-DDTHH:MM:SS.mmmZ
  char* p = detail::put_digits(buf, static_cast<unsigned>(year), 4);
  *p++ = '-';
  p = detail::put_digits(p, month, 2);
  *p++ = '-';
  p = detail::put_digits(p, mday, 2);
  *p++ = 'T';
  p = detail::put_digits(p, in_day / 3'600'000, 2);
  *p++ = ':';
  p = detail::put_digits(p, in_day / 60'000 % 60, 2);
  *p++ = ':';
  p = detail::put_digits(p, in_day / 1000 % 60, 2);
  *p++ = '.';
  p = detail::put_digits(p, in_day % 1000, 3);
  *p++ = 'Z';
  out.append(buf, p);
}

// Appends the JSON form of `e` (see the top of this file). Works on the plain view,
// so custom logs can use it without an event_record.
inline void append_event_json(std::string& out, const event& e) {
  const std::string_view trimmed = detail::trim_json_ws(e.payload);
  const bool raw = detail::is_trimmed_json_value(trimmed);
  // Fixed parts (~60) + cursor (<= 37) + time (24); escaping may still grow text.
  out.reserve(out.size() + 128 + e.topic.size() + e.type.size() + e.payload.size());
  out.append(R"({"id":")");
  append_cursor(out, e.id);
  out.append(R"(","topic":)");
  detail::append_json_text(out, e.topic);
  out.append(R"(,"type":)");
  detail::append_json_text(out, e.type);
  out.append(R"(,"data":)");
  if (raw)
    out.append(trimmed);
  else
    detail::append_json_text(out, e.payload);
  out.append(R"(,"time":")");
  append_rfc3339_ms(out, e.time);
  out.append(R"("})");
}

inline void append_event_json(std::string& out, const event_record& e) {
  append_event_json(out, e.view());
}

// The JSON form of `e`, computed on first use and then shared by every reader; the
// reference lives as long as the record.
inline const std::string& event_json(const event_record& e) {
  return e.wire(wire_slot::json, [](const event_record& r) {
    std::string s;
    append_event_json(s, r);
    return s;
  });
}

// Appends a read batch as
//   {"events":[...],"nextCursor":"<cursor>"}
// plus ,"reset":{"reason":"cursor_expired"} when `reset` is set (every reset reason
// is reported as cursor_expired on the wire). Events must be non-null; their JSON
// comes from (and fills) the per-event cache.
inline void append_batch_json(std::string& out, std::span<const event_ptr> events,
                              cursor next, bool reset) {
  std::size_t total = 96;  // envelope, cursor and reset member
  for (const auto& e : events) total += event_json(*e).size() + 1;
  out.reserve(out.size() + total);
  out.append(R"({"events":[)");
  bool first = true;
  for (const auto& e : events) {
    if (!first) out.push_back(',');
    first = false;
    out.append(event_json(*e));  // cached by the sizing pass above
  }
  out.append(R"(],"nextCursor":")");
  append_cursor(out, next);
  out.push_back('"');
  if (reset) out.append(R"(,"reset":{"reason":"cursor_expired"})");
  out.push_back('}');
}

inline std::string batch_json(std::span<const event_ptr> events, cursor next, bool reset) {
  std::string out;
  append_batch_json(out, events, next, reset);
  return out;
}

}  // namespace lastmile
