// http::client over real sockets, against lastmile's own http::server and small
// scripted raw servers: round trips, keep-alive reuse, a dead pooled connection,
// timeouts, the body cap, redirects, https verification and the SSRF policy.
#include <lastmile/http/client.hpp>
#include <lastmile/http/server.hpp>

#include <doctest/doctest.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/host_name.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>
#include <unistd.h>

using namespace lastmile;
using namespace std::chrono_literals;

namespace {

http::server_options server_opts() {
  http::server_options o;
  o.threads = 1;
  o.shutdown_grace = 100ms;
  return o;
}

struct client_test_server {
  http::server srv;
  std::uint16_t port = 0;
  std::atomic<int> requests{0};

  explicit client_test_server(http::server_options o = server_opts()) : srv(std::move(o)) {
    const http::route_options open{.authenticate = false};
    srv.route("GET", "/hello", [this](http::exchange& ex) -> asio::awaitable<void> {
      ++requests;
      co_await ex.respond(200, "hello", "text/plain");
    }, open);
    srv.route("POST", "/echo", [this](http::exchange& ex) -> asio::awaitable<void> {
      ++requests;
      std::string body = std::string(ex.req().header("x-tag").value_or("")) + ":" + ex.req().body;
      co_await ex.respond(201, body, "text/plain");
    }, open);
    srv.route("GET", "/redirect", [this](http::exchange& ex) -> asio::awaitable<void> {
      ++requests;
      http::header_list h{{"Location", "/hello"}};
      co_await ex.respond(302, "", "text/plain", std::move(h));
    }, open);
    srv.route("GET", "/big", [this](http::exchange& ex) -> asio::awaitable<void> {
      ++requests;
      std::string body(100 * 1024, 'b');
      co_await ex.respond(200, body, "text/plain");
    }, open);
    srv.route("GET", "/hang", [this](http::exchange& ex) -> asio::awaitable<void> {
      ++requests;
      asio::steady_timer t(ex.get_executor(), 3s);
      std::error_code ec;
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      co_await ex.respond(200, "late", "text/plain");
    }, open);
    REQUIRE_FALSE(srv.listen("127.0.0.1", 0));
    port = srv.local_endpoint().port();
    srv.start();
  }
  ~client_test_server() { srv.shutdown(); }

  std::string url(std::string_view path, std::string_view host = "127.0.0.1") const {
    return "http://" + std::string(host) + ":" + std::to_string(port) + std::string(path);
  }
  std::uint64_t connections() const { return srv.stats().connections_total.load(); }
};

// Runs one request to completion on `io`.
result<http::client_response> fetch(asio::io_context& io, http::client& c, std::string method, std::string url,
                                    std::string body = {}, http::client::header_pairs headers = {}) {
  std::optional<result<http::client_response>> out;
  auto run = [&]() -> asio::awaitable<void> {
    auto r = co_await c.request(method, url, std::move(headers), std::move(body));
    out.emplace(std::move(r));
  };
  bool threw = false;
  asio::co_spawn(io, run(), [&](std::exception_ptr e) { threw = e != nullptr; });
  io.restart();
  io.run();
  REQUIRE_FALSE(threw);
  REQUIRE(out);
  return std::move(*out);
}

// A scripted TCP server on 127.0.0.1: `script(socket, index)` runs for each
// accepted connection, in order, on the server's own thread.
struct raw_server {
  using script_fn = std::function<void(asio::ip::tcp::socket&, int)>;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  std::uint16_t port = acceptor.local_endpoint().port();
  std::atomic<int> accepted{0};
  std::atomic<bool> stop{false};
  std::thread thread;

  explicit raw_server(script_fn script) {
    acceptor.non_blocking(true);
    thread = std::thread([this, script = std::move(script)] {
      std::vector<asio::ip::tcp::socket> keep;
      while (!stop) {
        std::error_code ec;
        asio::ip::tcp::socket s(io);
        acceptor.accept(s, ec);
        if (ec) {
          std::this_thread::sleep_for(2ms);
          continue;
        }
        s.non_blocking(false);
        const int index = accepted++;
        script(s, index);
        keep.push_back(std::move(s));  // closed when the server stops, unless the script closed it
      }
    });
  }
  ~raw_server() {
    stop = true;
    thread.join();
  }
  std::string url(std::string_view path = "/", std::string_view scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port) + std::string(path);
  }
};

// Reads one request head (and a Content-Length body, if any) from a blocking socket.
bool read_request(asio::ip::tcp::socket& s, asio::streambuf& buf) {
  std::error_code ec;
  const std::size_t n = asio::read_until(s, buf, "\r\n\r\n", ec);
  if (ec) return false;
  std::string head(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
  buf.consume(n);
  const auto cl = head.find("Content-Length: ");
  if (cl != std::string::npos) {
    const std::size_t len = std::stoul(head.substr(cl + 16));
    if (buf.size() < len) asio::read(s, buf, asio::transfer_exactly(len - buf.size()), ec);
    buf.consume(len);
  }
  return !ec;
}

void write_all(asio::ip::tcp::socket& s, std::string_view data) {
  std::error_code ec;
  asio::write(s, asio::buffer(data), ec);
}

constexpr std::string_view ok_keep_alive = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

http::client_options open_options() {
  static webhook::address_policy loopback_allowed = [] {
    webhook::address_policy p;
    (void)p.allow("127.0.0.0/8");
    return p;
  }();
  http::client_options o;
  o.policy = &loopback_allowed;
  o.connect_timeout = 2s;
  o.total_timeout = 5s;
  return o;
}

}  // namespace

TEST_CASE("http client: GET and POST round trips") {
  client_test_server s;
  asio::io_context io;
  http::client c(io.get_executor(), open_options());
  auto r = fetch(io, c, "GET", s.url("/hello"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
  CHECK(r->header("Content-Type") == "text/plain");
  r = fetch(io, c, "POST", s.url("/echo"), "payload", {{"X-Tag", "t1"}});
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(r->body == "t1:payload");
  // 404 from the router is a response, not an error.
  r = fetch(io, c, "GET", s.url("/nowhere"));
  REQUIRE(r);
  CHECK(r->status == 404);
  // Headers the client owns, and malformed ones, are refused before any I/O.
  CHECK(fetch(io, c, "GET", s.url("/hello"), "", {{"Host", "evil"}}).error() == errc::invalid_argument);
  CHECK(fetch(io, c, "GET", s.url("/hello"), "", {{"X-A", "a\r\nX-B: b"}}).error() == errc::invalid_argument);
  CHECK(fetch(io, c, "GET", "ftp://127.0.0.1/").error() == errc::bad_url);
}

TEST_CASE("http client: keep-alive reuses one connection per origin") {
  client_test_server s;
  asio::io_context io;
  http::client c(io.get_executor(), open_options());
  const auto before = s.connections();
  for (int i = 0; i < 5; ++i) {
    auto r = fetch(io, c, "GET", s.url("/hello"));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(s.connections() - before == 1);
  CHECK(c.stats().connections_opened == 1);
  CHECK(c.stats().connections_reused == 4);
  CHECK(c.idle_count() == 1);
  // "localhost" is another origin: its own connection.
  REQUIRE(fetch(io, c, "GET", s.url("/hello", "localhost")));
  CHECK(s.connections() - before == 2);
  c.close_idle();
  CHECK(c.idle_count() == 0);
  REQUIRE(fetch(io, c, "GET", s.url("/hello")));
  CHECK(s.connections() - before == 3);
}

TEST_CASE("http client: a pooled connection that dies unanswered is retried once, fresh") {
  // Connection 0 answers one request, then reads the second and closes without answering
  // (the server's keep-alive timeout racing the client). Connection 1 answers.
  raw_server srv([](asio::ip::tcp::socket& s, int index) {
    asio::streambuf buf;
    if (!read_request(s, buf)) return;
    if (index == 0) {
      write_all(s, ok_keep_alive);
      read_request(s, buf);
      s.close();
    } else {
      write_all(s, ok_keep_alive);
    }
  });
  asio::io_context io;
  http::client c(io.get_executor(), open_options());
  REQUIRE(fetch(io, c, "POST", srv.url(), "one"));
  auto r = fetch(io, c, "POST", srv.url(), "two");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(srv.accepted == 2);
  CHECK(c.stats().stale_retries == 1);
  CHECK(c.stats().connections_reused == 1);
}

TEST_CASE("http client: an idle connection closed by the server is not used") {
  raw_server srv([](asio::ip::tcp::socket& s, int) {
    asio::streambuf buf;
    if (!read_request(s, buf)) return;
    write_all(s, ok_keep_alive);
    s.close();  // keep-alive advertised, then closed at once
  });
  asio::io_context io;
  http::client c(io.get_executor(), open_options());
  REQUIRE(fetch(io, c, "GET", srv.url()));
  std::this_thread::sleep_for(50ms);  // let the FIN arrive
  auto r = fetch(io, c, "GET", srv.url());
  REQUIRE(r);
  CHECK(srv.accepted == 2);
  CHECK(c.stats().stale_retries == 0);  // detected before sending
}

TEST_CASE("http client: a fresh connection closed unanswered is an error, not retried") {
  raw_server srv([](asio::ip::tcp::socket& s, int) {
    asio::streambuf buf;
    read_request(s, buf);
    s.close();
  });
  asio::io_context io;
  http::client c(io.get_executor(), open_options());
  auto r = fetch(io, c, "POST", srv.url(), "x");
  REQUIRE_FALSE(r);
  CHECK(r.error() == asio::error::eof);
  CHECK(srv.accepted == 1);
}

TEST_CASE("http client: a malformed or half response is bad_response") {
  raw_server srv([](asio::ip::tcp::socket& s, int index) {
    asio::streambuf buf;
    read_request(s, buf);
    write_all(s, index == 0 ? "HTTP/1.1 200 OK\nContent-Length: 0\n\n" : "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    s.close();
  });
  asio::io_context io;
  http::client c(io.get_executor(), open_options());
  CHECK(fetch(io, c, "GET", srv.url()).error() == errc::bad_response);
  CHECK(fetch(io, c, "GET", srv.url()).error() == errc::bad_response);
}

TEST_CASE("http client: connect timeout against a listener whose backlog is full") {
  asio::io_context server_io;
  asio::ip::tcp::acceptor acceptor(server_io, {asio::ip::make_address("127.0.0.1"), 0}, true);
  acceptor.listen(0);  // never accepts: once the queue is full, SYNs go unanswered
  const auto port = acceptor.local_endpoint().port();
  std::vector<asio::ip::tcp::socket> fillers;
  for (int i = 0; i < 4; ++i) {
    // async_connect sends the SYN at once; server_io never runs, so nothing waits.
    fillers.emplace_back(server_io);
    fillers.back().async_connect({asio::ip::make_address("127.0.0.1"), port}, [](std::error_code) {});
  }
  std::this_thread::sleep_for(50ms);

  asio::io_context io;
  auto o = open_options();
  o.connect_timeout = 300ms;
  http::client c(io.get_executor(), o);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fetch(io, c, "GET", "http://127.0.0.1:" + std::to_string(port) + "/");
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::timeout);
  CHECK(elapsed >= 280ms);
  CHECK(elapsed < 3s);
}

TEST_CASE("http client: connect timeout covers a TLS handshake that never answers") {
  raw_server srv([](asio::ip::tcp::socket&, int) {});  // accepts, never speaks
  asio::io_context io;
  auto o = open_options();
  o.connect_timeout = 300ms;
  http::client c(io.get_executor(), o);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fetch(io, c, "GET", srv.url("/", "https"));
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("http client: connection refused is connect_failed") {
  std::uint16_t port = 0;
  {
    asio::io_context tmp;
    asio::ip::tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  asio::io_context io;
  http::client c(io.get_executor(), open_options());
  CHECK(fetch(io, c, "GET", "http://127.0.0.1:" + std::to_string(port) + "/").error() == errc::connect_failed);
}

TEST_CASE("http client: total timeout against a handler that never answers") {
  client_test_server s;
  asio::io_context io;
  auto o = open_options();
  o.total_timeout = 300ms;
  http::client c(io.get_executor(), o);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fetch(io, c, "GET", s.url("/hang"));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::timeout);
  CHECK(elapsed >= 280ms);
  CHECK(elapsed < 2s);
  CHECK(c.idle_count() == 0);  // the timed-out connection was closed, not pooled
  // The client still works afterwards.
  auto ok = fetch(io, c, "GET", s.url("/hello"));
  REQUIRE(ok);
  CHECK(ok->status == 200);
}

TEST_CASE("http client: the response body is read up to the cap") {
  client_test_server s;
  asio::io_context io;
  auto o = open_options();
  o.max_response_body = 1000;
  http::client c(io.get_executor(), o);
  auto r = fetch(io, c, "GET", s.url("/big"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.size() == 1000);
  CHECK(r->body_truncated);
  CHECK(c.idle_count() == 0);  // the unread rest makes the connection unusable
  r = fetch(io, c, "GET", s.url("/hello"));
  REQUIRE(r);
  CHECK_FALSE(r->body_truncated);
  CHECK(c.idle_count() == 1);
}

TEST_CASE("http client: redirects are returned, never followed") {
  client_test_server s;
  asio::io_context io;
  http::client c(io.get_executor(), open_options());
  auto r = fetch(io, c, "GET", s.url("/redirect"));
  REQUIRE(r);
  CHECK(r->status == 302);
  CHECK(r->header("location") == "/hello");
  CHECK(s.requests == 1);
}

TEST_CASE("http client: https verifies the certificate and the host name") {
  auto dir = std::filesystem::temp_directory_path() / ("lastmile-client-tls-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                          "-addext subjectAltName=DNS:localhost -keyout " + key + " -out " + cert +
                          " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  auto so = server_opts();
  so.tls = http::tls_options{cert, key};
  client_test_server s(so);
  const std::string by_name = "https://localhost:" + std::to_string(s.port) + "/hello";
  const std::string by_ip = "https://127.0.0.1:" + std::to_string(s.port) + "/hello";

  asio::io_context io;
  {
    http::client c(io.get_executor(), open_options());  // system CAs: the self-signed cert is unknown
    CHECK(fetch(io, c, "GET", by_name).error() == errc::tls_failed);
  }
  asio::ssl::context trusting(asio::ssl::context::tls_client);
  trusting.load_verify_file(cert);
  {
    http::client c(io.get_executor(), open_options(), &trusting);
    auto r = fetch(io, c, "GET", by_name);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hello");
    REQUIRE(fetch(io, c, "GET", by_name));  // and again, on the pooled TLS connection
    CHECK(c.stats().connections_opened == 1);
    // The certificate names localhost, not 127.0.0.1: the host name check refuses it.
    CHECK(fetch(io, c, "GET", by_ip).error() == errc::tls_failed);
  }
  {
    auto o = open_options();
    o.verify_peer = false;  // explicitly insecure: accepted without verification
    http::client c(io.get_executor(), o);
    CHECK(fetch(io, c, "GET", by_ip));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("http client: the SSRF policy refuses loopback and private targets unless allowed") {
  client_test_server s;
  asio::io_context io;
  webhook::address_policy strict;  // the default policy: nothing opened
  http::client_options o;
  o.policy = &strict;
  o.connect_timeout = 1s;
  http::client c(io.get_executor(), o);
  const auto before = s.connections();
  const std::string port = std::to_string(s.port);
  for (std::string host : {"127.0.0.1", "localhost", "127.1", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254",
                           "10.0.0.1", "0.0.0.0", "2130706433", "[fd00::1]", "[64:ff9b::7f00:1]"}) {
    auto r = fetch(io, c, "GET", "http://" + host + ":" + port + "/hello");
    CHECK_MESSAGE(r.error() == errc::address_not_allowed, host);
  }
  // A name that resolves to loopback (this machine's own name, where /etc/hosts maps it so).
  const std::string self = asio::ip::host_name();
  {
    asio::ip::tcp::resolver resolver(io);
    std::error_code ec;
    auto results = resolver.resolve(self, port, ec);
    bool all_loopback = !ec && !results.empty();
    for (const auto& e : results) all_loopback = all_loopback && e.endpoint().address().is_loopback();
    if (all_loopback)
      CHECK(fetch(io, c, "GET", "http://" + self + ":" + port + "/hello").error() == errc::address_not_allowed);
    else
      MESSAGE("host name ", self, " does not resolve to loopback only; that case is covered by 'localhost'");
  }
  CHECK(s.connections() == before);  // nothing was connected to

  webhook::address_policy open;
  REQUIRE(open.allow("127.0.0.0/8"));
  o.policy = &open;
  http::client allowed(io.get_executor(), o);
  for (std::string host : {"127.0.0.1", "127.1", "localhost"}) {
    auto r = fetch(io, allowed, "GET", "http://" + host + ":" + port + "/hello");
    REQUIRE_MESSAGE(r, host);
    CHECK(r->status == 200);
  }
  CHECK(fetch(io, allowed, "GET", "http://[::1]:" + port + "/hello").error() == errc::address_not_allowed);
}
