// The WebSocket endpoint's JSON control messages: parsing (with every error code)
// and the server's messages, including the shared per-event message.
#include <lastmile/ws/control.hpp>

#include <lastmile/ws/session.hpp>

#include <doctest/doctest.h>
#include <zlib.h>

using namespace lastmile;
using namespace lastmile::ws;

namespace {

control_message ok(std::string_view text) {
  auto r = parse_control(text);
  if (auto* e = std::get_if<control_error>(&r)) FAIL("unexpected error ", e->code, ": ", e->message);
  return std::get<control_message>(r);
}

std::string_view code_of(std::string_view text) {
  auto r = parse_control(text);
  auto* e = std::get_if<control_error>(&r);
  REQUIRE(e);
  CHECK_FALSE(e->message.empty());
  return e->code;
}

}  // namespace

TEST_CASE("ws control: the four client messages") {
  auto sub = ok(R"({"type":"subscribe","topic":"orders"})");
  CHECK(sub.type == control_type::subscribe);
  CHECK(sub.topic == "orders");
  CHECK_FALSE(sub.from);

  auto wild = ok(R"({"type":"subscribe","topic":"orders.*","from":"earliest"})");
  CHECK(wild.topic == "orders.*");
  REQUIRE(wild.from);
  CHECK(*wild.from == position::earliest());
  CHECK(*ok(R"({"type":"subscribe","topic":"t","from":"latest"})").from == position::latest());
  CHECK(*ok(R"({"type":"subscribe","topic":"t","from":"a1-42"})").from == position::after({0xa1, 42}));

  auto unsub = ok(R"({"type":"unsubscribe","topic":"orders"})");
  CHECK(unsub.type == control_type::unsubscribe);
  CHECK(unsub.topic == "orders");

  auto pub = ok(R"({"type":"publish","topic":"orders","event":"created","data":{ "order" : [1, 2.5, "x"] }})");
  CHECK(pub.type == control_type::publish);
  CHECK(pub.topic == "orders");
  CHECK(pub.event == "created");
  CHECK(pub.data == R"({"order":[1,2.5,"x"]})");  // re-serialized JSON text of the value
  auto pub_default = ok(R"({"type":"publish","topic":"t","data":"hi"})");
  CHECK(pub_default.event == "message");
  CHECK(pub_default.data == R"("hi")");
  CHECK(ok(R"({"type":"publish","topic":"t","data":null})").data == "null");

  CHECK(ok(R"({"type":"ping"})").type == control_type::ping);
  CHECK(ok(" {\"type\" : \"ping\"} \n").type == control_type::ping);
}

TEST_CASE("ws control: unknown fields are ignored, order does not matter") {
  auto m = ok(R"({"topic":"t","extra":{"nested":[1,2]},"type":"subscribe","id":7})");
  CHECK(m.type == control_type::subscribe);
  CHECK(m.topic == "t");
  CHECK(ok(R"({"type":"ping","topic":5})").type == control_type::ping);  // not read for ping
}

TEST_CASE("ws control: errors name the problem") {
  CHECK(code_of("") == error_codes::bad_request);
  CHECK(code_of("not json") == error_codes::bad_request);
  CHECK(code_of("{") == error_codes::bad_request);
  CHECK(code_of(R"({"type":"ping"} trailing)") == error_codes::bad_request);
  CHECK(code_of("[]") == error_codes::bad_request);
  CHECK(code_of(R"("subscribe")") == error_codes::bad_request);
  CHECK(code_of("{}") == error_codes::bad_request);
  CHECK(code_of(R"({"type":1})") == error_codes::bad_request);
  CHECK(code_of(R"({"type":"Subscribe","topic":"t"})") == error_codes::unknown_type);
  CHECK(code_of(R"({"type":"dance"})") == error_codes::unknown_type);
  CHECK(code_of(R"({"type":"subscribe"})") == error_codes::bad_request);
  CHECK(code_of(R"({"type":"subscribe","topic":["t"]})") == error_codes::bad_request);
  CHECK(code_of(R"({"type":"subscribe","topic":""})") == error_codes::bad_topic);
  CHECK(code_of(R"({"type":"subscribe","topic":"a b"})") == error_codes::bad_topic);
  CHECK(code_of(R"({"type":"subscribe","topic":"*"})") == error_codes::bad_topic);
  CHECK(code_of(R"({"type":"subscribe","topic":".*"})") == error_codes::bad_topic);
  CHECK(code_of(("{\"type\":\"subscribe\",\"topic\":\"" + std::string(129, 'a') + "\"}")) == error_codes::bad_topic);
  CHECK(code_of(R"({"type":"unsubscribe","topic":"x/y"})") == error_codes::bad_topic);
  CHECK(code_of(R"({"type":"subscribe","topic":"t","from":"nope"})") == error_codes::bad_cursor);
  CHECK(code_of(R"({"type":"subscribe","topic":"t","from":"01-1"})") == error_codes::bad_cursor);  // not canonical
  CHECK(code_of(R"({"type":"subscribe","topic":"t","from":5})") == error_codes::bad_cursor);
  CHECK(code_of(R"({"type":"publish","topic":"t.*","data":1})") == error_codes::bad_topic);  // publish needs a name
  CHECK(code_of(R"({"type":"publish","topic":"t"})") == error_codes::bad_request);           // data is required
  CHECK(code_of(R"({"type":"publish","topic":"t","event":"a b","data":1})") == error_codes::bad_request);
  CHECK(code_of(R"({"type":"publish","topic":"t","event":7,"data":1})") == error_codes::bad_request);
  CHECK(code_of(R"({"type":"publish","topic":"t","data":1e999})") == error_codes::bad_request);  // not representable
}

TEST_CASE("ws control: big messages use a throwaway parser and still work") {
  std::string big = R"({"type":"publish","topic":"t","data":")" + std::string(200 * 1024, 'x') + "\"}";
  auto m = ok(big);
  CHECK(m.data.size() == 200 * 1024 + 2);
  CHECK(ok(R"({"type":"ping"})").type == control_type::ping);  // the cached parser is fine afterwards
}

TEST_CASE("ws control: server messages") {
  CHECK(subscribed_message("orders.*") == R"({"type":"subscribed","topic":"orders.*"})");
  CHECK(unsubscribed_message("t") == R"({"type":"unsubscribed","topic":"t"})");
  CHECK(published_message({0xab, 7}) == R"({"type":"published","id":"ab-7"})");
  CHECK(pong_message() == R"({"type":"pong"})");
  CHECK(error_message("bad_request", "say \"hi\"\n") ==
        R"({"type":"error","code":"bad_request","message":"say \"hi\"\n"})");
  CHECK(error_message("x", std::string_view("\xff", 1)) == "{\"type\":\"error\",\"code\":\"x\",\"message\":\"\xEF\xBF\xBD\"}");
  CHECK(reset_message("orders", {0xab, 15}) ==
        R"({"type":"reset","topic":"orders","reason":"cursor_expired","earliest":"ab-15"})");
}

TEST_CASE("ws control: the event message and its shared frames") {
  auto t = std::chrono::sys_days{std::chrono::year{2026} / 11 / 28} + std::chrono::hours{10} +
           std::chrono::milliseconds{123};
  auto e = event_record::make({0xab, 42}, "orders", "created", R"( {"order": 42} )", t);
  const std::string expected =
      R"({"topic":"orders","event":{"id":"ab-42","type":"created","data":{"order": 42},"time":"2026-11-28T10:00:00.123Z"}})";
  CHECK(event_message(*e) == expected);
  auto text = event_record::make({0xab, 43}, "t", "message", "not \"json\"", t);
  CHECK(event_message(*text) ==
        R"({"topic":"t","event":{"id":"ab-43","type":"message","data":"not \"json\"","time":"2026-11-28T10:00:00.123Z"}})");

  const std::string& f1 = event_frame(*e);
  CHECK(&f1 == &event_frame(*e));  // computed once, shared
  REQUIRE(f1.size() == expected.size() + 2);
  CHECK(std::uint8_t(f1[0]) == 0x81);
  CHECK(std::uint8_t(f1[1]) == expected.size());
  CHECK(f1.substr(2) == expected);

  // A big, compressible event: the deflated frame has RSV1 and inflates to the message.
  std::string payload = "[";
  for (int i = 0; i < 500; ++i) payload += (i ? "," : "") + std::string("\"repeat repeat\"");
  payload += "]";
  auto big = event_record::make({0xab, 44}, "t", "m", payload, t);
  const std::string& plain = event_frame(*big);
  const std::string& packed = event_frame_deflated(*big);
  CHECK(&packed == &event_frame_deflated(*big));
  CHECK(std::uint8_t(packed[0]) == 0xC1);  // FIN + RSV1 + text
  CHECK(packed.size() < plain.size() / 4);
  std::size_t header = (std::uint8_t(packed[1]) & 0x7F) < 126 ? 2 : 4;
  std::string data = packed.substr(header) + std::string("\x00\x00\xff\xff", 4);
  z_stream z{};
  REQUIRE(inflateInit2(&z, -15) == Z_OK);
  std::string out(plain.size() * 2, '\0');
  z.next_in = reinterpret_cast<Bytef*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  inflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  CHECK(out == event_message(*big));
}
