#pragma once

// A small HTTP/1.1 client for outgoing requests (webhook deliveries): Asio
// coroutines, OpenSSL for https, the strict response_parser for responses.
//
//  - https verifies the server certificate (peer verification and host name check)
//    and sends SNI; plain http is supported too.
//  - Keep-alive: idle connections are pooled per origin (scheme, host, port). A
//    pooled connection that turns out to be dead before any response byte arrives
//    is retried once on a fresh connection (the request may then have reached the
//    server twice; webhooks are at-least-once anyway).
//  - Timeouts: connect_timeout covers resolution, TCP connect and the TLS
//    handshake; total_timeout covers the whole request. On timeout the connection
//    is closed and the request fails with errc::timeout.
//  - Redirects are never followed: a 3xx comes back as it is.
//  - The response body is kept up to max_response_body; a longer one is cut
//    (client_response::body_truncated) and its connection is not reused.
//  - SSRF: with client_options::policy set, the host is resolved once, every
//    address is checked, and only permitted addresses are connected to (no second
//    lookup, so DNS rebinding cannot swap the address between check and connect).
//
// Errors (result::error()): errc::bad_url, errc::invalid_argument (a header name or
// value that cannot be sent, or one the client sets itself: Host, Content-Length,
// Transfer-Encoding, Connection), errc::address_not_allowed, errc::connect_failed
// (resolution or TCP connect), errc::timeout, errc::tls_failed, errc::bad_response,
// errc::response_too_large (header section over 16 KiB), or a system error_code
// from Asio for a connection broken during the exchange (asio::error::eof when the
// server closed without answering, connection_reset, broken_pipe, ...).
//
// Threading: a client and its requests run on the executor given to the
// constructor, which must not run handlers concurrently (one io_context thread, or
// a strand). The client must outlive the requests it runs.

#include <lastmile/core/error.hpp>
#include <lastmile/http/request.hpp>
#include <lastmile/http/response_parser.hpp>
#include <lastmile/webhook/ssrf.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/host_name_verification.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lastmile::http {

struct client_options {
  std::chrono::milliseconds connect_timeout{5000};  // resolve + TCP connect + TLS handshake
  std::chrono::milliseconds total_timeout{15000};   // the whole request, connect included
  std::size_t max_response_body = 64 * 1024;        // longer bodies are cut (body_truncated)
  std::size_t max_idle_per_origin = 4;              // pooled keep-alive connections per origin
  std::chrono::milliseconds idle_timeout{30000};    // pooled connections older than this are closed
  // SSRF guard: when set, only addresses it permits are connected to. Not owned.
  const webhook::address_policy* policy = nullptr;
  std::string user_agent = "lastmile";  // sent unless the request has its own; "" = none
  // Certificate verification for https (peer chain + host name). Only for tests
  // and closed networks should this ever be false.
  bool verify_peer = true;
};

struct client_response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool body_truncated = false;  // the body was longer than max_response_body

  // First value of a header (case-insensitive name), or "" when absent.
  std::string_view header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (detail::iequals(n, name)) return v;
    return {};
  }
};

// Counters for tests and metrics.
struct client_stats {
  std::size_t connections_opened = 0;  // successful connects (TCP, and TLS if https)
  std::size_t connections_reused = 0;  // requests sent on a pooled connection
  std::size_t stale_retries = 0;       // pooled connections found dead, request re-sent
};

namespace detail_client {

using tcp = asio::ip::tcp;

struct connection {
  explicit connection(const asio::any_io_executor& ex) : plain(ex) {}
  tcp::socket plain;                                // before TLS / plain http
  std::optional<asio::ssl::stream<tcp::socket>> tls;  // owns the socket once TLS starts
  std::chrono::steady_clock::time_point idle_since{};
  std::unique_ptr<char[]> read_buffer;              // allocated at the first response, reused
  static constexpr std::size_t read_buffer_size = 16 * 1024;

  tcp::socket& socket() noexcept { return tls ? tls->next_layer() : plain; }
  void close() noexcept {
    std::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }
  // A pooled connection is usable when nothing is readable: a peer that closed it
  // (EOF) or sent anything unsolicited (a TLS alert, garbage) makes it unusable.
  bool looks_alive() noexcept {
    auto& s = socket();
    if (!s.is_open()) return false;
    char probe;
    // One non-blocking peek (no mode switch on the socket): EAGAIN means nothing is
    // waiting to be read, which is what an idle keep-alive connection looks like.
    const ssize_t n = ::recv(s.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

// Shared between a request and its deadline timer's handler.
struct watchdog {
  bool fired = false;
  bool done = false;
  std::optional<tcp::resolver> resolver;
  std::shared_ptr<connection> conn;

  void trip() {
    if (done) return;
    fired = true;
    if (resolver) resolver->cancel();
    if (conn) conn->close();
  }
};

inline bool valid_header_value(std::string_view v) noexcept {
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  }
  return true;
}

inline bool valid_token(std::string_view t) noexcept {
  if (t.empty()) return false;
  for (const char c : t)
    if (!detail::is_tchar(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace detail_client

class client {
 public:
  using header_pairs = std::vector<std::pair<std::string, std::string>>;

  // `tls`: the context for https (not owned). Default: the client's own, with the
  // system CA store and TLS 1.2 as the minimum. Either way each connection
  // verifies the peer and its host name unless options.verify_peer is false.
  client(asio::any_io_executor ex, client_options options = {}, asio::ssl::context* tls = nullptr)
      : ex_(std::move(ex)), options_(std::move(options)), tls_(tls) {}
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client() { close_idle(); }

  // Sends one request and reads its response. `headers` may not contain Host,
  // Content-Length, Transfer-Encoding or Connection (the client sets them).
  // Content-Length is sent when the body is non-empty or the method is POST, PUT or PATCH.
  asio::awaitable<result<client_response>> request(std::string_view method, std::string_view url,
                                                   header_pairs headers, std::string body) {
    auto target = webhook::parse_target(url);
    if (!target) co_return target.error();
    const std::string method_text(method);
    if (!detail_client::valid_token(method_text)) co_return errc::invalid_argument;
    auto wire = build_request(method_text, *target, headers, body);
    if (!wire) co_return wire.error();
    const bool head = method_text == "HEAD";
    const std::string key = target->origin();

    auto dog = std::make_shared<detail_client::watchdog>();
    asio::steady_timer timer(ex_);
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + options_.total_timeout;

    for (int attempt = 0; attempt < 2; ++attempt) {
      std::shared_ptr<detail_client::connection> conn;
      if (attempt == 0) conn = take_idle(key);
      const bool pooled = conn != nullptr;
      if (pooled) {
        ++stats_.connections_reused;
        arm(timer, deadline, dog);
      } else {
        const auto connect_deadline = std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout);
        arm(timer, connect_deadline, dog);
        auto connected = co_await connect(*target, dog);
        if (!connected) {
          finish(timer, dog);
          co_return connected.error();
        }
        conn = std::move(*connected);
        arm(timer, deadline, dog);
      }
      dog->conn = conn;

      bool received_any = false, reusable = false;
      auto response = co_await exchange(*conn, *wire, head, *dog, received_any, reusable);
      if (response) {
        finish(timer, dog);
        if (reusable)
          put_idle(key, std::move(conn));
        else
          conn->close();
        co_return response;
      }
      conn->close();
      if (pooled && !received_any && !dog->fired) {
        // Stale keep-alive connection (the server closed it while idle): the others
        // pooled for this origin are suspect too. Send once more on a fresh one.
        drop_idle(key);
        ++stats_.stale_retries;
        continue;
      }
      finish(timer, dog);
      co_return response.error();
    }
    finish(timer, dog);
    co_return errc::connect_failed;  // not reached: attempt 1 always returns
  }

  // Closes every pooled connection.
  void close_idle() {
    for (auto& [key, conns] : idle_)
      for (auto& c : conns) c->close();
    idle_.clear();
  }

  std::size_t idle_count() const noexcept {
    std::size_t n = 0;
    for (const auto& [key, conns] : idle_) n += conns.size();
    return n;
  }
  const client_stats& stats() const noexcept { return stats_; }
  const client_options& options() const noexcept { return options_; }

 private:
  using connection_ptr = std::shared_ptr<detail_client::connection>;

  result<std::string> build_request(const std::string& method, const webhook::target_url& t,
                                    const header_pairs& headers, const std::string& body) const {
    std::string out;
    out.reserve(256 + body.size());
    out.append(method).push_back(' ');
    out.append(t.target).append(" HTTP/1.1\r\nHost: ").append(t.host_header()).append("\r\n");
    bool has_user_agent = false;
    for (const auto& [name, value] : headers) {
      if (!detail_client::valid_token(name) || !detail_client::valid_header_value(value))
        return errc::invalid_argument;
      if (detail::iequals(name, "host") || detail::iequals(name, "content-length") ||
          detail::iequals(name, "transfer-encoding") || detail::iequals(name, "connection"))
        return errc::invalid_argument;
      has_user_agent |= detail::iequals(name, "user-agent");
      out.append(name).append(": ").append(value).append("\r\n");
    }
    if (!has_user_agent && !options_.user_agent.empty()) {
      if (!detail_client::valid_header_value(options_.user_agent)) return errc::invalid_argument;
      out.append("User-Agent: ").append(options_.user_agent).append("\r\n");
    }
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
      out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    out.append("\r\n").append(body);
    return out;
  }

  // (Re)arms the deadline: when it passes, the watchdog cancels resolution and
  // closes the connection, which ends whatever operation is pending.
  static void arm(asio::steady_timer& timer, std::chrono::steady_clock::time_point at,
                  const std::shared_ptr<detail_client::watchdog>& dog) {
    timer.expires_at(at);
    timer.async_wait([dog](std::error_code ec) {
      if (!ec) dog->trip();
    });
  }

  static void finish(asio::steady_timer& timer, const std::shared_ptr<detail_client::watchdog>& dog) {
    dog->done = true;
    dog->conn.reset();
    timer.cancel();
  }

  asio::ssl::context& tls_context() {
    if (tls_ != nullptr) return *tls_;
    if (!own_tls_) {
      own_tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      own_tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                            asio::ssl::context::no_tlsv1_1);
      std::error_code ignored;  // without system CAs every verification fails, which is safe
      own_tls_->set_default_verify_paths(ignored);
    }
    return *own_tls_;
  }

  asio::awaitable<result<connection_ptr>> connect(const webhook::target_url& t,
                                                  std::shared_ptr<detail_client::watchdog> dog) {
    using detail_client::tcp;
    std::error_code ec;
    dog->resolver.emplace(ex_);
    const std::string port = std::to_string(t.port);
    auto results = co_await dog->resolver->async_resolve(t.host, port, asio::redirect_error(asio::use_awaitable, ec));
    dog->resolver.reset();
    if (dog->fired) co_return errc::timeout;
    if (ec || results.empty()) co_return errc::connect_failed;

    std::vector<tcp::endpoint> endpoints;
    for (const auto& r : results)
      if (options_.policy == nullptr || options_.policy->permits(r.endpoint().address()))
        endpoints.push_back(r.endpoint());
    if (endpoints.empty()) co_return errc::address_not_allowed;

    auto conn = std::make_shared<detail_client::connection>(ex_);
    dog->conn = conn;
    co_await asio::async_connect(conn->plain, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (dog->fired) co_return errc::timeout;
    if (ec) co_return errc::connect_failed;
    conn->plain.set_option(tcp::no_delay(true), ec);

    if (t.tls) {
      conn->tls.emplace(std::move(conn->plain), tls_context());
      auto& stream = *conn->tls;
      if (!t.ipv6_literal && !is_ipv4_literal(t.host))
        SSL_set_tlsext_host_name(stream.native_handle(), t.host.c_str());  // SNI: names only
      if (options_.verify_peer) {
        stream.set_verify_mode(asio::ssl::verify_peer, ec);
        if (!ec) stream.set_verify_callback(asio::ssl::host_name_verification(t.host), ec);
        if (ec) co_return errc::tls_failed;
      } else {
        stream.set_verify_mode(asio::ssl::verify_none, ec);
      }
      co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
      if (dog->fired) co_return errc::timeout;
      if (ec) co_return errc::tls_failed;
    }
    ++stats_.connections_opened;
    co_return conn;
  }

  static bool is_ipv4_literal(const std::string& host) {
    std::error_code ec;
    (void)asio::ip::make_address_v4(host, ec);
    return !ec;
  }

  // Writes the request and reads one response on `conn`.
  asio::awaitable<result<client_response>> exchange(detail_client::connection& conn, const std::string& wire,
                                                    bool head, detail_client::watchdog& dog,
                                                    bool& received_any, bool& reusable) {
    std::error_code ec;
    if (conn.tls)
      co_await asio::async_write(*conn.tls, asio::buffer(wire), asio::redirect_error(asio::use_awaitable, ec));
    else
      co_await asio::async_write(conn.plain, asio::buffer(wire), asio::redirect_error(asio::use_awaitable, ec));
    if (dog.fired) co_return errc::timeout;
    if (ec) co_return ec;

    response_limits limits;
    limits.max_body_bytes = options_.max_response_body;
    response_parser parser(limits);
    parser.reset(head);
    if (!conn.read_buffer) conn.read_buffer.reset(new char[detail_client::connection::read_buffer_size]);
    const auto buffer = asio::buffer(conn.read_buffer.get(), detail_client::connection::read_buffer_size);
    bool leftover = false;
    while (!parser.complete()) {
      std::size_t n = 0;
      if (conn.tls)
        n = co_await conn.tls->async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
      else
        n = co_await conn.plain.async_read_some(buffer, asio::redirect_error(asio::use_awaitable, ec));
      if (dog.fired) co_return errc::timeout;
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
        if (!parser.received_any()) co_return make_error_code(asio::error::eof);
        parser.feed_eof();
        if (parser.failed()) co_return parser.error();
        break;
      }
      if (ec) {
        received_any = parser.received_any();
        co_return ec;
      }
      const std::size_t used = parser.feed(conn.read_buffer.get(), n);
      received_any = true;
      if (parser.failed()) co_return parser.error();
      if (parser.complete() && used < n) leftover = true;
    }
    received_any = true;
    auto message = parser.take();
    reusable = message.keep_alive && !message.truncated && !leftover;
    client_response out;
    out.status = message.status;
    out.headers = std::move(message.headers);
    out.body = std::move(message.body);
    out.body_truncated = message.truncated;
    co_return out;
  }

  connection_ptr take_idle(const std::string& key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& conns = it->second;
    const auto now = std::chrono::steady_clock::now();
    while (!conns.empty()) {
      auto conn = std::move(conns.back());
      conns.pop_back();
      if (now - conn->idle_since < options_.idle_timeout && conn->looks_alive()) return conn;
      conn->close();
    }
    idle_.erase(it);
    return nullptr;
  }

  void put_idle(const std::string& key, connection_ptr conn) {
    auto& conns = idle_[key];
    const auto now = std::chrono::steady_clock::now();
    // Drop expired ones first (oldest are at the front).
    while (!conns.empty() && now - conns.front()->idle_since >= options_.idle_timeout) {
      conns.front()->close();
      conns.erase(conns.begin());
    }
    if (conns.size() >= options_.max_idle_per_origin) {
      conn->close();
      return;
    }
    conn->idle_since = now;
    conns.push_back(std::move(conn));
  }

  void drop_idle(const std::string& key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return;
    for (auto& c : it->second) c->close();
    idle_.erase(it);
  }

  asio::any_io_executor ex_;
  client_options options_;
  asio::ssl::context* tls_ = nullptr;
  std::unique_ptr<asio::ssl::context> own_tls_;
  std::map<std::string, std::vector<connection_ptr>> idle_;
  client_stats stats_;
};

}  // namespace lastmile::http
