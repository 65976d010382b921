#pragma once

// Sans-I/O HTTP/1.1 request parser: llhttp (request mode, no lenient flags)
// plus a framing scanner and header checks of our own.
//
// Why a scanner in front of llhttp: llhttp 8.1 (default "loose" build) accepts
// obs-fold, "Name : v", bare-LF line endings, missing CRLF after chunk data and
// HTTP/2.0 on the request line. Those differences between parsers are what
// request smuggling exploits, so every byte of the head and of a chunked body
// is checked by `scan_*` below before llhttp sees it. The scanner also enforces
// the size limits, so memory use is bounded no matter what llhttp accepts.
// Behaviour is the same whether llhttp.c is built with LLHTTP_STRICT_MODE or not.
//
// Usage (per connection):
//   request_parser parser;
//   n = parser.feed(bytes);             // consumes at most one request
//   if (parser.failed())   -> send json error (parser.error()), close
//   if (parser.complete()) -> handle parser.take(); parser.reset(); feed the
//                             remaining bytes (pipelining). If take().upgrade,
//                             bytes after `n` belong to the new protocol.

#include <lastmile/http/request.hpp>

#include <llhttp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace lastmile::http {

struct parser_limits {
  std::size_t max_header_bytes = 16 * 1024;  // field lines + blank line (+ trailers); over -> 431
  std::size_t max_body_bytes = 1 << 20;      // decoded body (+ chunk extensions); over -> 413
  std::size_t max_target_bytes = 8 * 1024;   // request-target; request line over target+64 -> 414
  std::size_t max_headers = 100;             // field lines (+ trailer lines); over -> 431
};

// The `code` strings are the JSON `error` values the server sends.
namespace error_codes {
inline constexpr std::string_view bad_request = "bad_request";                      // 400
inline constexpr std::string_view too_large = "too_large";                          // 413
inline constexpr std::string_view uri_too_long = "uri_too_long";                    // 414
inline constexpr std::string_view expectation_failed = "expectation_failed";        // 417
inline constexpr std::string_view headers_too_large = "headers_too_large";          // 431
inline constexpr std::string_view not_implemented = "not_implemented";              // 501
inline constexpr std::string_view version_not_supported = "version_not_supported";  // 505
}  // namespace error_codes

// Every parse error means: send the JSON error with `status`, then close.
struct parse_error {
  int status = 0;
  std::string_view code;  // one of error_codes::*
  std::string message;    // short human-readable text
};

class request_parser {
 public:
  explicit request_parser(parser_limits limits = {}) : limits_(limits) {
    request_.headers.reserve(16);
    init_llhttp();
  }

  // llhttp keeps a back pointer to us, so moves re-point it; copies make no sense.
  request_parser(const request_parser&) = delete;
  request_parser& operator=(const request_parser&) = delete;
  request_parser(request_parser&& other) noexcept { move_from(other); }
  request_parser& operator=(request_parser&& other) noexcept {
    if (this != &other) move_from(other);
    return *this;
  }
  ~request_parser() = default;

  // Consumes bytes of at most one request and returns how many were used.
  // Stops right after a complete request (the rest is the next pipelined
  // request, or the upgraded protocol's data) or at the first error.
  // Returns 0 once complete() or failed() until reset().
  std::size_t feed(const char* data, std::size_t size) {
    if (complete_ || failed_ || size == 0) return 0;
    started_ = true;
    std::size_t position = 0;
    while (position < size && !complete_ && !failed_) {
      const char* chunk = data + position;
      const std::size_t available = size - position;
      std::size_t allowed = available;  // how far llhttp may read: up to a scanner stop or error
      if (stage_ == stage::head) {
        allowed = scan_head(chunk, available);
      } else if (stage_ == stage::chunked_body) {
        allowed = scan_chunked_body(chunk, available);
      }
      const std::size_t used = run_llhttp(chunk, allowed);
      position += used;
      if (failed_ || complete_) break;
      if (used != allowed) {
        fail(400, error_codes::bad_request, "malformed request");  // llhttp stopped without a reason
        break;
      }
      if (scanner_error_.status != 0) {
        // llhttp accepted everything before the offending byte; report what the scanner saw.
        fail(scanner_error_.status, scanner_error_.code, std::move(scanner_error_.message));
        break;
      }
      if (stage_ == stage::head_done) {
        if (!headers_complete_) {
          // "PRI * HTTP/2.0" (HTTP/2 prior knowledge): llhttp waits for the rest of the
          // preface. Otherwise the two parsers disagree on where the head ends.
          if (llhttp_.method == HTTP_PRI)
            fail(505, error_codes::version_not_supported, "HTTP/2 is not supported");
          else
            fail(400, error_codes::bad_request, "malformed header block");
          break;
        }
        stage_ = chunked_ ? stage::chunked_body : stage::fixed_body;
      } else if (stage_ == stage::message_done) {
        fail(400, error_codes::bad_request, "malformed chunked body");  // scanner done, llhttp not
        break;
      }
    }
    return position;
  }

  std::size_t feed(std::string_view bytes) { return feed(bytes.data(), bytes.size()); }

  bool complete() const noexcept { return complete_; }
  bool failed() const noexcept { return failed_; }
  const parse_error& error() const noexcept { return error_; }

  // True once the blank line ending the head was parsed (ends the header timeout).
  bool headers_complete() const noexcept { return headers_complete_; }
  // True once any byte was fed since the last reset (idle vs. header timeout).
  bool started() const noexcept { return started_; }

  request& get() noexcept { return request_; }
  const request& get() const noexcept { return request_; }
  request take() {
    request out = std::move(request_);
    request_ = request{};
    request_.headers.reserve(16);
    return out;
  }

  const parser_limits& limits() const noexcept { return limits_; }

  // Frees the request's memory (header block, strings) while no request is in
  // progress, e.g. before a keep-alive connection waits for its next request; the
  // next request allocates again. Call only when !started() (after reset()).
  void release_memory() noexcept {
    request_ = request{};
    error_ = {};
    scanner_error_ = {};
  }

  // Prepares for the next request on the same connection (after complete()).
  void reset() {
    request_.clear();
    error_ = {};
    scanner_error_ = {};
    stage_ = stage::head;
    scan_state_ = scan_state::leading_line;
    started_ = headers_complete_ = complete_ = failed_ = false;
    building_field_ = chunked_ = in_trailers_ = previous_was_space_ = false;
    request_line_bytes_ = request_line_spaces_ = target_bytes_ = 0;
    header_bytes_ = header_lines_ = 0;
    chunk_remaining_ = body_budget_used_ = 0;
    init_llhttp();
  }

 private:
  // Which part of the message the scanner is looking at.
  enum class stage : std::uint8_t { head, head_done, chunked_body, fixed_body, message_done };

  // clang-format off
  enum class scan_state : std::uint8_t {
    // Empty lines before the request line (tolerated, RFC 9112 section 2.2).
    leading_line, leading_cr,
    request_line, request_line_cr,
    // Header section, reused for the trailer section of a chunked body.
    field_line_start, field_name, field_value, field_cr, final_cr,
    // Chunked body framing.
    chunk_size_start, chunk_size, chunk_extension, chunk_size_cr,
    chunk_data, chunk_data_cr, chunk_data_lf,
  };
  // clang-format on

  // Room for method, two spaces and "HTTP/1.1\r\n" around a maximal target.
  static constexpr std::size_t request_line_overhead = 64;

  static const llhttp_settings_t& settings() noexcept {
    static const llhttp_settings_t instance = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_url = &request_parser::on_url;
      s.on_header_field = &request_parser::on_header_field;
      s.on_header_field_complete = &request_parser::on_header_field_complete;
      s.on_header_value = &request_parser::on_header_value;
      s.on_header_value_complete = &request_parser::on_header_value_complete;
      s.on_headers_complete = &request_parser::on_headers_complete;
      s.on_body = &request_parser::on_body;
      s.on_message_complete = &request_parser::on_message_complete;
      return s;
    }();
    return instance;
  }

  void init_llhttp() noexcept {
    llhttp_init(&llhttp_, HTTP_REQUEST, &settings());
    llhttp_.data = this;
  }

  void move_from(request_parser& other) noexcept {
    llhttp_ = other.llhttp_;
    llhttp_.data = this;
    limits_ = other.limits_;
    request_ = std::move(other.request_);
    error_ = std::move(other.error_);
    scanner_error_ = std::move(other.scanner_error_);
    stage_ = other.stage_;
    scan_state_ = other.scan_state_;
    started_ = other.started_;
    headers_complete_ = other.headers_complete_;
    complete_ = other.complete_;
    failed_ = other.failed_;
    building_field_ = other.building_field_;
    chunked_ = other.chunked_;
    in_trailers_ = other.in_trailers_;
    previous_was_space_ = other.previous_was_space_;
    request_line_bytes_ = other.request_line_bytes_;
    request_line_spaces_ = other.request_line_spaces_;
    target_bytes_ = other.target_bytes_;
    header_bytes_ = other.header_bytes_;
    header_lines_ = other.header_lines_;
    chunk_remaining_ = other.chunk_remaining_;
    body_budget_used_ = other.body_budget_used_;
  }

  static request_parser& self(llhttp_t* parser) noexcept {
    return *static_cast<request_parser*>(parser->data);
  }

  void fail(int status, std::string_view code, std::string message) {
    if (failed_) return;  // keep the first error
    failed_ = true;
    error_ = {status, code, std::move(message)};
  }

  // Records a scanner error; returns the index of the offending byte so llhttp
  // still gets (and may itself reject) everything before it.
  std::size_t scan_error(std::size_t index, int status, std::string_view code, const char* message) {
    scanner_error_ = {status, code, message};
    return index;
  }

  // ---- framing scanner -------------------------------------------------
  // Returns how many bytes llhttp may consume: up to the end of the head (then
  // stage_ == head_done), up to an error (scanner_error_ set) or everything.
  std::size_t scan_head(const char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      const auto c = static_cast<unsigned char>(data[i]);
      switch (scan_state_) {
        case scan_state::leading_line:
          if (c == '\r') {
            scan_state_ = scan_state::leading_cr;
            break;
          }
          if (c == '\n') return scan_error(i, 400, error_codes::bad_request, "bare LF line ending");
          scan_state_ = scan_state::request_line;
          previous_was_space_ = true;  // so a leading space counts as a doubled separator
          [[fallthrough]];
        case scan_state::request_line:
          if (++request_line_bytes_ > limits_.max_target_bytes + request_line_overhead)
            return scan_error(i, 414, error_codes::uri_too_long, "request line too long");
          if (c == ' ') {
            if (previous_was_space_ || ++request_line_spaces_ > 2)
              return scan_error(i, 400, error_codes::bad_request, "malformed request line");
            previous_was_space_ = true;
          } else if (c == '\r') {
            if (request_line_spaces_ != 2 || previous_was_space_)
              return scan_error(i, 400, error_codes::bad_request, "malformed request line");
            scan_state_ = scan_state::request_line_cr;
          } else if (c == '\n') {
            return scan_error(i, 400, error_codes::bad_request, "bare LF line ending");
          } else {
            previous_was_space_ = false;
            if (request_line_spaces_ == 1 && ++target_bytes_ > limits_.max_target_bytes)
              return scan_error(i, 414, error_codes::uri_too_long, "request target too long");
          }
          break;
        case scan_state::leading_cr:
        case scan_state::request_line_cr:
          if (c != '\n') return scan_error(i, 400, error_codes::bad_request, "bare CR line ending");
          if (scan_state_ == scan_state::leading_cr) {
            // Leading empty lines are tolerated but paid for from the header budget.
            header_bytes_ += 2;
            if (header_bytes_ > limits_.max_header_bytes)
              return scan_error(i, 431, error_codes::headers_too_large, "header section too large");
            scan_state_ = scan_state::leading_line;
          } else {
            scan_state_ = scan_state::field_line_start;
          }
          break;
        default:  // header field lines: ends at the blank line, an error or the input's end
          return i + scan_field_lines(data + i, size - i);
      }
    }
    return size;
  }

  // Field lines (headers or trailers) up to and including the blank line.
  // Returns bytes used; on the blank line's LF sets stage_ to head_done or message_done.
  std::size_t scan_field_lines(const char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      const auto c = static_cast<unsigned char>(data[i]);
      if (++header_bytes_ > limits_.max_header_bytes)
        return scan_error(i, 431, error_codes::headers_too_large,
                          in_trailers_ ? "trailer section too large" : "header section too large");
      switch (scan_state_) {
        case scan_state::field_line_start:
          if (c == '\r') {
            scan_state_ = scan_state::final_cr;
          } else if (c == ' ' || c == '\t') {
            return scan_error(
                i, 400, error_codes::bad_request,
                header_lines_ == 0 ? "whitespace before the first header" : "obsolete line folding");
          } else if (c == '\n') {
            return scan_error(i, 400, error_codes::bad_request, "bare LF line ending");
          } else {
            if (++header_lines_ > limits_.max_headers)
              return scan_error(i, 431, error_codes::headers_too_large, "too many header fields");
            if (!detail::is_tchar(c))
              return scan_error(i, 400, error_codes::bad_request, "invalid header name");
            scan_state_ = scan_state::field_name;
          }
          break;
        case scan_state::field_name:
          if (c == ':') {
            scan_state_ = scan_state::field_value;
          } else if (!detail::is_tchar(c)) {
            // Also catches "Name : value", which some parsers read as "Name".
            return scan_error(i, 400, error_codes::bad_request, "invalid header name");
          }
          break;
        case scan_state::field_value:
          if (is_plain_value_byte(c)) {
            // Fast path: skip the rest of a run of ordinary value bytes at once.
            std::size_t run_end = i + 1;
            while (run_end < size && is_plain_value_byte(static_cast<unsigned char>(data[run_end])))
              ++run_end;
            const std::size_t extra = run_end - (i + 1);
            if (header_bytes_ + extra > limits_.max_header_bytes)
              return scan_error(i + 1 + (limits_.max_header_bytes - header_bytes_), 431,
                                error_codes::headers_too_large,
                                in_trailers_ ? "trailer section too large" : "header section too large");
            header_bytes_ += extra;
            i = run_end - 1;
          } else if (c == '\r') {
            scan_state_ = scan_state::field_cr;
          } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
            return scan_error(i, 400, error_codes::bad_request,
                              c == '\n' ? "bare LF line ending" : "control character in header value");
          }
          break;
        case scan_state::field_cr:
          if (c != '\n') return scan_error(i, 400, error_codes::bad_request, "bare CR line ending");
          scan_state_ = scan_state::field_line_start;
          break;
        case scan_state::final_cr:
          if (c != '\n') return scan_error(i, 400, error_codes::bad_request, "bare CR line ending");
          stage_ = in_trailers_ ? stage::message_done : stage::head_done;
          return i + 1;
        default: return scan_error(i, 400, error_codes::bad_request, "internal scanner state");
      }
    }
    return size;
  }

  // Header value bytes that need no attention: VCHAR, SP, HTAB, obs-text.
  static constexpr bool is_plain_value_byte(unsigned char c) noexcept {
    return (c >= 0x20 && c != 0x7F) || c == '\t';
  }

  static int hex_value(unsigned char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // chunked-body = *chunk last-chunk trailer-section CRLF (RFC 9112 section 7.1),
  // with no whitespace allowed around the chunk size.
  std::size_t scan_chunked_body(const char* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      const auto c = static_cast<unsigned char>(data[i]);
      switch (scan_state_) {
        case scan_state::chunk_size_start:
        case scan_state::chunk_size: {
          const int digit = hex_value(c);
          if (digit >= 0) {
            // Checked before it can overflow, so a huge size is a 413, never a wrap-around.
            const std::uint64_t budget_left = limits_.max_body_bytes - body_budget_used_;
            if (chunk_remaining_ > budget_left / 16 ||
                chunk_remaining_ * 16 + static_cast<std::uint64_t>(digit) > budget_left)
              return scan_error(i, 413, error_codes::too_large, "request body too large");
            chunk_remaining_ = chunk_remaining_ * 16 + static_cast<std::uint64_t>(digit);
            scan_state_ = scan_state::chunk_size;
          } else if (scan_state_ == scan_state::chunk_size && c == ';') {
            scan_state_ = scan_state::chunk_extension;
          } else if (scan_state_ == scan_state::chunk_size && c == '\r') {
            scan_state_ = scan_state::chunk_size_cr;
          } else {
            return scan_error(i, 400, error_codes::bad_request, "invalid chunk size");
          }
          break;
        }
        case scan_state::chunk_extension:
          // Extensions are ignored, but their bytes are paid for from the body budget.
          if (++body_budget_used_ + chunk_remaining_ > limits_.max_body_bytes)
            return scan_error(i, 413, error_codes::too_large, "request body too large");
          if (c == '\r') {
            scan_state_ = scan_state::chunk_size_cr;
          } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
            return scan_error(i, 400, error_codes::bad_request, "invalid chunk extension");
          }
          break;
        case scan_state::chunk_size_cr:
          if (c != '\n')
            return scan_error(i, 400, error_codes::bad_request, "expected CRLF after chunk size");
          if (chunk_remaining_ == 0) {
            in_trailers_ = true;
            scan_state_ = scan_state::field_line_start;
          } else {
            body_budget_used_ += chunk_remaining_;
            scan_state_ = scan_state::chunk_data;
          }
          break;
        case scan_state::chunk_data: {
          const std::size_t take =
              static_cast<std::size_t>(std::min<std::uint64_t>(chunk_remaining_, size - i));
          chunk_remaining_ -= take;
          i += take - 1;  // the loop's ++i moves past the last data byte
          if (chunk_remaining_ == 0) scan_state_ = scan_state::chunk_data_cr;
          break;
        }
        case scan_state::chunk_data_cr:
          if (c != '\r')
            return scan_error(i, 400, error_codes::bad_request, "expected CRLF after chunk data");
          scan_state_ = scan_state::chunk_data_lf;
          break;
        case scan_state::chunk_data_lf:
          if (c != '\n')
            return scan_error(i, 400, error_codes::bad_request, "expected CRLF after chunk data");
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

  // ---- llhttp ------------------------------------------------------------
  // Runs llhttp over [data, data + size); returns the bytes it consumed.
  std::size_t run_llhttp(const char* data, std::size_t size) {
    if (size == 0) return 0;
    const llhttp_errno_t result = llhttp_execute(&llhttp_, data, size);
    if (result == HPE_OK) return size;
    const std::size_t used = static_cast<std::size_t>(llhttp_get_error_pos(&llhttp_) - data);
    if (complete_) return used;          // paused by on_message_complete (or upgrade)
    if (result == HPE_PAUSED_UPGRADE) {  // defensive: we always pause in on_message_complete
      complete_ = true;
      request_.upgrade = true;
      return used;
    }
    if (!failed_) fail_from_llhttp(result);
    return used;
  }

  void fail_from_llhttp(llhttp_errno_t result) {
    const char* reason = llhttp_get_error_reason(&llhttp_);
    std::string message = reason != nullptr ? reason : llhttp_errno_name(result);
    switch (result) {
      case HPE_INVALID_METHOD:
        // RFC 9110 section 9.1: unknown or unimplemented methods get 501.
        fail(501, error_codes::not_implemented, "unsupported method");
        return;
      case HPE_INVALID_VERSION:
        // llhttp uses this errno for syntax errors too; only a well-formed but
        // unsupported number ("HTTP/1.2", "HTTP/3.0") deserves 505.
        if (message == "Invalid HTTP version")
          fail(505, error_codes::version_not_supported, "HTTP version not supported");
        else
          fail(400, error_codes::bad_request, std::move(message));
        return;
      case HPE_PAUSED_H2_UPGRADE:  // "PRI * HTTP/2.0": HTTP/2 prior knowledge
        fail(505, error_codes::version_not_supported, "HTTP/2 is not supported");
        return;
      default: fail(400, error_codes::bad_request, std::move(message)); return;
    }
  }

  static int on_url(llhttp_t* parser, const char* at, std::size_t length) {
    auto& me = self(parser);
    if (me.request_.target.size() + length > me.limits_.max_target_bytes) {
      me.fail(414, error_codes::uri_too_long, "request target too long");
      return HPE_USER;
    }
    me.request_.target.append(at, length);
    return 0;
  }

  static int on_header_field(llhttp_t* parser, const char* at, std::size_t length) {
    auto& me = self(parser);
    if (me.headers_complete_) return 0;  // trailer fields: validated by the scanner, then dropped
    if (!me.building_field_) {
      if (me.request_.headers.capacity() == 0) me.request_.headers.reserve(16);  // after release_memory()
      me.request_.headers.emplace_back();
      me.building_field_ = true;
    }
    me.request_.headers.back().first.append(at, length);
    return 0;
  }

  static int on_header_field_complete(llhttp_t* parser) {
    self(parser).building_field_ = false;
    return 0;
  }

  static int on_header_value(llhttp_t* parser, const char* at, std::size_t length) {
    auto& me = self(parser);
    if (me.headers_complete_ || me.request_.headers.empty()) return 0;
    me.request_.headers.back().second.append(at, length);
    return 0;
  }

  static int on_header_value_complete(llhttp_t* parser) {
    auto& me = self(parser);
    if (me.headers_complete_ || me.request_.headers.empty()) return 0;
    auto& value = me.request_.headers.back().second;  // llhttp strips leading OWS, not trailing
    while (!value.empty() && detail::is_ows(value.back())) value.pop_back();
    return 0;
  }

  static int on_headers_complete(llhttp_t* parser) {
    auto& me = self(parser);
    me.headers_complete_ = true;
    if (!me.check_head(*parser)) return -1;
    return 0;
  }

  // Semantic checks on the complete head; fills the request's summary fields.
  bool check_head(llhttp_t& parser) {
    request_.version_major = parser.http_major;
    request_.version_minor = parser.http_minor;
    request_.method = llhttp_method_name(static_cast<llhttp_method_t>(parser.method));

    if (parser.http_major != 1 || parser.http_minor > 1) {
      fail(505, error_codes::version_not_supported, "HTTP version not supported");
      return false;
    }
    if (parser.method == HTTP_CONNECT) {
      fail(501, error_codes::not_implemented, "CONNECT is not supported");
      return false;
    }

    std::size_t host_count = 0, content_length_count = 0, transfer_encoding_count = 0;
    std::string_view content_length_value;
    bool unsupported_expectation = false;
    for (const auto& [name, value] : request_.headers) {
      if (detail::iequals(name, "host")) {
        ++host_count;
      } else if (detail::iequals(name, "content-length")) {
        ++content_length_count;
        content_length_value = value;
      } else if (detail::iequals(name, "transfer-encoding")) {
        ++transfer_encoding_count;
      } else if (detail::iequals(name, "expect")) {
        if (detail::iequals(value, "100-continue"))
          request_.expect_continue = parser.http_minor == 1;  // HTTP/1.0 must ignore it
        else
          unsupported_expectation = true;
      }
    }

    if (host_count > 1) return fail_bad_request("duplicate Host header");
    if (host_count == 0 && parser.http_minor == 1) return fail_bad_request("missing Host header");

    std::uint64_t content_length = 0;
    if (content_length_count > 1) return fail_bad_request("duplicate Content-Length");
    if (content_length_count == 1) {
      if (transfer_encoding_count > 0)
        return fail_bad_request("Content-Length together with Transfer-Encoding");
      // 1*DIGIT only: no sign, no inner spaces, no lists; 18 digits cannot overflow.
      if (content_length_value.empty() || content_length_value.size() > 18)
        return fail_bad_request("invalid Content-Length");
      for (const char c : content_length_value) {
        if (c < '0' || c > '9') return fail_bad_request("invalid Content-Length");
        content_length = content_length * 10 + static_cast<std::uint64_t>(c - '0');
      }
    }

    if (transfer_encoding_count > 0) {
      if (parser.http_minor == 0)  // RFC 9112 section 6.1: faulty framing for HTTP/1.0
        return fail_bad_request("Transfer-Encoding in an HTTP/1.0 request");
      if (!check_transfer_encoding()) return false;
    }

    if (unsupported_expectation) {
      fail(417, error_codes::expectation_failed, "only Expect: 100-continue is supported");
      return false;
    }

    if (content_length > limits_.max_body_bytes) {
      fail(413, error_codes::too_large, "request body too large");
      return false;
    }
    if (content_length > 0)
      request_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(content_length, 64 * 1024)));

    chunked_ = (parser.flags & F_CHUNKED) != 0;
    if (chunked_) scan_state_ = scan_state::chunk_size_start;
    request_.keep_alive = llhttp_should_keep_alive(&parser) != 0;
    return true;
  }

  // The last transfer coding must be "chunked" (otherwise the body length is
  // unknowable: 400), chunked must appear once, and we decode nothing else (501).
  bool check_transfer_encoding() {
    std::size_t codings = 0, chunked_count = 0;
    bool last_is_chunked = false;
    for (const auto& [name, value] : request_.headers) {
      if (!detail::iequals(name, "transfer-encoding")) continue;
      detail::for_each_list_element(value, [&](std::string_view element) {
        const auto coding = detail::trim_ows(element.substr(0, element.find(';')));
        last_is_chunked = detail::iequals(coding, "chunked");
        chunked_count += last_is_chunked ? 1 : 0;
        ++codings;
        return true;
      });
    }
    if (codings == 0) return fail_bad_request("empty Transfer-Encoding");
    if (!last_is_chunked) return fail_bad_request("Transfer-Encoding must end with chunked");
    if (chunked_count > 1) return fail_bad_request("chunked applied more than once");
    if (codings > 1) {
      fail(501, error_codes::not_implemented, "only the chunked transfer coding is supported");
      return false;
    }
    return true;
  }

  bool fail_bad_request(const char* message) {
    fail(400, error_codes::bad_request, message);
    return false;
  }

  static int on_body(llhttp_t* parser, const char* at, std::size_t length) {
    auto& me = self(parser);
    if (me.request_.body.size() + length > me.limits_.max_body_bytes) {  // defensive; scanner checks first
      me.fail(413, error_codes::too_large, "request body too large");
      return HPE_USER;
    }
    me.request_.body.append(at, length);
    return 0;
  }

  static int on_message_complete(llhttp_t* parser) {
    auto& me = self(parser);
    me.complete_ = true;
    me.request_.upgrade = parser->upgrade != 0;
    return HPE_PAUSED;  // one message per feed(): the caller handles it before the next
  }

  llhttp_t llhttp_{};
  parser_limits limits_;
  request request_;
  parse_error error_;
  parse_error scanner_error_;  // held until llhttp has seen the bytes before it

  stage stage_ = stage::head;
  scan_state scan_state_ = scan_state::leading_line;
  bool started_ = false;
  bool headers_complete_ = false;
  bool complete_ = false;
  bool failed_ = false;
  bool building_field_ = false;  // llhttp may deliver one name in several pieces
  bool chunked_ = false;
  bool in_trailers_ = false;
  bool previous_was_space_ = false;  // request line: catches doubled spaces
  std::size_t request_line_bytes_ = 0;
  std::size_t request_line_spaces_ = 0;
  std::size_t target_bytes_ = 0;
  std::size_t header_bytes_ = 0;
  std::size_t header_lines_ = 0;
  std::uint64_t chunk_remaining_ = 0;   // chunk size while parsing it, then data bytes left
  std::uint64_t body_budget_used_ = 0;  // chunk data announced so far + extension bytes
};

}  // namespace lastmile::http
