#include <lastmile/http/request_parser.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using lastmile::http::parse_error;
using lastmile::http::parser_limits;
using lastmile::http::request;
using lastmile::http::request_parser;

namespace {

struct parse_outcome {
  std::size_t consumed = 0;
  bool complete = false;
  bool failed = false;
  bool headers_complete = false;
  parse_error error;
  request req;
};

// Feeds `input` in pieces of `piece` bytes (0 = all at once) until the parser
// completes or fails. Checks the consumed-count contract on the way.
parse_outcome parse(std::string_view input, std::size_t piece = 0, parser_limits limits = {}) {
  request_parser parser{limits};
  parse_outcome out;
  const std::size_t step = piece == 0 ? input.size() : piece;
  std::size_t offset = 0;
  while (offset < input.size() && !parser.complete() && !parser.failed()) {
    const std::size_t size = std::min(step, input.size() - offset);
    const std::size_t used = parser.feed(input.data() + offset, size);
    REQUIRE(used <= size);
    // The parser only stops early on completion or error.
    if (used < size) REQUIRE((parser.complete() || parser.failed()));
    offset += used;
  }
  out.consumed = offset;
  out.complete = parser.complete();
  out.failed = parser.failed();
  out.headers_complete = parser.headers_complete();
  out.error = parser.error();
  if (parser.complete()) out.req = parser.take();
  return out;
}

// The same outcome must come out whatever the read boundaries are.
const std::size_t piece_sizes[] = {0, 1, 2, 3, 7, 64};

void check_error(std::string_view input, int status, std::string_view code, parser_limits limits = {}) {
  for (const std::size_t piece : piece_sizes) {
    INFO("piece size " << piece << ", input: " << std::string(input.substr(0, 200)));
    const auto out = parse(input, piece, limits);
    CHECK(out.failed);
    CHECK_FALSE(out.complete);
    CHECK(out.error.status == status);
    CHECK(out.error.code == code);
    CHECK_FALSE(out.error.message.empty());
  }
}

void check_ok(std::string_view input, parser_limits limits = {}) {
  for (const std::size_t piece : piece_sizes) {
    INFO("piece size " << piece << ", input: " << std::string(input.substr(0, 200)));
    const auto out = parse(input, piece, limits);
    CHECK_FALSE(out.failed);
    CHECK(out.complete);
    CHECK(out.consumed == input.size());
    if (out.failed) MESSAGE("unexpected error: " << out.error.status << " " << out.error.message);
  }
}

std::string post_chunked(std::string_view chunked_body) {
  return "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(chunked_body);
}

std::string with_header(std::string_view header_line) {
  return "GET / HTTP/1.1\r\nHost: a\r\n" + std::string(header_line) + "\r\n\r\n";
}

}  // namespace

TEST_SUITE("http request parser") {
  TEST_CASE("simple GET is parsed completely") {
    const std::string input =
        "GET /topics/a/events?since=5&x=%20 HTTP/1.1\r\nHost: example.com\r\nAccept:  text/event-stream "
        "\t\r\nX-Empty:\r\n\r\n";
    for (const std::size_t piece : piece_sizes) {
      INFO("piece " << piece);
      const auto out = parse(input, piece);
      REQUIRE(out.complete);
      CHECK(out.consumed == input.size());
      const request& req = out.req;
      CHECK(req.method == "GET");
      CHECK(req.target == "/topics/a/events?since=5&x=%20");
      CHECK(req.path() == "/topics/a/events");
      CHECK(req.query() == "since=5&x=%20");
      CHECK(req.version_major == 1);
      CHECK(req.version_minor == 1);
      REQUIRE(req.headers.size() == 3);
      CHECK(req.headers[0].first == "Host");
      CHECK(req.header("HOST").value_or("") == "example.com");
      CHECK(req.header("accept").value_or("") == "text/event-stream");  // OWS trimmed both sides
      CHECK(req.header("x-empty").value_or("missing") == "");
      CHECK_FALSE(req.header("Missing").has_value());
      CHECK(req.body.empty());
      CHECK(req.keep_alive);
      CHECK_FALSE(req.upgrade);
      CHECK_FALSE(req.expect_continue);
    }
  }

  TEST_CASE("state accessors: started, headers_complete, complete, reset") {
    request_parser parser;
    CHECK_FALSE(parser.started());
    CHECK(parser.feed("G", 1) == 1);
    CHECK(parser.started());
    CHECK_FALSE(parser.headers_complete());
    const std::string rest = "ET / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n";
    CHECK(parser.feed(rest) == rest.size());
    CHECK(parser.headers_complete());
    CHECK_FALSE(parser.complete());
    CHECK(parser.feed("body", 4) == 4);
    CHECK(parser.complete());
    CHECK(parser.feed("x", 1) == 0);  // nothing more until reset
    CHECK(parser.get().body == "body");
    const request taken = parser.take();
    CHECK(taken.body == "body");
    CHECK(parser.get().body.empty());
    parser.reset();
    CHECK_FALSE(parser.started());
    CHECK_FALSE(parser.complete());
    CHECK_FALSE(parser.headers_complete());
    const std::string second = "DELETE /x HTTP/1.1\r\nHost: b\r\n\r\n";
    CHECK(parser.feed(second) == second.size());
    REQUIRE(parser.complete());
    CHECK(parser.get().method == "DELETE");
    CHECK(parser.get().header("host").value_or("") == "b");
  }

  TEST_CASE("a moved parser keeps parsing") {
    request_parser first;
    const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab";
    CHECK(first.feed(head) == head.size());
    request_parser second = std::move(first);
    const std::string tail = "c\r\n0\r\n\r\n";
    CHECK(second.feed(tail) == tail.size());
    REQUIRE(second.complete());
    CHECK(second.get().body == "abc");
  }

  TEST_CASE("bodies: Content-Length and chunked (extensions, trailers)") {
    SUBCASE("content-length") {
      const std::string input = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
      for (const std::size_t piece : piece_sizes) {
        const auto out = parse(input, piece);
        REQUIRE(out.complete);
        CHECK(out.req.body == "hello world");
      }
    }
    SUBCASE("chunked with extension and trailer") {
      const std::string input =
          post_chunked("5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
      for (const std::size_t piece : piece_sizes) {
        INFO("piece " << piece);
        const auto out = parse(input, piece);
        REQUIRE(out.complete);
        CHECK(out.consumed == input.size());
        CHECK(out.req.body == "hello world");
        CHECK_FALSE(out.req.header("X-Trailer").has_value());  // trailers are not headers
      }
    }
    SUBCASE("upper-case hex chunk size") {
      const std::string data(26, 'z');
      const auto out = parse(post_chunked("1A\r\n" + data + "\r\n0\r\n\r\n"));
      REQUIRE(out.complete);
      CHECK(out.req.body == data);
    }
    SUBCASE("POST without a body") {
      const auto out = parse("POST /p HTTP/1.1\r\nHost: a\r\n\r\n");
      REQUIRE(out.complete);
      CHECK(out.req.body.empty());
    }
  }

  TEST_CASE("leading empty lines are tolerated; absolute-form target") {
    check_ok("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    const auto out = parse("GET http://example.com/topics/x?since=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    REQUIRE(out.complete);
    CHECK(out.req.path() == "/topics/x");
    CHECK(out.req.query() == "since=1");
  }

  TEST_CASE("R1: limits on header block, header count and target") {
    SUBCASE("header block over the default 16 KiB -> 431") {
      check_error(with_header("X-Big: " + std::string(16 * 1024, 'a')), 431, "headers_too_large");
    }
    SUBCASE("header block at a configured limit") {
      parser_limits limits;
      limits.max_header_bytes = 100;
      // "Host: a\r\n" (9) + "X: <v>\r\n" + "\r\n" (2)
      check_ok("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(100 - 9 - 2 - 5, 'v') + "\r\n\r\n", limits);
      check_error("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(100 - 9 - 2 - 5 + 1, 'v') + "\r\n\r\n",
                  431, "headers_too_large", limits);
    }
    SUBCASE("header count") {
      std::string exactly = "GET / HTTP/1.1\r\nHost: a\r\n";
      for (int i = 1; i < 100; ++i) exactly += "X-" + std::to_string(i) + ": v\r\n";
      check_ok(exactly + "\r\n");
      check_error(exactly + "X-100: v\r\n\r\n", 431, "headers_too_large");
      parser_limits limits;
      limits.max_headers = 2;
      check_error("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 431, "headers_too_large", limits);
    }
    SUBCASE("target over the limit -> 414") {
      check_error("GET /" + std::string(8 * 1024, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "uri_too_long");
      check_ok("GET /" + std::string(8 * 1024 - 1, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n");
      parser_limits limits;
      limits.max_target_bytes = 10;
      check_error("GET /0123456789 HTTP/1.1\r\nHost: a\r\n\r\n", 414, "uri_too_long", limits);
      check_ok("GET /012345678 HTTP/1.1\r\nHost: a\r\n\r\n", limits);
    }
    SUBCASE("a request line that never ends -> 414, not unbounded buffering") {
      check_error("GET /" + std::string(20000, 'a'), 414, "uri_too_long");
    }
    SUBCASE("endless empty lines before the request count against the header budget") {
      std::string lines;
      for (int i = 0; i < 9000; ++i) lines += "\r\n";
      check_error(lines, 431, "headers_too_large");
    }
  }

  TEST_CASE("R2: Content-Length together with Transfer-Encoding -> 400") {
    check_error(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
        "bad_request");
    check_error(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400,
        "bad_request");
    check_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: identity\r\n\r\nabc",
                400, "bad_request");
  }

  TEST_CASE("R3: Transfer-Encoding must end in chunked") {
    const auto te = [](std::string_view value) {
      return "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(value) + "\r\n\r\n0\r\n\r\n";
    };
    check_error(te("pigeons"), 400, "bad_request");
    check_error(te("chunked, gzip"), 400, "bad_request");
    check_error(te("chunkedchunked"), 400, "bad_request");
    check_error(te("identity"), 400, "bad_request");
    check_error(te("chunked, chunked"), 400, "bad_request");
    check_error(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
        "chunked\r\n\r\n0\r\n\r\n",
        400, "bad_request");
    check_error(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
        "gzip\r\n\r\n0\r\n\r\n",
        400, "bad_request");
    // A valid but unsupported coding before chunked: documented as 501.
    check_error(te("gzip, chunked"), 501, "not_implemented");
    check_error(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
        "chunked\r\n\r\n0\r\n\r\n",
        501, "not_implemented");
    // Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 section 6.1).
    check_error("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request");
    // Case-insensitive coding name is fine.
    check_ok(te("Chunked"));
  }

  TEST_CASE("R4: malformed Content-Length -> 400") {
    const auto cl = [](std::string_view value) {
      return "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::string(value) + "\r\n\r\nabcde";
    };
    check_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nabcde", 400,
                "bad_request");
    check_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 3\r\n\r\nabcde", 400,
                "bad_request");
    check_error(cl(""), 400, "bad_request");
    check_error(cl("+5"), 400, "bad_request");
    check_error(cl("-5"), 400, "bad_request");
    check_error(cl("5 5"), 400, "bad_request");
    check_error(cl("5, 5"), 400, "bad_request");
    check_error(cl("0x5"), 400, "bad_request");
    check_error(cl("99999999999999999999999"), 400, "bad_request");
    check_error(cl("18446744073709551616"), 400, "bad_request");  // 2^64
    // Surrounding whitespace is OWS, not part of the value.
    const auto out = parse(cl("5 "));
    REQUIRE(out.complete);
    CHECK(out.req.body == "abcde");
  }

  TEST_CASE("R5: whitespace and line-ending violations -> 400") {
    SUBCASE("whitespace before the colon") { check_error(with_header("X-Test : v"), 400, "bad_request"); }
    SUBCASE("whitespace before the first header") {
      check_error("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "bad_request");
      check_error("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400, "bad_request");
    }
    SUBCASE("obs-fold") {
      check_error("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400, "bad_request");
      check_error("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", 400, "bad_request");
    }
    SUBCASE("bare LF") {
      check_error("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bad_request");
      check_error("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, "bad_request");
      check_error("GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bad_request");
      check_error("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request");
    }
    SUBCASE("bare CR") {
      check_error("GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bad_request");
      check_error("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bad_request");
      check_error("GET / HTTP/1.1\r\nHost: a\r\n\rX", 400, "bad_request");
    }
    SUBCASE("invalid header names") {
      check_error(with_header(": empty-name"), 400, "bad_request");
      check_error(with_header("Bad(Name): v"), 400, "bad_request");
      check_error(with_header("NoColon"), 400, "bad_request");
    }
    SUBCASE("spaces after the chunk size") {
      check_error(post_chunked("3 \r\nabc\r\n0\r\n\r\n"), 400, "bad_request");
      check_error(post_chunked("3\t\r\nabc\r\n0\r\n\r\n"), 400, "bad_request");
      check_error(post_chunked(" 3\r\nabc\r\n0\r\n\r\n"), 400, "bad_request");
    }
    SUBCASE("missing CRLF after chunk data") {
      check_error(post_chunked("3\r\nabcXX0\r\n\r\n"), 400, "bad_request");
      check_error(post_chunked("3\r\nabc\n0\r\n\r\n"), 400, "bad_request");
      check_error(post_chunked("3\r\nabc0\r\n\r\n"), 400, "bad_request");
    }
    SUBCASE("chunk framing and trailer line endings") {
      check_error(post_chunked("3\nabc\r\n0\r\n\r\n"), 400, "bad_request");  // bare LF after size
      check_error(post_chunked("3\r\nabc\r\n0\r\n\n"), 400, "bad_request");  // bare LF ends body
      check_error(post_chunked("3\r\nabc\r\n0\r\nX: y\r\n\n"), 400, "bad_request");
      check_error(post_chunked("3\r\nabc\r\n0\r\nX: y\r\n z\r\n\r\n"), 400, "bad_request");  // folded trailer
      check_error(post_chunked("3\r\nabc\r\n0\r\nX : y\r\n\r\n"), 400, "bad_request");
      check_error(post_chunked("g\r\n"), 400, "bad_request");
      check_error(post_chunked(";ext\r\n"), 400, "bad_request");  // no size digits
    }
  }

  TEST_CASE("R6: Host, version and header value characters") {
    check_error("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "bad_request");
    check_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request");
    check_error("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, "bad_request");
    check_error("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request");
    check_ok("GET / HTTP/1.0\r\n\r\n");  // Host is only mandatory in HTTP/1.1

    for (const char* version : {"HTTP/2.0", "HTTP/1.2", "HTTP/3.0", "HTTP/0.9", "HTTP/9.9"}) {
      INFO(version);
      check_error(std::string("GET / ") + version + "\r\nHost: a\r\n\r\n", 505, "version_not_supported");
    }
    check_error("GET /\r\nHost: a\r\n\r\n", 400, "bad_request");  // no version at all
    check_error("GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400, "bad_request");
    check_error("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400, "bad_request");
    check_error("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "bad_request");
    check_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "version_not_supported");

    check_error(with_header(std::string("X: a\0b", 6)), 400, "bad_request");
    check_error(with_header("X: a\x01"
                            "b"),
                400, "bad_request");
    check_error(with_header("X: a\x1f"
                            "b"),
                400, "bad_request");
    check_error(with_header("X: a\x7f"
                            "b"),
                400, "bad_request");
    // HTAB and obs-text are allowed in values.
    const auto out = parse(with_header("X: a\tb \xe9"));
    REQUIRE(out.complete);
    CHECK(out.req.header("x").value_or("") == "a\tb \xe9");
  }

  TEST_CASE("request line shape") {
    check_error("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request");
    check_error(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request");
    check_error("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request");
    check_error("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_request");
    check_error("FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "not_implemented");
    check_error("get / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "not_implemented");
    check_error("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 501, "not_implemented");
  }

  TEST_CASE("R8: pipelined requests come out one at a time, in order") {
    const std::string first = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
    const std::string second = "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    const std::string third =
        "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
    const std::string fourth = "GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const std::string all = first + second + third + fourth;

    SUBCASE("one buffer") {
      request_parser parser;
      std::string_view rest = all;
      std::vector<request> seen;
      for (const auto& expected : {first, second, third, fourth}) {
        const std::size_t used = parser.feed(rest);
        CHECK(used == expected.size());
        REQUIRE(parser.complete());
        seen.push_back(parser.take());
        parser.reset();
        rest.remove_prefix(used);
      }
      CHECK(rest.empty());
      REQUIRE(seen.size() == 4);
      CHECK(seen[0].target == "/1");
      CHECK(seen[1].target == "/2");
      CHECK(seen[1].body == "abc");
      CHECK(seen[2].target == "/3");
      CHECK(seen[2].body == "xy");
      CHECK(seen[3].target == "/4");
      CHECK_FALSE(seen[3].keep_alive);
      CHECK(seen[2].keep_alive);
    }
    SUBCASE("byte by byte") {
      request_parser parser;
      std::vector<std::string> targets;
      for (const char byte : all) {
        REQUIRE(parser.feed(&byte, 1) == 1);
        REQUIRE_FALSE(parser.failed());
        if (parser.complete()) {
          targets.push_back(parser.get().target);
          parser.reset();
        }
      }
      CHECK(targets == std::vector<std::string>{"/1", "/2", "/3", "/4"});
    }
  }

  TEST_CASE("R9: keep-alive and Expect") {
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").req.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").req.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n").req.keep_alive);
    CHECK_FALSE(parse("GET / HTTP/1.0\r\n\r\n").req.keep_alive);
    const auto ten_keep = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(ten_keep.complete);
    CHECK(ten_keep.req.keep_alive);
    CHECK(ten_keep.req.version_minor == 0);

    SUBCASE("100-continue is reported, the body still follows") {
      request_parser parser;
      const std::string head =
          "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
      CHECK(parser.feed(head) == head.size());
      CHECK(parser.headers_complete());
      CHECK(parser.get().expect_continue);
      CHECK(parser.feed("ok") == 2);
      CHECK(parser.complete());
    }
    SUBCASE("other expectations -> 417") {
      check_error("POST / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 0\r\n\r\n", 417,
                  "expectation_failed");
      check_error("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n", 417,
                  "expectation_failed");
    }
  }

  TEST_CASE("413: bodies over the limit") {
    SUBCASE("announced Content-Length is rejected as soon as the head is complete") {
      request_parser parser;
      const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n";
      parser.feed(head);
      CHECK(parser.failed());
      CHECK(parser.headers_complete());
      CHECK(parser.error().status == 413);
      CHECK(parser.error().code == "too_large");
    }
    SUBCASE("Content-Length exactly at the limit is fine") {
      parser_limits limits;
      limits.max_body_bytes = 10;
      check_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits);
      check_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n01234567890", 413, "too_large",
                  limits);
    }
    SUBCASE("chunked body growing over the limit") {
      parser_limits limits;
      limits.max_body_bytes = 10;
      check_ok(post_chunked("5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"), limits);
      check_error(post_chunked("5\r\n01234\r\n5\r\n56789\r\n1\r\nx\r\n0\r\n\r\n"), 413, "too_large", limits);
      check_error(post_chunked("b\r\n"), 413, "too_large", limits);
      // A huge chunk size is a 413 before it could overflow anything.
      check_error(post_chunked("ffffffffffffffffffffffff\r\n"), 413, "too_large");
    }
    SUBCASE("chunk extensions are paid for from the body budget") {
      parser_limits limits;
      limits.max_body_bytes = 16;
      check_error(post_chunked("1;" + std::string(40, 'e') + "\r\nx\r\n0\r\n\r\n"), 413, "too_large", limits);
    }
    SUBCASE("trailers are paid for from the header budget") {
      parser_limits limits;
      limits.max_header_bytes = 64;
      check_error(post_chunked("1\r\nx\r\n0\r\nX-T: " + std::string(40, 't') + "\r\n\r\n"), 431,
                  "headers_too_large", limits);
    }
  }

  TEST_CASE("upgrade: consumed stops at the end of the head") {
    const std::string head =
        "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    const std::string frames = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    const std::string input = head + frames;
    for (const std::size_t piece : piece_sizes) {
      INFO("piece " << piece);
      const auto out = parse(input, piece);
      REQUIRE(out.complete);
      CHECK(out.consumed == head.size());
      CHECK(out.req.upgrade);
      CHECK(out.req.has_header_token("connection", "upgrade"));
      CHECK(out.req.has_header_token("Upgrade", "WebSocket"));
      CHECK_FALSE(out.req.has_header_token("Connection", "close"));
    }
    // Upgrade header without "Connection: upgrade" is an ordinary request.
    const auto plain = parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    REQUIRE(plain.complete);
    CHECK_FALSE(plain.req.upgrade);
  }

  TEST_CASE("errors stop consumption and stick until reset") {
    request_parser parser;
    const std::string bad = "GET / HTTP/1.1\r\nHost: a\r\nX : y\r\n\r\n";
    const std::size_t used = parser.feed(bad);
    CHECK(parser.failed());
    CHECK(used < bad.size());
    CHECK(parser.feed(bad) == 0);
    parser.reset();
    CHECK_FALSE(parser.failed());
    const std::string good = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(parser.feed(good) == good.size());
    CHECK(parser.complete());
  }

}  // TEST_SUITE
