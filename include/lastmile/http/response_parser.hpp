#pragma once

// Sans-I/O HTTP/1.1 response parser: llhttp (response mode) behind a strict
// framing scanner, the client-side twin of request_parser.hpp.
//
// Strictness (each is errc::bad_response): bare LF or bare CR line endings,
// control characters in the head, obs-fold, whitespace before a header colon,
// a version other than HTTP/1.0 or 1.1, a status outside 100..599, 101 (we never
// ask to upgrade), Content-Length that is not 1*DIGIT or appears twice,
// Content-Length together with Transfer-Encoding, any Transfer-Encoding other
// than exactly "chunked", and malformed chunk framing (sizes with whitespace or
// over 16 hex digits, missing CRLF after chunk data). A connection closed in the
// middle of a response is an error too, except for a body delimited by the close.
//
// Limits: the head (status line + header lines) and the trailer section are
// bounded by max_header_bytes and max_headers (over -> errc::response_too_large).
// The body is bounded by max_body_bytes, and a longer body is NOT an error: the
// response completes with the first max_body_bytes bytes, `truncated` set and
// `keep_alive` false (the unread rest makes the connection unusable). A webhook
// receiver answering 200 with a large page has still accepted the delivery.
//
// Interim 1xx responses (100 Continue, 103 Early Hints, ...) are skipped.
//
// Usage (per request on a connection):
//   response_parser p;  p.reset(/*head_request=*/false);
//   while (!p.complete() && !p.failed()) {
//     read bytes; if EOF: p.feed_eof(); else n = p.feed(bytes);
//   }
//   Bytes after `n` of a complete response are not part of it: a well-behaved
//   server sends none, so the connection should not be reused when there are any.

#include <lastmile/core/error.hpp>
#include <lastmile/http/request.hpp>

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace lastmile::http {

struct response_limits {
  std::size_t max_header_bytes = 16 * 1024;  // status line + field lines (+ trailers)
  std::size_t max_headers = 100;             // field lines (+ trailer lines)
  std::size_t max_body_bytes = 64 * 1024;    // decoded body kept; the rest is cut (truncated)
};

struct response_message {
  int status = 0;
  int version_minor = 1;
  std::string reason;
  header_list headers;
  std::string body;
  bool keep_alive = false;  // the connection may carry another request
  bool truncated = false;   // the body was longer than max_body_bytes and was cut

  // First value of a header (case-insensitive name), or "" when absent.
  std::string_view header(std::string_view name) const noexcept {
    for (const auto& [n, v] : headers)
      if (detail::iequals(n, name)) return v;
    return {};
  }
};

class response_parser {
 public:
  explicit response_parser(response_limits limits = {}) : limits_(limits) { reset(); }

  response_parser(const response_parser&) = delete;
  response_parser& operator=(const response_parser&) = delete;
  response_parser(response_parser&& other) noexcept { move_from(other); }
  response_parser& operator=(response_parser&& other) noexcept {
    if (this != &other) move_from(other);
    return *this;
  }
  ~response_parser() = default;

  // Prepares for the response to the next request. `head_request`: the request
  // was HEAD, so the response has no body whatever its headers say.
  void reset(bool head_request = false) {
    message_ = response_message{};
    head_request_ = head_request;
    received_any_ = false;
    complete_ = failed_ = false;
    error_ = {};
    error_message_.clear();
    begin_message();
  }

  // Consumes bytes of one response (interim 1xx responses are skipped inside) and
  // returns how many were used; stops at the end of the final response or at the
  // first error. Returns 0 once complete() or failed(). After a truncated body the
  // count is unspecified (the connection cannot be reused anyway).
  std::size_t feed(const char* data, std::size_t size) {
    if (complete_ || failed_ || size == 0) return 0;
    received_any_ = true;
    std::size_t position = 0;
    while (position < size && !complete_ && !failed_) {
      const char* chunk = data + position;
      const std::size_t available = size - position;
      std::size_t allowed = available;
      if (stage_ == stage::head)
        allowed = scan_head(chunk, available);
      else if (stage_ == stage::chunked_body)
        allowed = scan_chunked_body(chunk, available);
      const std::size_t used = run_llhttp(chunk, allowed);
      position += used;
      if (failed_ || complete_) break;
      if (interim_done_) {  // a 1xx ended: parse the next response from scratch
        begin_message();
        continue;
      }
      if (used != allowed) {
        fail(errc::bad_response, "malformed response");
        break;
      }
      if (scanner_error_ != errc::ok) {
        fail(scanner_error_, std::move(scanner_message_));
        break;
      }
      if (stage_ == stage::head_done) {
        if (!headers_complete_) {
          fail(errc::bad_response, "malformed header block");
          break;
        }
        stage_ = chunked_ ? stage::chunked_body : stage::plain_body;
      } else if (stage_ == stage::message_done) {
        fail(errc::bad_response, "malformed chunked body");
        break;
      }
    }
    return position;
  }
  std::size_t feed(std::string_view bytes) { return feed(bytes.data(), bytes.size()); }

  // The peer closed the connection. Completes a body delimited by the close;
  // anything else unfinished is errc::bad_response.
  void feed_eof() {
    if (complete_ || failed_) return;
    if (stage_ == stage::plain_body && headers_complete_) {
      const llhttp_errno_t r = llhttp_finish(&llhttp_);
      if (complete_) return;
      (void)r;
    }
    fail(errc::bad_response, received_any_ ? "connection closed before the end of the response"
                                           : "connection closed before any response");
  }

  bool complete() const noexcept { return complete_; }
  bool failed() const noexcept { return failed_; }
  std::error_code error() const noexcept { return failed_ ? make_error_code(error_) : std::error_code{}; }
  const std::string& error_message() const noexcept { return error_message_; }
  // True once any byte was fed since reset(): a pooled connection that dies before
  // this may be retried safely on a fresh one.
  bool received_any() const noexcept { return received_any_; }

  response_message& get() noexcept { return message_; }
  const response_message& get() const noexcept { return message_; }
  response_message take() { return std::move(message_); }

  const response_limits& limits() const noexcept { return limits_; }

 private:
  enum class stage : std::uint8_t { head, head_done, chunked_body, plain_body, message_done };
  enum class scan_state : std::uint8_t {
    status_line, status_line_cr,
    field_line_start, field_name, field_value, field_cr, final_cr,
    chunk_size_start, chunk_size, chunk_extension, chunk_size_cr,
    chunk_data, chunk_data_cr, chunk_data_lf,
  };

  static const llhttp_settings_t& settings() noexcept {
    static const llhttp_settings_t instance = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_status = &response_parser::on_status;
      s.on_header_field = &response_parser::on_header_field;
      s.on_header_field_complete = &response_parser::on_header_field_complete;
      s.on_header_value = &response_parser::on_header_value;
      s.on_header_value_complete = &response_parser::on_header_value_complete;
      s.on_headers_complete = &response_parser::on_headers_complete;
      s.on_body = &response_parser::on_body;
      s.on_message_complete = &response_parser::on_message_complete;
      return s;
    }();
    return instance;
  }

  static response_parser& self(llhttp_t* p) noexcept { return *static_cast<response_parser*>(p->data); }

  // State for one message (the final response, or an interim one before it).
  void begin_message() {
    llhttp_init(&llhttp_, HTTP_RESPONSE, &settings());
    llhttp_.data = this;
    message_.status = 0;
    message_.reason.clear();
    message_.headers.clear();
    message_.body.clear();
    stage_ = stage::head;
    scan_state_ = scan_state::status_line;
    scanner_error_ = errc::ok;
    scanner_message_.clear();
    headers_complete_ = interim_done_ = building_field_ = chunked_ = in_trailers_ = false;
    header_bytes_ = header_lines_ = 0;
    chunk_remaining_ = 0;
    chunk_digits_ = 0;
  }

  void move_from(response_parser& o) noexcept {
    llhttp_ = o.llhttp_;
    llhttp_.data = this;
    limits_ = o.limits_;
    message_ = std::move(o.message_);
    error_ = o.error_;
    error_message_ = std::move(o.error_message_);
    scanner_error_ = o.scanner_error_;
    scanner_message_ = std::move(o.scanner_message_);
    stage_ = o.stage_;
    scan_state_ = o.scan_state_;
    head_request_ = o.head_request_;
    received_any_ = o.received_any_;
    headers_complete_ = o.headers_complete_;
    complete_ = o.complete_;
    failed_ = o.failed_;
    interim_done_ = o.interim_done_;
    building_field_ = o.building_field_;
    chunked_ = o.chunked_;
    in_trailers_ = o.in_trailers_;
    header_bytes_ = o.header_bytes_;
    header_lines_ = o.header_lines_;
    chunk_remaining_ = o.chunk_remaining_;
    chunk_digits_ = o.chunk_digits_;
  }

  void fail(errc code, std::string message) {
    if (failed_) return;
    failed_ = true;
    error_ = code;
    error_message_ = std::move(message);
  }

  // Records a scanner error at `position` and returns how far llhttp may still read.
  std::size_t scan_error(std::size_t position, errc code, const char* message) {
    scanner_error_ = code;
    scanner_message_ = message;
    return position;
  }

  // ---- scanner -----------------------------------------------------------------

  // The head: the status line, then field lines, then the blank line. Returns the
  // bytes llhttp may parse (up to and including the blank line, or an error).
  std::size_t scan_head(const char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      const auto c = static_cast<unsigned char>(data[i]);
      if (++header_bytes_ > limits_.max_header_bytes)
        return scan_error(i, errc::response_too_large, "response header section too large");
      switch (scan_state_) {
        case scan_state::status_line:
          if (c == '\r')
            scan_state_ = scan_state::status_line_cr;
          else if (c == '\n')
            return scan_error(i, errc::bad_response, "bare LF line ending");
          else if ((c < 0x20 && c != '\t') || c == 0x7F)
            return scan_error(i, errc::bad_response, "control character in status line");
          break;
        case scan_state::status_line_cr:
          if (c != '\n') return scan_error(i, errc::bad_response, "bare CR line ending");
          scan_state_ = scan_state::field_line_start;
          break;
        default: {
          const std::size_t used = scan_field_lines(data + i, size - i);
          return i + used;
        }
      }
    }
    return size;
  }

  // Field lines (headers or trailers) up to the blank line that ends them.
  // header_bytes_ already counts data[0] when called from scan_head.
  std::size_t scan_field_lines(const char* data, std::size_t size) {
    bool counted_first = stage_ == stage::head;  // scan_head counted data[0]
    for (std::size_t i = 0; i < size; ++i) {
      const auto c = static_cast<unsigned char>(data[i]);
      if (!counted_first && ++header_bytes_ > limits_.max_header_bytes)
        return scan_error(i, errc::response_too_large,
                          in_trailers_ ? "trailer section too large" : "response header section too large");
      counted_first = false;
      switch (scan_state_) {
        case scan_state::field_line_start:
          if (c == '\r') {
            scan_state_ = scan_state::final_cr;
          } else if (c == ' ' || c == '\t') {
            return scan_error(i, errc::bad_response, "obsolete line folding");
          } else if (detail::is_tchar(c)) {
            if (++header_lines_ > limits_.max_headers)
              return scan_error(i, errc::response_too_large, "too many header fields");
            scan_state_ = scan_state::field_name;
          } else {
            return scan_error(i, errc::bad_response,
                              c == '\n' ? "bare LF line ending" : "invalid header field name");
          }
          break;
        case scan_state::field_name:
          if (c == ':')
            scan_state_ = scan_state::field_value;
          else if (!detail::is_tchar(c))
            return scan_error(i, errc::bad_response, "invalid header field name");
          break;
        case scan_state::field_value:
          if (c == '\r')
            scan_state_ = scan_state::field_cr;
          else if ((c < 0x20 && c != '\t') || c == 0x7F)
            return scan_error(i, errc::bad_response,
                              c == '\n' ? "bare LF line ending" : "control character in header value");
          break;
        case scan_state::field_cr:
          if (c != '\n') return scan_error(i, errc::bad_response, "bare CR line ending");
          scan_state_ = scan_state::field_line_start;
          break;
        case scan_state::final_cr:
          if (c != '\n') return scan_error(i, errc::bad_response, "bare CR line ending");
          stage_ = in_trailers_ ? stage::message_done : stage::head_done;
          return i + 1;
        default: return scan_error(i, errc::bad_response, "internal scanner state");
      }
    }
    return size;
  }

  static int hex_value(unsigned char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // chunked-body framing (RFC 9112 section 7.1), no whitespace around chunk sizes.
  // The body cap is applied by on_body (truncation), not here.
  std::size_t scan_chunked_body(const char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      const auto c = static_cast<unsigned char>(data[i]);
      switch (scan_state_) {
        case scan_state::chunk_size_start:
        case scan_state::chunk_size: {
          const int digit = hex_value(c);
          if (digit >= 0) {
            if (++chunk_digits_ > 15) return scan_error(i, errc::bad_response, "chunk size too large");
            chunk_remaining_ = chunk_remaining_ * 16 + static_cast<std::uint64_t>(digit);
            scan_state_ = scan_state::chunk_size;
          } else if (scan_state_ == scan_state::chunk_size && c == ';') {
            scan_state_ = scan_state::chunk_extension;
          } else if (scan_state_ == scan_state::chunk_size && c == '\r') {
            scan_state_ = scan_state::chunk_size_cr;
          } else {
            return scan_error(i, errc::bad_response, "invalid chunk size");
          }
          break;
        }
        case scan_state::chunk_extension:
          if (++header_bytes_ > limits_.max_header_bytes)  // extensions share the head budget
            return scan_error(i, errc::response_too_large, "chunk extensions too large");
          if (c == '\r')
            scan_state_ = scan_state::chunk_size_cr;
          else if ((c < 0x20 && c != '\t') || c == 0x7F)
            return scan_error(i, errc::bad_response, "invalid chunk extension");
          break;
        case scan_state::chunk_size_cr:
          if (c != '\n') return scan_error(i, errc::bad_response, "expected CRLF after chunk size");
          chunk_digits_ = 0;
          if (chunk_remaining_ == 0) {
            in_trailers_ = true;
            scan_state_ = scan_state::field_line_start;
          } else {
            scan_state_ = scan_state::chunk_data;
          }
          break;
        case scan_state::chunk_data: {
          const std::uint64_t left = size - i;
          const std::size_t take = static_cast<std::size_t>(chunk_remaining_ < left ? chunk_remaining_ : left);
          chunk_remaining_ -= take;
          i += take - 1;
          if (chunk_remaining_ == 0) scan_state_ = scan_state::chunk_data_cr;
          break;
        }
        case scan_state::chunk_data_cr:
          if (c != '\r') return scan_error(i, errc::bad_response, "expected CRLF after chunk data");
          scan_state_ = scan_state::chunk_data_lf;
          break;
        case scan_state::chunk_data_lf:
          if (c != '\n') return scan_error(i, errc::bad_response, "expected CRLF after chunk data");
          scan_state_ = scan_state::chunk_size_start;
          break;
        default: {  // trailer section
          const std::size_t used = scan_field_lines(data + i, size - i);
          return i + used;
        }
      }
    }
    return size;
  }

  // ---- llhttp ------------------------------------------------------------------

  std::size_t run_llhttp(const char* data, std::size_t size) {
    if (size == 0) return 0;
    const llhttp_errno_t r = llhttp_execute(&llhttp_, data, size);
    if (r == HPE_OK) return size;
    const std::size_t used = static_cast<std::size_t>(llhttp_get_error_pos(&llhttp_) - data);
    if (complete_ || interim_done_) return used;  // paused by on_message_complete / truncation
    if (!failed_) {
      const char* reason = llhttp_get_error_reason(&llhttp_);
      fail(errc::bad_response, reason != nullptr ? reason : llhttp_errno_name(r));
    }
    return used;
  }

  static int on_status(llhttp_t* p, const char* at, std::size_t length) {
    self(p).message_.reason.append(at, length);
    return 0;
  }

  static int on_header_field(llhttp_t* p, const char* at, std::size_t length) {
    auto& me = self(p);
    if (me.headers_complete_) return 0;  // trailers: checked by the scanner, dropped
    if (!me.building_field_) {
      me.message_.headers.emplace_back();
      me.building_field_ = true;
    }
    me.message_.headers.back().first.append(at, length);
    return 0;
  }

  static int on_header_field_complete(llhttp_t* p) {
    self(p).building_field_ = false;
    return 0;
  }

  static int on_header_value(llhttp_t* p, const char* at, std::size_t length) {
    auto& me = self(p);
    if (me.headers_complete_ || me.message_.headers.empty()) return 0;
    me.message_.headers.back().second.append(at, length);
    return 0;
  }

  static int on_header_value_complete(llhttp_t* p) {
    auto& me = self(p);
    if (me.headers_complete_ || me.message_.headers.empty()) return 0;
    auto& value = me.message_.headers.back().second;
    while (!value.empty() && detail::is_ows(value.back())) value.pop_back();
    return 0;
  }

  static int on_headers_complete(llhttp_t* p) {
    auto& me = self(p);
    me.headers_complete_ = true;
    return me.check_head(*p);
  }

  // 0: continue, 1: no body, -1: error (failed_ set).
  int check_head(llhttp_t& p) {
    message_.status = p.status_code;
    message_.version_minor = p.http_minor;
    if (p.http_major != 1 || p.http_minor > 1) return reject("unsupported HTTP version");
    if (p.status_code < 100 || p.status_code > 599) return reject("invalid status code");
    if (p.status_code == 101) return reject("unexpected 101 Switching Protocols");

    std::size_t content_length_count = 0, transfer_encoding_count = 0;
    std::string_view content_length, transfer_encoding;
    for (const auto& [name, value] : message_.headers) {
      if (detail::iequals(name, "content-length")) {
        ++content_length_count;
        content_length = value;
      } else if (detail::iequals(name, "transfer-encoding")) {
        ++transfer_encoding_count;
        transfer_encoding = value;
      }
    }
    if (content_length_count > 1) return reject("duplicate Content-Length");
    if (content_length_count == 1) {
      if (transfer_encoding_count > 0) return reject("Content-Length together with Transfer-Encoding");
      if (content_length.empty() || content_length.size() > 18) return reject("invalid Content-Length");
      for (const char c : content_length)
        if (c < '0' || c > '9') return reject("invalid Content-Length");
    }
    if (transfer_encoding_count > 0) {
      if (transfer_encoding_count > 1 || !detail::iequals(transfer_encoding, "chunked"))
        return reject("only Transfer-Encoding: chunked is supported");
      if (p.http_minor == 0) return reject("Transfer-Encoding in an HTTP/1.0 response");
    }

    // Interim responses, 204, 304 and answers to HEAD never have a body, whatever
    // their framing headers say (RFC 9112 section 6.3).
    if (p.status_code < 200 || p.status_code == 204 || p.status_code == 304 || head_request_) return 1;
    chunked_ = (p.flags & F_CHUNKED) != 0;
    if (chunked_) scan_state_ = scan_state::chunk_size_start;
    return 0;
  }

  int reject(const char* message) {
    fail(errc::bad_response, message);
    return -1;
  }

  static int on_body(llhttp_t* p, const char* at, std::size_t length) {
    auto& me = self(p);
    auto& body = me.message_.body;
    const std::size_t room = me.limits_.max_body_bytes - body.size();
    if (length <= room) {
      body.append(at, length);
      return 0;
    }
    body.append(at, room);
    me.message_.truncated = true;
    me.message_.keep_alive = false;
    me.complete_ = true;
    return HPE_USER;  // stop here; the rest of the body is never read
  }

  static int on_message_complete(llhttp_t* p) {
    auto& me = self(p);
    if (p->status_code < 200) {
      me.interim_done_ = true;
      return HPE_PAUSED;
    }
    me.complete_ = true;
    me.message_.keep_alive = llhttp_should_keep_alive(p) != 0 && !llhttp_message_needs_eof(p);
    return HPE_PAUSED;
  }

  llhttp_t llhttp_{};
  response_limits limits_;
  response_message message_;
  errc error_ = errc::ok;
  std::string error_message_;
  errc scanner_error_ = errc::ok;
  std::string scanner_message_;

  stage stage_ = stage::head;
  scan_state scan_state_ = scan_state::status_line;
  bool head_request_ = false;
  bool received_any_ = false;
  bool headers_complete_ = false;
  bool complete_ = false;
  bool failed_ = false;
  bool interim_done_ = false;
  bool building_field_ = false;
  bool chunked_ = false;
  bool in_trailers_ = false;
  std::size_t header_bytes_ = 0;
  std::size_t header_lines_ = 0;
  std::uint64_t chunk_remaining_ = 0;
  unsigned chunk_digits_ = 0;
};

}  // namespace lastmile::http
