// libFuzzer target for lastmile::http::request_parser.
//
// The first input byte picks the read sizes, so the same request is seen split
// at different points; the rest is a byte stream that may hold several
// pipelined requests. Besides crashes/sanitizer reports it checks invariants:
//  - feed() never reports more bytes than it was given and only stops early on
//    complete() or failed();
//  - errors carry one of the documented status/code pairs;
//  - a whole-buffer parse and a split parse of the same bytes agree on every
//    request (target, body, headers, flags) and on the final error status.
//  - route matching and query parsing of every parsed target do not misbehave.

#include <lastmile/http/request_parser.hpp>
#include <lastmile/http/response.hpp>
#include <lastmile/http/router.hpp>
#include <lastmile/http/url.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace lastmile::http;

struct parsed_stream {
  std::vector<request> requests;
  int error_status = 0;
  std::string error_code;
  std::size_t consumed = 0;
};

[[noreturn]] void invariant_failed(const char* what) {
  __builtin_trap();
  (void)what;
}

bool is_known_error(int status, std::string_view code) {
  return (status == 400 && code == error_codes::bad_request) ||
         (status == 413 && code == error_codes::too_large) ||
         (status == 414 && code == error_codes::uri_too_long) ||
         (status == 417 && code == error_codes::expectation_failed) ||
         (status == 431 && code == error_codes::headers_too_large) ||
         (status == 501 && code == error_codes::not_implemented) ||
         (status == 505 && code == error_codes::version_not_supported);
}

// Feeds `input` in pieces whose sizes cycle through `pieces`; handles pipelining
// the way the server will: take, reset, feed the remainder.
parsed_stream parse_stream(std::string_view input, const std::vector<std::size_t>& pieces,
                           const parser_limits& limits) {
  parsed_stream out;
  request_parser parser{limits};
  std::size_t offset = 0;
  std::size_t piece_index = 0;
  std::size_t buffered_end = 0;  // bytes "received" so far; the parser may leave some of them unconsumed
  while (offset < input.size()) {
    if (buffered_end <= offset) {
      buffered_end = std::min(input.size(), offset + pieces[piece_index++ % pieces.size()]);
    }
    const std::size_t available = buffered_end - offset;
    const std::size_t used = parser.feed(input.data() + offset, available);
    if (used > available) invariant_failed("consumed more than given");
    if (used < available && !parser.complete() && !parser.failed()) invariant_failed("stopped early");
    offset += used;
    if (parser.failed()) {
      if (!is_known_error(parser.error().status, parser.error().code)) invariant_failed("unknown error");
      if (parser.error().message.empty()) invariant_failed("empty message");
      out.error_status = parser.error().status;
      out.error_code = std::string(parser.error().code);
      break;
    }
    if (parser.complete()) {
      const request& req = parser.get();
      if (req.body.size() > limits.max_body_bytes) invariant_failed("body over limit");
      if (req.target.size() > limits.max_target_bytes) invariant_failed("target over limit");
      if (req.headers.size() > limits.max_headers) invariant_failed("too many headers");
      if (!parser.headers_complete()) invariant_failed("complete without headers");
      const bool upgrade = req.upgrade;
      out.requests.push_back(parser.take());
      if (upgrade) break;  // the rest of the stream is not HTTP any more
      parser.reset();
    }
  }
  out.consumed = offset;
  return out;
}

void exercise_helpers(const request& req) {
  static const router<int> routes = [] {
    router<int> r;
    r.add("GET", "/topics/{topic}/events", 1)
        .add("POST", "/topics/{topic}/events", 2)
        .add("GET", "/health", 3);
    return r;
  }();
  const auto match = routes.match(req.method, req.path());
  if (match.status == match_status::found && match.handler == nullptr)
    invariant_failed("found without handler");
  for (const auto& [name, value] : match.params)
    if (value.empty() || value.find('\0') != std::string::npos) invariant_failed("bad param");
  if (const auto params = parse_query(req.query())) {
    for (const auto& [name, value] : *params)
      if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos)
        invariant_failed("NUL in query");
  }
  (void)json_error_body(req.method, req.target);
}

bool same_requests(const parsed_stream& a, const parsed_stream& b) {
  if (a.requests.size() != b.requests.size() || a.error_status != b.error_status ||
      a.error_code != b.error_code)
    return false;
  // Where exactly an error stops consumption is informative only; success must agree exactly.
  if (a.error_status == 0 && a.consumed != b.consumed) return false;
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    const request& x = a.requests[i];
    const request& y = b.requests[i];
    if (x.method != y.method || x.target != y.target || x.body != y.body || x.headers != y.headers ||
        x.keep_alive != y.keep_alive || x.upgrade != y.upgrade || x.expect_continue != y.expect_continue ||
        x.version_minor != y.version_minor)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Small limits so the fuzzer reaches every limit path with short inputs.
  parser_limits limits;
  limits.max_header_bytes = 512;
  limits.max_body_bytes = 256;
  limits.max_target_bytes = 128;
  limits.max_headers = 8;

  const std::vector<std::size_t> whole{input.size() + 1};
  std::vector<std::size_t> split;
  switch (control & 3) {
    case 0: split = {1}; break;
    case 1: split = {static_cast<std::size_t>((control >> 2) % 7 + 2)}; break;
    case 2: split = {static_cast<std::size_t>((control >> 2) + 1), 1, 3}; break;
    default:
      split = {static_cast<std::size_t>(control >> 4) + 1, static_cast<std::size_t>((control >> 2) & 3) + 1};
      break;
  }

  const parsed_stream reference = parse_stream(input, whole, limits);
  const parsed_stream pieces = parse_stream(input, split, limits);
  if (!same_requests(reference, pieces)) invariant_failed("split parse differs from whole parse");

  for (const request& req : reference.requests) exercise_helpers(req);
  return 0;
}
