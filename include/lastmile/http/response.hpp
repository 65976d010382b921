#pragma once

// Response serialization: status line + headers into a std::string, JSON error
// bodies and chunked transfer-coding helpers. Pure functions, no I/O.
//
// Header names must be tokens and header values must not contain CR, LF or NUL.
// Violations are REJECTED with std::invalid_argument rather than stripped:
// they mean a caller copied untrusted input into a header (response splitting),
// which is a bug to surface, not to paper over. Use is_valid_header_value() to
// check values derived from client input before adding them.

#include <lastmile/detail/json_writer.hpp>
#include <lastmile/http/request.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace lastmile::http {

inline constexpr std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

inline constexpr bool is_valid_header_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (const char c : name)
    if (!detail::is_tchar(static_cast<unsigned char>(c))) return false;
  return true;
}

// Values may hold any byte except CR, LF and NUL (the bytes that end or corrupt a line).
inline constexpr bool is_valid_header_value(std::string_view value) noexcept {
  for (const char c : value)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// How the body after the head is delimited.
enum class body_framing {
  content_length,  // "Content-Length: <content_length>"
  chunked,         // "Transfer-Encoding: chunked"; write chunks with append_chunk + last_chunk
  none,            // no framing header: 101 upgrades, or a body ended by closing the connection
};

struct response_head {
  int status = 200;
  header_list headers;  // must not contain Content-Length / Transfer-Encoding (set via `framing`)
  body_framing framing = body_framing::content_length;
  std::size_t content_length = 0;
  bool close = false;  // adds "Connection: close"

  response_head& add(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// Appends the serialized head (ending with the blank line) to `out`.
// 1xx and 204 responses never get framing headers (RFC 9110 section 8.6).
// Throws std::invalid_argument on a bad status or header (out is left unchanged).
inline void append_head(std::string& out, const response_head& head) {
  if (head.status < 100 || head.status > 999) throw std::invalid_argument("HTTP status out of range");
  std::size_t size = 64;
  for (const auto& [name, value] : head.headers) {
    if (!is_valid_header_name(name)) throw std::invalid_argument("invalid header name");
    if (!is_valid_header_value(value)) throw std::invalid_argument("header value contains CR, LF or NUL");
    if (detail::iequals(name, "content-length") || detail::iequals(name, "transfer-encoding"))
      throw std::invalid_argument("framing headers are set through response_head::framing");
    size += name.size() + value.size() + 4;
  }
  out.reserve(out.size() + size);

  out.append("HTTP/1.1 ");
  out.append(std::to_string(head.status));
  out.push_back(' ');
  out.append(reason_phrase(head.status));
  out.append("\r\n");
  for (const auto& [name, value] : head.headers) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  const bool may_have_body = head.status >= 200 && head.status != 204;
  if (may_have_body && head.framing == body_framing::content_length) {
    out.append("Content-Length: ");
    out.append(std::to_string(head.content_length));
    out.append("\r\n");
  } else if (may_have_body && head.framing == body_framing::chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  if (head.close) out.append("Connection: close\r\n");
  out.append("\r\n");
}

inline std::string serialize_head(const response_head& head) {
  std::string out;
  append_head(out, head);
  return out;
}

// Head plus a complete body; sets Content-Length framing from body.size().
inline std::string serialize_response(response_head head, std::string_view body) {
  head.framing = body_framing::content_length;
  head.content_length = body.size();
  std::string out;
  out.reserve(128 + body.size());
  append_head(out, head);
  out.append(body);
  return out;
}

// {"error":"<code>","message":"<text>"} with both strings JSON-escaped.
inline std::string json_error_body(std::string_view code, std::string_view message) {
  std::string body;
  body.reserve(32 + code.size() + message.size());
  lastmile::detail::json_writer writer{body};
  writer.begin_object().member("error", code).member("message", message).end_object();
  return body;
}

// Complete JSON error response. `close` defaults to true because parse errors
// leave the connection in an unknown state.
inline std::string json_error_response(int status, std::string_view code, std::string_view message,
                                       bool close = true, header_list extra_headers = {}) {
  response_head head;
  head.status = status;
  head.headers = std::move(extra_headers);
  head.add("Content-Type", "application/json");
  head.close = close;
  return serialize_response(std::move(head), json_error_body(code, message));
}

// ---- chunked transfer coding -------------------------------------------------

inline constexpr std::string_view last_chunk = "0\r\n\r\n";  // ends a chunked body (no trailers)

// "<size in hex>\r\n". A size of 0 would end the body, so send last_chunk for that.
inline void append_chunk_header(std::string& out, std::size_t size) {
  char digits[2 * sizeof(std::size_t)];
  std::size_t count = 0;
  do {
    digits[count++] = "0123456789abcdef"[size & 0xF];
    size >>= 4;
  } while (size != 0);
  while (count > 0) out.push_back(digits[--count]);
  out.append("\r\n");
}

inline std::string chunk_header(std::size_t size) {
  std::string out;
  append_chunk_header(out, size);
  return out;
}

// Appends one complete chunk (header, data, CRLF). Empty data appends nothing,
// because an empty chunk would terminate the body.
inline void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  append_chunk_header(out, data.size());
  out.append(data);
  out.append("\r\n");
}

}  // namespace lastmile::http
