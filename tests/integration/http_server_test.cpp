// The HTTP/1.1 server core over real sockets: keep-alive, pipelining, the strict
// parser's answers (conformance R1-R9), timeouts, caps, routing, auth, streaming,
// graceful shutdown and TLS.
#include <lastmile/http/server.hpp>

#include "test_client.hpp"

#include <doctest/doctest.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace lastmile;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

struct test_server {
  http::server srv;
  std::uint16_t port = 0;
  std::atomic<int> streams_ended{0};

  explicit test_server(http::server_options o = {}) : srv(std::move(o)) {
    const http::route_options open{.authenticate = false};
    srv.route("GET", "/hello", [](http::exchange& ex) -> asio::awaitable<void> {
      co_await ex.respond(200, "hello", "text/plain");
    }, open);
    srv.route("POST", "/echo", [](http::exchange& ex) -> asio::awaitable<void> {
      co_await ex.respond(200, ex.req().body, "text/plain");
    }, open);
    srv.route("GET", "/topics/{topic}/events", [](http::exchange& ex) -> asio::awaitable<void> {
      std::string body = std::string(*ex.param("topic")) + "|" + std::string(ex.query().get("after").value_or("-"));
      co_await ex.respond(200, body, "text/plain");
    }, open);
    srv.route("GET", "/slow", [](http::exchange& ex) -> asio::awaitable<void> {
      asio::steady_timer t(ex.get_executor(), 300ms);
      co_await t.async_wait(asio::use_awaitable);
      co_await ex.respond(200, "slow", "text/plain");
    }, open);
    srv.route("GET", "/stream", [this](http::exchange& ex) -> asio::awaitable<void> {
      http::header_list h{{"Content-Type", "text/plain"}};  // GCC 12: no braced literals inside co_await
      co_await ex.begin_stream(200, std::move(h));
      auto ticker = [&]() -> asio::awaitable<void> {
        asio::steady_timer t(ex.get_executor());
        for (;;) {
          if (co_await ex.write_body(std::string_view("tick\n"))) co_return;
          t.expires_after(50ms);
          co_await t.async_wait(asio::use_awaitable);
        }
      };
      co_await (ticker() || ex.wait_peer_closed() || ex.wait_shutdown());
      co_await ex.write_body(std::string_view("bye\n"));
      co_await ex.end_stream();
      ++streams_ended;
    }, open);
    srv.route("GET", "/private", [](http::exchange& ex) -> asio::awaitable<void> {
      std::string who = ex.claims() ? ex.claims()->subject : "none";
      co_await ex.respond(200, who, "text/plain");
    });
    srv.route("GET", "/public", [](http::exchange& ex) -> asio::awaitable<void> {
      co_await ex.respond(200, "public", "text/plain");
    }, {.authenticate = false});
    srv.set_authenticator([](const http::request& r) {
      auto h = r.header("Authorization");
      if (!h) return http::auth_outcome::deny(401, "unauthorized", "missing token");
      if (*h != "Bearer ok") return http::auth_outcome::deny(403, "forbidden", "wrong token");
      auth::claims c;
      c.subject = "alice";
      return http::auth_outcome::allow(c);
    });
    REQUIRE_FALSE(srv.listen("127.0.0.1", 0));
    port = srv.local_endpoint().port();
    srv.start();
  }
  ~test_server() {
    srv.shutdown();
    srv.wait();
  }
};

http::server_options small_opts() {
  http::server_options o;
  o.threads = 2;
  o.shutdown_grace = 2s;
  return o;
}

// Sends raw bytes on a fresh connection; returns the response (if any) and whether the server closed.
std::pair<std::optional<testing::response>, bool> raw(std::uint16_t port, std::string_view bytes) {
  testing::client c(port);
  c.send(bytes);
  auto r = c.read_response(3s);
  bool closed = c.wait_closed(3s);
  return {r, closed};
}

}  // namespace

TEST_CASE("keep-alive: several requests on one connection") {
  test_server s(small_opts());
  testing::client c(s.port);
  for (int i = 0; i < 3; ++i) {
    c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hello");
    CHECK_FALSE(r->header("Connection"));
  }
}

TEST_CASE("pipelined requests are answered in order, a slow one first") {
  test_server s(small_opts());
  testing::client c(s.port);
  c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
         "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
         "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = c.read_response(), b = c.read_response(), d = c.read_response();
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(d);
  CHECK(a->body == "slow");
  CHECK(b->body == "one");
  CHECK(d->body == "hello");
}

TEST_CASE("Connection: close and HTTP/1.0 close after the response") {
  test_server s(small_opts());
  {
    auto [r, closed] = raw(s.port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
    REQUIRE(r);
    CHECK(r->header("Connection") == "close");
    CHECK(closed);
  }
  {
    auto [r, closed] = raw(s.port, "GET /hello HTTP/1.0\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(closed);
  }
  {  // HTTP/1.0 with keep-alive stays open and says so
    testing::client c(s.port);
    c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->header("Connection") == "keep-alive");
    c.send("GET /hello HTTP/1.0\r\n\r\n");
    CHECK(c.read_response());
  }
}

TEST_CASE("conformance R1-R6, R9: strict parsing answers with JSON errors and closes") {
  test_server s(small_opts());
  struct vec { const char* name; std::string bytes; int status; };
  std::vector<vec> cases = {
      {"R1 header block over 16 KiB", "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(17000, 'a') + "\r\n\r\n", 431},
      {"R1 request target over the limit", "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"R2 CL with TE", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"R2 CL with TE identity", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: identity\r\n\r\nabc", 400},
      {"R3 TE not ending in chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
      {"R3 TE pigeons", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: pigeons\r\n\r\n", 400},
      {"R4 duplicate CL", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400},
      {"R4 signed CL", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", 400},
      {"R4 overflowing CL", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"R5 space before colon", "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"R5 obs-fold", "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
      {"R5 bare LF", "GET /hello HTTP/1.1\nHost: x\n\n", 400},
      {"R5 spaces after chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400},
      {"R5 missing CRLF after chunk data", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400},
      {"R6 missing Host", "GET /hello HTTP/1.1\r\n\r\n", 400},
      {"R6 duplicate Host", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"R6 bad version", "GET /hello HTTP/1.2\r\nHost: x\r\n\r\n", 505},
      {"R6 NUL in value", std::string("GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 42), 400},
      {"R9 unknown Expect", "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\na", 417},
      {"body over 1 MiB", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413},
  };
  for (auto& v : cases) {
    INFO(v.name);
    auto [r, closed] = raw(s.port, v.bytes);
    REQUIRE(r);
    CHECK(r->status == v.status);
    CHECK(r->header("Content-Type") == "application/json");
    CHECK(r->body.find("\"error\":") != std::string::npos);
    CHECK(r->header("Connection") == "close");
    CHECK(closed);
  }
}

TEST_CASE("chunked request bodies and 100-continue") {
  test_server s(small_opts());
  auto [r, closed] = raw(s.port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  REQUIRE(r);
  CHECK(r->body == "abcde");
  testing::client c(s.port);
  c.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  auto cont = c.read_response();
  REQUIRE(cont);
  CHECK(cont->status == 100);
  c.send("hi");
  auto done = c.read_response();
  REQUIRE(done);
  CHECK(done->body == "hi");
}

TEST_CASE("router: params, query, 404 and 405 with JSON bodies") {
  test_server s(small_opts());
  auto r = testing::request(s.port, "GET", "/topics/orders%2Eeu/events?after=ab-1");
  REQUIRE(r);
  CHECK(r->body == "orders.eu|ab-1");
  r = testing::request(s.port, "GET", "/nope");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(r->body == R"({"error":"not_found","message":"no such resource"})");
  r = testing::request(s.port, "DELETE", "/hello");
  REQUIRE(r);
  CHECK(r->status == 405);
  CHECK(r->header("Allow") == "GET");
  CHECK(r->body.find("method_not_allowed") != std::string::npos);
  r = testing::request(s.port, "GET", "/hello?a=%zz");
  REQUIRE(r);
  CHECK(r->status == 400);
}

TEST_CASE("authenticator: 401, 403, claims, and routes that skip it") {
  test_server s(small_opts());
  auto r = testing::request(s.port, "GET", "/private");
  REQUIRE(r);
  CHECK(r->status == 401);
  CHECK(r->header("WWW-Authenticate") == "Bearer");
  CHECK(r->body.find("unauthorized") != std::string::npos);
  r = testing::request(s.port, "GET", "/private", {}, "Authorization: Bearer nope\r\n");
  CHECK(r->status == 403);
  r = testing::request(s.port, "GET", "/private", {}, "Authorization: Bearer ok\r\n");
  CHECK(r->status == 200);
  CHECK(r->body == "alice");
  r = testing::request(s.port, "GET", "/public");
  CHECK(r->status == 200);
}

TEST_CASE("slowloris is cut at the header deadline while a stream lives on") {
  auto o = small_opts();
  o.header_timeout = 400ms;
  o.idle_timeout = 400ms;
  test_server s(o);
  testing::client stream(s.port);
  stream.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(stream.read_head());

  testing::client slow(s.port);
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  // Trickle one byte every 100 ms: the deadline is absolute, so trickling doesn't extend it.
  std::string req = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  for (char ch : req) {
    if (!slow.try_send(std::string_view(&ch, 1))) break;
    std::this_thread::sleep_for(100ms);
    pollfd p{slow.fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) break;
  }
  auto r = slow.read_response(2s);
  REQUIRE(r);
  CHECK(r->status == 408);
  closed = slow.wait_closed(2s);
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - start < 3s);

  // The stream outlived several header deadlines and still ticks.
  stream.buffered().clear();
  CHECK(stream.read_until("tick", 2s));

  // An idle keep-alive connection is closed after the idle timeout, silently.
  testing::client idle(s.port);
  idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(idle.read_response());
  CHECK(idle.wait_closed(2s));
}

TEST_CASE("connection caps: per client IP (429) and in total (503)") {
  auto o = small_opts();
  o.max_connections_per_ip = 2;
  {
    test_server s(o);
    testing::client a(s.port), b(s.port);
    a.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(a.read_response());
    testing::client c(s.port);
    auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 429);
    CHECK(c.wait_closed());
    // Another loopback address is another client.
    testing::client other(s.port, "127.0.0.2");  // connect from another loopback address
    other.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    auto ok = other.read_response();
    REQUIRE(ok);
    CHECK(ok->status == 200);
  }
  o.max_connections_per_ip = 100;
  o.max_connections = 1;
  {
    test_server s(o);
    testing::client a(s.port);
    a.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(a.read_response());
    testing::client b(s.port);
    auto r = b.read_response();
    REQUIRE(r);
    CHECK(r->status == 503);
  }
}

TEST_CASE("graceful shutdown: idle closed, in-flight finished, streams told to end") {
  auto o = small_opts();
  o.shutdown_grace = 3s;
  auto s = std::make_unique<test_server>(o);
  testing::client idle(s->port);
  idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(idle.read_response());
  testing::client stream(s->port);
  stream.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(stream.read_head());
  testing::client inflight(s->port);
  inflight.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(50ms);

  auto t0 = std::chrono::steady_clock::now();
  s->srv.shutdown();
  auto r = inflight.read_response();
  REQUIRE(r);
  CHECK(r->body == "slow");
  CHECK(r->header("Connection") == "close");
  CHECK(inflight.wait_closed());
  CHECK(idle.wait_closed(1s));
  CHECK(stream.read_until("bye\n", 1s));
  CHECK(stream.read_until("0\r\n\r\n", 1s));
  CHECK(stream.wait_closed(1s));
  // New connections are refused once the acceptor is closed.
  bool refused = false;
  try {
    testing::client late(s->port);
    late.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    refused = !late.read_response(1s);
  } catch (const std::exception&) {
    refused = true;
  }
  CHECK(refused);
  s->srv.wait();
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);  // everything ended before the grace ran out
  CHECK(s->streams_ended == 1);
  CHECK(s->srv.stats().connections_current == 0);
}

TEST_CASE("TLS: https round trip with a self-signed certificate") {
  auto dir = std::filesystem::temp_directory_path() / ("lastmile-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " + key +
                    " -out " + cert + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto o = small_opts();
  o.tls = http::tls_options{cert, key};
  test_server s(o);

  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(cert);  // trust exactly our self-signed certificate
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> tls(io, ctx);
  SSL_set_tlsext_host_name(tls.native_handle(), "localhost");
  tls.next_layer().connect({asio::ip::make_address("127.0.0.1"), s.port});
  tls.handshake(asio::ssl::stream_base::client);
  std::string req = "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret";
  asio::write(tls, asio::buffer(req));
  std::string resp;
  std::error_code ec;
  char buf[4096];
  for (;;) {
    std::size_t n = tls.read_some(asio::buffer(buf), ec);
    resp.append(buf, n);
    if (ec) break;
  }
  CHECK(resp.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(resp.ends_with("\r\n\r\nsecret"));
  // Plain HTTP against the TLS port gets no HTTP answer.
  auto [r, closed] = raw(s.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_FALSE(r);
  std::filesystem::remove_all(dir);
}
