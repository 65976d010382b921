// Long polling over real sockets against the reference server.
#include "reference_fixture.hpp"

#include "test_client.hpp"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <sys/resource.h>

using namespace std::chrono_literals;

namespace {

using poll_server = testing::in_process_server;

struct batch {
  std::vector<std::string> data;
  std::string next;
  bool reset = false;
};
batch parse_batch(const std::string& body) {
  simdjson::dom::parser p;
  auto doc = p.parse(body);
  REQUIRE(doc.error() == simdjson::SUCCESS);
  batch b;
  for (auto e : doc["events"].get_array()) {
    std::string_view d;
    if (e["data"].get(d) == simdjson::SUCCESS) b.data.emplace_back(d);
    else b.data.push_back(simdjson::minify(e["data"]));
  }
  b.next = std::string(std::string_view(doc["nextCursor"]));
  b.reset = doc["reset"].error() == simdjson::SUCCESS;
  return b;
}
std::string get(testing::client& c, const std::string& target) {
  c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = c.read_response(10s);
  REQUIRE(r);
  return r->body;
}

}  // namespace

TEST_CASE("long poll: immediate answer, paging with limit, earliest/latest") {
  poll_server s;
  for (int i = 0; i < 5; ++i) s.publish("t", std::to_string(i));
  s.publish("u", "other");
  testing::client c(s.port());
  auto b = parse_batch(get(c, "/poll?topic=t&cursor=earliest&limit=2"));
  CHECK(b.data == std::vector<std::string>{"0", "1"});
  b = parse_batch(get(c, "/poll?topic=t&cursor=" + b.next + "&limit=2"));  // same keep-alive connection
  CHECK(b.data == std::vector<std::string>{"2", "3"});
  b = parse_batch(get(c, "/poll?topic=t&cursor=" + b.next + "&limit=2"));
  CHECK(b.data == std::vector<std::string>{"4"});
  // nextCursor lies past the other topic's event; polling from it returns nothing new.
  b = parse_batch(get(c, "/poll?topic=t&timeout=0&cursor=" + b.next));
  CHECK(b.data.empty());
  // latest with timeout 0: empty, and a concrete head cursor.
  b = parse_batch(get(c, "/poll?timeout=0"));
  CHECK(b.data.empty());
  CHECK(lastmile::parse_cursor(b.next));
  CHECK(b.next == lastmile::to_string(s.srv.events().head()));
  // no topic: every topic
  b = parse_batch(get(c, "/poll?cursor=earliest"));
  CHECK(b.data.size() == 6);
  c.send("GET /poll?timeout=0 HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = c.read_response();
  CHECK(r->header("Cache-Control") == "no-store");
}

TEST_CASE("long poll: held, then woken by a matching publish within milliseconds") {
  poll_server s;
  testing::client c(s.port());
  c.send("GET /poll?topic=t&timeout=10 HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 0; i < 200 && s.srv.events().stats().waiters != 1; ++i) std::this_thread::sleep_for(10ms);
  s.publish("other", "no");  // does not wake it
  std::this_thread::sleep_for(100ms);
  CHECK(s.srv.events().stats().waiters == 1);
  auto t0 = std::chrono::steady_clock::now();
  s.publish("t", "yes");
  auto r = c.read_response(5s);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(r);
  CHECK(parse_batch(r->body).data == std::vector<std::string>{"yes"});
  CHECK(took < 100ms);
  MESSAGE("publish-to-answer: ", std::chrono::duration_cast<std::chrono::microseconds>(took).count(), " us");
}

TEST_CASE("long poll: timeout gives an empty batch with the cursor to continue from") {
  poll_server s;
  std::string id = s.publish("t", "seen");
  testing::client c(s.port());
  auto t0 = std::chrono::steady_clock::now();
  auto b = parse_batch(get(c, "/poll?topic=t&timeout=1&cursor=" + id));
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(b.data.empty());
  CHECK(b.next == id);
  CHECK(took >= 950ms);
  CHECK(took < 3s);
}

TEST_CASE("long poll: reset on an expired cursor; malformed input is 400") {
  lastmile_server::options o;
  o.retention = 3;
  poll_server s(o);
  std::string first = s.publish("t", "0");
  for (int i = 1; i < 6; ++i) s.publish("t", std::to_string(i));
  testing::client c(s.port());
  auto b = parse_batch(get(c, "/poll?topic=t&cursor=" + first));
  CHECK(b.reset);
  CHECK(b.data == std::vector<std::string>{"3", "4", "5"});
  for (auto [q, code] : std::vector<std::pair<std::string, std::string>>{
           {"cursor=bogus", "bad_cursor"}, {"timeout=121", "bad_request"}, {"timeout=-1", "bad_request"},
           {"timeout=1.5", "bad_request"}, {"limit=0", "bad_request"}, {"limit=1001", "bad_request"},
           {"topic=a%20b", "bad_topic"}, {"topic=", "bad_topic"}}) {
    INFO(q);
    auto r = testing::request(s.port(), "GET", "/poll?" + q);
    CHECK(r->status == 400);
    CHECK(r->body.find("\"" + code + "\"") != std::string::npos);
  }
}

TEST_CASE("long poll: a client that goes away frees its held request") {
  poll_server s;
  {
    testing::client c(s.port());
    c.send("GET /poll?topic=t&timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < 200 && s.srv.events().stats().waiters != 1; ++i) std::this_thread::sleep_for(10ms);
    CHECK(s.srv.events().stats().waiters == 1);
  }
  bool freed = false;
  for (int i = 0; i < 200 && !freed; ++i) {
    freed = s.srv.events().stats().waiters == 0;
    if (!freed) std::this_thread::sleep_for(10ms);
  }
  CHECK(freed);
  auto m = testing::request(s.port(), "GET", "/metrics");
  CHECK(m->body.find("lastmile_connections{transport=\"long_poll\"} 0\n") != std::string::npos);
}

TEST_CASE("long poll: held requests per client address are capped (429)") {
  poll_server s;
  std::vector<std::unique_ptr<testing::client>> held;
  for (int i = 0; i < 100; ++i) {
    held.push_back(std::make_unique<testing::client>(s.port(), "127.0.2.1"));
    held.back()->send("GET /poll?topic=t&timeout=30 HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (int i = 0; i < 300 && s.srv.events().stats().waiters < 100; ++i) std::this_thread::sleep_for(10ms);
  testing::client extra(s.port(), "127.0.2.1");
  extra.send("GET /poll?topic=t&timeout=30 HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = extra.read_response(5s);
  REQUIRE(r);
  CHECK(r->status == 429);
  testing::client other(s.port(), "127.0.2.2");
  CHECK(parse_batch(get(other, "/poll?topic=t&timeout=0")).data.empty());
}

TEST_CASE("long poll: graceful shutdown answers held requests") {
  auto s = std::make_unique<poll_server>();
  testing::client c(s->port());
  c.send("GET /poll?topic=t&timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(100ms);
  s->srv.shutdown();
  auto r = c.read_response(3s);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(parse_batch(r->body).data.empty());
  CHECK(r->header("Connection") == "close");
  s.reset();
}

#ifdef LASTMILE_SERVER_BINARY
// The server runs as its own process (its own descriptor limit), so 10,000 held
// polls fit: 10,000 sockets here, 10,000 there.
TEST_CASE("long poll: 10,000 held requests on one topic, one publish answers every one") {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);  // the child inherits the raised limit too
  const int n = 10000;
  REQUIRE(lim.rlim_cur > rlim_t(n + 100));
  testing::server_process srv(LASTMILE_SERVER_BINARY, {"--threads", "2", "--max-connections", "20000"});
  auto waiters = [&] {
    auto r = testing::request(srv.port, "GET", "/metrics");
    auto pos = r->body.find("\nlastmile_hub_waiters ");
    return std::stoll(r->body.substr(pos + 22));
  };
  std::vector<std::unique_ptr<testing::client>> clients;
  clients.reserve(n);
  for (int i = 0; i < n; ++i) {
    // 100 held polls per source address (the reference server's per-IP cap).
    std::string from = "127.0." + std::to_string(10 + i / 100 / 250) + "." + std::to_string(1 + (i / 100) % 250);
    clients.push_back(std::make_unique<testing::client>(srv.port, from.c_str()));
    clients.back()->send("GET /poll?topic=wake&timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (int i = 0; i < 1000 && waiters() < n; ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(waiters() == n);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(testing::request(srv.port, "POST", "/topics/wake/events", "up")->status == 201);
  int answered = 0;
  for (auto& c : clients) {
    auto r = c->read_response(20s);
    if (r && r->status == 200 && parse_batch(r->body).data == std::vector<std::string>{"up"}) ++answered;
  }
  auto last = std::chrono::steady_clock::now() - t0;
  CHECK(answered == n);
  MESSAGE(n, " held polls answered; the last answer was read ",
          std::chrono::duration_cast<std::chrono::milliseconds>(last).count(), " ms after the publish");
  CHECK(srv.stop() == 0);
}
#endif
