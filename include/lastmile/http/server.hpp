#pragma once
// The HTTP/1.1 server core: Asio acceptor + N event loops (one thread each), a
// coroutine per connection only while it has work (an idle keep-alive connection or
// a parked exchange is a few plain operations), requests parsed by request_parser
// (llhttp, strict), every connection deadline in one timer wheel per loop.
//
//  - keep-alive and pipelining: requests on a connection are answered in order, one
//    at a time; bytes of the next request wait in the connection's buffer;
//  - limits and timeouts from server_options: an absolute deadline for the request
//    head (slowloris), one for the body, an idle keep-alive timeout; none applies
//    while a handler runs, so streams (SSE, WebSocket, held polls) live as long as
//    they like;
//  - connection caps in total (503) and per client IP (429);
//  - a router with path parameters, 404/405 with JSON bodies; an authenticator hook
//    called for every request of a route that asks for it;
//  - streaming responses (chunked) and protocol upgrades (the handler keeps the
//    stream and the bytes already read);
//  - graceful shutdown: stop accepting, close idle connections, let requests in
//    flight finish, signal streaming handlers (exchange::wait_shutdown), and force
//    everything closed after a grace period.
#include <lastmile/auth/claims.hpp>
#include <lastmile/detail/timer_wheel.hpp>
#include <lastmile/http/request.hpp>
#include <lastmile/http/request_parser.hpp>
#include <lastmile/http/response.hpp>
#include <lastmile/http/router.hpp>
#include <lastmile/http/stream.hpp>
#include <lastmile/http/url.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace lastmile::http {

using namespace std::chrono_literals;

struct tls_options {
  std::string cert_file;  // PEM certificate chain
  std::string key_file;   // PEM private key
};

struct server_options {
  parser_limits limits{};                             // header 16 KiB, body 1 MiB, target 8 KiB
  std::chrono::milliseconds header_timeout = 10s;     // first byte of a request -> end of its head
  std::chrono::milliseconds body_timeout = 30s;       // end of head -> end of body
  std::chrono::milliseconds idle_timeout = 30s;       // keep-alive connection between requests
  std::chrono::milliseconds shutdown_grace = 5s;      // in-flight work may finish within this
  std::size_t max_connections = 10'000;               // beyond: 503
  std::size_t max_connections_per_ip = 1'000;         // beyond: 429
  unsigned threads = 0;                               // event loops; 0: one per core
  std::optional<tls_options> tls;                     // https when set
};

// What an authenticator decides for a request: allow (with optional claims) or an
// HTTP error (401/403) with a JSON error code and message.
struct auth_outcome {
  int status = 0;  // 0: allowed
  std::string code;
  std::string message;
  std::optional<auth::claims> claims;

  static auth_outcome allow(std::optional<auth::claims> c = std::nullopt) {
    return {0, {}, {}, std::move(c)};
  }
  static auth_outcome deny(int status, std::string code, std::string message) {
    return {status, std::move(code), std::move(message), std::nullopt};
  }
};
using authenticator = std::function<auth_outcome(const request&)>;

struct route_options {
  bool authenticate = true;  // run the server's authenticator (if one is set) first
};

struct server_stats {
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::int64_t> connections_current{0};
  std::atomic<std::uint64_t> connections_rejected{0};
  std::atomic<std::uint64_t> requests_total{0};
  std::array<std::atomic<std::uint64_t>, 600> responses_by_status{};

  void count_response(int status) noexcept {
    if (status >= 100 && status < 600) responses_by_status[status].fetch_add(1, std::memory_order_relaxed);
  }
};

class server;
class exchange;
using handler = std::function<asio::awaitable<void>(exchange&)>;
namespace detail {
class connection;
}

// What a session that adopted a connection (exchange::adopt) hears from it, on the
// connection's loop: its deadline (adopted_connection::set_deadline) passed, or a
// graceful shutdown began. Instead of a timer and a shutdown wait of its own.
class adopter {
 public:
  virtual void on_deadline() = 0;
  virtual void on_shutdown() = 0;

 protected:
  ~adopter() = default;
};

// Shared ownership of a connection whose upgraded protocol runs on plain callbacks
// after its handler has returned (exchange::adopt): the connection and its stream
// stay valid while a copy exists; the exchange does not (it is freed when the
// handler returns: copy what the session needs from it, e.g. its claims, first).
// close() -- or destroying the last one -- closes the connection. Use it on the
// connection's loop only.
class adopted_connection {
 public:
  adopted_connection() = default;
  adopted_connection(adopted_connection&&) noexcept = default;
  adopted_connection& operator=(adopted_connection&& o) noexcept {
    if (this != &o) {
      close();
      conn_ = std::move(o.conn_);
    }
    return *this;
  }
  ~adopted_connection() { close(); }
  void close() noexcept;
  explicit operator bool() const noexcept { return conn_ != nullptr; }
  // The adopter's one deadline, an entry in the loop's timer wheel (10 ms
  // resolution); time_point::max() clears it. adopter::on_deadline() runs then.
  void set_deadline(std::chrono::steady_clock::time_point t);
  http::stream& stream() const noexcept;
  // A graceful shutdown has begun (adopter::on_shutdown was or will be called).
  bool shutting_down() const noexcept;

 private:
  friend class exchange;
  explicit adopted_connection(std::shared_ptr<detail::connection> c) : conn_(std::move(c)) {}
  std::shared_ptr<detail::connection> conn_;
};

// What ended a wait (exchange::wait_any, or a parked exchange).
enum class wake : std::uint8_t { none, event, timeout, peer_closed, shutdown, source_error };

namespace detail {
class connection;
struct route_entry {
  handler fn;
  route_options options;
};
// After a readiness wait on an idle socket: has the peer closed (EOF or error), sent
// bytes (left in the socket, only peeked), or was the readiness spurious?
enum class peer_peek : std::uint8_t { closed, data, nothing };
inline peer_peek peek_peer(http::stream::socket_type& sock) {
  char probe;
  ssize_t n = ::recv(sock.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return peer_peek::data;
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return peer_peek::closed;
  return peer_peek::nothing;
}
// The completion handler a parked exchange's source wait gets (see parked).
struct park_wake {
  std::shared_ptr<connection> conn;
  std::uint32_t generation = 0;
  void operator()(std::error_code ec) const;
  asio::io_context::executor_type executor() const noexcept;  // the connection's loop
};
}  // namespace detail

// The handler of a parked exchange's source wait: call it once with void(std::error_code);
// it carries a cancellation slot that the source must honour (hub::async_wait does).
using park_handler = asio::cancellation_slot_binder<detail::park_wake, asio::cancellation_slot>;

// A long wait handed to the connection (exchange::park) instead of awaited by the
// handler: a held long poll, an SSE stream with nothing to send. The handler's
// coroutines return; while parked, the exchange costs this object, one wait on the
// event source, one entry in the loop's timer wheel and one readiness wait on the
// socket (to see the peer close) -- no coroutine frame of its own and no timer.
// The connection then waits for the first of: the source's completion, the
// deadline, the peer closing, a graceful shutdown, and calls resume(), a coroutine
// that answers (the exchange ends) or calls ex.park(deadline) again.
// While parked the exchange keeps the request's method, target, version, flags and
// claims; the parsed query and path parameters are released (as are headers and
// body after release_request_headers()), so copy into the parked object what
// resume() needs. A streaming exchange (begin_stream: its head is out) keeps
// nothing of the request: req() is then empty and claims() none.
class parked {
 public:
  virtual ~parked() = default;
  // Starts the source wait (e.g. hub.async_wait(ex.get_executor(), cursor, filter,
  // std::move(h))). Called each time the exchange parks.
  virtual void start_wait(exchange& ex, park_handler h) = 0;
  // The wait ended for `why` (wake::event, timeout, peer_closed, shutdown or
  // source_error). Runs as a coroutine of the connection.
  virtual asio::awaitable<void> resume(exchange& ex, wake why) = 0;
  // Optional: withdraws the pending source wait at once. true: it was pending and
  // the handler will never be called (it has been destroyed); false (the default):
  // the connection cancels through the handler's cancellation slot and waits for
  // its completion. A source with intrusive waits (hub::arm / hub::disarm) does the
  // former and needs no slot.
  virtual bool cancel_wait() noexcept { return false; }
};

// One request and its response, handed to a route's handler.
class exchange {
 public:
  const request& req() const noexcept { return rs_ ? rs_->req : none().req; }
  std::optional<std::string_view> param(std::string_view name) const noexcept {
    if (rs_)
      for (const auto& [k, v] : rs_->params)
        if (k == name) return std::string_view(v);
    return std::nullopt;
  }
  const query_params& query() const noexcept { return rs_ ? rs_->query : none().query; }
  const std::optional<auth::claims>& claims() const noexcept { return rs_ ? rs_->claims : none().claims; }
  asio::ip::address remote_address() const;
  asio::any_io_executor get_executor();
  asio::io_context::executor_type loop_executor();  // the same, not type-erased
  http::stream& stream();

  // Whether the connection stays open after this response.
  bool keep_alive() const noexcept;
  void close_after_response() noexcept { close_ = true; }
  // Drops the connection without any response (test receivers simulating a network
  // failure, or refusing an abusive peer).
  void abort() noexcept;
  bool responded() const noexcept { return responded_; }
  int status() const noexcept { return status_; }

  // A complete response with a Content-Length body.
  asio::awaitable<std::error_code> respond(int status, std::string_view body,
                                           std::string_view content_type = "application/json",
                                           header_list headers = {});
  // The same with the body gathered from parts (written with one gather write).
  asio::awaitable<std::error_code> respond(int status, std::span<const asio::const_buffer> body_parts,
                                           std::string_view content_type = "application/json",
                                           header_list headers = {});
  // {"error":code,"message":message}
  asio::awaitable<std::error_code> respond_error(int status, std::string_view code,
                                                 std::string_view message, header_list headers = {});

  // A streaming response: the head now, then body parts as they come. HTTP/1.1
  // uses chunked framing; an HTTP/1.0 client gets a body ended by closing.
  asio::awaitable<std::error_code> begin_stream(int status, header_list headers);
  // Writes parts as one gather write (one chunk).
  asio::awaitable<std::error_code> write_body(std::span<const asio::const_buffer> parts);
  asio::awaitable<std::error_code> write_body(std::string_view data) {
    asio::const_buffer b(data.data(), data.size());
    co_return co_await write_body(std::span<const asio::const_buffer>(&b, 1));
  }
  asio::awaitable<void> end_stream();

  // For protocol upgrades: the raw head bytes to send yourself, then the stream is
  // yours until the handler returns (the connection closes then).
  asio::awaitable<std::error_code> write_raw(std::string_view bytes);
  void mark_upgraded() noexcept { upgraded_ = true; responded_ = true; }
  // After mark_upgraded(): the protocol goes on without the handler's coroutine (a
  // session of plain asynchronous operations); the handler returns and the
  // connection stays open until the returned handle is closed or destroyed. The
  // exchange itself ends when the handler returns.
  adopted_connection adopt(adopter* events = nullptr);
  // Bytes received after this request (pipelined data, or the upgraded protocol's).
  std::string take_buffered();

  // Completes when the peer closes the connection (or on error). Bytes the peer
  // sends meanwhile are kept for the next request. Cancellable (use with ||).
  asio::awaitable<void> wait_peer_closed();
  // Completes when the server begins a graceful shutdown. Cancellable.
  asio::awaitable<void> wait_shutdown();
  // The same as a plain operation: `handler(std::error_code)` runs when the server
  // begins a graceful shutdown (check shutting_down(): the wait also ends on
  // cancel_wait_shutdown() or when the connection is forced closed). At most one
  // such wait per exchange, and none while wait_any runs.
  template <class Handler>
  void async_wait_shutdown(Handler&& handler);
  void cancel_wait_shutdown() noexcept;

  // Frees the request's headers and body (their memory, not just their contents).
  // Long-lived handlers (streams, held polls, upgraded connections) call it once they
  // have read what they need, so a waiting connection does not keep the request's
  // header block; method, target (path and query), version and flags stay.
  void release_request_headers() noexcept {
    if (!rs_) return;
    header_list().swap(rs_->req.headers);
    std::string().swap(rs_->req.body);
  }

  // What ended a wait_any.
  using wake = http::wake;

  // Parks the exchange (see http::parked): the handler returns after this call and
  // the connection owns `p` until the exchange ends. `deadline`: when to resume with
  // wake::timeout (none: no deadline). From parked::resume, park(deadline) parks again.
  void park(std::unique_ptr<parked> p, std::optional<asio::steady_timer::time_point> deadline = std::nullopt) {
    parked_ = std::move(p);
    park(deadline);
  }
  void park(std::optional<asio::steady_timer::time_point> deadline) noexcept {
    park_pending_ = true;
    park_deadline_ = deadline;
  }
  bool parking() const noexcept { return park_pending_; }

  // Waits, without spawning anything, for the first of: the completion of
  // `start_wait(handler)` (an operation with signature void(std::error_code), e.g. a
  // hub's async_wait; it must honour the handler's cancellation slot), `deadline`,
  // the peer closing the connection, or a graceful shutdown. The others are then
  // cancelled and awaited, so nothing outlives the call. What a held poll or an idle
  // stream costs while it waits is a handful of small operations, not coroutines.
  template <class StartWait>
  asio::awaitable<wake> wait_any(StartWait&& start_wait,
                                 std::optional<asio::steady_timer::time_point> deadline = std::nullopt);
  bool shutting_down() const noexcept;

 private:
  friend class detail::connection;
  explicit exchange(detail::connection& c) : conn_(c), rs_(std::make_unique<request_state>()) {}
  // What the handler reads. Its own allocation, so that a streaming exchange that
  // parks (an idle SSE stream) drops all of it: ~270 bytes per stream.
  struct request_state {
    request req;
    std::vector<std::pair<std::string_view, std::string>> params;
    query_params query;
    std::optional<auth::claims> claims;
  };
  static const request_state& none() noexcept {
    static const request_state empty;
    return empty;
  }
  detail::connection& conn_;
  std::unique_ptr<request_state> rs_;
  std::unique_ptr<asio::steady_timer> shutdown_signal_;  // made on first use (wait_shutdown)
  asio::cancellation_signal source_cancel_;  // a parked source wait without cancel_wait()
  bool keep_alive_ = false;  // the request's, kept when rs_ is dropped
  bool responded_ = false;
  bool streaming_ = false;
  bool chunked_ = false;
  bool upgraded_ = false;
  bool close_ = false;
  bool park_pending_ = false;
  bool adopted_ = false;
  int status_ = 0;
  std::unique_ptr<parked> parked_;
  std::optional<asio::steady_timer::time_point> park_deadline_;
};

namespace detail {

// A client address as 16 bytes (IPv4 mapped into IPv6): the key of the per-address
// connection counts. Every client with its own address has an entry, so it is kept
// small (a node of 48 bytes instead of 64 with the address as a string).
struct ip_key {
  std::array<unsigned char, 16> bytes{};
  static ip_key of(const asio::ip::address& a) {
    ip_key k;
    if (a.is_v4()) {
      auto b = a.to_v4().to_bytes();
      k.bytes[10] = k.bytes[11] = 0xff;
      std::copy(b.begin(), b.end(), k.bytes.begin() + 12);
    } else {
      k.bytes = a.to_v6().to_bytes();
    }
    return k;
  }
  // The address again (an IPv6 scope id is not kept).
  asio::ip::address address(bool v4) const {
    if (v4) return asio::ip::address_v4({bytes[12], bytes[13], bytes[14], bytes[15]});
    return asio::ip::address_v6(bytes);
  }
  bool operator==(const ip_key&) const = default;
};
struct ip_key_hash {
  std::size_t operator()(const ip_key& k) const noexcept {
    std::uint64_t h = 14695981039346656037ull;  // FNV-1a
    for (unsigned char c : k.bytes) h = (h ^ c) * 1099511628211ull;
    return static_cast<std::size_t>(h);
  }
};

// Everything connections share with their server.
struct server_core {
  server_options options;
  router<route_entry> routes;
  authenticator auth;
  server_stats stats;
  std::optional<asio::ssl::context> tls;
  std::atomic<bool> draining{false};
  std::atomic<bool> stopped{false};  // the loops are done (server destruction)
  std::function<void(const ip_key&)> on_closed;  // a connection has closed (its loop's thread)
  std::mutex ip_mutex;
  std::unordered_map<ip_key, std::uint32_t, ip_key_hash> per_ip;  // client address -> open connections
};

// Per event loop: the loop and the connections it runs (touched only on its thread).
struct loop {
  using time_point = asio::steady_timer::time_point;
  // Declared before ctx: connections destroyed with ctx's pending handlers unlink
  // themselves from these.
  lastmile::detail::timer_wheel wheel;  // every connection deadline of this loop
  connection* first_connection = nullptr;  // its connections: an intrusive list (no node each)
  std::vector<char> receive_buffer = std::vector<char>(64 * 1024);  // shared by the loop's reads
  asio::io_context ctx{1};
  asio::steady_timer wheel_timer{ctx};  // the wheel's one timer
  time_point wheel_armed_at = time_point::max();
  std::span<char> scratch() noexcept { return receive_buffer; }

  void schedule(lastmile::detail::wheel_entry& e, time_point due) {
    wheel.schedule(e, due);
    if (due < wheel_armed_at) arm_wheel(due);
  }
  void unschedule(lastmile::detail::wheel_entry& e) {
    wheel.cancel(e);
    if (wheel.size() == 0 && wheel_armed_at != time_point::max()) {
      wheel_armed_at = time_point::max();  // nothing left: let the loop end when its work does
      wheel_timer.cancel();
    }
  }
  void arm_wheel(time_point at) {
    wheel_armed_at = at;
    wheel_timer.expires_at(at);
    wheel_timer.async_wait([this](std::error_code ec) {
      if (ec) return;  // re-armed earlier, or nothing left
      wheel_armed_at = time_point::max();
      wheel.expire(asio::steady_timer::clock_type::now());
      if (auto next = wheel.next_wake(); next && *next < wheel_armed_at) arm_wheel(*next);
    });
  }
};

// One connection. It runs a coroutine only while it has work: reading a request
// that has begun, running a handler, resuming a parked exchange. Waiting for the
// next request of a keep-alive connection (plain TCP) and waiting in a parked
// exchange are plain operations whose handlers own the connection (shared_ptr):
// an idle or parked connection holds no coroutine frame.
class connection : public std::enable_shared_from_this<connection>, private lastmile::detail::wheel_entry {
  friend class lastmile::http::adopted_connection;
  friend struct park_wake;

 public:
  connection(server_core& core, loop& lp, stream s, asio::ip::address remote)
      : core_(core), loop_(lp), stream_(std::move(s)), remote_(ip_key::of(remote)), remote_v4_(remote.is_v4()) {
    on_expire = [](lastmile::detail::wheel_entry& e) { static_cast<connection&>(e).on_deadline(); };
  }
  ~connection() {
    // Normally finish() has run. If a coroutine of the connection ended by an
    // exception (out of memory) or the loop is being torn down, forget it here (no
    // timer work: the loop may be tearing down).
    loop_.wheel.cancel(*this);
    forget();
  }

  // Starts serving, on the connection's loop.
  void start() {
    link_into_loop();
    arm(core_.options.header_timeout);
    if (stream_.is_tls()) spawn(std::nullopt);  // the handshake and TLS reads run in the coroutine
    else wait_idle();
  }

  connection* next_in_loop() const noexcept { return next_in_loop_; }

  // Called on this connection's loop when the server starts draining.
  void begin_drain() {
    if (adopter_) adopter_->on_shutdown();
    if (phase_ == phase::idle && !buffered()) stream_.cancel();  // nothing in flight: close now
    if (parked_now_) unpark(wake::shutdown);
    if (ex_ && ex_->shutdown_signal_) ex_->shutdown_signal_->cancel();
  }
  void force_close() {
    stream_.close();
    if (parked_now_) unpark(wake::shutdown);
    if (ex_ && ex_->shutdown_signal_) ex_->shutdown_signal_->cancel();
  }

  // A parked exchange's source wait completed.
  void on_source(std::uint32_t generation, std::error_code ec) {
    if (generation != park_generation_ || !source_pending_) return;
    source_pending_ = false;
    if (parked_now_) {
      // Resumed on a later turn, as a WebSocket writer is, not inline in the
      // source's completion (which runs every stream woken by one publish in one
      // handler): measured faster, SSE fan-out to 1,000 +12% events/s and p50
      // latency 22 -> 13 ms (docs/benchmarks.md).
      parked_now_ = false;
      park_result_ = ec ? wake::source_error : wake::event;
      disarm();
      return spawn_later(park_result_);
    }
    spawn_later(park_result_);  // the cancellation unpark asked for has completed
  }

 private:
  friend class lastmile::http::exchange;
  enum class phase : std::uint8_t { idle, head, body, handling };
  enum class read_result : std::uint8_t { request, closed, go_idle };

  // Starts the coroutine part. co_spawn runs it inline up to its first wait, which is
  // right from a completion handler; from anywhere else (a loop over connections,
  // the timer wheel, a coroutine about to return) it is deferred to the next turn.
  void spawn(std::optional<wake> resumed) {
    asio::co_spawn(stream_.get_executor(), active(shared_from_this(), resumed), asio::detached);
  }
  void spawn_later(std::optional<wake> resumed) {
    asio::post(stream_.get_executor(), [self = shared_from_this(), resumed] { self->spawn(resumed); });
  }

  // Plain TCP between requests: one readiness wait, no coroutine. The deadline
  // (idle or header timeout) or a drain cancels it.
  void wait_idle() {
    stream_.async_wait_readable([self = shared_from_this()](std::error_code ec) {
      if (ec || self->timed_out_ || !self->stream_.is_open() ||
          (self->core_.draining && !self->buffered()))
        return self->finish();
      self->fresh_ = true;
      self->spawn(std::nullopt);
    });
  }

  // The connection's one deadline is an entry in its loop's timer wheel: arming,
  // moving or clearing it is an unlink and a link, no timer operation.
  void arm(std::chrono::milliseconds d) { arm_at(asio::steady_timer::clock_type::now() + d); }
  void arm_at(asio::steady_timer::time_point t) { loop_.schedule(*this, t); }
  void disarm() { loop_.unschedule(*this); }

  // The deadline passed: a parked exchange resumes with wake::timeout; otherwise the
  // pending read (or idle wait) is cancelled and sees timed_out_ (408 if a request
  // had started).
  void on_deadline() {
    if (!alive_) return;
    if (adopter_) return adopter_->on_deadline();
    if (parked_now_) return unpark(wake::timeout);
    timed_out_ = true;
    stream_.cancel();
  }

  // Closes and forgets the connection (once).
 public:
  void finish() {
    if (!alive_) return;
    stream_.close();
    loop_.unschedule(*this);
    forget();
  }

 private:
  void link_into_loop() {
    next_in_loop_ = loop_.first_connection;
    if (next_in_loop_) next_in_loop_->prev_in_loop_ = this;
    loop_.first_connection = this;
    in_loop_ = true;
  }
  void unlink_from_loop() {
    if (!in_loop_) return;
    if (prev_in_loop_) prev_in_loop_->next_in_loop_ = next_in_loop_;
    else loop_.first_connection = next_in_loop_;
    if (next_in_loop_) next_in_loop_->prev_in_loop_ = prev_in_loop_;
    prev_in_loop_ = next_in_loop_ = nullptr;
    in_loop_ = false;
  }

  // Takes the connection off its loop's list and the server's counts (once).
  void forget() {
    if (!alive_) return;
    alive_ = false;
    adopter_ = nullptr;
    unlink_from_loop();
    if (core_.on_closed && !core_.stopped) core_.on_closed(remote_);
  }

  asio::steady_timer& shutdown_signal() {
    auto& signal = ex_->shutdown_signal_;
    if (!signal) {
      signal = std::make_unique<asio::steady_timer>(stream_.get_executor());
      signal->expires_at(asio::steady_timer::time_point::max());
    }
    return *signal;
  }

  // --- parking (see http::parked) ---
  // Starts the waits of a parked exchange; the coroutine that parked it then returns.
  void park() {
    exchange& ex = *ex_;
    ex.park_pending_ = false;
    // Nothing of the reading state while parked, but pipelined bytes (and a fresh
    // parser for them).
    if (!buffered()) {
      in_.reset();
    } else {
      in_->parser.reset();
      in_->parser.release_memory();
    }
    if (ex.streaming_) {
      ex.rs_.reset();  // a stream's head is out: it needs nothing of the request
    } else {
      ex.rs_->query = query_params{};  // parsed query and path parameters: the parked
      decltype(ex.rs_->params)().swap(ex.rs_->params);  // object copied what it needs
    }
    if (core_.draining) return spawn_later(wake::shutdown);
    if (peer_closed_ || !stream_.is_open()) return spawn_later(wake::peer_closed);
    const auto generation = ++park_generation_;
    park_result_ = wake::none;
    parked_now_ = true;
    source_pending_ = true;
    ex.parked_->start_wait(ex, asio::bind_cancellation_slot(ex.source_cancel_.slot(), park_wake{shared_from_this(), generation}));
    if (!parked_now_) return;  // the source completed at once
    if (ex.park_deadline_) arm_at(*ex.park_deadline_);
    if (!peer_watch_ && !peer_sent_) watch_peer();
  }
  void unpark(wake w) {
    if (!parked_now_) return;
    parked_now_ = false;
    park_result_ = w;
    disarm();
    // A source wait still pending is withdrawn at once, or cancelled: then its
    // completion resumes the exchange (so its handler never outlives the parking it
    // belongs to).
    if (source_pending_) {
      if (!ex_->parked_->cancel_wait()) return ex_->source_cancel_.emit(asio::cancellation_type::all);
      source_pending_ = false;
    }
    spawn_later(w);
  }
  // Watches the socket for the peer closing: readable with nothing to read (peeked,
  // not consumed) is EOF. Bytes that did arrive (a pipelined request) stay in the
  // socket for later; watching stops then, since readability cannot tell us more.
  // The watch outlives one park: a stream that wakes, writes and parks again keeps it.
  void watch_peer() {
    peer_watch_ = true;
    auto id = ++peer_watch_id_;
    stream_.async_wait_readable([self = shared_from_this(), id](std::error_code ec) { self->on_peer(id, ec); });
  }
  void on_peer(std::uint32_t id, std::error_code ec) {
    if (id != peer_watch_id_) return;  // cancelled by stop_peer_watch
    peer_watch_ = false;
    if (ec) return;
    switch (peek_peer(stream_.socket())) {
      case peer_peek::closed:
        peer_closed_ = true;
        unpark(wake::peer_closed);
        break;
      case peer_peek::data: peer_sent_ = true; break;
      case peer_peek::nothing: watch_peer(); break;  // spurious readiness
    }
  }
  void stop_peer_watch() {
    if (peer_watch_) {
      ++peer_watch_id_;
      peer_watch_ = false;
      std::error_code ignored;
      stream_.socket().cancel(ignored);
    }
    peer_sent_ = false;
  }

  // The coroutine part: reads and answers requests while there are any, resumes a
  // parked exchange (`resumed`), and returns when the connection goes idle, parks,
  // or is done. `self` keeps the connection alive meanwhile.
  asio::awaitable<void> active([[maybe_unused]] std::shared_ptr<connection> self, std::optional<wake> resumed) {
    bool keep = true;
    if (resumed) {
      bool failed = false;
      try {
        co_await ex_->parked_->resume(*ex_, *resumed);
      } catch (const std::exception&) {
        failed = true;
      }
      if (failed) {
        ex_->park_pending_ = false;
        ex_->close_ = true;
      }
      if (ex_->park_pending_) co_return park();
      keep = co_await end_exchange();
    } else if (stream_.is_tls() && first_) {
      if (co_await stream_.handshake()) keep = false;
    }
    while (keep) {
      in().parser.reset();
      phase_ = phase::idle;
      continue_sent_ = false;
      arm(first_ ? core_.options.header_timeout : core_.options.idle_timeout);
      first_ = false;
      auto r = co_await read_request();
      if (r == read_result::go_idle) {
        in_.reset();  // nothing buffered: read_request saw to that
        co_return wait_idle();
      }
      if (r == read_result::closed) break;
      if (in_->parser.failed()) {
        const auto& err = in_->parser.error();
        co_await send_error_and_close(err.status, err.code, err.message);
        break;
      }
      disarm();
      phase_ = phase::handling;
      core_.stats.requests_total.fetch_add(1, std::memory_order_relaxed);
      ex_.reset(new exchange(*this));
      std::swap(ex_->rs_->req, in_->parser.get());  // the parser's request keeps its capacity for the next one
      ex_->keep_alive_ = ex_->rs_->req.keep_alive;
      co_await dispatch(*ex_);
      if (ex_->adopted_) {  // an upgraded session owns the connection now
        in_.reset();  // the session took what was buffered
        ex_.reset();  // and copied what it needs of the exchange
        co_return;
      }
      if (ex_->park_pending_) co_return park();
      keep = co_await end_exchange();
    }
    finish();
  }

  // After an exchange: frees it; true if the connection serves another request.
  asio::awaitable<bool> end_exchange() {
    exchange& ex = *ex_;
    if (ex.parked_) {
      ex.parked_.reset();
      stop_peer_watch();
      if (!ex.responded_) {
        if (!peer_closed_ && stream_.is_open())
          co_await ex.respond_error(500, "internal", "the handler produced no response");
        ex.close_ = true;
      }
    }
    const bool done = ex.upgraded_ || ex.streaming_ || !ex.keep_alive() || !stream_.is_open();
    const bool upgraded = ex.upgraded_;
    if (in_ && ex.rs_) std::swap(ex.rs_->req, in_->parser.get());
    ex_.reset();
    if (done && !upgraded && stream_.is_open()) co_await graceful_close();
    co_return !done;
  }

  // Reads until the parser has a complete request or failed. closed: the connection
  // is done (closed by the peer, timed out, or draining while idle); go_idle: plain
  // TCP with nothing of a next request yet (the caller waits without a coroutine).
  asio::awaitable<read_result> read_request() {
    request_parser& parser = in_->parser;
    std::string& buffer = in_->buffer;
    for (;;) {
      if (!buffer.empty()) {
        std::size_t used = parser.feed(buffer.data(), buffer.size());
        buffer.erase(0, used);
        if (parser.complete() || parser.failed()) co_return read_result::request;  // common case: all at once
        if (parser.started() && phase_ == phase::idle) {
          phase_ = phase::head;
          arm(core_.options.header_timeout);
        }
        if (parser.headers_complete() && phase_ == phase::head) {
          phase_ = phase::body;
          arm(core_.options.body_timeout);
          if (!parser.complete() && parser.get().expect_continue && !continue_sent_) {
            continue_sent_ = true;
            std::error_code ec;
            co_await stream_.write(asio::buffer(std::string_view("HTTP/1.1 100 Continue\r\n\r\n")), ec);
            if (ec) co_return read_result::closed;
          }
        }
        if (parser.complete() || parser.failed()) co_return read_result::request;
      }
      if (core_.draining && phase_ == phase::idle) co_return read_result::closed;
      if (phase_ == phase::idle && buffer.empty()) {
        // Waiting for the next request with nothing of it yet: keep no memory for it
        // (an idle keep-alive connection holds neither request capacity nor buffer).
        parser.release_memory();
        std::string().swap(buffer);
        if (!fresh_ && !stream_.is_tls()) co_return read_result::go_idle;
      }
      fresh_ = false;
      std::error_code ec;
      co_await stream_.read_append(buffer, loop_.scratch(), ec);
      if (ec) {
        if (timed_out_ && phase_ != phase::idle) co_await send_error_and_close(408, "timeout", "request not received in time");
        co_return read_result::closed;
      }
    }
  }

  // What routing decided before the handler runs: the handler, or an error to send.
  struct routed {
    const route_entry* entry = nullptr;
    int status = 0;
    std::string code;
    std::string message;
    header_list headers;
  };

  // Routing, query parsing and authentication, outside any coroutine: their
  // temporaries (the match, the authenticator's outcome) would otherwise sit in the
  // dispatch frame for as long as a streaming handler runs.
  routed route(exchange& ex) {
    routed r;
    const auto& req = ex.rs_->req;
    auto m = core_.routes.match(req.method, req.path());
    if (!m) {
      r.status = m.http_status();
      if (r.status == 405) r.headers.emplace_back("Allow", m.allow);
      r.code = r.status == 404 ? "not_found" : r.status == 405 ? "method_not_allowed" : "bad_request";
      r.message = r.status == 404 ? "no such resource" : r.status == 405 ? "method not allowed for this resource" : "malformed path";
      return r;
    }
    ex.rs_->params = std::move(m.params);
    if (auto q = parse_query(req.query())) {
      ex.rs_->query = std::move(*q);
    } else {
      r.status = 400, r.code = "bad_request", r.message = "malformed query string";
      return r;
    }
    if (m.handler->options.authenticate && core_.auth) {
      auto outcome = core_.auth(req);
      if (outcome.status != 0) {
        r.status = outcome.status;
        if (outcome.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
        r.code = std::move(outcome.code);
        r.message = std::move(outcome.message);
        return r;
      }
      ex.rs_->claims = std::move(outcome.claims);
    }
    r.entry = m.handler;
    return r;
  }

  asio::awaitable<void> dispatch(exchange& ex) {
    const route_entry* entry = nullptr;
    {
      routed r = route(ex);
      entry = r.entry;
      if (!entry) {
        co_await ex.respond_error(r.status, r.code, r.message, std::move(r.headers));
        co_return;
      }
    }
    bool failed = false;
    try {
      co_await entry->fn(ex);
    } catch (const std::exception&) {
      failed = true;  // handlers should not throw; never take the server down for it
    }
    if (ex.park_pending_ && !failed) co_return;  // the connection waits and resumes it
    ex.park_pending_ = false;
    if (!ex.responded_) {
      if (failed || !ex.streaming_) co_await ex.respond_error(500, "internal", "the handler produced no response");
      ex.close_ = true;
    } else if (failed) {
      ex.close_ = true;
    }
  }

  asio::awaitable<void> send_error_and_close(int status, std::string_view code, std::string_view message) {
    std::string out = json_error_response(status, code, message, true);
    core_.stats.count_response(status);
    std::error_code ec;
    co_await stream_.write(asio::buffer(out), ec);
    if (!ec) co_await graceful_close();
  }

  // Half-close, then drain what the peer still sends for a moment, so our last
  // response is not destroyed by a TCP reset when unread data is pending.
  asio::awaitable<void> graceful_close() {
    stream_.shutdown_send();
    arm(500ms);
    timed_out_ = false;
    std::size_t drained = 0;
    std::string sink;
    while (!timed_out_ && drained < 256 * 1024) {
      std::error_code ec;
      drained += co_await stream_.read_append(sink, loop_.scratch(), ec);
      sink.clear();
      if (ec) break;
    }
    stream_.close();
  }

  server_core& core_;
  loop& loop_;
  http::stream stream_;
  ip_key remote_;  // the peer's address, compactly (remote_address() rebuilds it)
  // What reading requests needs: the parser and the bytes received but not yet
  // parsed. Allocated while requests are read or handled, and while pipelined bytes
  // wait; an idle, parked or adopted connection has none.
  struct reading {
    explicit reading(const parser_limits& limits) : parser(limits) {}
    request_parser parser;
    std::string buffer;
  };
  reading& in() {
    if (!in_) in_ = std::make_unique<reading>(core_.options.limits);
    return *in_;
  }
  bool buffered() const noexcept { return in_ && !in_->buffer.empty(); }
  std::unique_ptr<reading> in_;
  std::unique_ptr<exchange> ex_;            // the request being answered (or parked)
  adopter* adopter_ = nullptr;              // the session that adopted the connection
  connection* prev_in_loop_ = nullptr;      // the loop's list of connections
  connection* next_in_loop_ = nullptr;
  std::uint32_t park_generation_ = 0;
  std::uint32_t peer_watch_id_ = 0;
  phase phase_ = phase::idle;
  wake park_result_ = wake::none;
  // Flags as bits: a connection object is kept per open connection.
  bool first_ : 1 = true;
  bool fresh_ : 1 = false;  // woken from the idle wait: read before going idle again
  bool timed_out_ : 1 = false;
  bool alive_ : 1 = true;
  bool continue_sent_ : 1 = false;
  bool parked_now_ : 1 = false;
  bool source_pending_ : 1 = false;
  bool peer_watch_ : 1 = false;   // a readiness wait is on the socket
  bool peer_closed_ : 1 = false;  // the peer closed while watched
  bool peer_sent_ : 1 = false;    // the peer sent bytes while watched (watching stopped)
  bool in_loop_ : 1 = false;      // linked in the loop's list
  bool remote_v4_ : 1 = false;    // remote_ holds an IPv4 address
};

inline void park_wake::operator()(std::error_code ec) const { conn->on_source(generation, ec); }
inline asio::io_context::executor_type park_wake::executor() const noexcept {
  return conn->stream_.socket().get_executor();
}

}  // namespace detail

inline void adopted_connection::close() noexcept {
  if (!conn_) return;
  conn_->finish();
  conn_.reset();
}
inline adopted_connection exchange::adopt(adopter* events) {
  adopted_ = true;
  conn_.adopter_ = events;
  return adopted_connection(conn_.shared_from_this());
}
inline http::stream& adopted_connection::stream() const noexcept { return conn_->stream_; }
inline bool adopted_connection::shutting_down() const noexcept { return conn_->core_.draining.load(); }
inline void adopted_connection::set_deadline(std::chrono::steady_clock::time_point t) {
  if (!conn_ || !conn_->alive_) return;
  if (t == std::chrono::steady_clock::time_point::max()) conn_->disarm();
  else conn_->arm_at(t);
}

// --- exchange ---------------------------------------------------------------

inline asio::ip::address exchange::remote_address() const { return conn_.remote_.address(conn_.remote_v4_); }
inline asio::any_io_executor exchange::get_executor() { return conn_.stream_.get_executor(); }
inline asio::io_context::executor_type exchange::loop_executor() { return conn_.stream_.socket().get_executor(); }
inline http::stream& exchange::stream() { return conn_.stream_; }
inline bool exchange::keep_alive() const noexcept {
  return keep_alive_ && !close_ && !conn_.core_.draining.load(std::memory_order_relaxed);
}
inline bool exchange::shutting_down() const noexcept { return conn_.core_.draining.load(); }

inline asio::awaitable<std::error_code> exchange::respond(int status, std::string_view body,
                                                         std::string_view content_type, header_list headers) {
  asio::const_buffer part(body.data(), body.size());
  co_return co_await respond(status, std::span<const asio::const_buffer>(&part, 1), content_type, std::move(headers));
}

inline asio::awaitable<std::error_code> exchange::respond(int status, std::span<const asio::const_buffer> body_parts,
                                                         std::string_view content_type, header_list headers) {
  std::size_t body_size = 0;
  for (const auto& b : body_parts) body_size += b.size();
  response_head head;
  head.status = status;
  head.headers = std::move(headers);
  if (!content_type.empty()) head.headers.emplace_back("Content-Type", std::string(content_type));
  head.close = !keep_alive();
  if (!head.close && req().version_major == 1 && req().version_minor == 0)
    head.headers.emplace_back("Connection", "keep-alive");  // HTTP/1.0 closes unless told
  head.framing = body_framing::content_length;
  head.content_length = body_size;
  std::string head_bytes;
  append_head(head_bytes, head);
  responded_ = true;
  status_ = status;
  conn_.core_.stats.count_response(status);
  std::vector<asio::const_buffer> gather;
  gather.reserve(body_parts.size() + 1);
  gather.push_back(asio::buffer(head_bytes));
  gather.insert(gather.end(), body_parts.begin(), body_parts.end());
  std::error_code ec;
  co_await conn_.stream_.write(gather, ec);
  if (ec) close_ = true;
  co_return ec;
}

inline void exchange::abort() noexcept {
  std::error_code ignored;
  conn_.stream_.socket().shutdown(http::stream::socket_type::shutdown_both, ignored);
  responded_ = true;
  close_ = true;
}

inline asio::awaitable<std::error_code> exchange::respond_error(int status, std::string_view code,
                                                               std::string_view message, header_list headers) {
  std::string body = json_error_body(code, message);
  co_return co_await respond(status, body, "application/json", std::move(headers));
}

inline asio::awaitable<std::error_code> exchange::begin_stream(int status, header_list headers) {
  response_head head;
  head.status = status;
  head.headers = std::move(headers);
  chunked_ = req().version_major == 1 && req().version_minor >= 1;
  head.framing = chunked_ ? body_framing::chunked : body_framing::none;
  head.close = !chunked_;
  std::string head_bytes;
  append_head(head_bytes, head);
  responded_ = true;
  streaming_ = true;
  status_ = status;
  conn_.core_.stats.count_response(status);
  std::error_code ec;
  co_await conn_.stream_.write(asio::buffer(head_bytes), ec);
  co_return ec;
}

inline asio::awaitable<std::error_code> exchange::write_body(std::span<const asio::const_buffer> parts) {
  std::size_t total = 0;
  for (auto& p : parts) total += p.size();
  std::error_code ec;
  if (total == 0) co_return ec;
  if (!chunked_) {
    co_await conn_.stream_.write(parts, ec);
    co_return ec;
  }
  // The chunk header and the gather list live in this frame, not in the exchange: a
  // parked stream between writes keeps neither.
  std::string chunk_head;  // "<hex>\r\n": within the small-string buffer
  append_chunk_header(chunk_head, total);
  std::vector<asio::const_buffer> gather;
  gather.reserve(parts.size() + 2);
  gather.push_back(asio::buffer(chunk_head));
  gather.insert(gather.end(), parts.begin(), parts.end());
  gather.push_back(asio::buffer(std::string_view("\r\n")));
  co_await conn_.stream_.write(gather, ec);
  co_return ec;
}

inline asio::awaitable<void> exchange::end_stream() {
  std::error_code ec;
  if (chunked_) co_await conn_.stream_.write(asio::buffer(last_chunk), ec);
  close_ = true;
}

inline asio::awaitable<std::error_code> exchange::write_raw(std::string_view bytes) {
  std::error_code ec;
  co_await conn_.stream_.write(asio::buffer(bytes.data(), bytes.size()), ec);
  co_return ec;
}

inline std::string exchange::take_buffered() { return conn_.in_ ? std::exchange(conn_.in_->buffer, {}) : std::string(); }

inline asio::awaitable<void> exchange::wait_peer_closed() {
  // Read into the connection buffer (pipelined bytes are kept) up to a bound.
  constexpr std::size_t keep_at_most = 64 * 1024;
  std::string dropped;
  for (;;) {
    std::error_code ec;
    std::string& buffered = conn_.in().buffer;
    auto& into = buffered.size() < keep_at_most ? buffered : dropped;
    co_await conn_.stream_.read_append(into, conn_.loop_.scratch(), ec);
    if (ec) co_return;
    dropped.clear();
  }
}

template <class StartWait>
asio::awaitable<exchange::wake> exchange::wait_any(StartWait&& start_wait,
                                                  std::optional<asio::steady_timer::time_point> deadline) {
  if (shutting_down()) co_return wake::shutdown;
  auto executor = get_executor();
  struct state {
    wake result = wake::none;
    int pending = 0;
    asio::steady_timer signal;
    void finish(wake w) {
      if (result == wake::none) result = w;
      --pending;
      signal.cancel();
    }
  } st{wake::none, 0, asio::steady_timer(executor, asio::steady_timer::time_point::max())};
  asio::cancellation_signal cancel_source;
  asio::steady_timer timer(executor);
  auto& sock = conn_.stream_.socket();

  ++st.pending;
  start_wait(asio::bind_cancellation_slot(cancel_source.slot(), [&st](std::error_code ec) {
    st.finish(!ec ? wake::event : ec == asio::error::operation_aborted ? wake::none : wake::source_error);
  }));
  if (deadline) {
    ++st.pending;
    timer.expires_at(*deadline);
    timer.async_wait([&st](std::error_code ec) { st.finish(ec ? wake::none : wake::timeout); });
  }
  // The peer: readable with nothing to read (peeked, not consumed) is EOF. Bytes
  // that did arrive (a pipelined request) stay in the socket for later; watching
  // stops then, since readability cannot tell us more.
  ++st.pending;
  sock.async_wait(http::stream::socket_type::wait_read, [&st, &sock](std::error_code ec) {
    if (ec) return st.finish(wake::none);
    if (detail::peek_peer(sock) == detail::peer_peek::closed)
      st.finish(wake::peer_closed);
    else
      --st.pending;  // data waiting: stop watching, keep waiting for the others
  });
  ++st.pending;
  conn_.shutdown_signal().async_wait([&st, this](std::error_code) {
    st.finish(shutting_down() ? wake::shutdown : wake::none);
  });

  std::error_code ec;
  while (st.result == wake::none) {
    st.signal.expires_at(asio::steady_timer::time_point::max());
    co_await st.signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (st.pending == 0) break;  // defensive: every watcher ended without a result
  }
  // Stop the rest and wait until their handlers have run (they refer to this frame).
  cancel_source.emit(asio::cancellation_type::all);
  timer.cancel();
  sock.cancel(ec);
  conn_.shutdown_signal().cancel_one();
  while (st.pending > 0) {
    st.signal.expires_at(asio::steady_timer::time_point::max());
    co_await st.signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return st.result;
}

template <class Handler>
void exchange::async_wait_shutdown(Handler&& handler) {
  conn_.shutdown_signal().async_wait(std::forward<Handler>(handler));
}
inline void exchange::cancel_wait_shutdown() noexcept { conn_.shutdown_signal().cancel_one(); }

inline asio::awaitable<void> exchange::wait_shutdown() {
  if (shutting_down()) co_return;
  std::error_code ec;
  co_await conn_.shutdown_signal().async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// --- server -----------------------------------------------------------------

class server {
 public:
  explicit server(server_options opts = {}) : core_(std::make_unique<detail::server_core>()) {
    core_->options = std::move(opts);
    unsigned n = core_->options.threads ? core_->options.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) loops_.push_back(std::make_unique<detail::loop>());
    grace_timer_.emplace(loops_[0]->ctx);
    core_->on_closed = [this](const detail::ip_key& remote) {
      release(*core_, remote);
      if (core_->stats.connections_current.fetch_sub(1) == 1 && core_->draining)
        asio::post(loops_[0]->ctx, [this] { grace_timer_->cancel(); });  // the last one: done early
    };
    if (core_->options.tls) {
      core_->tls.emplace(asio::ssl::context::tls_server);
      auto& ctx = *core_->tls;
      ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
      ctx.use_certificate_chain_file(core_->options.tls->cert_file);  // throws with a reason
      ctx.use_private_key_file(core_->options.tls->key_file, asio::ssl::context::pem);
    }
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() {
    if (!threads_.empty()) {
      shutdown();
      wait();
    }
    core_->stopped = true;  // connections destroyed with the loops below must not post to them
  }

  // Registers a route: `GET /topics/{topic}/events`. Call before start().
  server& route(std::string method, std::string_view pattern, handler h, route_options o = {}) {
    core_->routes.add(std::move(method), pattern, detail::route_entry{std::move(h), o});
    return *this;
  }
  server& set_authenticator(authenticator a) {
    core_->auth = std::move(a);
    return *this;
  }
  // Runs when shutdown() begins (e.g. hub.shutdown(), so waiting streams end).
  server& on_shutdown(std::function<void()> f) {
    shutdown_hooks_.push_back(std::move(f));
    return *this;
  }

  std::error_code listen(const std::string& host, std::uint16_t port) {
    std::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return ec;
    asio::ip::tcp::endpoint ep(addr, port);
    acceptor_.emplace(loops_[0]->ctx);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) acceptor_.reset();
    return ec;
  }
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_->local_endpoint(); }
  bool is_tls() const noexcept { return core_->tls.has_value(); }

  // Starts the event-loop threads and accepting. Returns at once.
  void start() {
    asio::co_spawn(loops_[0]->ctx, accept_loop(), asio::detached);
    for (auto& lp : loops_) {
      guards_.emplace_back(asio::make_work_guard(lp->ctx));
      threads_.emplace_back([&ctx = lp->ctx] { ctx.run(); });
    }
  }
  // Blocks until the server has stopped.
  void wait() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

  // Graceful shutdown; thread-safe and idempotent. Returns at once; wait() blocks.
  void shutdown() {
    if (core_->draining.exchange(true)) return;
    for (auto& hook : shutdown_hooks_) hook();
    asio::post(loops_[0]->ctx, [this] {
      if (acceptor_) {
        std::error_code ignored;
        acceptor_->close(ignored);
      }
    });
    for (auto& lp : loops_)
      asio::post(lp->ctx, [lp = lp.get()] {
        for (auto* c = lp->first_connection; c;) std::exchange(c, c->next_in_loop())->begin_drain();
      });
    // The loops end when their work does. The grace timer ends early when the last
    // connection closes; if it fires, what is left is closed, then abandoned.
    asio::post(loops_[0]->ctx, [this] {
      guards_.clear();
      grace_timer_->expires_after(core_->options.shutdown_grace);
      grace_timer_->async_wait([this](std::error_code ec) {
        if (ec) return;  // cancelled: every connection closed in time
        for (auto& lp : loops_)
          asio::post(lp->ctx, [lp = lp.get()] {
            for (auto* c = lp->first_connection; c;) std::exchange(c, c->next_in_loop())->force_close();
          });
        grace_timer_->expires_after(1s);
        grace_timer_->async_wait([this](std::error_code) {
          for (auto& lp : loops_) lp->ctx.stop();
        });
      });
      if (core_->stats.connections_current.load() == 0) grace_timer_->cancel();
    });
  }

  const server_stats& stats() const noexcept { return core_->stats; }
  const server_options& options() const noexcept { return core_->options; }
  std::size_t loop_count() const noexcept { return loops_.size(); }

 private:
  // Accepts what is pending, up to accept_batch connections per turn of the loop (a
  // reconnect storm is not served one connection per turn), then waits for more.
  static constexpr int accept_batch = 256;

  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    {
      std::error_code ignored;
      acceptor_->non_blocking(true, ignored);  // the accepts after the first do not block
    }
    while (acceptor_ && acceptor_->is_open()) {
      auto& lp = *loops_[next++ % loops_.size()];
      http::stream::socket_type sock(lp.ctx.get_executor());
      std::error_code ec;
      co_await acceptor_->async_accept(sock, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (!acceptor_->is_open() || ec == asio::error::operation_aborted) break;
        // Out of descriptors or similar: back off briefly instead of spinning.
        asio::steady_timer t(loops_[0]->ctx, 10ms);
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      start_connection(std::move(sock), lp);
      for (int i = 1; i < accept_batch && acceptor_->is_open(); ++i) {
        auto& more_lp = *loops_[next % loops_.size()];
        http::stream::socket_type more(more_lp.ctx.get_executor());
        acceptor_->accept(more, ec);
        if (ec) break;  // nothing pending (would_block), or an error the next wait reports
        ++next;
        start_connection(std::move(more), more_lp);
      }
    }
  }

  void start_connection(http::stream::socket_type sock, detail::loop& lp) {
    std::error_code ec;
    sock.set_option(asio::ip::tcp::no_delay(true), ec);
    auto remote = sock.remote_endpoint(ec).address();
    int reject = admit(remote);
    if (reject) {
      core_->stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      asio::co_spawn(lp.ctx, refuse(std::move(sock), reject, core_->tls.has_value()), asio::detached);
      return;
    }
    core_->stats.connections_total.fetch_add(1, std::memory_order_relaxed);
    core_->stats.connections_current.fetch_add(1, std::memory_order_relaxed);
    http::stream s = core_->tls ? http::stream(std::move(sock), *core_->tls) : http::stream(std::move(sock));
    auto conn = std::make_shared<detail::connection>(*core_, lp, std::move(s), remote);
    if (&lp == loops_[0].get()) conn->start();  // the accepting loop
    else asio::post(lp.ctx, [conn = std::move(conn)] { conn->start(); });
  }

  // 0: admitted (and counted); else the status to refuse with.
  int admit(const asio::ip::address& remote) {
    auto& o = core_->options;
    if (static_cast<std::size_t>(core_->stats.connections_current.load()) >= o.max_connections) return 503;
    std::lock_guard lock(core_->ip_mutex);
    const auto key = detail::ip_key::of(remote);
    auto& n = core_->per_ip[key];
    if (n >= o.max_connections_per_ip) {
      if (n == 0) core_->per_ip.erase(key);
      return 429;
    }
    ++n;
    return 0;
  }
  static void release(detail::server_core& core, const detail::ip_key& remote) {
    std::lock_guard lock(core.ip_mutex);
    auto it = core.per_ip.find(remote);
    if (it != core.per_ip.end() && --it->second == 0) core.per_ip.erase(it);
  }

  static asio::awaitable<void> refuse(http::stream::socket_type sock, int status, bool tls) {
    // Over a cap: plain text on a TLS port would be garbage, so on TLS we just close;
    // on plain HTTP the client gets a JSON reason.
    std::error_code ec;
    if (tls) {
      sock.close(ec);
      co_return;
    }
    std::string out = json_error_response(status, status == 503 ? "unavailable" : "rate_limited",
                                          status == 503 ? "too many connections" : "too many connections from this address",
                                          true);
    co_await asio::async_write(sock, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
    sock.shutdown(http::stream::socket_type::shutdown_send, ec);
    asio::steady_timer t(sock.get_executor(), 200ms);
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    sock.close(ec);
  }

  std::unique_ptr<detail::server_core> core_;
  std::vector<std::unique_ptr<detail::loop>> loops_;
  std::optional<asio::ip::tcp::acceptor> acceptor_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::vector<std::function<void()>> shutdown_hooks_;
  std::optional<asio::steady_timer> grace_timer_;  // on loop 0
};

}  // namespace lastmile::http
