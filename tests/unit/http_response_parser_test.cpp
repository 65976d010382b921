// The sans-I/O response parser: framing (Content-Length, chunked, until close),
// interim responses, keep-alive, limits and truncation, strictness; every vector
// is also fed split at every byte.
#include <lastmile/http/response_parser.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace lastmile;
using namespace lastmile::http;

namespace {

struct outcome {
  bool complete = false;
  bool failed = false;
  std::error_code error;
  response_message message;
  std::size_t consumed = 0;
};

// Feeds `wire` in pieces of `step` bytes (0 = all at once), then EOF if `eof`.
outcome run(std::string_view wire, std::size_t step = 0, bool eof = false, response_limits limits = {},
            bool head = false) {
  response_parser p(limits);
  p.reset(head);
  outcome o;
  std::size_t pos = 0;
  while (pos < wire.size() && !p.complete() && !p.failed()) {
    const std::size_t n = step == 0 ? wire.size() - pos : std::min(step, wire.size() - pos);
    const std::size_t used = p.feed(wire.substr(pos, n));
    o.consumed += used;
    pos += n;
    if (used < n) break;
  }
  if (eof && !p.complete() && !p.failed()) p.feed_eof();
  o.complete = p.complete();
  o.failed = p.failed();
  o.error = p.error();
  if (o.complete) o.message = p.take();
  return o;
}

// The same result however the bytes are split.
outcome run_all_splits(std::string_view wire, bool eof = false, response_limits limits = {}, bool head = false) {
  const outcome whole = run(wire, 0, eof, limits, head);
  for (std::size_t step = 1; step <= 3; ++step) {
    const outcome split = run(wire, step, eof, limits, head);
    REQUIRE(split.complete == whole.complete);
    REQUIRE(split.failed == whole.failed);
    REQUIRE(split.error == whole.error);
    REQUIRE(split.message.status == whole.message.status);
    REQUIRE(split.message.body == whole.message.body);
    REQUIRE(split.message.keep_alive == whole.message.keep_alive);
    REQUIRE(split.message.truncated == whole.message.truncated);
  }
  // Two-piece splits at every position.
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    response_parser p(limits);
    p.reset(head);
    std::size_t used = p.feed(wire.substr(0, cut));
    if (!p.complete() && !p.failed() && used == cut) p.feed(wire.substr(cut));
    if (eof && !p.complete() && !p.failed()) p.feed_eof();
    REQUIRE_MESSAGE(p.complete() == whole.complete, "cut at ", cut);
    REQUIRE_MESSAGE(p.failed() == whole.failed, "cut at ", cut);
    if (p.complete()) REQUIRE(p.get().body == whole.message.body);
  }
  return whole;
}

}  // namespace

TEST_CASE("response parser: Content-Length body, keep-alive, headers") {
  const auto o = run_all_splits("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-A:  v  \r\n\r\nhello");
  REQUIRE(o.complete);
  CHECK(o.message.status == 200);
  CHECK(o.message.reason == "OK");
  CHECK(o.message.body == "hello");
  CHECK(o.message.keep_alive);
  CHECK_FALSE(o.message.truncated);
  CHECK(o.message.header("content-type") == "text/plain");
  CHECK(o.message.header("x-a") == "v");
  CHECK(o.message.header("missing").empty());
}

TEST_CASE("response parser: stops at the end of the response") {
  const std::string wire = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n";
  const auto o = run(wire);
  REQUIRE(o.complete);
  CHECK(o.message.status == 204);
  CHECK(o.consumed == wire.find("HTTP/1.1 200"));
}

TEST_CASE("response parser: chunked body with extensions and trailers") {
  const auto o = run_all_splits(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n");
  REQUIRE(o.complete);
  CHECK(o.message.body == "hello world");
  CHECK(o.message.keep_alive);
  CHECK(o.message.header("trailer").empty());  // trailers are not merged into the headers
}

TEST_CASE("response parser: body until close") {
  const auto o = run_all_splits("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this", true);
  REQUIRE(o.complete);
  CHECK(o.message.body == "all of this");
  CHECK_FALSE(o.message.keep_alive);
  const auto ten = run_all_splits("HTTP/1.0 200 OK\r\n\r\nold", true);
  REQUIRE(ten.complete);
  CHECK(ten.message.body == "old");
  CHECK_FALSE(ten.message.keep_alive);
}

TEST_CASE("response parser: HTTP/1.0 keep-alive and Connection: close") {
  auto o = run_all_splits("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx");
  REQUIRE(o.complete);
  CHECK(o.message.keep_alive);
  o = run_all_splits("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx");
  REQUIRE(o.complete);
  CHECK_FALSE(o.message.keep_alive);
}

TEST_CASE("response parser: interim 1xx responses are skipped") {
  const auto o = run_all_splits(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 199 Odd\r\nContent-Length: 3\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
  REQUIRE(o.complete);
  CHECK(o.message.status == 201);
  CHECK(o.message.body == "ok");
  CHECK(o.message.header("link").empty());
}

TEST_CASE("response parser: no body for HEAD, 204 and 304") {
  auto o = run_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", false, {}, true);
  REQUIRE(o.complete);
  CHECK(o.message.body.empty());
  CHECK(o.message.keep_alive);
  o = run_all_splits("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
  REQUIRE(o.complete);
  CHECK(o.message.body.empty());
  o = run_all_splits("HTTP/1.1 204 No Content\r\n\r\n");
  REQUIRE(o.complete);
  CHECK(o.message.keep_alive);
}

TEST_CASE("response parser: 3xx is an ordinary response") {
  const auto o = run_all_splits("HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(o.complete);
  CHECK(o.message.status == 302);
  CHECK(o.message.header("location") == "http://169.254.169.254/");
}

TEST_CASE("response parser: a body over the cap is truncated, not an error") {
  response_limits limits;
  limits.max_body_bytes = 4;
  auto o = run_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", false, limits);
  REQUIRE(o.complete);
  CHECK(o.message.body == "0123");
  CHECK(o.message.truncated);
  CHECK_FALSE(o.message.keep_alive);
  o = run_all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", false, limits);
  REQUIRE(o.complete);
  CHECK(o.message.body == "abcd");
  CHECK(o.message.truncated);
  o = run_all_splits("HTTP/1.1 200 OK\r\n\r\n0123456789", true, limits);
  REQUIRE(o.complete);
  CHECK(o.message.body == "0123");
  CHECK(o.message.truncated);
  // Exactly at the cap: not truncated.
  o = run_all_splits("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n0123", false, limits);
  REQUIRE(o.complete);
  CHECK_FALSE(o.message.truncated);
  CHECK(o.message.keep_alive);
}

TEST_CASE("response parser: header limits") {
  response_limits limits;
  limits.max_header_bytes = 64;
  auto o = run_all_splits("HTTP/1.1 200 OK\r\nX-Big: " + std::string(100, 'a') + "\r\n\r\n", false, limits);
  CHECK(o.failed);
  CHECK(o.error == errc::response_too_large);
  limits = {};
  limits.max_headers = 2;
  o = run_all_splits("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", false, limits);
  CHECK(o.failed);
  CHECK(o.error == errc::response_too_large);
}

TEST_CASE("response parser: strictness") {
  const char* bad[] = {
      "HTTP/1.1 200 OK\nContent-Length: 0\n\n",                                 // bare LF
      "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",                             // bare LF in headers
      "HTTP/1.1 200 OK\r\nA: 1\rB: 2\r\n\r\n",                                   // bare CR
      "HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",        // obs-fold
      "HTTP/1.1 200 OK\r\nA : 1\r\n\r\n",                                        // space before colon
      "HTTP/1.1 200 OK\r\nA: x\x01y\r\n\r\n",                                    // control character
      "HTTP/2.0 200 OK\r\n\r\n",                                                 // version
      "HTTP/1.1 099 Low\r\n\r\n",                                                // status range
      "HTTP/1.1 600 High\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",     // duplicate CL
      "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",   // space before size
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",  // no CRLF after data
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",      // 17 hex digits
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: x\n\r\n",             // bare LF in trailer
      "GET / HTTP/1.1\r\n\r\n",                                                  // a request
      "\r\nHTTP/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
  };
  for (const char* wire : bad) {
    const auto o = run(wire, 0, true);
    CHECK_MESSAGE(o.failed, wire);
    CHECK_MESSAGE(o.error == errc::bad_response, wire);
    const auto split = run(wire, 1, true);
    CHECK_MESSAGE(split.failed, wire);
  }
}

TEST_CASE("response parser: a connection closed early is an error") {
  for (const char* wire : {"", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"}) {
    response_parser p;
    p.reset();
    p.feed(std::string_view(wire));
    p.feed_eof();
    CHECK_MESSAGE(p.failed(), wire);
    CHECK(p.error() == errc::bad_response);
    CHECK(p.received_any() == (wire[0] != '\0'));
  }
}

TEST_CASE("response parser: reset serves the next response on the connection") {
  response_parser p;
  p.reset();
  const std::string two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 500 Err\r\nContent-Length: 1\r\n\r\nb";
  const std::size_t used = p.feed(two);
  REQUIRE(p.complete());
  CHECK(p.take().body == "a");
  p.reset();
  p.feed(std::string_view(two).substr(used));
  REQUIRE(p.complete());
  CHECK(p.get().status == 500);
  CHECK(p.get().body == "b");
  response_parser moved = std::move(p);
  CHECK(moved.get().status == 500);
}
