#include <lastmile/http/response.hpp>

#include <lastmile/detail/json_writer.hpp>
#include <lastmile/http/request_parser.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

using namespace lastmile::http;
using lastmile::detail::append_json_string;
using lastmile::detail::json_string;
using lastmile::detail::json_writer;

TEST_SUITE("json writer") {
  TEST_CASE("string escaping") {
    CHECK(json_string("plain") == "\"plain\"");
    CHECK(json_string("") == "\"\"");
    CHECK(json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(json_string("\b\f\n\r\t") == "\"\\b\\f\\n\\r\\t\"");
    CHECK(json_string(std::string_view("\0\x01\x1f", 3)) == "\"\\u0000\\u0001\\u001f\"");
    CHECK(json_string("/ \x7f \xc3\xa9") == "\"/ \x7f \xc3\xa9\"");  // UTF-8 and DEL copied through

    std::string out = "prefix:";
    append_json_string(out, "x\ny");
    CHECK(out == "prefix:\"x\\ny\"");
  }

  TEST_CASE("writer builds objects and arrays with correct commas") {
    std::string out;
    json_writer w{out};
    w.begin_object()
        .member("id", std::uint64_t{42})
        .member("ok", true)
        .member("name", "a\"b")
        .key("list")
        .begin_array()
        .value(1)
        .value(-2)
        .null()
        .begin_object()
        .end_object()
        .end_array()
        .key("raw")
        .raw("{\"x\":1}")
        .end_object();
    CHECK(out == "{\"id\":42,\"ok\":true,\"name\":\"a\\\"b\",\"list\":[1,-2,null,{}],\"raw\":{\"x\":1}}");
  }

}  // TEST_SUITE

TEST_SUITE("http response") {
  TEST_CASE("reason phrases") {
    CHECK(reason_phrase(200) == "OK");
    CHECK(reason_phrase(101) == "Switching Protocols");
    CHECK(reason_phrase(404) == "Not Found");
    CHECK(reason_phrase(413) == "Content Too Large");
    CHECK(reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(reason_phrase(505) == "HTTP Version Not Supported");
    CHECK(reason_phrase(799) == "Unknown");
  }

  TEST_CASE("head with Content-Length") {
    response_head head;
    head.status = 201;
    head.add("Content-Type", "application/json").add("X-Id", "7");
    head.content_length = 12;
    CHECK(serialize_head(head) ==
          "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Id: 7\r\nContent-Length: 12\r\n\r\n");
  }

  TEST_CASE("full response, close") {
    response_head head;
    head.close = true;
    CHECK(serialize_response(head, "hello") ==
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  }

  TEST_CASE("chunked streaming head and chunks") {
    response_head head;
    head.framing = body_framing::chunked;
    head.add("Content-Type", "text/event-stream");
    std::string out = serialize_head(head);
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");

    CHECK(chunk_header(0) == "0\r\n");
    CHECK(chunk_header(10) == "a\r\n");
    CHECK(chunk_header(255) == "ff\r\n");
    CHECK(chunk_header(4096) == "1000\r\n");
    CHECK(chunk_header(0xdeadbeef) == "deadbeef\r\n");

    std::string body;
    append_chunk(body, "data: hi\n\n");
    append_chunk(body, "");  // must not terminate the stream
    append_chunk(body, "x");
    body.append(last_chunk);
    CHECK(body == "a\r\ndata: hi\n\n\r\n1\r\nx\r\n0\r\n\r\n");
  }

  TEST_CASE("chunked output round-trips through our own request parser") {
    std::string body;
    append_chunk(body, std::string(300, 'q'));
    append_chunk(body, "tail");
    body.append(last_chunk);
    request_parser parser;
    const std::string input = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
    CHECK(parser.feed(input) == input.size());
    REQUIRE(parser.complete());
    CHECK(parser.get().body == std::string(300, 'q') + "tail");
  }

  TEST_CASE("1xx and 204 never carry framing headers") {
    response_head upgrade;
    upgrade.status = 101;
    upgrade.add("Upgrade", "websocket").add("Connection", "Upgrade");
    CHECK(serialize_head(upgrade) ==
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");

    response_head empty;
    empty.status = 204;
    empty.framing = body_framing::chunked;
    CHECK(serialize_head(empty) == "HTTP/1.1 204 No Content\r\n\r\n");

    response_head unframed;
    unframed.framing = body_framing::none;
    CHECK(serialize_head(unframed) == "HTTP/1.1 200 OK\r\n\r\n");
  }

  TEST_CASE("CR/LF/NUL in headers are rejected, not emitted") {
    CHECK(is_valid_header_value("fine value\twith tab"));
    CHECK_FALSE(is_valid_header_value("a\r\nSet-Cookie: x"));
    CHECK_FALSE(is_valid_header_value("a\nb"));
    CHECK_FALSE(is_valid_header_value(std::string_view("a\0b", 3)));
    CHECK_FALSE(is_valid_header_name("Bad Name"));
    CHECK_FALSE(is_valid_header_name(""));

    std::string out = "untouched";
    response_head head;
    head.add("X-Echo", "a\r\nInjected: yes");
    CHECK_THROWS_AS(append_head(out, head), std::invalid_argument);
    CHECK(out == "untouched");

    response_head bad_name;
    bad_name.add("X Bad", "v");
    CHECK_THROWS_AS(serialize_head(bad_name), std::invalid_argument);

    response_head framing;
    framing.add("Content-Length", "5");
    CHECK_THROWS_AS(serialize_head(framing), std::invalid_argument);

    response_head status;
    status.status = 42;
    CHECK_THROWS_AS(serialize_head(status), std::invalid_argument);
  }

  TEST_CASE("json error body and response") {
    CHECK(json_error_body("bad_request", "Invalid header value char") ==
          R"({"error":"bad_request","message":"Invalid header value char"})");
    CHECK(json_error_body("x", "quote \" and\nnewline") ==
          R"({"error":"x","message":"quote \" and\nnewline"})");

    const std::string response = json_error_response(431, "headers_too_large", "too many header fields");
    const std::string body = R"({"error":"headers_too_large","message":"too many header fields"})";
    CHECK(
        response ==
        "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);

    const std::string not_allowed =
        json_error_response(405, "method_not_allowed", "nope", false, {{"Allow", "GET, POST"}});
    CHECK(not_allowed.find("Allow: GET, POST\r\n") != std::string::npos);
    CHECK(not_allowed.find("Connection: close") == std::string::npos);
  }

}  // TEST_SUITE
