#pragma once
// Server-Sent Events encoding (WHATWG HTML, "Server-sent events"), sans-I/O.
//
// What can break framing: CR, LF in an id or event type (and NUL in an id). Ids
// here are cursors (hex, '-', digits) and types are validated at publish to
// `A-Z a-z 0-9 . _ : -`, so neither can ever contain them. Payloads may contain any
// line ends: each line (split at CRLF, LF or CR) becomes its own `data:` line, so
// the client reassembles exactly the published text (line ends become LF, which is
// all an EventSource can deliver).
#include <lastmile/core/cursor.hpp>
#include <lastmile/core/event.hpp>
#include <lastmile/core/event_json.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace lastmile::sse {

// Appends `data:` lines for `payload`; an empty payload is one empty data line.
inline void append_data_lines(std::string& out, std::string_view payload) {
  std::size_t start = 0;
  for (;;) {
    std::size_t end = payload.find_first_of("\r\n", start);
    std::string_view line = payload.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (line.empty()) {
      out += "data:\n";
    } else {
      out += "data: ";  // one space: the client strips exactly one, so leading spaces survive
      out += line;
      out += '\n';
    }
    if (end == std::string_view::npos) break;
    start = end + ((payload[end] == '\r' && end + 1 < payload.size() && payload[end + 1] == '\n') ? 2 : 1);
    if (start == payload.size()) {  // a trailing line end means a final empty line
      out += "data:\n";
      break;
    }
  }
}

// One event: `id:`, `event:`, `data:` lines and the blank line that dispatches it.
inline void append_event(std::string& out, cursor id, std::string_view type, std::string_view payload) {
  out.reserve(out.size() + payload.size() + type.size() + 64);
  out += "id: ";
  append_cursor(out, id);
  out += "\nevent: ";
  out += type;
  out += '\n';
  append_data_lines(out, payload);
  out += '\n';
}

// The frame of a stored event, computed once and shared by every SSE session.
inline const std::string& event_frame(const event_record& e) {
  return e.wire(wire_slot::sse, [](const event_record& r) {
    std::string s;
    append_event(s, r.id(), r.type(), r.payload());
    return s;
  });
}

// The `format=json` frame: an unnamed event (EventSource's `message`) whose data is
// the event's JSON form, so one onmessage handler sees every topic and type. The
// JSON has no raw line ends (they are escaped), so it is a single data line.
inline const std::string& json_event_frame(const event_record& e) {
  return e.wire(wire_slot::sse_json, [](const event_record& r) {
    std::string s = "id: ";
    append_cursor(s, r.id());
    s += "\ndata: ";
    s += event_json(r);
    s += "\n\n";
    return s;
  });
}

// `retry:` tells EventSource how long to wait before reconnecting.
inline void append_retry(std::string& out, std::chrono::milliseconds retry) {
  out += "retry: ";
  out += std::to_string(retry.count());
  out += '\n';
}

// A comment (ignored by clients; keeps proxies and idle timers from closing the
// stream). Each line of `text` becomes its own comment line.
inline void append_comment(std::string& out, std::string_view text) {
  std::size_t start = 0;
  for (;;) {
    std::size_t end = text.find_first_of("\r\n", start);
    out += ": ";
    out += text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + ((text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n') ? 2 : 1);
  }
  out += '\n';
}

inline constexpr std::string_view heartbeat_frame = ": ping\n\n";

// The reset signal: no id line (the client's last id stays the last event it got).
inline void append_reset(std::string& out, cursor earliest) {
  out += "event: reset\ndata: {\"reason\":\"cursor_expired\",\"earliest\":\"";
  append_cursor(out, earliest);
  out += "\"}\n\n";
}

}  // namespace lastmile::sse
