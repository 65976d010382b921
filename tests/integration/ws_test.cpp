// WebSocket over real sockets against the reference server: the handshake, the JSON
// protocol, resume and resets, protocol errors and their close codes, heartbeats,
// shutdown, auth and permessage-deflate. The client is a tiny masked-frame client
// written here, so every byte on the wire is checked.
#include "reference_fixture.hpp"

#include "test_client.hpp"

#include <lastmile/auth/jwt.hpp>

#include <doctest/doctest.h>
#include <simdjson.h>
#include <zlib.h>

#include <asio/ssl.hpp>

#include <filesystem>
#include <random>

using namespace std::chrono_literals;

namespace {

using ws_server = testing::in_process_server;

struct frame {
  int opcode = 0;
  bool fin = true;
  bool rsv1 = false;
  std::string payload;
  std::uint16_t close_code() const {
    return payload.size() >= 2 ? std::uint16_t((std::uint8_t(payload[0]) << 8) | std::uint8_t(payload[1])) : 1005;
  }
};

// Raw-deflate inflate of a permessage-deflate payload (RFC 7692: append 00 00 ff ff).
std::string inflate_message(std::string data) {
  data.append("\x00\x00\xff\xff", 4);
  z_stream z{};
  REQUIRE(inflateInit2(&z, -15) == Z_OK);
  std::string out;
  char buf[16384];
  z.next_in = reinterpret_cast<Bytef*>(data.data());
  z.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK && z.avail_out == 0);
  inflateEnd(&z);
  return out;
}

std::string deflate_payload(std::string_view text) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(text.size() + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_SYNC_FLUSH) == Z_OK);
  out.resize(out.size() - z.avail_out - 4);  // drop 00 00 ff ff
  deflateEnd(&z);
  return out;
}

// Removes one complete server frame from the front of `b` (nullopt: not complete yet).
std::optional<frame> take_frame(std::string& b) {
  if (b.size() < 2) return std::nullopt;
  std::size_t len = std::uint8_t(b[1]) & 0x7F, pos = 2;
  const bool masked = std::uint8_t(b[1]) & 0x80;
  REQUIRE_FALSE(masked);  // server frames are never masked
  if (len == 126) {
    if (b.size() < 4) return std::nullopt;
    len = (std::uint8_t(b[2]) << 8) | std::uint8_t(b[3]);
    pos = 4;
    CHECK(len >= 126);  // the shortest length form
  } else if (len == 127) {
    if (b.size() < 10) return std::nullopt;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | std::uint8_t(b[2 + i]);
    pos = 10;
    CHECK(len > 0xFFFF);
  }
  if (b.size() < pos + len) return std::nullopt;
  frame f;
  f.fin = std::uint8_t(b[0]) & 0x80;
  f.rsv1 = std::uint8_t(b[0]) & 0x40;
  f.opcode = std::uint8_t(b[0]) & 0x0F;
  f.payload = b.substr(pos, len);
  b.erase(0, pos + len);
  return f;
}

// A minimal client: handshake, masked frames out, frames in (pings answered on request).
struct ws_client {
  testing::client c;
  testing::response head;
  std::mt19937 rng{42};

  ws_client(std::uint16_t port, std::string_view target = "/ws", std::string_view extra_headers = {},
            std::string_view trailing = {})
      : c(port) {
    c.send("GET " + std::string(target) +
           " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
           std::string(extra_headers) + "\r\n" + std::string(trailing));
    auto h = c.read_head();
    REQUIRE(h);
    head = *h;
  }

  static std::string encode(int opcode, std::string_view payload, bool fin, bool rsv1, std::uint32_t key) {
    std::string f;
    f.push_back(char((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode));
    if (payload.size() < 126) {
      f.push_back(char(0x80 | payload.size()));
    } else if (payload.size() <= 0xFFFF) {
      f.push_back(char(0x80 | 126));
      f.push_back(char(payload.size() >> 8));
      f.push_back(char(payload.size() & 0xFF));
    } else {
      f.push_back(char(0x80 | 127));
      for (int i = 7; i >= 0; --i) f.push_back(char((std::uint64_t(payload.size()) >> (8 * i)) & 0xFF));
    }
    char mask[4];
    std::memcpy(mask, &key, 4);
    f.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(char(payload[i] ^ mask[i & 3]));
    return f;
  }
  void send_frame(int opcode, std::string_view payload, bool fin = true, bool rsv1 = false) {
    c.send(encode(opcode, payload, fin, rsv1, rng()));
  }
  void send_text(std::string_view text) { send_frame(1, text); }

  // The next frame from the server, or nullopt on close/timeout.
  std::optional<frame> read_frame(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto f = take_frame(c.buffered())) return f;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !c.fill(left)) return std::nullopt;
    }
  }

  // The next text message (inflated if compressed); pings are answered, pongs skipped.
  // A close frame ends it (stored in `closed_with`).
  std::optional<frame> closed_with;
  std::optional<std::string> next(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto f = read_frame(std::max(left, 0ms));
      if (!f) return std::nullopt;
      if (f->opcode == 9) {
        send_frame(10, f->payload);
        continue;
      }
      if (f->opcode == 10) continue;
      if (f->opcode == 8) {
        closed_with = f;
        return std::nullopt;
      }
      REQUIRE(f->fin);
      REQUIRE(f->opcode == 1);
      return f->rsv1 ? inflate_message(f->payload) : f->payload;
    }
  }
  // Skips messages until one of type `type` (or an event message when type is "event").
  std::optional<std::string> next_of(std::string_view type, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto m = next(std::max(left, 0ms));
      if (!m) return std::nullopt;
      if (kind(*m) == type) return m;
    }
  }
  static std::string kind(std::string_view m) {
    simdjson::dom::parser p;
    auto doc = p.parse(std::string(m));
    std::string_view t;
    if (doc["type"].get(t) == simdjson::SUCCESS) return std::string(t);
    return doc["event"].error() == simdjson::SUCCESS ? "event" : "?";
  }
  // The close frame the server sends next (reading past other frames).
  std::optional<frame> wait_close(std::chrono::milliseconds timeout = 5s) {
    if (closed_with) return closed_with;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto f = read_frame(std::max(left, 0ms));
      if (!f) return std::nullopt;
      if (f->opcode == 8) return f;
    }
  }
  void subscribe(std::string_view topic, std::string_view from = {}) {
    std::string m = R"({"type":"subscribe","topic":")" + std::string(topic) + "\"";
    if (!from.empty()) m += R"(,"from":")" + std::string(from) + "\"";
    send_text(m + "}");
    auto r = next_of("subscribed");
    REQUIRE(r);
    CHECK(*r == R"({"type":"subscribed","topic":")" + std::string(topic) + "\"}");
  }
};

std::string field(std::string_view json, std::string_view key) {
  simdjson::dom::parser p;
  auto doc = p.parse(std::string(json));
  std::string_view v;
  if (doc[key].get(v) == simdjson::SUCCESS) return std::string(v);
  return {};
}

// The id of an event message.
std::string event_id(std::string_view json) {
  simdjson::dom::parser p;
  auto doc = p.parse(std::string(json));
  std::string_view v;
  if (doc["event"]["id"].get(v) == simdjson::SUCCESS) return std::string(v);
  return {};
}

// Reads `n` event messages, returning their ids (stops early on anything else).
std::vector<std::string> read_event_ids(ws_client& w, std::size_t n, std::chrono::milliseconds timeout = 5s) {
  std::vector<std::string> ids;
  while (ids.size() < n) {
    auto m = w.next(timeout);
    if (!m) break;
    if (ws_client::kind(*m) != "event") break;
    ids.push_back(event_id(*m));
  }
  return ids;
}

std::int64_t metric(std::uint16_t port, std::string_view line_prefix) {
  auto r = testing::request(port, "GET", "/metrics");
  auto pos = r->body.find(std::string(line_prefix) + " ");
  if (pos == std::string::npos) return -1;
  return std::stoll(r->body.substr(pos + line_prefix.size() + 1));
}

std::string upgrade_request(std::string_view target, std::string_view headers) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
         std::string(headers) + "Connection: close\r\n\r\n";
}

}  // namespace

TEST_CASE("ws handshake: accept key, no subprotocol, rejections before upgrading") {
  lastmile_server::options o;
  o.allow_origins = {"https://good.example"};
  ws_server s(o);
  {
    ws_client w(s.port(), "/ws", "Sec-WebSocket-Protocol: chat\r\nOrigin: https://good.example\r\n");
    CHECK(w.head.status == 101);
    CHECK(w.head.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(w.head.header("Upgrade") == "websocket");
    CHECK_FALSE(w.head.header("Sec-WebSocket-Protocol"));   // never an unsupported one
    CHECK_FALSE(w.head.header("Sec-WebSocket-Extensions"));  // nothing offered, nothing answered
    w.send_text(R"({"type":"ping"})");
    CHECK(w.next() == R"({"type":"pong"})");
  }
  auto reject = [&](std::string_view target, std::string_view headers) {
    testing::client c(s.port());
    c.send(upgrade_request(target, headers));
    auto r = c.read_response();
    REQUIRE(r);
    return *r;
  };
  auto v = reject("/ws", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n");
  CHECK(v.status == 426);
  CHECK(v.header("Sec-WebSocket-Version") == "13");
  auto k = reject("/ws", "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n");
  CHECK(k.status == 400);
  CHECK(field(k.body, "error") == "bad_request");
  auto origin = reject("/ws", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                              "Origin: https://evil.example\r\n");
  CHECK(origin.status == 403);
  CHECK(field(origin.body, "error") == "forbidden");
  auto cursor = reject("/ws?resumeFrom=nope", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n");
  CHECK(cursor.status == 400);
  CHECK(field(cursor.body, "error") == "bad_cursor");
}

TEST_CASE("ws: frames sent right behind the handshake request are processed") {
  ws_server s;
  std::string ping = ws_client::encode(1, R"({"type":"ping"})", true, false, 0x01020304);
  ws_client w(s.port(), "/ws", {}, ping);
  CHECK(w.head.status == 101);
  CHECK(w.next() == R"({"type":"pong"})");
}

TEST_CASE("ws: subscribe, publish, event format, unsubscribe, ping") {
  ws_server s;
  ws_client w(s.port());
  w.subscribe("orders");
  w.send_text(R"({"type":"publish","topic":"orders","event":"created","data":{ "order" : 42 },"extra":1})");
  auto published = w.next();
  REQUIRE(published);
  CHECK(field(*published, "type") == "published");
  std::string id = field(*published, "id");
  CHECK_FALSE(id.empty());
  auto ev = w.next();
  REQUIRE(ev);
  simdjson::dom::parser p;
  auto doc = p.parse(*ev);
  CHECK(std::string_view(doc["topic"]) == "orders");
  CHECK(std::string_view(doc["event"]["id"]) == id);
  CHECK(std::string_view(doc["event"]["type"]) == "created");
  CHECK(std::int64_t(doc["event"]["data"]["order"]) == 42);
  CHECK(std::string_view(doc["event"]["time"]).size() == 24);
  CHECK(doc["event"]["topic"].error() == simdjson::NO_SUCH_FIELD);
  // The same event over REST carries the same id and data.
  auto rest = testing::request(s.port(), "GET", "/topics/orders/events?after=earliest");
  CHECK(rest->body.find(R"("data":{"order":42})") != std::string::npos);

  s.publish("other", "not subscribed");
  w.send_text(R"({"type":"unsubscribe","topic":"orders"})");
  CHECK(w.next() == R"({"type":"unsubscribed","topic":"orders"})");
  s.publish("orders", "after unsubscribe");
  w.send_text(R"({"type":"ping"})");
  CHECK(w.next() == R"({"type":"pong"})");
  CHECK_FALSE(w.next(300ms));  // nothing else arrives
  CHECK_FALSE(w.closed_with);
}

TEST_CASE("ws: every event exactly once, in order, while publishing concurrently") {
  ws_server s;
  ws_client w(s.port());
  w.subscribe("orders");
  w.subscribe("audit.*");
  std::vector<std::string> expected;
  std::mutex m;
  std::thread producer([&] {
    for (int i = 0; i < 600; ++i) {
      std::string topic = i % 3 == 0 ? "orders" : i % 3 == 1 ? "audit.x" : "noise";
      auto id = s.publish(topic, std::to_string(i));
      if (topic != "noise") {
        std::lock_guard lock(m);
        expected.push_back(id);
      }
    }
  });
  auto ids = read_event_ids(w, 400);
  producer.join();
  CHECK(ids.size() == 400);
  CHECK(ids == expected);
  CHECK_FALSE(w.next(200ms));
}

TEST_CASE("ws: overlapping subscriptions deliver each event once; different starts merge in log order") {
  ws_server s;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(s.publish(i % 2 ? "orders.eu" : "orders.us", std::to_string(i)));
  ws_client w(s.port());
  // Both subscriptions in one segment: the reader takes them before the writer runs.
  w.c.send(ws_client::encode(1, R"({"type":"subscribe","topic":"orders.eu","from":"earliest"})", true, false, 1) +
           ws_client::encode(1, R"({"type":"subscribe","topic":"orders.*","from":")" + ids[1] + "\"}", true, false, 2));
  CHECK(field(*w.next(), "type") == "subscribed");
  CHECK(field(*w.next(), "type") == "subscribed");
  // orders.eu: 1, 3; orders.*: 2, 3, 4 -> 1, 2, 3, 4, once each, in log order.
  CHECK(read_event_ids(w, 4) == std::vector<std::string>{ids[1], ids[2], ids[3], ids[4]});
  auto live = s.publish("orders.eu", "live");
  auto m = w.next();
  REQUIRE(m);
  CHECK(event_id(*m) == live);
  CHECK_FALSE(w.next(200ms));  // not twice
}

TEST_CASE("ws: from and resumeFrom resume exactly after the given event") {
  ws_server s;
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(s.publish("t", std::to_string(i)));
  {
    ws_client w(s.port());
    w.subscribe("t", ids[2]);
    CHECK(read_event_ids(w, 3) == std::vector<std::string>{ids[3], ids[4], ids[5]});
    CHECK_FALSE(w.next(150ms));
  }
  {
    ws_client w(s.port(), "/ws?resumeFrom=" + ids[3]);
    w.subscribe("t");  // no `from`: the connection's resumeFrom
    CHECK(read_event_ids(w, 2) == std::vector<std::string>{ids[4], ids[5]});
    w.subscribe("u", "latest");  // an explicit `from` wins
    s.publish("u", "x");
    auto m = w.next();
    REQUIRE(m);
    CHECK(field(*m, "topic") == "u");
  }
  // A client that saw ids[5] drops; events are published meanwhile; it reconnects
  // with the last id it saw and gets exactly the missed ones.
  {
    ws_client w(s.port());
    w.subscribe("t");  // latest
    std::string last = s.publish("t", "seen");
    CHECK(read_event_ids(w, 1) == std::vector<std::string>{last});
  }
  std::vector<std::string> missed;
  for (int i = 0; i < 3; ++i) missed.push_back(s.publish("t", "missed" + std::to_string(i)));
  auto all = testing::request(s.port(), "GET", "/topics/t/events?after=earliest");
  ws_client again(s.port(), "/ws?resumeFrom=" + ids[5]);
  again.subscribe("t");
  auto got = read_event_ids(again, 4);
  REQUIRE(got.size() == 4);
  CHECK(std::vector<std::string>(got.begin() + 1, got.end()) == missed);
  CHECK_FALSE(again.next(150ms));
}

TEST_CASE("ws: an expired cursor gets a reset, then events from the earliest retained one") {
  lastmile_server::options o;
  o.retention = 5;
  ws_server s(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(s.publish("t", std::to_string(i)));
  ws_client w(s.port());
  w.subscribe("t", ids[2]);
  auto reset = w.next();
  REQUIRE(reset);
  CHECK(field(*reset, "type") == "reset");
  CHECK(field(*reset, "topic") == "t");
  CHECK(field(*reset, "reason") == "cursor_expired");
  CHECK(field(*reset, "earliest") == ids[15]);
  CHECK(read_event_ids(w, 5) == std::vector<std::string>(ids.begin() + 15, ids.end()));
  CHECK(metric(s.port(), "lastmile_resets_total{transport=\"ws\"}") == 1);
}

TEST_CASE("ws: bad messages get errors and the connection stays; a flood closes with 1008") {
  ws_server s;
  ws_client w(s.port());
  auto expect_error = [&](std::string_view msg, std::string_view code) {
    w.send_text(msg);
    auto r = w.next();
    REQUIRE(r);
    CHECK(field(*r, "type") == "error");
    CHECK(field(*r, "code") == code);
    CHECK_FALSE(field(*r, "message").empty());
  };
  expect_error("not json", "bad_request");
  expect_error("[1,2]", "bad_request");
  expect_error(R"({"topic":"t"})", "bad_request");
  expect_error(R"({"type":"subscribe"})", "bad_request");
  expect_error(R"({"type":"dance"})", "unknown_type");
  expect_error(R"({"type":"subscribe","topic":"a b"})", "bad_topic");
  expect_error(R"({"type":"subscribe","topic":"t","from":"nope"})", "bad_cursor");
  expect_error(R"({"type":"publish","topic":"t.*","data":1})", "bad_topic");
  expect_error(R"({"type":"publish","topic":"t"})", "bad_request");
  w.send_text(R"({"type":"ping","unknown":[1,2,3]})");
  CHECK(w.next() == R"({"type":"pong"})");

  ws_client flood(s.port());
  for (int i = 0; i < 30; ++i) flood.send_text("{");
  int errors = 0;
  while (flood.next(2s)) ++errors;
  REQUIRE(flood.closed_with);
  CHECK(flood.closed_with->close_code() == 1008);
  CHECK(errors == 19);
  flood.send_frame(8, std::string("\x03\xe8", 2));
  CHECK(flood.c.wait_closed(3s));
}

TEST_CASE("ws: too many subscriptions") {
  ws_server s;
  ws_client w(s.port());
  for (int i = 0; i < 64; ++i) w.send_text(R"({"type":"subscribe","topic":"t)" + std::to_string(i) + "\"}");
  for (int i = 0; i < 64; ++i) CHECK(field(*w.next(), "type") == "subscribed");
  w.send_text(R"({"type":"subscribe","topic":"one.more"})");
  auto r = w.next();
  REQUIRE(r);
  CHECK(field(*r, "code") == "too_many_subscriptions");
  w.send_text(R"({"type":"subscribe","topic":"t0"})");  // re-subscribing is not a new one
  CHECK(field(*w.next(), "type") == "subscribed");
}

TEST_CASE("ws protocol errors close with the RFC code") {
  ws_server s;
  SUBCASE("binary -> 1003") {
    ws_client w(s.port());
    w.send_frame(2, "\x01\x02");
    auto f = w.wait_close();
    REQUIRE(f);
    CHECK(f->close_code() == 1003);
    w.send_frame(8, std::string("\x03\xeb", 2));
    CHECK(w.c.wait_closed(3s));
  }
  SUBCASE("invalid UTF-8 -> 1007") {
    ws_client w(s.port());
    w.send_frame(1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80");
    auto f = w.wait_close();
    REQUIRE(f);
    CHECK(f->close_code() == 1007);
    CHECK(w.c.wait_closed(3s));
  }
  SUBCASE("oversized -> 1009, before the payload arrives") {
    ws_client w(s.port());
    std::string header("\x81\xff", 2);         // text, masked, 64-bit length
    header += std::string("\0\0\0\0\0\x20\0\0", 8);  // 2 MiB
    header += std::string(4, '\0');             // mask key
    w.c.send(header);
    auto f = w.wait_close();
    REQUIRE(f);
    CHECK(f->close_code() == 1009);
  }
  SUBCASE("unmasked -> 1002") {
    ws_client w(s.port());
    w.c.send(std::string("\x81\x02hi", 4));
    auto f = w.wait_close();
    REQUIRE(f);
    CHECK(f->close_code() == 1002);
  }
  SUBCASE("pings -> pongs with the same payload, in order") {
    ws_client w(s.port());
    std::string burst;
    for (int i = 0; i < 10; ++i) burst += ws_client::encode(9, "p" + std::to_string(i), true, false, 7);
    burst += ws_client::encode(9, std::string(125, 'x'), true, false, 9);
    w.c.send(burst);
    for (int i = 0; i < 10; ++i) {
      auto f = w.read_frame();
      REQUIRE(f);
      CHECK(f->opcode == 10);
      CHECK(f->payload == "p" + std::to_string(i));
    }
    auto big = w.read_frame();
    REQUIRE(big);
    CHECK(big->payload == std::string(125, 'x'));
  }
  SUBCASE("close handshake: the code is echoed, then the server closes TCP") {
    ws_client w(s.port());
    w.send_frame(8, std::string("\x0b\xb8") + "bye");  // 3000
    auto f = w.read_frame();
    REQUIRE(f);
    CHECK(f->opcode == 8);
    CHECK(f->close_code() == 3000);
    CHECK(w.c.wait_closed(2s));
  }
  SUBCASE("an empty close is answered with an empty close") {
    ws_client w(s.port());
    w.send_frame(8, "");
    auto f = w.read_frame();
    REQUIRE(f);
    CHECK(f->opcode == 8);
    CHECK(f->payload.empty());
    CHECK(w.c.wait_closed(2s));
  }
  SUBCASE("a fragmented text message with a ping in between") {
    ws_client w(s.port());
    w.send_frame(1, R"({"type":)", false);
    w.send_frame(9, "mid");
    w.send_frame(0, R"("ping"})", true);
    auto pong = w.read_frame();
    REQUIRE(pong);
    CHECK(pong->opcode == 10);
    CHECK(w.next() == R"({"type":"pong"})");
  }
}

TEST_CASE("ws: heartbeat pings; a silent peer is closed") {
  lastmile_server::options o;
  o.heartbeat_seconds = 0.2;
  ws_server s(o);
  ws_client alive(s.port());
  ws_client silent(s.port());
  // `alive` answers pings (next() does), `silent` never sends anything.
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(alive.next(1200ms));
  CHECK_FALSE(alive.closed_with);
  alive.send_text(R"({"type":"ping"})");
  CHECK(alive.next() == R"({"type":"pong"})");
  auto f = silent.read_frame();
  REQUIRE(f);
  CHECK(f->opcode == 9);
  CHECK(silent.c.wait_closed(2s));
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("ws: graceful shutdown closes with 1001") {
  auto s = std::make_unique<ws_server>(lastmile_server::options{});
  ws_client w(s->port());
  w.subscribe("t");
  s->srv.shutdown();
  auto f = w.wait_close(3s);
  REQUIRE(f);
  CHECK(f->close_code() == 1001);
  w.send_frame(8, std::string("\x03\xe9", 2));
  CHECK(w.c.wait_closed(3s));
  s.reset();
}

TEST_CASE("ws: auth with ?token=, forbidden topics and publishing, token expiry") {
  lastmile_server::options o;
  o.auth_secret = "k";
  ws_server s(o);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto tok = [&](long long exp, std::string_view topics, bool publish = false) {
    return lastmile::auth::sign_hs256(R"({"exp":)" + std::to_string(exp) + R"(,"topics":)" + std::string(topics) +
                                          (publish ? R"(,"publish":true})" : "}"),
                                      "k");
  };
  {
    testing::client c(s.port());
    c.send(upgrade_request("/ws", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"));
    CHECK(c.read_response()->status == 401);
  }
  {
    ws_client w(s.port(), "/ws?token=" + tok(now + 60, R"(["t.*"])"));
    REQUIRE(w.head.status == 101);
    w.send_text(R"({"type":"subscribe","topic":"u"})");
    auto r = w.next();
    REQUIRE(r);
    CHECK(field(*r, "code") == "forbidden");
    w.send_text(R"({"type":"publish","topic":"t.x","data":1})");
    CHECK(field(*w.next(), "code") == "forbidden");
    w.subscribe("t.x");
    s.publish("t.x", "ok");
    CHECK(read_event_ids(w, 1).size() == 1);
  }
  {
    ws_client w(s.port(), "/ws", "Authorization: Bearer " + tok(now + 60, R"(["t"])", true) + "\r\n");
    REQUIRE(w.head.status == 101);
    w.send_text(R"({"type":"publish","topic":"t","data":"x"})");
    CHECK(field(*w.next(), "type") == "published");
  }
  {
    ws_client w(s.port(), "/ws?token=" + tok(now + 2, R"(["t"])"));
    REQUIRE(w.head.status == 101);
    auto f = w.wait_close(4s);
    REQUIRE(f);
    CHECK(f->close_code() == 1008);
  }
}

TEST_CASE("ws: permessage-deflate compresses events once and inflates client messages") {
  ws_server s;
  ws_client plain(s.port());
  ws_client w(s.port(), "/ws", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
  auto ext = w.head.header("Sec-WebSocket-Extensions");
  REQUIRE(ext);
  CHECK(ext->starts_with("permessage-deflate"));
  CHECK(ext->find("server_no_context_takeover") != std::string::npos);
  plain.subscribe("t");
  w.subscribe("t");
  std::string payload = "{\"items\":[";
  for (int i = 0; i < 200; ++i) payload += (i ? "," : "") + std::string("\"the same words again and again\"");
  payload += "]}";
  s.publish("t", payload);
  auto f = w.read_frame();
  REQUIRE(f);
  CHECK(f->opcode == 1);
  CHECK(f->rsv1);
  auto reference = plain.next();
  REQUIRE(reference);
  CHECK(f->payload.size() < reference->size() / 4);
  CHECK(inflate_message(f->payload) == *reference);
  // A compressed message from the client.
  w.send_frame(1, deflate_payload(R"({"type":"ping"})"), true, true);
  CHECK(w.next() == R"({"type":"pong"})");
}

TEST_CASE("ws: metrics count connections and deliveries") {
  ws_server s;
  {
    ws_client w(s.port());
    w.subscribe("t");
    CHECK(metric(s.port(), "lastmile_connections{transport=\"ws\"}") == 1);
    s.publish("t", "1");
    s.publish("t", "2");
    CHECK(read_event_ids(w, 2).size() == 2);
    CHECK(metric(s.port(), "lastmile_events_delivered_total{transport=\"ws\"}") == 2);
    w.send_frame(8, std::string("\x03\xe8", 2));
    CHECK(w.wait_close());
    CHECK(w.c.wait_closed(2s));
  }
  for (int i = 0; i < 100 && metric(s.port(), "lastmile_connections{transport=\"ws\"}") != 0; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(metric(s.port(), "lastmile_connections{transport=\"ws\"}") == 0);
}

// wss: the same session over the server's TLS stream. A blocking asio::ssl client
// whose every read runs the io_context for a bounded time.
namespace {

struct wss_client {
  asio::io_context io;
  asio::ssl::context ctx;
  asio::ssl::stream<asio::ip::tcp::socket> tls;
  std::string in;
  std::error_code read_error;
  std::mt19937 rng{7};

  static asio::ssl::context client_context(const std::string& cert) {
    asio::ssl::context c(asio::ssl::context::tls_client);
    c.load_verify_file(cert);  // trust exactly our self-signed certificate
    c.set_verify_mode(asio::ssl::verify_peer);
    return c;
  }
  wss_client(std::uint16_t port, const std::string& cert) : ctx(client_context(cert)), tls(io, ctx) {
    SSL_set_tlsext_host_name(tls.native_handle(), "localhost");
    tls.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    tls.handshake(asio::ssl::stream_base::client);
  }
  void send(std::string_view bytes) { asio::write(tls, asio::buffer(bytes)); }
  void send_frame(int opcode, std::string_view payload, bool rsv1 = false) {
    send(ws_client::encode(opcode, payload, true, rsv1, rng()));
  }
  // Reads more bytes into `in`; false on timeout, EOF or error (read_error says which).
  bool fill(std::chrono::milliseconds timeout) {
    char buf[16384];
    bool done = false;
    std::size_t got = 0;
    tls.async_read_some(asio::buffer(buf), [&](std::error_code ec, std::size_t n) {
      read_error = ec;
      got = n;
      done = true;
    });
    io.restart();
    io.run_for(timeout);
    if (!done) {
      tls.next_layer().cancel();
      io.restart();
      io.run();
      read_error = asio::error::timed_out;
    }
    in.append(buf, got);
    return !read_error;
  }
  std::optional<std::string> read_head(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (in.find("\r\n\r\n") == std::string::npos)
      if (std::chrono::steady_clock::now() > deadline || (!fill(100ms) && read_error != asio::error::timed_out))
        return std::nullopt;
    auto end = in.find("\r\n\r\n") + 4;
    std::string head = in.substr(0, end);
    in.erase(0, end);
    return head;
  }
  std::optional<frame> read_frame(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto f = take_frame(in)) return f;
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      if (!fill(100ms) && read_error != asio::error::timed_out) return std::nullopt;
    }
  }
  // The next text message, inflated when RSV1 is set.
  std::optional<std::string> next(std::chrono::milliseconds timeout = 5s) {
    auto f = read_frame(timeout);
    if (!f) return std::nullopt;
    REQUIRE(f->opcode == 1);
    return f->rsv1 ? inflate_message(f->payload) : f->payload;
  }
};

}  // namespace

TEST_CASE("wss: upgrade over TLS, subscribe, events (plain and compressed), publish, clean close") {
  auto dir = std::filesystem::temp_directory_path() / ("lastmile-wss-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " + key +
                    " -out " + cert + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  lastmile_server::options o;
  o.tls_cert = cert;
  o.tls_key = key;
  ws_server s(o);
  CHECK(s.srv.url().starts_with("https://"));

  for (bool deflate : {false, true}) {
    CAPTURE(deflate);
    wss_client w(s.port(), cert);
    std::string ext = deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "";
    // The request and a first frame in one TLS write: both must be processed.
    w.send("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + ext + "\r\n" +
           ws_client::encode(1, R"({"type":"subscribe","topic":"secure.*"})", true, false, 0x0badf00d));
    auto head = w.read_head();
    REQUIRE(head);
    CHECK(head->starts_with("HTTP/1.1 101 "));
    CHECK(head->find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
    CHECK((head->find("Sec-WebSocket-Extensions: permessage-deflate") != std::string::npos) == deflate);
    CHECK(w.next() == R"({"type":"subscribed","topic":"secure.*"})");

    std::string big = "{\"words\":\"" + std::string(2000, 'a') + "\"}";
    auto id = s.publish("secure.x", big);
    auto f = w.read_frame();
    REQUIRE(f);
    CHECK(f->opcode == 1);
    CHECK(f->rsv1 == deflate);
    std::string message = f->rsv1 ? inflate_message(f->payload) : f->payload;
    CHECK(event_id(message) == id);
    CHECK(message.find(std::string(2000, 'a')) != std::string::npos);
    if (deflate) CHECK(f->payload.size() < 200);

    // A client message (compressed when negotiated) and the protocol's publish.
    std::string publish = R"({"type":"publish","topic":"secure.y","event":"e","data":[1,2]})";
    w.send_frame(1, deflate ? deflate_payload(publish) : publish, deflate);
    auto reply = w.next();
    REQUIRE(reply);
    CHECK(field(*reply, "type") == "published");
    auto ev = w.next();
    REQUIRE(ev);
    CHECK(event_id(*ev) == field(*reply, "id"));
    w.send_frame(9, "tls-ping");
    auto pong = w.read_frame();
    REQUIRE(pong);
    CHECK(pong->opcode == 10);
    CHECK(pong->payload == "tls-ping");

    // Close handshake: our 1000 is echoed, then the server ends the connection.
    w.send_frame(8, std::string("\x03\xe8", 2) + "done");
    auto close = w.read_frame();
    REQUIRE(close);
    CHECK(close->opcode == 8);
    CHECK(close->close_code() == 1000);
    auto deadline = std::chrono::steady_clock::now() + 3s;
    while (w.fill(100ms) || (w.read_error == asio::error::timed_out && std::chrono::steady_clock::now() < deadline)) {
    }
    CHECK(w.in.empty());  // nothing after the close frame
    CHECK((w.read_error == asio::error::eof || w.read_error == asio::ssl::error::stream_truncated));
  }
  std::filesystem::remove_all(dir);
}

// --- Conformance checklist, case by case, over real sockets -------------------------
// Each block names the checklist case (handshake H1-H6, framing 1.x, ping 2.x, RSV
// 3.x, opcodes 4.x, fragmentation 5.x, UTF-8 6.x, close 7.x, limits 9.x/10.x,
// permessage-deflate D1-D6 and 12.x/13.x). The server is not an echo server: a text
// message is a control message, so "echo" becomes "the message was taken whole"
// (a padded {"type":"ping"} gets its pong, a publish comes back as the event), and
// binary messages are refused with 1003 by design.
namespace {

using namespace lastmile;

// The reference server's session over a hub, with options a test chooses.
struct custom_ws_server {
  memory_log log{memory_log_options{}};
  hub<memory_log> events{log};
  ws::options opts;
  http::server srv;
  explicit custom_ws_server(ws::options o) : opts(std::move(o)), srv(server_options()) {
    const http::route_options open{.authenticate = false};
    srv.route("GET", "/ws", [this](http::exchange& ex) { return ws::serve(ex, events, opts); }, open);
    srv.on_shutdown([this] { events.shutdown(); });
    REQUIRE_FALSE(srv.listen("127.0.0.1", 0));
    srv.start();
  }
  ~custom_ws_server() {
    srv.shutdown();
    srv.wait();
  }
  static http::server_options server_options() {
    http::server_options o;
    o.threads = 2;
    return o;
  }
  std::uint16_t port() const { return srv.local_endpoint().port(); }
};

// Sends `bytes` in pieces of `piece` bytes, pausing between them so the server
// sees separate reads (piece 0: all at once).
void send_pieces(ws_client& w, std::string_view bytes, std::size_t piece, std::chrono::microseconds pause = 300us) {
  if (piece == 0) return w.c.send(bytes);
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    w.c.send(bytes.substr(at, piece));
    if (pause.count()) std::this_thread::sleep_for(pause);
  }
}

std::string masked(int opcode, std::string_view payload, bool fin = true, bool rsv1 = false) {
  return ws_client::encode(opcode, payload, fin, rsv1, 0x5a3c9e17);
}

// A frame with raw first and second header bytes (any RSV/opcode), masked.
std::string raw_frame(std::uint8_t b0, std::string_view payload) {
  std::string f = masked(1, payload);
  f[0] = static_cast<char>(b0);
  return f;
}

std::string ping_message(std::size_t size) {
  std::string m = R"({"type":"ping"})";
  if (size == 0) return {};
  if (size < m.size()) return m;
  m.append(size - m.size(), ' ');  // JSON allows trailing whitespace
  return m;
}

std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p{char(code >> 8), char(code & 0xFF)};
  p.append(reason);
  return p;
}

// Sends `bytes` (whole, or byte by byte) on a fresh connection and expects the
// server to fail it with `code`: frames before the close are returned (for checks
// like "no pong"), nothing may follow the close frame, and the server ends TCP.
std::vector<frame> expect_failure(std::uint16_t port, std::string_view bytes, std::uint16_t code, std::size_t piece = 0,
                                  std::string_view extra_headers = {}) {
  ws_client w(port, "/ws", extra_headers);
  REQUIRE(w.head.status == 101);
  send_pieces(w, bytes, piece);
  std::vector<frame> before;
  std::optional<frame> close;
  while (auto f = w.read_frame(3s)) {
    if (f->opcode == 8) {
      close = f;
      break;
    }
    before.push_back(*f);
  }
  REQUIRE_MESSAGE(close, "no close frame");
  CHECK(close->close_code() == code);
  ::shutdown(w.c.fd(), SHUT_WR);  // our side is done too (the server ignores what follows its close)
  CHECK(w.c.wait_closed(3s));
  CHECK(w.c.buffered().empty());  // nothing after the close frame
  return before;
}

bool has_pong(const std::vector<frame>& frames) {
  return std::any_of(frames.begin(), frames.end(), [](const frame& f) { return f.opcode == 10; });
}

// Sends a text message and expects a text reply (pong or error): the message was
// taken whole and the connection stays.
void expect_reply(ws_client& w, std::string_view wire, std::string_view type, std::size_t piece = 0) {
  send_pieces(w, wire, piece);
  auto m = w.next();
  REQUIRE_MESSAGE(m, "no reply; closed with " << (w.closed_with ? w.closed_with->close_code() : 0));
  CHECK(ws_client::kind(*m) == type);
}

}  // namespace

TEST_CASE("ws conformance H1-H4: header forms, keys, versions, methods, paths") {
  ws_server s;
  auto attempt = [&](std::string request) {
    testing::client c(s.port());
    c.send(request);
    auto r = c.read_head();
    return r ? r->status : 0;
  };
  const std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  auto upgrade = [&](std::string_view method, std::string_view target, std::string_view version, std::string headers) {
    return std::string(method) + " " + std::string(target) + " " + std::string(version) + "\r\nHost: x\r\n" + headers + "\r\n";
  };
  // H1: any case of the Upgrade value, Connection as a list.
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1",
                        "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n" + key + "Sec-WebSocket-Version: 13\r\n")) == 101);
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1",
                        "upgrade: websocket\r\nconnection: upgrade\r\n" + key + "sec-websocket-version: 13\r\n")) == 101);
  const std::string ok_headers = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
  // H2: key missing, not base64, not 16 bytes, repeated.
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1", ok_headers)) == 400);
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1", ok_headers + "Sec-WebSocket-Key: !!!!not-base64!!!!!!!==\r\n")) == 400);
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1", ok_headers + "Sec-WebSocket-Key: c2hvcnQ=\r\n")) == 400);
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1", ok_headers + key + key)) == 400);
  // H3: missing or other versions -> 426 with the version we speak.
  for (std::string v : {"", "Sec-WebSocket-Version: 12\r\n", "Sec-WebSocket-Version: 14\r\n"}) {
    testing::client c(s.port());
    c.send(upgrade("GET", "/ws", "HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\n" + key + v));
    auto r = c.read_head();
    REQUIRE(r);
    CHECK(r->status == 426);
    CHECK(r->header("Sec-WebSocket-Version") == "13");
  }
  // H4: not GET, HTTP/1.0, no Upgrade or Connection token, unknown path: no 101.
  const std::string full = ok_headers + key;
  CHECK(attempt(upgrade("POST", "/ws", "HTTP/1.1", full + "Content-Length: 0\r\n")) / 100 == 4);
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.0", full)) == 400);
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1", "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + key)) == 400);
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1", "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" + key)) == 400);
  CHECK(attempt(upgrade("GET", "/ws", "HTTP/1.1", "Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + key)) == 400);
  CHECK(attempt(upgrade("GET", "/wsx", "HTTP/1.1", full)) == 404);
}

TEST_CASE("ws conformance H5: subprotocols and extensions: only offered values") {
  ws::options o;
  o.handshake.subprotocols = {"lastmile.v1", "chat"};
  custom_ws_server s(o);
  {
    ws_client w(s.port(), "/ws", "Sec-WebSocket-Protocol: chat, lastmile.v1\r\n");
    CHECK(w.head.status == 101);
    CHECK(w.head.header("Sec-WebSocket-Protocol") == "lastmile.v1");  // our preference among the offered
  }
  {
    ws_client w(s.port(), "/ws", "Sec-WebSocket-Protocol: other\r\nSec-WebSocket-Protocol: chat\r\n");
    CHECK(w.head.header("Sec-WebSocket-Protocol") == "chat");  // offers over two header lines
  }
  {
    ws_client w(s.port(), "/ws", "Sec-WebSocket-Protocol: mqtt\r\n");
    CHECK(w.head.status == 101);
    CHECK_FALSE(w.head.header("Sec-WebSocket-Protocol"));
  }
  {
    ws_client w(s.port(), "/ws", "Sec-WebSocket-Extensions: x-webkit-deflate-frame, foo; bar=1, permessage-deflate\r\n");
    CHECK(w.head.status == 101);
    CHECK(w.head.header("Sec-WebSocket-Extensions") == "permessage-deflate; server_no_context_takeover");
    w.send_text(R"({"type":"ping"})");
    CHECK(w.next() == R"({"type":"pong"})");
  }
  {
    ws_client w(s.port(), "/ws", "Sec-WebSocket-Extensions: x-unknown\r\n");
    CHECK(w.head.status == 101);
    CHECK_FALSE(w.head.header("Sec-WebSocket-Extensions"));
  }
}

TEST_CASE("ws conformance 1.x: message sizes around the length forms, split writes, length errors") {
  ws_server s;
  ws_client w(s.port());
  // 1.1.1-7: 0, 125, 126, 127, 128, 65535, 65536 bytes (0 is not JSON: an error reply).
  for (std::size_t size : {0u, 125u, 126u, 127u, 128u, 65535u, 65536u}) {
    CAPTURE(size);
    expect_reply(w, masked(1, ping_message(size)), size ? "pong" : "error");
  }
  // 1.x.8: 64 KiB written in 997-byte writes.
  expect_reply(w, masked(1, ping_message(65536)), "pong", 997);
  // The same sizes with every header byte in its own write.
  for (std::size_t size : {125u, 126u, 65536u}) {
    std::string wire = masked(1, ping_message(size));
    send_pieces(w, std::string_view(wire).substr(0, 14), 1);
    expect_reply(w, std::string_view(wire).substr(14), "pong");
  }
  // A 64-bit length with the top bit set -> 1002 (whole and byte by byte).
  std::string huge("\x81\xff\x80\0\0\0\0\0\0\x01", 10);
  huge.append(4, '\0');
  for (std::size_t piece : {0u, 1u}) expect_failure(s.port(), huge, 1002, piece);
  // Unmasked, byte by byte too.
  expect_failure(s.port(), std::string("\x81\x02hi", 4), 1002, 1);
}

TEST_CASE("ws conformance 2.x: ping/pong payloads, 126 bytes, byte-split, unsolicited pong") {
  ws_server s;
  ws_client w(s.port());
  const std::string binary("\x00\xff\xfe\x80\x01", 5);
  for (std::string payload : {std::string(), std::string("hello"), binary, std::string(125, '*')}) {
    CAPTURE(payload.size());
    w.c.send(masked(9, payload));
    auto f = w.read_frame();
    REQUIRE(f);
    CHECK(f->opcode == 10);
    CHECK(f->payload == payload);
  }
  // Sent byte by byte.
  send_pieces(w, masked(9, "split ping"), 1);
  auto pong = w.read_frame();
  REQUIRE(pong);
  CHECK(pong->opcode == 10);
  CHECK(pong->payload == "split ping");
  // An unsolicited pong: nothing comes back (the next reply is the message's).
  w.c.send(masked(10, "unsolicited") + masked(1, R"({"type":"ping"})"));
  auto next = w.read_frame();
  REQUIRE(next);
  CHECK(next->opcode == 1);
  CHECK(next->payload == R"({"type":"pong"})");
  // 126 bytes -> 1002, whole and byte by byte.
  for (std::size_t piece : {0u, 1u}) expect_failure(s.port(), masked(9, std::string(126, 'x')), 1002, piece);
}

TEST_CASE("ws conformance 3.x/4.x: RSV bits without an extension and reserved opcodes -> 1002, nothing after") {
  ws_server s;
  // 3.x: RSV 1-7 on text, binary, ping and close.
  for (std::uint8_t rsv = 1; rsv <= 7; ++rsv) {
    for (std::uint8_t op : {0x1, 0x2, 0x9, 0x8}) {
      CAPTURE(int(rsv));
      CAPTURE(int(op));
      std::string payload = op == 0x8 ? close_payload(1000) : op == 0x1 ? std::string(R"({"type":"ping"})") : std::string("x");
      auto before = expect_failure(s.port(), raw_frame(std::uint8_t(0x80 | (rsv << 4) | op), payload) + masked(9, "after"),
                                   1002, rsv == 7 ? 1 : 0);
      CHECK(before.empty());  // no pong for the ping after the bad frame
    }
  }
  // 3.2-3.4: a good message, a bad frame, a ping -> the reply only, no pong.
  auto before = expect_failure(s.port(), masked(1, R"({"type":"ping"})") + raw_frame(0xC1, "x") + masked(9, "p"), 1002);
  REQUIRE(before.size() == 1);
  CHECK(before[0].payload == R"({"type":"pong"})");
  // 4.x: reserved opcodes 3-7 and 11-15, with and without payload, then a ping.
  for (std::uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    CAPTURE(int(op));
    CHECK_FALSE(has_pong(expect_failure(s.port(), raw_frame(std::uint8_t(0x80 | op), op % 2 ? "" : "abc") + masked(9, "p"),
                                        1002, op == 7 ? 1 : 0)));
  }
}

TEST_CASE("ws conformance 5.x: fragmentation") {
  ws_server s;
  const std::string message = R"({"type":"ping"})";
  const std::string two = masked(1, message.substr(0, 5), false) + masked(0, message.substr(5), true);
  {
    ws_client w(s.port());
    expect_reply(w, two, "pong");      // sent whole
    expect_reply(w, two, "pong", 1);   // per octet
    // Per frame, with a pause between them.
    send_pieces(w, masked(1, message.substr(0, 5), false), 0);
    std::this_thread::sleep_for(50ms);
    expect_reply(w, masked(0, message.substr(5), true), "pong");
    // 6.1.x: empty fragments.
    expect_reply(w, masked(1, "", false) + masked(0, message, false) + masked(0, "", true), "pong");
    // A 16-fragment message with pings between the fragments: pongs first, in order.
    std::string wire;
    for (std::size_t i = 0; i < message.size(); ++i) {
      wire += masked(i == 0 ? 1 : 0, message.substr(i, 1), i + 1 == message.size());
      if (i % 4 == 0) wire += masked(9, "p" + std::to_string(i));
    }
    w.c.send(wire);
    for (std::size_t i = 0; i < message.size(); i += 4) {
      auto f = w.read_frame();
      REQUIRE(f);
      CHECK(f->opcode == 10);
      CHECK(f->payload == "p" + std::to_string(i));
    }
    CHECK(w.next() == R"({"type":"pong"})");
  }
  {
    // 5.19/20: the pong for a ping between fragments comes before the last fragment is sent.
    ws_client w(s.port());
    for (int i = 0; i < 4; ++i) {
      w.c.send(masked(i == 0 ? 1 : 0, message.substr(i * 3, 3), false) + masked(9, "mid" + std::to_string(i)));
      auto f = w.read_frame(2s);
      REQUIRE(f);
      CHECK(f->opcode == 10);
      CHECK(f->payload == "mid" + std::to_string(i));
      std::this_thread::sleep_for(100ms);
    }
    expect_reply(w, masked(0, message.substr(12), true), "pong");
  }
  for (std::size_t piece : {0u, 1u}) {
    CAPTURE(piece);
    // A fragmented ping or pong.
    expect_failure(s.port(), raw_frame(0x09, "a") + masked(0, "b"), 1002, piece);
    expect_failure(s.port(), raw_frame(0x0A, "a") + masked(0, "b"), 1002, piece);
    // 5.9-5.17: a continuation with nothing to continue (FIN 0 or 1), also after a complete message.
    expect_failure(s.port(), masked(0, "x", true), 1002, piece);
    expect_failure(s.port(), masked(0, "x", false) + masked(1, message), 1002, piece);
    CHECK(expect_failure(s.port(), masked(1, message) + masked(0, "x", true), 1002, piece).size() == 1);
    // 5.18: a new text frame inside a fragmented message.
    expect_failure(s.port(), masked(1, "{", false) + masked(1, "}", true), 1002, piece);
    expect_failure(s.port(), masked(1, "{", false) + masked(2, "}", true), 1002, piece);
  }
}

TEST_CASE("ws conformance 6.x: UTF-8 split anywhere, fail fast, the Kuhn cases") {
  ws_server s;
  {
    // Valid text split at every byte, in one-byte frames (and one-byte writes):
    // the published event carries it unchanged.
    ws_client w(s.port());
    w.subscribe("utf8");
    const std::string text = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf \xef\xbf\xbd";
    const std::string message = R"({"type":"publish","topic":"utf8","data":")" + text + "\"}";
    std::string wire;
    for (std::size_t i = 0; i < message.size(); ++i) wire += masked(i == 0 ? 1 : 0, message.substr(i, 1), i + 1 == message.size());
    send_pieces(w, wire, 3);
    CHECK(field(*w.next(), "type") == "published");
    auto ev = w.next();
    REQUIRE(ev);
    simdjson::dom::parser p;
    CHECK(std::string_view(p.parse(*ev)["event"]["data"]) == text);
  }
  {
    // 6.4.x fail fast: the bad fragment fails the connection before the message ends.
    for (std::string_view bad : {std::string_view("\xf4\x90\x80\x80"), std::string_view("\xed\xa0\x80")}) {
      ws_client w(s.port());
      w.c.send(masked(1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", false));
      std::this_thread::sleep_for(100ms);
      w.c.send(masked(0, bad, false));
      auto f = w.read_frame(2s);  // before "edited" is sent
      REQUIRE(f);
      CHECK(f->opcode == 8);
      CHECK(f->close_code() == 1007);
    }
    // The bad sequence split across frames and reads: failed at the first impossible byte.
    ws_client w(s.port());
    w.c.send(masked(1, "ok \xf4", false));
    std::this_thread::sleep_for(50ms);
    w.c.send(masked(0, "\x90", false));
    auto f = w.read_frame(2s);
    REQUIRE(f);
    CHECK(f->close_code() == 1007);
  }
  // Kuhn test file, valid: the message is taken (a pong, or an error where JSON forbids a raw control character).
  {
    ws_client w(s.port());
    expect_reply(w, masked(1, std::string("\x00", 1)), "error");
    for (std::string_view valid : {"\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xef\xb7\x90", "\xef\xbf\xbd", "\xc2\x80", "\xf0\x90\x80\x80"}) {
      CAPTURE(valid);
      expect_reply(w, masked(1, R"({"type":"ping","x":")" + std::string(valid) + "\"}"), "pong");
      expect_reply(w, masked(1, R"({"type":"ping","x":")" + std::string(valid) + "\"}"), "pong", 1);
    }
  }
  // Kuhn test file, invalid: 1007, whole and byte by byte.
  for (std::string_view invalid :
       {"\xf4\x90\x80\x80", "\xf7\xbf\xbf\xbf", "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\x80", "\xbf",
        "\x80\xbf\x80", "\xc0 ", "\xe0\x80", "\xdf", "\xef\xbf", "\xfe", "\xff", "\xfe\xfe\xff\xff", "\xc0\xaf",
        "\xc0\x80", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xa0\x80\xed\xb0\x80"}) {
    CAPTURE(invalid);
    const std::string message = R"({"type":"ping","x":")" + std::string(invalid) + "\"}";
    for (std::size_t piece : {0u, 1u}) expect_failure(s.port(), masked(1, message), 1007, piece);
  }
  // Binary is never checked as UTF-8 (it is refused as binary: 1003, not 1007).
  expect_failure(s.port(), masked(2, "\xff\xfe"), 1003);
}

TEST_CASE("ws conformance 7.x: close frames, codes and reasons") {
  ws_server s;
  // A message then a close: the reply, then the close echo, then EOF, nothing else.
  {
    ws_client w(s.port());
    w.c.send(masked(1, R"({"type":"ping"})") + masked(8, close_payload(1000)));
    CHECK(w.read_frame()->payload == R"({"type":"pong"})");
    auto f = w.read_frame();
    REQUIRE(f);
    CHECK(f->opcode == 8);
    CHECK(f->close_code() == 1000);
    CHECK(w.c.wait_closed(2s));
    CHECK(w.c.buffered().empty());
  }
  // A second close, a ping or text after the close: ignored.
  {
    ws_client w(s.port());
    w.c.send(masked(8, close_payload(1000)) + masked(8, close_payload(1001)) + masked(9, "p") +
             masked(1, R"({"type":"ping"})"));
    auto f = w.read_frame();
    REQUIRE(f);
    CHECK(f->opcode == 8);
    CHECK(f->close_code() == 1000);
    CHECK(w.c.wait_closed(2s));
    CHECK(w.c.buffered().empty());
  }
  // Codes that may be sent, with no reason, a reason and a 123-byte reason: echoed.
  for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
    CAPTURE(code);
    for (std::string reason : {std::string(), std::string("why"), std::string(123, 'r')}) {
      ws_client w(s.port());
      send_pieces(w, masked(8, close_payload(code, reason)), reason.size() == 3 ? 1 : 0);
      auto f = w.read_frame();
      REQUIRE(f);
      CHECK(f->opcode == 8);
      CHECK(f->close_code() == code);
      CHECK(w.c.wait_closed(2s));
    }
  }
  // Codes that must not be sent -> 1002.
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999}) {
    CAPTURE(code);
    expect_failure(s.port(), masked(8, close_payload(code)), 1002);
  }
  // A 1-byte payload, a 124-byte reason (126-byte payload) -> 1002; a bad UTF-8 reason -> 1007.
  for (std::size_t piece : {0u, 1u}) {
    expect_failure(s.port(), masked(8, "\x03"), 1002, piece);
    expect_failure(s.port(), masked(8, close_payload(1000, std::string(124, 'r'))), 1002, piece);
    expect_failure(s.port(), masked(8, close_payload(1000, "ok \xce\xba \xed\xa0\x80")), 1007, piece);
  }
}

TEST_CASE("ws conformance 9.x/10.x: limits") {
  ws::options o;
  o.max_message_size = 256 * 1024;
  o.error_limit = 10000;
  custom_ws_server s(o);
  {
    ws_client w(s.port());
    // Up to the cap: taken, in one frame, in 64- to 2048-byte frames, in 64- to 2048-byte writes.
    expect_reply(w, masked(1, ping_message(256 * 1024)), "pong");
    for (std::size_t frame_size : {64u, 1300u, 2048u, 65536u}) {
      CAPTURE(frame_size);
      const std::string message = ping_message(256 * 1024);
      std::string wire;
      for (std::size_t at = 0; at < message.size(); at += frame_size)
        wire += masked(at == 0 ? 1 : 0, message.substr(at, frame_size), at + frame_size >= message.size());
      expect_reply(w, wire, "pong", frame_size == 64 ? 0 : frame_size);
    }
    // 1000 round trips of growing messages.
    for (int i = 0; i < 1000; ++i) w.c.send(masked(1, ping_message(16 + (i * 61) % 4096)));
    int pongs = 0;
    while (pongs < 1000 && w.next() == R"({"type":"pong"})") ++pongs;
    CHECK(pongs == 1000);
  }
  // Over the cap -> 1009: one frame (refused at its header), or fragments adding up.
  expect_failure(s.port(), masked(1, ping_message(256 * 1024 + 1)), 1009);
  expect_failure(s.port(), masked(1, std::string(200 * 1024, ' '), false) + masked(0, std::string(57 * 1024, ' '), true), 1009);
}

namespace {

// A client compressor: raw deflate, sync flush, 00 00 ff ff dropped; with context
// takeover unless told otherwise (RFC 7692 §7.2.1).
struct client_deflater {
  z_stream z{};
  bool takeover;
  client_deflater(int window_bits, bool context_takeover) : takeover(context_takeover) {
    REQUIRE(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  }
  ~client_deflater() { deflateEnd(&z); }
  std::string compress(std::string_view text) {
    std::string out(text.size() + 1024, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_SYNC_FLUSH) == Z_OK);
    REQUIRE(z.avail_in == 0);
    out.resize(out.size() - z.avail_out);
    REQUIRE(out.ends_with(std::string_view("\x00\x00\xff\xff", 4)));
    out.resize(out.size() - 4);
    if (!takeover) deflateReset(&z);
    return out;
  }
};

// A compressed message as frames of `frame_size` payload bytes (0: one frame), RSV1 on the first only.
std::string compressed_frames(std::string_view payload, std::size_t frame_size) {
  if (frame_size == 0) return masked(1, payload, true, true);
  std::string wire;
  std::size_t at = 0;
  do {
    auto piece = payload.substr(at, frame_size);
    wire += masked(at == 0 ? 1 : 0, piece, at + frame_size >= payload.size(), at == 0);
    at += frame_size;
  } while (at < payload.size());
  return wire;
}

std::optional<std::string> extension_param(std::string_view reply, std::string_view name) {
  auto at = reply.find(name);
  if (at == std::string_view::npos) return std::nullopt;
  auto rest = reply.substr(at + name.size());
  if (!rest.starts_with("=")) return std::string();
  return std::string(rest.substr(1, rest.find(';') == std::string_view::npos ? rest.npos : rest.find(';') - 1));
}

std::string ext_header(std::string_view offer) { return "Sec-WebSocket-Extensions: " + std::string(offer) + "\r\n"; }

}  // namespace

TEST_CASE("ws conformance D1-D3: permessage-deflate negotiation") {
  ws_server s;
  // D1: only the four parameters, values 8-15, client_max_window_bits only when offered.
  struct offer_case {
    std::string offer, reply;
  };
  for (const auto& [offer, reply] : std::vector<offer_case>{
           {"permessage-deflate", "permessage-deflate; server_no_context_takeover"},
           {"permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover"},
           {"permessage-deflate; client_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"},
           {"permessage-deflate; server_max_window_bits=12",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=12"},
           {"permessage-deflate; client_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
           {"permessage-deflate; server_max_window_bits=\"10\"",
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"},
           // D2 fallback: a bad offer is skipped, the next acceptable one is taken.
           {"permessage-deflate; foo, permessage-deflate; client_max_window_bits=9",
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=9"},
       }) {
    CAPTURE(offer);
    ws_client w(s.port(), "/ws", ext_header(offer));
    CHECK(w.head.status == 101);
    CHECK(w.head.header("Sec-WebSocket-Extensions") == reply);
  }
  // D2: unknown, invalid or duplicated parameters: declined, the upgrade still succeeds,
  // and RSV1 is then a protocol error.
  for (std::string offer : {"permessage-deflate; foo", "permessage-deflate; server_max_window_bits=7",
                            "permessage-deflate; server_max_window_bits=16", "permessage-deflate; client_max_window_bits=7",
                            "permessage-deflate; client_max_window_bits=16", "permessage-deflate; server_max_window_bits",
                            "permessage-deflate; server_max_window_bits=08",
                            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                            "permessage-deflate; client_max_window_bits; client_max_window_bits",
                            "permessage-deflate; client_no_context_takeover=1",
                            "permessage-deflate; server_max_window_bits=8"}) {  // zlib cannot compress with 256 bytes
    CAPTURE(offer);
    ws_client w(s.port(), "/ws", ext_header(offer));
    CHECK(w.head.status == 101);
    CHECK_FALSE(w.head.header("Sec-WebSocket-Extensions"));
    w.send_text(R"({"type":"ping"})");
    CHECK(w.next() == R"({"type":"pong"})");
  }
  expect_failure(s.port(), masked(1, deflate_payload(R"({"type":"ping"})"), true, true), 1002, 0,
                 ext_header("permessage-deflate; foo"));
  // D3: server_max_window_bits=N: every compressed frame inflates with a window of N.
  {
    ws_client w(s.port(), "/ws", ext_header("permessage-deflate; server_max_window_bits=9"));
    REQUIRE(w.head.header("Sec-WebSocket-Extensions"));
    CHECK(extension_param(*w.head.header("Sec-WebSocket-Extensions"), "server_max_window_bits") == "9");
    w.subscribe("d3");
    std::string big = "\"" + std::string(5000, 'a') + std::string(5000, 'b') + "\"";
    s.publish("d3", big);
    auto f = w.read_frame();
    REQUIRE(f);
    std::string text = f->payload;
    if (f->rsv1) {
      std::string data = f->payload + std::string("\x00\x00\xff\xff", 4);
      z_stream z{};
      REQUIRE(inflateInit2(&z, -9) == Z_OK);
      text.assign(64 * 1024, '\0');
      z.next_in = reinterpret_cast<Bytef*>(data.data());
      z.avail_in = static_cast<uInt>(data.size());
      z.next_out = reinterpret_cast<Bytef*>(text.data());
      z.avail_out = static_cast<uInt>(text.size());
      CHECK(inflate(&z, Z_SYNC_FLUSH) == Z_OK);
      text.resize(text.size() - z.avail_out);
      inflateEnd(&z);
    }
    CHECK(text.find(big) != std::string::npos);
  }
  // server_no_context_takeover: every event frame inflates on its own.
  {
    ws_client w(s.port(), "/ws", ext_header("permessage-deflate"));
    w.subscribe("d3b");
    std::string data = "\"" + std::string(3000, 'z') + "\"";
    for (int i = 0; i < 3; ++i) s.publish("d3b", data);
    for (int i = 0; i < 3; ++i) {
      auto f = w.read_frame();
      REQUIRE(f);
      CHECK(f->rsv1);
      CHECK(inflate_message(f->payload).find(data) != std::string::npos);  // a fresh inflater each time
    }
  }
}

TEST_CASE("ws conformance D4-D6: RSV1 placement, the RFC 7692 vectors, limits and corrupt data") {
  ws_server s;
  const std::string offer = ext_header("permessage-deflate; client_max_window_bits");
  const std::string ping = R"({"type":"ping"})";
  {
    ws_client w(s.port(), "/ws", offer);
    REQUIRE(w.head.header("Sec-WebSocket-Extensions"));
    // D4: uncompressed messages are still taken; a compressed one in fragments (RSV1
    // on the first only), whole and byte by byte.
    expect_reply(w, masked(1, ping), "pong");
    client_deflater d(15, false);
    for (std::size_t frame_size : {0u, 1u, 3u, 8u}) {
      for (std::size_t piece : {0u, 1u}) {
        CAPTURE(frame_size);
        CAPTURE(piece);
        expect_reply(w, compressed_frames(d.compress(ping), frame_size), "pong", piece);
      }
    }
    // D5: "Hello" twice, the second compressed against the first (context takeover):
    // not JSON, so error replies, but no close (both inflated).
    const std::string hello1("\xf2\x48\xcd\xc9\xc9\x07\x00", 7), hello2("\xf2\x00\x11\x00\x00", 5);
    expect_reply(w, masked(1, hello1, true, true), "error");
    expect_reply(w, masked(1, hello2, true, true), "error");
    // The same with a real message: the second copy is only a back-reference.
    client_deflater ctx(15, true);
    std::string first = ctx.compress(ping), second = ctx.compress(ping);
    CHECK(second.size() < first.size());
    expect_reply(w, masked(1, first, true, true), "pong");
    expect_reply(w, masked(1, second, true, true), "pong");
  }
  for (std::size_t piece : {0u, 1u}) {
    CAPTURE(piece);
    // D4: RSV1 on a continuation or a control frame -> 1002.
    expect_failure(s.port(), masked(1, "{", false) + masked(0, "}", true, true), 1002, piece, offer);
    expect_failure(s.port(), raw_frame(0xC9, "p"), 1002, piece, offer);
    expect_failure(s.port(), raw_frame(0xC8, close_payload(1000)), 1002, piece, offer);
    // D6: corrupt data -> 1007 (the framing was fine); a truncated stored block is not corrupt yet.
    expect_failure(s.port(), masked(1, "\xff\xff\xff\xff", true, true), 1007, piece, offer);
  }
  // D6: inflating past the limit (1 MiB) -> 1009, in one frame or in fragments.
  const std::string bomb = deflate_payload(ping + std::string(2 * 1024 * 1024, ' '));
  CHECK(bomb.size() < 8 * 1024);
  for (std::size_t frame_size : {0u, 512u}) expect_failure(s.port(), compressed_frames(bomb, frame_size), 1009, 0, offer);
  // Exactly at the limit is fine.
  {
    ws_client w(s.port(), "/ws", offer);
    expect_reply(w, masked(1, deflate_payload(ping_message(1024 * 1024)), true, true), "pong");
  }
}

TEST_CASE("ws conformance 12.x/13.x: offers x corpora x sizes x fragmentation, round trip through the log") {
  ws_server s;
  // Corpora without characters JSON would escape, so the event data is the text itself.
  auto corpus = [](int kind, std::size_t size) {
    std::string out;
    std::mt19937 rng(static_cast<unsigned>(kind * 7919 + size));
    const std::string words[] = {"lorem ", "ipsum ", "dolor ", "sit ", "amet ", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 "};
    while (out.size() < size) {
      switch (kind) {
        case 0: out += words[rng() % 6]; break;                                      // words
        case 1: out += char('#' + rng() % 57); break;                                // printable, no quote or backslash
        case 2: out += "{'id':" + std::to_string(rng() % 100000) + ",'ok':true},"; break;  // JSON-like
        default: out += "\xf0\x9f\x98\x80\xe6\x9d\xb1\xc3\xbc"; break;               // multi-byte only
      }
    }
    return out;
  };
  for (std::string offer : {"permessage-deflate", "permessage-deflate; client_no_context_takeover",
                            "permessage-deflate; server_no_context_takeover",
                            "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
                            "permessage-deflate; client_max_window_bits=9",
                            "permessage-deflate; client_max_window_bits=15",
                            "permessage-deflate; server_max_window_bits=9",
                            "permessage-deflate; server_max_window_bits=15; client_max_window_bits=9; client_no_context_takeover"}) {
    CAPTURE(offer);
    ws_client w(s.port(), "/ws", ext_header(offer));
    auto reply = w.head.header("Sec-WebSocket-Extensions");
    REQUIRE(reply);  // every one of these is accepted
    const auto client_bits = extension_param(*reply, "client_max_window_bits");
    const int window = client_bits && !client_bits->empty() ? std::stoi(*client_bits) : 15;
    const bool takeover = !extension_param(*reply, "client_no_context_takeover");
    const bool server_window_15 = extension_param(*reply, "server_max_window_bits").value_or("15") == "15";
    client_deflater d(window, takeover);
    w.subscribe("c");
    int compressed_events = 0;
    for (int kind = 0; kind < 4; ++kind) {
      for (std::size_t size : {16u, 200u, 4096u, 70000u}) {
        for (std::size_t frame_size : {0u, 7u, 1000u}) {
          if (frame_size == 7 && size > 4096) continue;
          CAPTURE(kind);
          CAPTURE(size);
          CAPTURE(frame_size);
          const std::string text = corpus(kind, size);
          const std::string message = R"({"type":"publish","topic":"c","event":"k","data":")" + text + "\"}";
          w.c.send(compressed_frames(d.compress(message), frame_size));
          auto published = w.next();
          REQUIRE(published);
          REQUIRE(field(*published, "type") == "published");
          auto f = w.read_frame();
          REQUIRE(f);
          compressed_events += f->rsv1;
          const std::string event = f->rsv1 ? inflate_message(f->payload) : f->payload;
          simdjson::dom::parser p;
          CHECK(std::string_view(p.parse(event)["event"]["data"]) == text);
        }
      }
    }
    // Shared compressed frames go to connections whose server window is 15.
    CHECK((compressed_events > 0) == server_window_15);
  }
}

// --- A source without intrusive waits ------------------------------------------------
// An application's own event source offers async_wait only (no hub::arm/disarm); the
// transports then wait with it and cancel through its handler's cancellation slot.
// The same three transports, over real sockets, on such a source.
namespace {

// Forwards to a hub but hides arm/disarm.
struct async_only_source {
  hub<memory_log>& h;
  read_status read_after(cursor c, const topic_filter& f, std::size_t max, event_batch& out) const {
    return h.read_after(c, f, max, out);
  }
  cursor head() const { return h.head(); }
  cursor earliest() const { return h.earliest(); }
  template <class Token>
  auto async_wait(const asio::any_io_executor& ex, cursor after, const topic_filter& f, Token&& token) {
    return h.async_wait(ex, after, f, std::forward<Token>(token));
  }
  result<cursor> publish(std::string_view topic, std::string_view type, std::string_view data) {
    return h.publish(topic, type, data);
  }
};
static_assert(event_source<async_only_source>);
static_assert(!intrusive_source<async_only_source>);

struct async_source_server {
  memory_log log{memory_log_options{}};
  hub<memory_log> events{log};
  async_only_source source{events};
  ws::options ws_opts;
  sse::options sse_opts;
  long_poll::options poll_opts;
  topic_filter sse_topic = *topic_filter::parse({"t"});  // outside the coroutine (GCC 12 and braced lists)
  http::server srv;
  async_source_server() : srv(custom_ws_server::server_options()) {
    const http::route_options open{.authenticate = false};
    srv.route("GET", "/ws", [this](http::exchange& ex) { return ws::serve(ex, source, ws_opts); }, open);
    srv.route("GET", "/sse", [this](http::exchange& ex) -> asio::awaitable<void> {
      auto start = sse::start_position(ex);
      co_await sse::serve(ex, source, sse_topic, resolve(source, start ? *start : position::latest()), sse_opts);
    }, open);
    srv.route("GET", "/poll", [this](http::exchange& ex) -> asio::awaitable<void> {
      auto p = long_poll::parse_params(ex.query(), poll_opts);
      co_await long_poll::serve(ex, source, std::get<long_poll::request_params>(std::move(p)), poll_opts);
    }, open);
    srv.on_shutdown([this] { events.shutdown(); });
    REQUIRE_FALSE(srv.listen("127.0.0.1", 0));
    srv.start();
  }
  ~async_source_server() {
    srv.shutdown();
    srv.wait();
  }
  std::uint16_t port() const { return srv.local_endpoint().port(); }
  // Waits until the hub has `n` waiters (the transports parked or withdrew).
  bool waiters(std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      if (events.stats().waiters == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};

}  // namespace

TEST_CASE("a source with async_wait only: SSE, WebSocket and long polls wait, wake and withdraw") {
  async_source_server s;

  SUBCASE("SSE: parked streams wake for each publish; a closed stream's wait is cancelled") {
    {
      testing::client a(s.port()), b(s.port());
      a.send("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n");
      b.send("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n");
      REQUIRE(a.read_until(": connected"));
      REQUIRE(b.read_until(": connected"));
      REQUIRE(s.waiters(2));
      for (int i = 1; i <= 3; ++i) {
        REQUIRE(s.events.publish("t", "message", "\"sse-" + std::to_string(i) + "\""));
        CHECK(a.read_until("sse-" + std::to_string(i)));
        CHECK(b.read_until("sse-" + std::to_string(i)));
        CHECK(s.waiters(2));  // parked again
      }
      REQUIRE(s.events.publish("other", "message", "\"not-for-t\""));
      REQUIRE(s.events.publish("t", "message", "\"sse-4\""));
      REQUIRE(a.read_until("sse-4"));
      CHECK(a.buffered().find("not-for-t") == std::string::npos);
    }
    // Both clients are gone: the connections cancel their waits through the slot.
    CHECK(s.waiters(0));
  }

  SUBCASE("WebSocket: one and several subscriptions, publish, unsubscribe; a closed session withdraws") {
    {
      ws_client w(s.port());
      REQUIRE(w.head.status == 101);
      w.subscribe("t");
      REQUIRE(s.waiters(1));
      REQUIRE(s.events.publish("t", "message", "\"ws-1\""));
      auto m = w.next_of("event");
      REQUIRE(m);
      CHECK(m->find("ws-1") != std::string::npos);
      // A second subscription: the wait now covers both patterns.
      w.subscribe("u.*");
      REQUIRE(s.events.publish("u.x", "message", "\"ws-2\""));
      m = w.next_of("event");
      REQUIRE(m);
      CHECK(m->find("ws-2") != std::string::npos);
      // Publishing through the session itself.
      w.send_text(R"({"type":"publish","topic":"t","event":"message","data":"ws-3"})");
      auto pub = w.next_of("published");
      REQUIRE(pub);
      m = w.next_of("event");
      REQUIRE(m);
      CHECK(m->find("ws-3") != std::string::npos);
      w.send_text(R"({"type":"unsubscribe","topic":"u.*"})");
      REQUIRE(w.next_of("unsubscribed"));
      REQUIRE(s.events.publish("u.x", "message", "\"ws-4\""));
      REQUIRE(s.events.publish("t", "message", "\"ws-5\""));
      m = w.next_of("event");
      REQUIRE(m);
      CHECK(m->find("ws-5") != std::string::npos);  // u.x is no longer subscribed
      CHECK(s.waiters(1));
    }
    CHECK(s.waiters(0));
  }

  SUBCASE("long poll: a held poll is answered by a publish; a dropped one withdraws") {
    std::thread publisher([&] {
      if (s.waiters(1)) (void)s.events.publish("t", "message", "\"poll-1\"");
    });
    auto r = testing::request(s.port(), "GET", "/poll?topic=t&timeout=10");
    publisher.join();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.find("poll-1") != std::string::npos);
    {
      testing::client c(s.port());
      c.send("GET /poll?topic=t&timeout=10 HTTP/1.1\r\nHost: x\r\n\r\n");
      REQUIRE(s.waiters(1));
    }
    CHECK(s.waiters(0));
  }

  SUBCASE("shutdown ends parked streams and sessions waiting on the source") {
    testing::client a(s.port());
    a.send("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(a.read_until(": connected"));
    ws_client w(s.port());
    w.subscribe("t");
    REQUIRE(s.waiters(2));
    s.srv.shutdown();
    auto close = w.wait_close();
    REQUIRE(close);
    CHECK(close->close_code() == 1001);
    CHECK(s.waiters(0));
  }
}
