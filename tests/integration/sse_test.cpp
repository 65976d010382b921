// SSE over real sockets against the reference server: resume, reset, heartbeats,
// disconnects, CORS, auth, fan-out to 1,000 streams, and a slow consumer.
#include "reference_fixture.hpp"

#include "test_client.hpp"

#include <lastmile/auth/jwt.hpp>
#include <lastmile/sse/parser.hpp>

#include <doctest/doctest.h>

#include <sys/resource.h>

using namespace std::chrono_literals;

namespace {

using sse_server = testing::in_process_server;

// Reads an SSE response: de-chunks the body and parses it as a browser would.
struct sse_reader {
  testing::client c;
  lastmile::sse::parser parser;
  std::vector<lastmile::sse::message> messages;
  std::vector<std::string> comments;
  std::string body;     // de-chunked bytes not yet handed to the parser
  bool ended = false;   // the terminating chunk arrived
  int status = 0;
  testing::response head;

  sse_reader(std::uint16_t port, std::string_view target, std::string_view extra_headers = {}, const char* from = nullptr,
             int rcvbuf = 0)
      : c(port, from, rcvbuf) {
    c.send("GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" +
           std::string(extra_headers) + "\r\n");
    auto h = c.read_head();
    REQUIRE(h);
    head = *h;
    status = h->status;
  }
  // Pumps bytes until pred() or timeout.
  template <class Pred>
  bool until(Pred pred, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      drain();
      if (pred()) return true;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || ended || !c.fill(left)) {
        drain();
        return pred();
      }
    }
  }
  void drain() {
    auto& b = c.buffered();
    for (;;) {
      auto le = b.find("\r\n");
      if (le == std::string::npos) return;
      std::size_t n = std::stoul(b.substr(0, le), nullptr, 16);
      if (b.size() < le + 2 + n + 2) return;
      std::string chunk = b.substr(le + 2, n);
      b.erase(0, le + 2 + n + 2);
      if (n == 0) {
        ended = true;
        return;
      }
      parser.feed(chunk, [&](const lastmile::sse::message& m) { messages.push_back(m); },
                  [&](std::string_view cm) { comments.emplace_back(cm); });
    }
  }
  std::vector<std::string> datas(std::string_view type = "m") const {
    std::vector<std::string> v;
    for (auto& m : messages)
      if (m.type == type) v.push_back(m.data);
    return v;
  }
};

std::int64_t metric(std::uint16_t port, std::string_view line_prefix) {
  auto r = testing::request(port, "GET", "/metrics");
  auto pos = r->body.find(std::string(line_prefix) + " ");
  if (pos == std::string::npos) return -1;
  return std::stoll(r->body.substr(pos + line_prefix.size() + 1));
}

}  // namespace

TEST_CASE("sse: headers, retry and comment first, events as published") {
  sse_server s;
  sse_reader r(s.port(), "/topics/orders/sse");
  CHECK(r.status == 200);
  CHECK(r.head.header("Content-Type") == "text/event-stream");
  CHECK(r.head.header("Cache-Control") == "no-cache");
  CHECK(r.head.header("X-Accel-Buffering") == "no");
  CHECK(r.head.header("Transfer-Encoding") == "chunked");
  CHECK_FALSE(r.head.header("Content-Length"));
  REQUIRE(r.until([&] { return !r.comments.empty(); }));
  CHECK(r.parser.retry() == std::chrono::milliseconds(2000));
  s.publish("other", "not for us");
  std::string id = s.publish("orders", "line1\nline2");
  REQUIRE(r.until([&] { return r.messages.size() == 1; }));
  CHECK(r.messages[0].data == "line1\nline2");
  CHECK(r.messages[0].last_event_id == id);
}

TEST_CASE("sse: Last-Event-ID resumes exactly after it; the header wins over the query") {
  sse_server s;
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(s.publish("t", std::to_string(i)));
  {
    sse_reader r(s.port(), "/topics/t/sse", "Last-Event-ID: " + ids[3] + "\r\n");
    REQUIRE(r.until([&] { return r.messages.size() == 6; }));
    CHECK(r.datas() == std::vector<std::string>{"4", "5", "6", "7", "8", "9"});
    s.publish("t", "10");
    REQUIRE(r.until([&] { return r.messages.size() == 7; }));
    CHECK(r.messages.back().data == "10");
  }
  {
    sse_reader r(s.port(), "/sse?topic=t&last_event_id=" + ids[7]);
    REQUIRE(r.until([&] { return r.messages.size() == 3; }));
    CHECK(r.datas() == std::vector<std::string>{"8", "9", "10"});
  }
  {
    sse_reader r(s.port(), "/sse?topic=t&last_event_id=" + ids[0], "Last-Event-ID: " + ids[8] + "\r\n");
    REQUIRE(r.until([&] { return r.messages.size() == 2; }));
    CHECK(r.datas() == std::vector<std::string>{"9", "10"});
  }
  {  // earliest keyword, and /events = all topics
    s.publish("u", "other topic");
    sse_reader r(s.port(), "/events?last_event_id=earliest");
    REQUIRE(r.until([&] { return r.messages.size() == 12; }));
    CHECK(r.messages.back().data == "other topic");
  }
  {  // no cursor: latest
    sse_reader r(s.port(), "/topics/t/sse");
    REQUIRE(r.until([&] { return !r.comments.empty(); }));
    s.publish("t", "fresh");
    REQUIRE(r.until([&] { return r.messages.size() == 1; }));
    CHECK(r.messages[0].data == "fresh");
  }
}

TEST_CASE("sse: an expired cursor gets a reset, then the earliest retained events") {
  lastmile_server::options o;
  o.retention = 5;
  sse_server s(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(s.publish("t", std::to_string(i)));
  sse_reader r(s.port(), "/topics/t/sse", "Last-Event-ID: " + ids[0] + "\r\n");
  REQUIRE(r.until([&] { return r.datas().size() == 5; }));
  REQUIRE(r.messages.size() == 6);
  CHECK(r.messages[0].type == "reset");
  CHECK(r.messages[0].data == R"({"reason":"cursor_expired","earliest":")" + ids[5] + R"("})");
  CHECK(r.messages[0].last_event_id == "");  // a reset carries no id
  CHECK(r.datas() == std::vector<std::string>{"5", "6", "7", "8", "9"});
  CHECK(metric(s.port(), "lastmile_resets_total{transport=\"sse\"}") == 1);
}

TEST_CASE("sse: bad cursor and bad topic are 400 with JSON") {
  sse_server s;
  auto r = testing::request(s.port(), "GET", "/topics/t/sse", {}, "Last-Event-ID: garbage\r\n");
  CHECK(r->status == 400);
  CHECK(r->body.find("bad_cursor") != std::string::npos);
  r = testing::request(s.port(), "GET", "/sse?last_event_id=1-01");
  CHECK(r->status == 400);
  r = testing::request(s.port(), "GET", "/sse?topic=a*b");
  CHECK(r->status == 400);
  CHECK(r->body.find("bad_topic") != std::string::npos);
}

TEST_CASE("sse: heartbeat comments after silence") {
  lastmile_server::options o;
  o.heartbeat_seconds = 0.2;
  sse_server s(o);
  sse_reader r(s.port(), "/topics/t/sse");
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(r.until([&] { return r.comments.size() >= 3; }, 3s));  // "connected", then 2 pings
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(r.comments[1] == " ping");
  CHECK(elapsed >= 350ms);  // two intervals of 200 ms
  CHECK(elapsed < 2s);
}

TEST_CASE("sse: a disconnected client frees its session (gauge back to zero)") {
  sse_server s;
  {
    sse_reader a(s.port(), "/topics/t/sse"), b(s.port(), "/sse?topic=t");
    REQUIRE(a.until([&] { return !a.comments.empty(); }));
    REQUIRE(b.until([&] { return !b.comments.empty(); }));
    CHECK(metric(s.port(), "lastmile_connections{transport=\"sse\"}") == 2);
    // The hello is written before the stream parks on the hub: wait for both waits.
    for (int i = 0; i < 200 && s.srv.events().stats().waiters != 2; ++i) std::this_thread::sleep_for(10ms);
    CHECK(s.srv.events().stats().waiters == 2);
  }
  bool freed = false;
  for (int i = 0; i < 200 && !freed; ++i) {
    freed = metric(s.port(), "lastmile_connections{transport=\"sse\"}") == 0 && s.srv.events().stats().waiters == 0;
    if (!freed) std::this_thread::sleep_for(10ms);
  }
  CHECK(freed);
}

TEST_CASE("sse: CORS allow-list and preflight") {
  {
    sse_server s;
    sse_reader r(s.port(), "/topics/t/sse", "Origin: https://a.example\r\n");
    CHECK(r.head.header("Access-Control-Allow-Origin") == "*");
  }
  lastmile_server::options o;
  o.allow_origins = {"https://good.example"};
  sse_server s(o);
  sse_reader ok(s.port(), "/topics/t/sse", "Origin: https://good.example\r\n");
  CHECK(ok.status == 200);
  CHECK(ok.head.header("Access-Control-Allow-Origin") == "https://good.example");
  CHECK(ok.head.header("Access-Control-Allow-Credentials") == "true");
  auto bad = testing::request(s.port(), "GET", "/topics/t/sse", {}, "Origin: https://evil.example\r\n");
  CHECK(bad->status == 403);
  auto pre = testing::request(s.port(), "OPTIONS", "/topics/t/sse", {},
                              "Origin: https://good.example\r\nAccess-Control-Request-Headers: last-event-id\r\n");
  CHECK(pre->status == 204);
  CHECK(pre->header("Access-Control-Allow-Headers")->find("Last-Event-ID") != std::string::npos);
  CHECK(pre->header("Access-Control-Allow-Origin") == "https://good.example");
}

TEST_CASE("sse: auth on every connection; a stream ends when its token expires") {
  lastmile_server::options o;
  o.auth_secret = "k";
  sse_server s(o);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto tok = [&](long long exp, std::string_view topics) {
    return lastmile::auth::sign_hs256(R"({"exp":)" + std::to_string(exp) + R"(,"topics":)" + std::string(topics) + "}", "k");
  };
  CHECK(testing::request(s.port(), "GET", "/topics/t/sse")->status == 401);
  CHECK(testing::request(s.port(), "GET", "/topics/t/sse?token=" + tok(now + 60, R"(["u"])"))->status == 403);
  CHECK(testing::request(s.port(), "GET", "/sse?token=" + tok(now + 60, R"(["t"])"))->status == 403);  // all topics
  sse_reader r(s.port(), "/sse?topic=t.x&token=" + tok(now + 2, R"(["t.*"])"));
  CHECK(r.status == 200);
  s.publish("t.x", "before expiry");
  REQUIRE(r.until([&] { return r.messages.size() == 1; }));
  auto t0 = std::chrono::steady_clock::now();
  CHECK(r.until([&] { return r.ended; }, 4s));  // the server ends the stream at exp
  CHECK(std::chrono::steady_clock::now() - t0 < 4s);
}

TEST_CASE("sse: graceful shutdown ends streams") {
  auto s = std::make_unique<sse_server>(lastmile_server::options{});
  sse_reader r(s->port(), "/topics/t/sse");
  REQUIRE(r.until([&] { return !r.comments.empty(); }));
  s->srv.shutdown();
  CHECK(r.until([&] { return r.ended; }, 3s));
  CHECK(r.c.wait_closed(3s));
  s.reset();
}

TEST_CASE("sse: 1,000 concurrent streams on one topic all receive every event") {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 4096) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8192);
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  sse_server s;
  const int streams = 1000, events = 50;
  std::vector<std::unique_ptr<sse_reader>> readers;
  for (int i = 0; i < streams; ++i) {
    // Spread clients over loopback source addresses (the per-IP cap is 1,000).
    std::string from = "127.0.1." + std::to_string(1 + i % 200);
    readers.push_back(std::make_unique<sse_reader>(s.port(), "/topics/fan/sse", "", from.c_str()));
  }
  for (auto& r : readers) REQUIRE(r->until([&] { return !r->comments.empty(); }));
  for (int i = 0; i < events; ++i) s.publish("fan", std::to_string(i));
  int complete = 0;
  for (auto& r : readers) {
    if (r->until([&] { return r->messages.size() >= events; }, 10s)) {
      bool in_order = true;
      for (int i = 0; i < events; ++i) in_order = in_order && r->messages[i].data == std::to_string(i);
      if (in_order && r->messages.size() == events) ++complete;
    }
  }
  CHECK(complete == streams);
  CHECK(metric(s.port(), "lastmile_events_delivered_total{transport=\"sse\"}") == std::int64_t(streams) * events);
}

TEST_CASE("sse: a slow consumer does not hold back others and catches up when it reads") {
  sse_server s;
  sse_reader slow(s.port(), "/topics/flow/sse", {}, nullptr, 4096);  // a small window, set before connecting
  REQUIRE(slow.until([&] { return !slow.comments.empty(); }));
  std::vector<std::unique_ptr<sse_reader>> fast;
  for (int i = 0; i < 100; ++i) {
    fast.push_back(std::make_unique<sse_reader>(s.port(), "/topics/flow/sse"));
    REQUIRE(fast.back()->until([&] { return !fast.back()->comments.empty(); }));
  }
  // 6,000 events of 1 KiB: ~6 MiB, more than the kernel buffers between the server
  // and the slow client hold (its window is 4 KiB; the server's send buffer grows to
  // at most tcp_wmem's 4 MiB), so the slow session's write really blocks.
  const int n = 6000;
  std::string pad(1000, 'x');
  for (int i = 0; i < n; ++i) {
    s.publish("flow", std::to_string(i) + ":" + pad);
    if (i % 100 == 99)  // the fast readers keep up while the slow one does not read at all
      for (auto& f : fast) REQUIRE(f->until([&] { return f->messages.size() >= std::size_t(i + 1); }, 10s));
  }
  for (auto& f : fast) CHECK(f->messages.size() == std::size_t(n));
  // Server memory stays bounded: the slow session holds at most one batch in flight.
  CHECK(s.srv.events().stats().published == std::uint64_t(n));
  // Now the slow client reads: it gets everything, in order (retention is 100,000).
  bool caught_up = slow.until([&] { return slow.messages.size() >= std::size_t(n); }, 20s);
  INFO("slow got ", slow.messages.size(), " ended ", slow.ended, " buffered ", slow.c.buffered().size());
  REQUIRE(caught_up);
  bool in_order = true;
  for (int i = 0; i < n; ++i) in_order = in_order && slow.messages[i].data.starts_with(std::to_string(i) + ":");
  CHECK(in_order);
}

TEST_CASE("sse: format=json sends every event as a message whose data is the event JSON") {
  sse_server s;
  sse_reader r(s.port(), "/sse?format=json");
  REQUIRE(r.until([&] { return !r.comments.empty(); }));
  std::string id = s.publish("orders.eu", R"({"n":1})");
  s.srv.events().publish("users", "joined", "line1\nline2");
  REQUIRE(r.until([&] { return r.messages.size() == 2; }));
  CHECK(r.messages[0].type == "message");
  CHECK(r.messages[0].last_event_id == id);
  CHECK(r.messages[0].data.starts_with(R"({"id":")" + id + R"(","topic":"orders.eu","type":"m","data":{"n":1},"time":")"));
  CHECK(r.messages[1].data.find(R"("topic":"users","type":"joined","data":"line1\nline2")") != std::string::npos);
  auto bad = testing::request(s.port(), "GET", "/sse?format=xml");
  CHECK(bad->status == 400);
}
