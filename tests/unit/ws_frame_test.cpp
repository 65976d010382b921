#include "lastmile/ws/frame.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace lastmile;
using ws::frame_error;
using ws::frame_parser;

namespace {

// Builds a client frame. `length_form` forces 7-, 16- or 64-bit length
// encoding (0 = shortest) to test non-minimal lengths.
std::string client_frame(std::uint8_t first_byte, std::string_view payload, bool masked = true,
                         int length_form = 0, std::array<std::uint8_t, 4> key = {0x37, 0xfa, 0x21, 0x3d}) {
  std::string out;
  out.push_back(static_cast<char>(first_byte));
  const std::uint8_t mask_bit = masked ? 0x80 : 0x00;
  const std::uint64_t size = payload.size();
  if (length_form == 0) length_form = size < 126 ? 7 : size <= 0xFFFF ? 16 : 64;
  if (length_form == 7) {
    out.push_back(static_cast<char>(mask_bit | size));
  } else if (length_form == 16) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(size >> 8));
    out.push_back(static_cast<char>(size & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((size >> (8 * i)) & 0xFF));
  }
  if (masked) {
    for (auto byte : key) out.push_back(static_cast<char>(byte));
    for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  } else {
    out.append(payload);
  }
  return out;
}

constexpr std::uint8_t fin = 0x80;
constexpr std::uint8_t rsv1 = 0x40;
constexpr std::uint8_t op_cont = 0x0, op_text = 0x1, op_binary = 0x2, op_close = 0x8, op_ping = 0x9,
                       op_pong = 0xA;

// Records events; data chunks are joined so logs do not depend on how input was split.
struct recorder {
  std::vector<std::string> events;
  std::string current;
  int data_calls = 0;
  void on_data(ws::message_kind kind, std::string_view chunk, bool last) {
    ++data_calls;
    current.append(chunk);
    if (last) {
      events.push_back((kind == ws::message_kind::text ? "text:" : "binary:") + current);
      current.clear();
    }
  }
  void on_ping(std::string_view payload) { events.push_back("ping:" + std::string{payload}); }
  void on_pong(std::string_view payload) { events.push_back("pong:" + std::string{payload}); }
  void on_close(std::uint16_t code, std::string_view reason) {
    events.push_back("close:" + std::to_string(code) + ":" + std::string{reason});
  }
};

struct outcome {
  std::vector<std::string> events;
  std::string partial;  // data of an unfinished message
  frame_error error = frame_error::none;
  std::size_t consumed = 0;
};

// Feeds `wire` in pieces of `step` bytes (0 = all at once).
outcome run(std::string wire, std::size_t step = 0, ws::parser_options options = {},
            const ws::deflate_params* deflate = nullptr) {
  frame_parser parser{options};
  if (deflate) parser.enable_deflate(*deflate);
  recorder handler;
  outcome result;
  if (step == 0) step = wire.size() ? wire.size() : 1;
  for (std::size_t pos = 0; pos < wire.size(); pos += step) {
    const std::size_t n = std::min(step, wire.size() - pos);
    const auto fed = parser.feed(wire.data() + pos, n, handler);
    result.consumed += fed.consumed;
    if (!fed.ok() || fed.consumed < n) break;
  }
  result.events = handler.events;
  result.partial = handler.current;
  result.error = parser.error();
  return result;
}

// Runs whole, byte by byte and in 3- and 7-byte steps; all must agree.
outcome run_all_splits(const std::string& wire, ws::parser_options options = {},
                       const ws::deflate_params* deflate = nullptr) {
  const auto whole = run(wire, 0, options, deflate);
  for (std::size_t step : {1, 3, 7}) {
    CAPTURE(step);
    const auto split = run(wire, step, options, deflate);
    CHECK(split.events == whole.events);
    CHECK(split.error == whole.error);
  }
  return whole;
}

frame_error error_of(const std::string& wire, ws::parser_options options = {}) {
  return run_all_splits(wire, options).error;
}

using events = std::vector<std::string>;

}  // namespace

TEST_CASE("ws encoder: RFC 6455 section 5.7 examples and length forms") {
  CHECK(ws::make_frame(ws::opcode::text, "Hello") == std::string{"\x81\x05Hello"});
  CHECK(ws::make_frame(ws::opcode::text, "Hel", false) == std::string{"\x01\x03Hel"});
  CHECK(ws::make_frame(ws::opcode::continuation, "lo") == std::string{"\x80\x02lo"});
  CHECK(ws::make_frame(ws::opcode::ping, "Hello") == std::string{"\x89\x05Hello"});
  CHECK(ws::make_frame(ws::opcode::pong, "Hello") == std::string{"\x8a\x05Hello"});
  CHECK(ws::make_frame(ws::opcode::binary, std::string(256, 'x')).substr(0, 4) == std::string{"\x82\x7e\x01\x00", 4});
  CHECK(ws::make_frame(ws::opcode::binary, std::string(65536, 'x')).substr(0, 10) ==
        std::string{"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10});
  CHECK(ws::make_frame_header(ws::opcode::binary, 125).view() == std::string{"\x82\x7d"});
  CHECK(ws::make_frame_header(ws::opcode::binary, 126).view() == std::string{"\x82\x7e\x00\x7e", 4});
  CHECK(ws::make_frame_header(ws::opcode::binary, 65535).view() == std::string{"\x82\x7e\xff\xff", 4});
  CHECK(ws::make_frame_header(ws::opcode::text, 65536, true, true).view() ==
        std::string{"\xc1\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10});
  CHECK(ws::make_frame_header(ws::opcode::text, 0).view() == std::string{"\x81\x00", 2});
  // RFC 7692 section 7.2.3.1: compressed "Hello" in one frame.
  CHECK(ws::make_frame(ws::opcode::text, std::string_view{"\xf2\x48\xcd\xc9\xc9\x07\x00", 7}, true, true) ==
        std::string{"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00", 9});

  CHECK_THROWS_AS(ws::make_frame(ws::opcode::ping, std::string(126, 'x')), std::invalid_argument);
  CHECK_THROWS_AS(ws::make_frame(ws::opcode::ping, "x", false), std::invalid_argument);
  CHECK_THROWS_AS(ws::make_frame(ws::opcode::continuation, "x", true, true), std::invalid_argument);
  CHECK_NOTHROW(ws::make_frame(ws::opcode::ping, std::string(125, 'x')));
}

TEST_CASE("ws encoder: close frames") {
  CHECK(ws::make_close_frame() == std::string{"\x88\x00", 2});
  CHECK(ws::make_close_frame(1000) == std::string{"\x88\x02\x03\xe8", 4});
  CHECK(ws::make_close_frame(1001, "bye") == std::string{"\x88\x05\x03\xe9" "bye", 7});
  CHECK(ws::make_close_frame(frame_error::invalid_utf8).substr(0, 4) == std::string{"\x88\x1b\x03\xef", 4});
  // A long reason is cut to 123 bytes without splitting a code point.
  std::string reason(122, 'a');
  reason += "\xc3\xa9";  // 2-byte code point straddling the limit
  const auto frame = ws::make_close_frame(1000, reason);
  CHECK(frame.size() == 2 + 2 + 122);
  CHECK(ws::is_valid_utf8(frame.substr(4)));
  const auto round_trip = run(client_frame(fin | op_close, frame.substr(2)));
  CHECK(round_trip.events == events{"close:1000:" + std::string(122, 'a')});
}

TEST_CASE("ws unmask: word-at-a-time matches byte-wise XOR at every phase and length") {
  const std::array<std::uint8_t, 4> key{0x01, 0x82, 0x43, 0xf4};
  std::mt19937 rng{42};
  for (std::size_t size = 0; size < 40; ++size) {
    for (std::size_t phase = 0; phase < 4; ++phase) {
      std::string data(size, '\0');
      for (auto& c : data) c = static_cast<char>(rng());
      std::string expected = data;
      for (std::size_t i = 0; i < size; ++i) expected[i] = static_cast<char>(expected[i] ^ key[(phase + i) % 4]);
      ws::unmask(data.data(), data.size(), key, phase);
      CHECK(data == expected);
    }
  }
}

TEST_CASE("ws parser: RFC 6455 masked Hello and fragmented Hel/lo") {
  const std::string masked_hello{"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"};
  CHECK(run_all_splits(masked_hello).events == events{"text:Hello"});
  const auto fragmented = client_frame(op_text, "Hel") + client_frame(fin | op_cont, "lo");
  CHECK(run_all_splits(fragmented).events == events{"text:Hello"});
}

TEST_CASE("ws parser: Autobahn 1.x message sizes, whole and byte by byte") {
  for (std::size_t size : {0, 1, 125, 126, 127, 128, 65535, 65536, 70000}) {
    CAPTURE(size);
    std::string payload(size, '*');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    const auto text = run(client_frame(fin | op_text, payload));
    CHECK(text.error == frame_error::none);
    CHECK(text.events == events{"text:" + payload});
    const auto binary = run(client_frame(fin | op_binary, payload), size < 1000 ? 1 : 997);
    CHECK(binary.events == events{"binary:" + payload});
  }
}

TEST_CASE("ws parser: chunks stream as they arrive, fin only on the last one") {
  frame_parser parser;
  recorder handler;
  auto wire = client_frame(op_binary, "abcdef") + client_frame(fin | op_cont, "gh");
  parser.feed(wire.data(), 9, handler);  // header (6) + 3 bytes
  CHECK(handler.data_calls == 1);
  CHECK(handler.current == "abc");
  CHECK(parser.in_message());
  parser.feed(wire.data() + 9, wire.size() - 9, handler);
  CHECK(handler.events == events{"binary:abcdefgh"});
  CHECK_FALSE(parser.in_message());
}

TEST_CASE("ws parser: non-minimal length encodings are accepted") {
  CHECK(run_all_splits(client_frame(fin | op_text, "hi", true, 16)).events == events{"text:hi"});
  CHECK(run_all_splits(client_frame(fin | op_binary, "hi", true, 64)).events == events{"binary:hi"});
}

TEST_CASE("ws parser: Autobahn 2.x pings and pongs") {
  CHECK(run_all_splits(client_frame(fin | op_ping, "")).events == events{"ping:"});
  CHECK(run_all_splits(client_frame(fin | op_ping, std::string(125, 'p'))).events ==
        events{"ping:" + std::string(125, 'p')});
  CHECK(run_all_splits(client_frame(fin | op_ping, std::string{"\x00\xff\xfe\xfd", 4})).events ==
        events{"ping:" + std::string{"\x00\xff\xfe\xfd", 4}});
  CHECK(error_of(client_frame(fin | op_ping, std::string(126, 'p'))) == frame_error::control_frame_too_long);
  CHECK(error_of(client_frame(fin | op_ping, "x", true, 16)) == frame_error::control_frame_too_long);
  CHECK(run_all_splits(client_frame(fin | op_pong, "unsolicited")).events == events{"pong:unsolicited"});
  std::string ten_pings;
  events expected;
  for (int i = 0; i < 10; ++i) {
    ten_pings += client_frame(fin | op_ping, "p" + std::to_string(i));
    expected.push_back("ping:p" + std::to_string(i));
  }
  CHECK(run_all_splits(ten_pings).events == expected);
}

TEST_CASE("ws parser: split control frames use a buffer that is freed afterwards") {
  const auto wire = client_frame(fin | op_ping, std::string(100, 'z'));
  const auto result = run(wire, 1);
  CHECK(result.events == events{"ping:" + std::string(100, 'z')});
}

TEST_CASE("ws parser: Autobahn 3.x reserved bits are a protocol error") {
  for (std::uint8_t rsv : {0x40, 0x20, 0x10, 0x60, 0x70}) {
    CAPTURE(int{rsv});
    CHECK(error_of(client_frame(fin | rsv | op_text, "x")) == frame_error::reserved_bits);
    CHECK(error_of(client_frame(fin | rsv | op_binary, "x")) == frame_error::reserved_bits);
    CHECK(error_of(client_frame(fin | rsv | op_ping, "x")) == frame_error::reserved_bits);
  }
  // The message before the bad frame is still delivered (Autobahn 3.2 expects the echo).
  const auto result = run_all_splits(client_frame(fin | op_text, "ok") + client_frame(fin | 0x20 | op_text, "x"));
  CHECK(result.events == events{"text:ok"});
  CHECK(result.error == frame_error::reserved_bits);
  CHECK(ws::close_code_for(result.error) == 1002);
}

TEST_CASE("ws parser: Autobahn 4.x reserved opcodes are a protocol error") {
  for (std::uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    CAPTURE(int{op});
    CHECK(error_of(client_frame(fin | op, "")) == frame_error::reserved_opcode);
    CHECK(error_of(client_frame(fin | op, "payload")) == frame_error::reserved_opcode);
  }
}

TEST_CASE("ws parser: Autobahn 5.x fragmentation") {
  SUBCASE("5.1/5.2 fragmented ping or pong") {
    CHECK(error_of(client_frame(op_ping, "a") + client_frame(fin | op_cont, "b")) ==
          frame_error::fragmented_control_frame);
    CHECK(error_of(client_frame(op_pong, "a") + client_frame(fin | op_cont, "b")) ==
          frame_error::fragmented_control_frame);
  }
  SUBCASE("5.3-5.8 fragments with control frames in between, in order") {
    const auto wire = client_frame(op_text, "frag1") + client_frame(fin | op_ping, "p1") +
                      client_frame(op_cont, "frag2") + client_frame(fin | op_pong, "x") +
                      client_frame(fin | op_ping, "p2") + client_frame(fin | op_cont, "frag3") +
                      client_frame(fin | op_text, "next");
    CHECK(run_all_splits(wire).events == events{"ping:p1", "pong:x", "ping:p2", "text:frag1frag2frag3", "text:next"});
  }
  SUBCASE("5.9-5.14 continuation with nothing to continue") {
    CHECK(error_of(client_frame(fin | op_cont, "x")) == frame_error::unexpected_continuation);
    CHECK(error_of(client_frame(op_cont, "x")) == frame_error::unexpected_continuation);
    CHECK(error_of(client_frame(fin | op_text, "done") + client_frame(fin | op_cont, "x")) ==
          frame_error::unexpected_continuation);
  }
  SUBCASE("5.18 new data frame while a message is open") {
    CHECK(error_of(client_frame(op_text, "a") + client_frame(fin | op_text, "b")) ==
          frame_error::expected_continuation);
    CHECK(error_of(client_frame(op_binary, "a") + client_frame(op_text, "b")) == frame_error::expected_continuation);
  }
  SUBCASE("5.19/5.20 many fragments and pings") {
    std::string wire;
    std::string expected;
    for (int i = 0; i < 20; ++i) {
      const std::string piece = "f" + std::to_string(i);
      wire += client_frame(static_cast<std::uint8_t>((i == 0 ? op_text : op_cont) | (i == 19 ? fin : 0)), piece);
      if (i % 5 == 0) wire += client_frame(fin | op_ping, "p");
      expected += piece;
    }
    const auto result = run_all_splits(wire);
    CHECK(result.events == events{"ping:p", "ping:p", "ping:p", "ping:p", "text:" + expected});
  }
  SUBCASE("empty fragments") {
    CHECK(run_all_splits(client_frame(op_text, "") + client_frame(op_cont, "") + client_frame(fin | op_cont, ""))
              .events == events{"text:"});
  }
}

TEST_CASE("ws parser: Autobahn 6.x UTF-8 handling") {
  SUBCASE("valid text, also split anywhere and across fragments") {
    const std::string text = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
    CHECK(run_all_splits(client_frame(fin | op_text, text)).events == events{"text:" + text});
    const std::string kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    std::string wire;
    for (std::size_t i = 0; i < kosme.size(); ++i)  // 6.2.4: one byte per fragment
      wire += client_frame(static_cast<std::uint8_t>((i == 0 ? op_text : op_cont) | (i + 1 == kosme.size() ? fin : 0)),
                           kosme.substr(i, 1));
    CHECK(run_all_splits(wire).events == events{"text:" + kosme});
    const std::string four_byte = "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";  // U+1F600, U+10FFFF
    CHECK(run_all_splits(client_frame(fin | op_text, four_byte)).events == events{"text:" + four_byte});
  }
  SUBCASE("invalid sequences fail with 1007") {
    for (const char* bad : {"\xed\xa0\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf4\x90\x80\x80",
                            "\x80", "\xbf", "\xfe", "\xff", "\xc1\xbf", "\xf8\x88\x80\x80\x80", "\xce\xba\xe1\xbd"}) {
      CAPTURE(bad);
      const auto error = error_of(client_frame(fin | op_text, bad));
      CHECK(error == frame_error::invalid_utf8);
      CHECK(ws::close_code_for(error) == 1007);
    }
    // Invalid UTF-8 in binary messages is fine.
    CHECK(error_of(client_frame(fin | op_binary, "\xff\xfe")) == frame_error::none);
  }
  SUBCASE("large text buffers take the bulk path and still find errors") {
    std::string text(5000, 'a');
    text += "\xe2\x82\xac";
    CHECK(run_all_splits(client_frame(fin | op_text, text)).events == events{"text:" + text});
    text[2500] = '\xc0';
    CHECK(error_of(client_frame(fin | op_text, text)) == frame_error::invalid_utf8);
  }
  SUBCASE("6.4.x fail fast: the bad byte fails before the message ends") {
    // First fragment valid, second fragment invalid, final fragment never needed.
    const std::string first = client_frame(op_text, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    std::string second = client_frame(op_cont, "\xf4\x90\x80\x80");
    frame_parser parser;
    recorder handler;
    auto wire = first + second;
    const auto result = parser.feed(wire.data(), wire.size(), handler);
    CHECK(result.error == frame_error::invalid_utf8);
    // Within one frame: the frame is still incomplete when the bad byte arrives.
    frame_parser streaming;
    recorder streamed;
    std::string long_frame = client_frame(fin | op_text, std::string(20, 'a') + "\xed\xa0\x80" + std::string(1000, 'b'));
    const auto partial = streaming.feed(long_frame.data(), 8 + 21, streamed);  // header + 20 'a' + 0xED
    CHECK(partial.ok());
    CHECK(streamed.current == std::string(20, 'a') + "\xed");  // chunks may end inside a code point
    const auto bad = streaming.feed(long_frame.data() + 29, 1, streamed);  // 0xA0 after 0xED: surrogate
    CHECK(bad.error == frame_error::invalid_utf8);
    CHECK(streaming.failed());
  }
  SUBCASE("message ending inside a code point") {
    CHECK(error_of(client_frame(op_text, "\xce") + client_frame(fin | op_cont, "")) == frame_error::invalid_utf8);
  }
}

TEST_CASE("ws parser: Autobahn 7.x close handling") {
  auto close_frame = [](std::uint16_t code, std::string_view reason = {}) {
    return client_frame(fin | op_close, ws::make_close_payload(code, reason));
  };
  CHECK(run_all_splits(client_frame(fin | op_close, "")).events == events{"close:1005:"});
  CHECK(run_all_splits(close_frame(1000)).events == events{"close:1000:"});
  CHECK(run_all_splits(close_frame(1000, "bye \xe2\x82\xac")).events == events{"close:1000:bye \xe2\x82\xac"});
  CHECK(run_all_splits(close_frame(1000, std::string(123, 'r'))).events == events{"close:1000:" + std::string(123, 'r')});
  CHECK(error_of(client_frame(fin | op_close, "\x03")) == frame_error::invalid_close_payload);  // 7.3.2
  CHECK(error_of(client_frame(fin | op_close, std::string("\x03\xe8") + std::string(124, 'r'))) ==
        frame_error::control_frame_too_long);  // 7.3.6
  CHECK(error_of(client_frame(fin | op_close, "\x03\xe8\xce\xba\xe1\xbd")) == frame_error::invalid_close_reason);
  CHECK(ws::close_code_for(frame_error::invalid_close_reason) == 1007);

  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
                             4000, 4999}) {
    CAPTURE(code);
    CHECK(ws::is_valid_close_code(code));
    CHECK(run_all_splits(close_frame(code)).events == events{"close:" + std::to_string(code) + ":"});
  }
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    CAPTURE(code);
    CHECK_FALSE(ws::is_valid_close_code(code));
    CHECK(error_of(close_frame(code)) == frame_error::invalid_close_code);
  }

  SUBCASE("nothing is parsed after the close frame") {
    auto wire = close_frame(1000) + client_frame(fin | op_text, "late") + "garbage";
    frame_parser parser;
    recorder handler;
    const auto result = parser.feed(wire.data(), wire.size(), handler);
    CHECK(result.ok());
    CHECK(result.consumed == 8);
    CHECK(parser.closed());
    CHECK(handler.events == events{"close:1000:"});
    CHECK(parser.feed(wire.data() + 8, wire.size() - 8, handler).consumed == 0);
  }
  SUBCASE("close between fragments is reported") {
    CHECK(run_all_splits(client_frame(op_text, "part") + close_frame(1001)).events == events{"close:1001:"});
  }
}

TEST_CASE("ws parser: header-level protocol errors") {
  CHECK(error_of(client_frame(fin | op_text, "hi", false)) == frame_error::unmasked_frame);
  CHECK(error_of(client_frame(fin | op_ping, "", false)) == frame_error::unmasked_frame);
  // 64-bit length with the top bit set: fails at that byte, before the rest of the header.
  std::string huge{"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01", 10};
  CHECK(error_of(huge) == frame_error::length_out_of_range);
  frame_parser parser;
  recorder handler;
  const auto result = parser.feed(huge.data(), 3, handler);
  CHECK(result.error == frame_error::length_out_of_range);
  CHECK(result.consumed == 3);
  CHECK(ws::close_code_for(frame_error::length_out_of_range) == 1002);
}

TEST_CASE("ws parser: Autobahn 9.x-like size limit gives 1009 early") {
  ws::parser_options options;
  options.max_message_size = 1000;
  CHECK(run_all_splits(client_frame(fin | op_binary, std::string(1000, 'x')), options).events ==
        events{"binary:" + std::string(1000, 'x')});
  // Announced length over the limit: fails with only the header read.
  std::string header{"\x82\xfe\x03\xe9", 4};  // 1001 bytes announced
  frame_parser parser{options};
  recorder handler;
  const auto result = parser.feed(header.data(), header.size(), handler);
  CHECK(result.error == frame_error::message_too_big);
  CHECK(ws::close_code_for(result.error) == 1009);
  // A fragmented message crossing the limit fails at the fragment that crosses it.
  const auto wire = client_frame(op_text, std::string(600, 'a')) + client_frame(fin | op_cont, std::string(401, 'b'));
  const auto fragmented = run_all_splits(wire, options);
  CHECK(fragmented.error == frame_error::message_too_big);
  CHECK(fragmented.partial == std::string(600, 'a'));
  // Control frames between fragments do not count.
  const auto with_ping = client_frame(op_text, std::string(600, 'a')) + client_frame(fin | op_ping, std::string(125, 'p')) +
                         client_frame(fin | op_cont, std::string(400, 'b'));
  CHECK(run_all_splits(with_ping, options).error == frame_error::none);
  // 64-bit lengths near the maximum do not overflow the check.
  std::string max_len{"\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 10};
  CHECK(error_of(max_len) == frame_error::message_too_big);
}

TEST_CASE("ws parser: per-connection state is small") {
  CHECK(sizeof(frame_parser) <= 64);
}
