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
    auto& b = c.buffered();
    for (;;) {
      if (b.size() >= 2) {
        std::size_t len = std::uint8_t(b[1]) & 0x7F, pos = 2;
        bool masked = std::uint8_t(b[1]) & 0x80;
        REQUIRE_FALSE(masked);  // server frames are never masked
        if (len == 126 && b.size() >= 4) {
          len = (std::uint8_t(b[2]) << 8) | std::uint8_t(b[3]);
          pos = 4;
        } else if (len == 127 && b.size() >= 10) {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | std::uint8_t(b[2 + i]);
          pos = 10;
        } else if (len >= 126) {
          pos = std::string::npos;
        }
        if (pos != std::string::npos && b.size() >= pos + len) {
          frame f;
          f.fin = std::uint8_t(b[0]) & 0x80;
          f.rsv1 = std::uint8_t(b[0]) & 0x40;
          f.opcode = std::uint8_t(b[0]) & 0x0F;
          f.payload = b.substr(pos, len);
          b.erase(0, pos + len);
          return f;
        }
      }
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
