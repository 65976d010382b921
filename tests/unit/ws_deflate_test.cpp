#include "lastmile/ws/deflate.hpp"
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

namespace {

std::string masked(std::uint8_t first_byte, std::string_view payload) {
  const std::array<std::uint8_t, 4> key{0xa1, 0x02, 0x5c, 0xee};
  std::string out;
  out.push_back(static_cast<char>(first_byte));
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((std::uint64_t{payload.size()} >> (8 * i)) & 0xFF));
  }
  for (auto b : key) out.push_back(static_cast<char>(b));
  for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return out;
}

struct collector {
  std::vector<std::string> messages;
  std::string current;
  void on_data(ws::message_kind, std::string_view chunk, bool fin) {
    current.append(chunk);
    if (fin) {
      messages.push_back(current);
      current.clear();
    }
  }
  void on_ping(std::string_view) {}
  void on_pong(std::string_view) {}
  void on_close(std::uint16_t, std::string_view) {}
};

struct parsed {
  std::vector<std::string> messages;
  frame_error error = frame_error::none;
  bool inflater_allocated = false;
};

parsed parse(std::string wire, std::size_t step, ws::deflate_params params = {},
             std::uint64_t max_message_size = 1024 * 1024) {
  ws::frame_parser parser{{max_message_size}};
  parser.enable_deflate(params);
  collector handler;
  for (std::size_t pos = 0; pos < wire.size(); pos += step) {
    const auto n = std::min(step, wire.size() - pos);
    if (!parser.feed(wire.data() + pos, n, handler).ok()) break;
  }
  return {handler.messages, parser.error(), parser.inflater_allocated()};
}

const std::string hello_compressed{"\xf2\x48\xcd\xc9\xc9\x07\x00", 7};

}  // namespace

TEST_CASE("ws deflate: RFC 7692 section 7.2.3 vectors") {
  CHECK(ws::deflate_message("Hello") == hello_compressed);
  ws::deflater with_context(15, false);
  CHECK(with_context.compress("Hello") == hello_compressed);
  CHECK(with_context.compress("Hello") == std::string{"\xf2\x00\x11\x00\x00", 5});  // 7.2.3.2
  ws::deflater without_context(15, true);
  CHECK(without_context.compress("Hello") == hello_compressed);
  CHECK(without_context.compress("Hello") == hello_compressed);
  CHECK(ws::deflate_message("") == std::string{"\x00", 1});  // 7.2.3.6: empty message
}

TEST_CASE("ws deflate: round trips through the inflater for every window size") {
  std::mt19937 rng{7};
  std::string text;
  for (int i = 0; i < 200000; ++i) text.push_back(static_cast<char>('a' + rng() % 6));
  for (int bits = 9; bits <= 15; ++bits) {
    CAPTURE(bits);
    const auto compressed = ws::deflate_message(text, bits, 1 + bits % 9);
    CHECK(compressed.size() < text.size() / 2);
    ws::inflater inflate(bits);
    std::string out;
    std::uint64_t budget = text.size();
    const auto status = inflate.inflate(compressed, true, budget, [&](std::string_view piece) {
      out.append(piece);
      return true;
    });
    CHECK(status == ws::inflater::status::ok);
    CHECK(out == text);
    CHECK(budget == 0);
  }
  CHECK_THROWS_AS(ws::deflater(8), std::invalid_argument);
}

TEST_CASE("ws deflate parser: compressed messages (Autobahn 12.x/13.x-like)") {
  SUBCASE("RFC 7692 compressed Hello, whole and byte by byte") {
    for (std::size_t step : {64, 1}) {
      const auto result = parse(masked(0x80 | 0x40 | 0x1, hello_compressed), step);
      CHECK(result.error == frame_error::none);
      CHECK(result.messages == std::vector<std::string>{"Hello"});
    }
  }
  SUBCASE("RFC 7692 7.2.3.1 fragmented compressed message: RSV1 only on the first frame") {
    const auto wire = masked(0x40 | 0x1, hello_compressed.substr(0, 3)) + masked(0x80 | 0x0, hello_compressed.substr(3));
    CHECK(parse(wire, 1).messages == std::vector<std::string>{"Hello"});
    const auto bad = masked(0x40 | 0x1, hello_compressed.substr(0, 3)) + masked(0x80 | 0x40, hello_compressed.substr(3));
    CHECK(parse(bad, 5).error == frame_error::reserved_bits);
  }
  SUBCASE("context takeover across messages, mixed with uncompressed ones") {
    const auto wire = masked(0xC1, hello_compressed) + masked(0x81, "plain") +
                      masked(0xC1, std::string{"\xf2\x00\x11\x00\x00", 5});
    const auto result = parse(wire, 3);
    CHECK(result.error == frame_error::none);
    CHECK(result.messages == std::vector<std::string>{"Hello", "plain", "Hello"});
    CHECK(result.inflater_allocated);
  }
  SUBCASE("client_no_context_takeover frees the inflater after each message") {
    ws::deflate_params params;
    params.client_no_context_takeover = true;
    const auto result = parse(masked(0xC1, hello_compressed) + masked(0xC1, hello_compressed), 2, params);
    CHECK(result.messages == std::vector<std::string>{"Hello", "Hello"});
    CHECK_FALSE(result.inflater_allocated);
  }
  SUBCASE("large compressed message split over many frames and reads") {
    std::string text;
    for (int i = 0; i < 100000; ++i) text += static_cast<char>('A' + (i * 7) % 26);
    const auto compressed = ws::deflate_message(text);
    std::string wire;
    for (std::size_t pos = 0; pos < compressed.size(); pos += 100) {
      const bool first = pos == 0, last = pos + 100 >= compressed.size();
      wire += masked(static_cast<std::uint8_t>((last ? 0x80 : 0) | (first ? 0x40 | 0x2 : 0)), compressed.substr(pos, 100));
    }
    CHECK(parse(wire, 333).messages == std::vector<std::string>{text});
  }
  SUBCASE("empty compressed message and BFINAL streams") {
    CHECK(parse(masked(0xC1, std::string{"\x00", 1}), 1).messages == std::vector<std::string>{""});
    CHECK(parse(masked(0xC1, ""), 1).messages == std::vector<std::string>{""});
    // A client may end the deflate stream (BFINAL=1) instead of sync-flushing.
    std::string final_block{"\xf3\x48\xcd\xc9\xc9\x07\x00", 7};  // "Hello" with BFINAL set
    CHECK(parse(masked(0xC1, final_block) + masked(0xC1, hello_compressed), 1).messages ==
          std::vector<std::string>{"Hello", "Hello"});
    // RFC 7692 section 7.2.3.4 sample has a trailing 0x00 after the final block.
    const std::string rfc_final{"\xf3\x48\xcd\xc9\xc9\x07\x00\x00", 8};
    CHECK(parse(masked(0xC1, rfc_final) + masked(0xC1, rfc_final), 3).messages ==
          std::vector<std::string>{"Hello", "Hello"});
  }
  SUBCASE("RSV1 without negotiation, and on control frames") {
    ws::frame_parser parser;  // deflate not enabled
    collector handler;
    auto wire = masked(0xC1, hello_compressed);
    CHECK(parser.feed(wire.data(), wire.size(), handler).error == frame_error::reserved_bits);
    CHECK(parse(masked(0x80 | 0x40 | 0x9, ""), 1).error == frame_error::reserved_bits);
  }
  SUBCASE("corrupt data fails with 1007") {
    const auto result = parse(masked(0xC1, std::string{"\xff\xff\xff\xff", 4}), 1);
    CHECK(result.error == frame_error::inflate_failed);
    CHECK(ws::close_code_for(result.error) == 1007);
  }
  SUBCASE("invalid UTF-8 after inflating fails with 1007, binary is fine") {
    const auto compressed = ws::deflate_message("ok \xed\xa0\x80 surrogate");
    CHECK(parse(masked(0xC1, compressed), 4).error == frame_error::invalid_utf8);
    CHECK(parse(masked(0xC2, compressed), 4).error == frame_error::none);
  }
  SUBCASE("inflated size limit: a small frame that inflates past the limit fails with 1009") {
    const std::string zeros(1 << 20, '\0');
    const auto bomb = ws::deflate_message(zeros);
    CHECK(bomb.size() < 2000);
    const auto result = parse(masked(0xC2, bomb), 512, {}, 64 * 1024);
    CHECK(result.error == frame_error::message_too_big);
    CHECK(ws::close_code_for(result.error) == 1009);
    CHECK(parse(masked(0xC2, bomb), 512, {}, 1 << 20).messages == std::vector<std::string>{zeros});
    // Wire bytes of a compressed message are limited too (max + max/8 + 1 KiB).
    CHECK(parse(masked(0x42, std::string(2000, '\0')), 2000, {}, 100).error == frame_error::message_too_big);
  }
  SUBCASE("small client windows inflate with the negotiated bits") {
    ws::deflate_params params;
    params.client_max_window_bits = 9;
    std::string text;
    for (int i = 0; i < 5000; ++i) text += static_cast<char>('a' + (i * 13) % 17);
    CHECK(parse(masked(0xC1, ws::deflate_message(text, 9)), 1000, params).messages == std::vector<std::string>{text});
  }
}
