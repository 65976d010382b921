#pragma once
// A connection's byte stream: plain TCP or TLS over TCP. Sessions (HTTP, SSE,
// WebSocket) are written once against this type instead of being templated twice.
#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/awaitable.hpp>
#include <asio/write.hpp>

#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace lastmile::http {

namespace detail {

// The allocator of operations that stay pending while a connection waits (an idle
// keep-alive, a parked stream's peer watch, a WebSocket's next read). Without it
// asio takes their memory from its per-thread recycling cache, whose blocks are
// sized by the largest recent operation (an accept: ~256 bytes) and are then held
// for as long as the wait lasts; this one allocates exactly the operation's size.
template <class T>
struct exact_allocator : std::allocator<T> {
  using value_type = T;
  exact_allocator() noexcept = default;
  template <class U>
  exact_allocator(const exact_allocator<U>&) noexcept {}
  template <class U>
  struct rebind {
    using other = exact_allocator<U>;
  };
};

// `handler` with exact_allocator as its associated allocator. A subclass naming the
// allocator type, rather than asio::bind_allocator, which stores the (empty)
// allocator beside the handler: 8 bytes more in every pending operation.
template <class Handler>
struct exact_handler : Handler {
  using allocator_type = exact_allocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
};
template <class Handler>
auto exact_size(Handler&& handler) {
  return exact_handler<std::decay_t<Handler>>{std::forward<Handler>(handler)};
}

}  // namespace detail

class stream {
 public:
  using tcp = asio::ip::tcp;
  // Sockets bound to an io_context's executor, not the type-erased any_io_executor:
  // the socket and every operation pending on it carry 8 bytes of executor instead
  // of 56, which an idle connection with a pending readiness wait pays twice.
  using socket_type = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
  using tls_stream = asio::ssl::stream<socket_type>;

  explicit stream(socket_type s) : s_(std::in_place_index<0>, std::move(s)) {
    std::error_code ignored;
    std::get<0>(s_).non_blocking(true, ignored);  // read_append reads synchronously after a wait
  }
  // The TLS stream (~440 bytes with its engine's timers and buffers) lives on the
  // heap, so a plain connection does not carry its size.
  stream(socket_type s, asio::ssl::context& ctx)
      : s_(std::in_place_index<1>, std::make_unique<tls_stream>(std::move(s), ctx)) {}

  bool is_tls() const noexcept { return s_.index() == 1; }
  socket_type& socket() noexcept {
    return is_tls() ? std::get<1>(s_)->next_layer() : std::get<0>(s_);
  }
  asio::any_io_executor get_executor() { return socket().get_executor(); }

  // TLS: the server side of the handshake (no-op for plain TCP).
  asio::awaitable<std::error_code> handshake() {
    std::error_code ec;
    if (is_tls())
      co_await std::get<1>(s_)->async_handshake(asio::ssl::stream_base::server,
                                                asio::redirect_error(asio::use_awaitable, ec));
    co_return ec;
  }

  // Reads what is available and appends it to `dst`. Plain TCP waits for
  // readability and then reads into `scratch` (one buffer per event loop, shared by
  // all its connections), so an idle connection holds no receive buffer of its own.
  // TLS decrypts straight into `dst`.
  asio::awaitable<std::size_t> read_append(std::string& dst, std::span<char> scratch, std::error_code& ec) {
    ec = {};
    if (is_tls()) {
      constexpr std::size_t tls_chunk = 16 * 1024;  // one TLS record
      std::size_t old = dst.size();
      dst.resize(old + tls_chunk);
      std::size_t n = co_await std::get<1>(s_)->async_read_some(
          asio::buffer(dst.data() + old, tls_chunk), asio::redirect_error(asio::use_awaitable, ec));
      dst.resize(old + n);
      co_return n;
    }
    auto& sock = std::get<0>(s_);
    for (;;) {
      co_await sock.async_wait(socket_type::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return 0;
      std::size_t n = sock.read_some(asio::buffer(scratch.data(), scratch.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) continue;  // spurious wake-up
      if (ec) co_return 0;
      dst.append(scratch.data(), n);
      co_return n;
    }
  }

  // The same as a plain asynchronous operation: `handler(std::error_code, std::size_t)`
  // runs once, on the socket's executor, after bytes were appended to `dst` (which,
  // like `scratch`, must outlive the operation) or on error. No coroutine frame: what
  // a waiting connection holds is one small reactor operation.
  template <class Handler>
  void async_read_append(std::string& dst, std::span<char> scratch, Handler&& handler) {
    if (is_tls()) {
      constexpr std::size_t tls_chunk = 16 * 1024;
      const std::size_t old = dst.size();
      dst.resize(old + tls_chunk);
      std::get<1>(s_)->async_read_some(
          asio::buffer(dst.data() + old, tls_chunk),
          [&dst, old, h = std::forward<Handler>(handler)](std::error_code ec, std::size_t n) mutable {
            dst.resize(old + n);
            std::move(h)(ec, n);
          });
      return;
    }
    async_wait_readable([this, &dst, scratch, h = std::forward<Handler>(handler)](std::error_code ec) mutable {
      if (ec) return std::move(h)(ec, std::size_t{0});
      std::size_t n = read_available(scratch, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again)
        return async_read_append(dst, scratch, std::move(h));  // spurious wake-up
      if (!ec) dst.append(scratch.data(), n);
      std::move(h)(ec, ec ? std::size_t{0} : n);
    });
  }

  // `handler(std::error_code)` runs once, on the socket's executor, when the socket
  // is readable (bytes, EOF or an error; with TLS, the socket under it); on plain TCP
  // read_available() then takes what is there. The lightest way to wait for a peer:
  // the pending operation holds the handler and nothing else (no buffer, allocated
  // at its exact size), so a caller can parse straight out of a shared scratch
  // buffer, or just peek.
  template <class Handler>
  void async_wait_readable(Handler&& handler) {
    socket().async_wait(socket_type::wait_read, detail::exact_size(std::forward<Handler>(handler)));
  }
  // Plain TCP only: a non-blocking read into `into`. n > 0 bytes; 0 with ec set:
  // asio::error::eof (the peer closed), would_block / try_again (nothing there yet:
  // a spurious wake-up, wait again) or the socket's error.
  std::size_t read_available(std::span<char> into, std::error_code& ec) {
    return std::get<0>(s_).read_some(asio::buffer(into.data(), into.size()), ec);
  }

  template <class MutableBuffers>
  asio::awaitable<std::size_t> read_some(MutableBuffers buffers, std::error_code& ec) {
    ec = {};
    if (is_tls())
      co_return co_await std::get<1>(s_)->async_read_some(buffers, asio::redirect_error(asio::use_awaitable, ec));
    co_return co_await std::get<0>(s_).async_read_some(buffers, asio::redirect_error(asio::use_awaitable, ec));
  }

  // Writes all of `buffers` (a gather write: one syscall when the socket takes it).
  // Plain TCP writes at once (the socket is non-blocking): when the socket takes
  // everything, as it usually does, the caller goes on without a trip through the
  // event loop; what it does not take is written asynchronously.
  template <class ConstBuffers>
  asio::awaitable<std::size_t> write(ConstBuffers buffers, std::error_code& ec) {
    ec = {};
    if (is_tls())
      co_return co_await asio::async_write(*std::get<1>(s_), buffers, asio::redirect_error(asio::use_awaitable, ec));
    auto& sock = std::get<0>(s_);
    const std::size_t total = asio::buffer_size(buffers);
    std::size_t done = try_write(sock, buffers, ec);
    if (ec) co_return 0;
    if (done == total) co_return total;
    // The rest: more than one syscall's buffers, or the socket was full.
    std::vector<asio::const_buffer> rest;
    std::size_t skip = done;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      asio::const_buffer b(*it);
      if (skip >= b.size()) {
        skip -= b.size();
        continue;
      }
      rest.push_back(b + skip);
      skip = 0;
    }
    std::size_t first = 0;  // rest[first..] is still to be written
    for (;;) {
      std::size_t n = try_write(sock, std::span<const asio::const_buffer>(rest).subspan(first), ec);
      if (ec) co_return 0;
      if (n == 0) break;  // full: wait for room
      done += n;
      if (done == total) co_return total;
      while (n > 0 && n >= rest[first].size()) n -= rest[first++].size();
      rest[first] += n;
    }
    rest.erase(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(first));
    done += co_await asio::async_write(sock, rest, asio::redirect_error(asio::use_awaitable, ec));
    co_return ec ? 0 : done;
  }

  // Cancels pending reads and writes (timeouts, shutdown).
  void cancel() noexcept {
    std::error_code ignored;
    socket().cancel(ignored);
  }
  void shutdown_send() noexcept {
    std::error_code ignored;
    socket().shutdown(socket_type::shutdown_send, ignored);
  }
  void close() noexcept {
    std::error_code ignored;
    socket().shutdown(socket_type::shutdown_both, ignored);
    socket().close(ignored);
  }
  bool is_open() noexcept { return socket().is_open(); }

 private:
  // One non-blocking gather write; 0 (and no error) when the socket is full.
  template <class ConstBuffers>
  static std::size_t try_write(socket_type& sock, const ConstBuffers& buffers, std::error_code& ec) {
    std::size_t n = sock.write_some(buffers, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      return 0;
    }
    return ec ? 0 : n;
  }

  std::variant<socket_type, std::unique_ptr<tls_stream>> s_;
};

}  // namespace lastmile::http
