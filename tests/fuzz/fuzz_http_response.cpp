// libFuzzer target for lastmile::http::response_parser (and the webhook URL and
// Retry-After parsers, which also read bytes from the network or from users).
//
// Input: byte 0 picks the read size, byte 1 the flags (HEAD request, EOF at the end,
// a small body cap); the rest is what a server sent on one connection, possibly
// several responses in a row. Invariants checked besides sanitizer reports:
//  - feed() never uses more than it was given, and stops early only when complete()
//    or failed();
//  - a whole-buffer parse and a split parse agree on every response and on the error;
//  - a kept body never exceeds the cap; truncated responses are never keep-alive;
//  - errors are bad_response or response_too_large.

#include <lastmile/http/response_parser.hpp>
#include <lastmile/webhook/retry.hpp>
#include <lastmile/webhook/ssrf.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace lastmile;
using namespace lastmile::http;

struct parsed {
  std::vector<response_message> responses;
  std::error_code error;
};

void check(bool ok) {
  if (!ok) __builtin_trap();
}

parsed parse_stream(std::string_view data, std::size_t step, bool head, bool eof, response_limits limits) {
  parsed out;
  response_parser p(limits);
  p.reset(head);
  std::size_t pos = 0;
  std::string pending;  // bytes not consumed by the previous response
  while (pos < data.size() || !pending.empty()) {
    std::string_view piece;
    if (!pending.empty()) {
      piece = pending;
    } else {
      piece = data.substr(pos, step == 0 ? data.size() - pos : step);
      pos += piece.size();
    }
    const std::size_t used = p.feed(piece);
    check(used <= piece.size());
    if (used < piece.size()) check(p.complete() || p.failed());
    std::string rest(piece.substr(used));
    if (p.failed()) break;
    if (p.complete()) {
      auto m = p.take();
      check(m.body.size() <= limits.max_body_bytes);
      if (m.truncated) check(!m.keep_alive);
      const bool truncated = m.truncated;
      out.responses.push_back(std::move(m));
      // After a cut body the rest of the stream is unread garbage (the client closes
      // the connection), and how much of it feed() reported as used is unspecified.
      if (truncated || out.responses.size() > 64) break;
      p.reset(head);
    }
    pending = std::move(rest);
  }
  if (eof && !p.complete() && !p.failed()) {
    p.feed_eof();
    if (p.complete()) out.responses.push_back(p.take());
  }
  if (p.failed()) {
    out.error = p.error();
    check(out.error == errc::bad_response || out.error == errc::response_too_large);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t step = 1 + bytes[0] % 17;
  const bool head = bytes[1] & 1, eof = bytes[1] & 2;
  response_limits limits;
  if (bytes[1] & 4) limits.max_body_bytes = 7;
  if (bytes[1] & 8) limits.max_header_bytes = 64;
  const std::string_view data(reinterpret_cast<const char*>(bytes) + 2, size - 2);

  const parsed whole = parse_stream(data, 0, head, eof, limits);
  const parsed split = parse_stream(data, step, head, eof, limits);
  check(whole.error == split.error);
  check(whole.responses.size() == split.responses.size());
  for (std::size_t i = 0; i < whole.responses.size(); ++i) {
    check(whole.responses[i].status == split.responses[i].status);
    check(whole.responses[i].body == split.responses[i].body);
    check(whole.responses[i].headers == split.responses[i].headers);
    check(whole.responses[i].keep_alive == split.responses[i].keep_alive);
  }

  // Other parsers of untrusted text: they must not crash.
  (void)webhook::parse_target(data);
  (void)webhook::parse_retry_after(data, std::chrono::system_clock::time_point{});
  (void)webhook::retry_schedule::parse(data);
  webhook::address_policy policy;
  (void)policy.allow(data);
  return 0;
}
