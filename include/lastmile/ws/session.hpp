#pragma once
// A WebSocket connection over an http::exchange, reading from any event_source
// (hub<Log>): the handshake, then the JSON protocol of PROTOCOL "WebSocket".
//
// Plain asynchronous waits, and a writer coroutine only while there is something to
// write, run on the connection's executor (one thread, no locks). The handler
// returns after the handshake (the session adopts the connection,
// http::exchange::adopt), so a waiting connection holds no coroutine frame and no
// buffer: each wait is one small operation whose handler owns the session.
//  - the reader (a socket wait with a small handler, re-armed after each read) reads
//    bytes into the loop's scratch, feeds the frame parser (which unmasks in place)
//    and handles client messages: control replies and pongs are queued as ready
//    frames, in arrival order, in one bounded buffer (the reader pauses while it is
//    full and the writer resumes it);
//  - the writer (a coroutine started when there is something to do, ending when
//    there is not) owns the socket's write side, one write in flight: it takes the
//    queued frames, then, per subscription, everything after its cursor (cursor-pull,
//    nothing is queued per event) and sends it all as one gather write of shared,
//    serialize-once event frames. With nothing to send it arms one wait on the source
//    (over all subscriptions) and returns; that wait or the reader starts it again;
//  - the connection's deadline (an entry in the loop's timer wheel, no timer of the
//    session's own) sends pings every `heartbeat`, ends a peer silent for two
//    intervals and closes with 1008 when the token expires;
//  - the connection's shutdown notice closes with 1001 when the server shuts down.
// When the writer ends the session it cancels the waits; the last handler to run
// releases the session, whose destructor closes the connection.
//
// Not ex.wait_any: its peer-close watch cancels every operation on the socket,
// which would cancel the reader. The reader sees the peer's close itself.
#include <lastmile/auth/authorization.hpp>
#include <lastmile/core/concepts.hpp>
#include <lastmile/http/server.hpp>
#include <lastmile/hub.hpp>
#include <lastmile/ws/close.hpp>
#include <lastmile/ws/control.hpp>
#include <lastmile/ws/deflate.hpp>
#include <lastmile/ws/frame.hpp>
#include <lastmile/ws/handshake.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lastmile::ws {

using namespace std::chrono_literals;

// Counters sessions update (owned by the application; all optional).
struct stats {
  std::atomic<std::int64_t> open{0};
  std::atomic<std::uint64_t> delivered{0};      // event messages sent
  std::atomic<std::uint64_t> resets{0};
  std::atomic<std::uint64_t> bytes{0};          // all bytes written after the handshake
  std::atomic<std::uint64_t> messages{0};       // client messages received (text)
  std::atomic<std::uint64_t> errors{0};         // error replies sent
  std::atomic<std::uint64_t> published{0};      // events published by clients
};

struct options {
  handshake_options handshake;                  // origins, subprotocols, permessage-deflate policy
  std::chrono::milliseconds heartbeat = 15s;    // ping interval; silent for two of them: closed
  std::chrono::milliseconds close_timeout = 2s; // wait for the peer's close after ours
  std::uint64_t max_message_size = 1024 * 1024; // client messages; beyond: close 1009
  std::size_t max_subscriptions = 64;
  std::size_t batch_max = 256;                  // events per gather write (over all subscriptions)
  std::size_t max_pending_bytes = 256 * 1024;   // queued replies/pongs; beyond, reading pauses
  unsigned error_limit = 20;                    // this many error replies within error_window:
  std::chrono::milliseconds error_window = 10s; // close 1008
  bool require_claims = false;                  // subscribe/publish need claims that grant them
  bool allow_publish = true;                    // the `publish` message (needs a source with publish())
  stats* counters = nullptr;
};

// --- serialize-once event frames ---------------------------------------------

namespace session_detail {

inline constexpr char ping_frame[] = {'\x89', '\x00'};  // a ping without payload

// One deflater per thread, reset after every message (no context takeover), instead
// of ~256 KiB of zlib state allocated per event.
inline deflater& thread_deflater() {
  thread_local deflater d(15, true);
  return d;
}

// The loop's receive buffer is private to the server; sessions share one per thread
// (read_append copies out of it before anything else can run on the thread).
inline std::span<char> thread_scratch() {
  thread_local std::vector<char> buffer(64 * 1024);
  return buffer;
}

inline bool after(cursor a, cursor b) noexcept { return a.epoch == b.epoch ? a.offset > b.offset : false; }
inline bool less(cursor a, cursor b) noexcept {
  return a.epoch != b.epoch ? a.epoch < b.epoch : a.offset < b.offset;
}

}  // namespace session_detail

// The complete text frame of the event message, computed once per event and shared
// by every connection (the message names the event's own topic, so it is the same
// bytes for every subscriber).
inline const std::string& event_frame(const event_record& e) {
  return e.wire(wire_slot::ws_message, [](const event_record& r) {
    std::string message = event_message(r);
    std::string frame;
    append_frame(frame, opcode::text, message);
    return frame;
  });
}

// The same message compressed with permessage-deflate (window 15, no context
// takeover), RSV1 set; the plain frame when compressing does not make it smaller.
inline const std::string& event_frame_deflated(const event_record& e) {
  return e.wire(wire_slot::ws_deflate, [](const event_record& r) {
    const std::string& plain = event_frame(r);
    const auto length7 = static_cast<unsigned char>(plain[1]) & 0x7F;
    const std::size_t header = length7 < 126 ? 2 : length7 == 126 ? 4 : 10;
    std::string_view message = std::string_view(plain).substr(header);
    std::string compressed = session_detail::thread_deflater().compress(message);
    if (compressed.size() >= message.size()) return plain;
    std::string frame;
    append_frame(frame, opcode::text, compressed, true, true);
    return frame;
  });
}

// --- the session ---------------------------------------------------------------

template <event_source Source>
class session : public std::enable_shared_from_this<session<Source>>, private http::adopter {
 public:
  using clock = asio::steady_timer::clock_type;

  session(http::exchange& ex, Source& source, const options& o, const handshake_result& hs, position resume)
      : source_(source), o_(o),
        parser_(parser_options{.max_message_size = o.max_message_size}), resume_at_(resume.at),
        resume_kind_(static_cast<std::uint8_t>(resume.k)) {
    if (hs.deflate) {
      parser_.enable_deflate(hs.deflate->params);
      // Shared compressed frames need our window at 15 and a reset per message.
      deflate_events_ = hs.deflate->params.server_no_context_takeover && hs.deflate->params.server_max_window_bits == 15;
    }
    if (ex.claims()) {  // the exchange ends when the handler returns: keep a copy
      claims_ = std::make_unique<const auth::claims>(*ex.claims());
      if (claims_->expires) {
        auto left = *claims_->expires - std::chrono::system_clock::now();
        expires_at_ = clock::now() + std::chrono::duration_cast<clock::duration>(left);
        if (expires_at_ == clock::time_point::max()) --expires_at_;  // max means none
      }
    }
    last_received_ = clock::now();
    error_window_start_ = clock::now();
  }

  // Starts the session on an adopted connection (the handler returns after this).
  // Its handlers (the reader's, the source wait's, the writer) own the session; the
  // connection tells it about its deadline (heartbeat, token expiry) and shutdown.
  void start(http::exchange& ex, std::string initial) {
    conn_ = ex.adopt(this);
    if (!initial.empty()) extra().in = std::move(initial);
    if (o_.counters) o_.counters->open.fetch_add(1, std::memory_order_relaxed);
    arm_tick();
    if (conn_.shutting_down()) close_with(close_code::going_away, "server shutting down");
    read_step();  // the bytes that came with the handshake, then the first read
    wake_writer();
  }

  // The last handler has run: the connection closes.
  ~session() {
    if (conn_ && o_.counters) o_.counters->open.fetch_sub(1, std::memory_order_relaxed);  // started
  }

  // Frame parser callbacks (public for the parser's concept; not an API).
  struct parser_events {
    session* s;
    void on_data(message_kind kind, std::string_view chunk, bool fin) { s->on_data(kind, chunk, fin); }
    void on_ping(std::string_view payload) { s->on_ping(payload); }
    void on_pong(std::string_view) {}
    void on_close(std::uint16_t code, std::string_view) { s->on_close(code); }
  };

 private:
  struct subscription {
    topic_filter filter;  // one pattern: the topic as the client wrote it, parsed
    cursor at;            // everything after it is still to be sent
    // The topic as the client wrote it (`orders` or `orders.*`).
    std::string topic() const { return filter.patterns().front().to_string(); }
    bool is(std::string_view topic) const {
      const auto& p = filter.patterns().front();
      if (!p.prefix) return topic == p.text;
      return topic.size() == p.text.size() + 1 && topic.starts_with(p.text) && topic.back() == '*';
    }
  };

  // State that an idle session does not need, allocated on first use and freed
  // when the writer goes idle with all of it empty: the queue of ready frames, a
  // message arriving in pieces, our close frame, unparsed bytes (the handshake's
  // leftovers; TLS records, so a TLS session keeps it), the wait filter of several
  // subscriptions, end()'s timer.
  struct extra_state {
    std::string in;           // received bytes not yet parsed
    std::string message;      // a text message arriving in pieces
    std::string pending;      // ready frames (replies, pongs) for the writer, in order
    std::string close_frame;
    std::shared_ptr<const topic_filter> wait_filter;  // all subscriptions' patterns (arm_source_wait)
    asio::steady_timer* close_timer = nullptr;         // end()'s wait for the peer's close
    bool unused() const noexcept {
      return in.empty() && message.empty() && pending.empty() && close_frame.empty() && !wait_filter &&
             !close_timer;
    }
  };
  extra_state& extra() {
    if (!extra_) extra_ = std::make_unique<extra_state>();
    return *extra_;
  }
  std::size_t pending_size() const noexcept { return extra_ ? extra_->pending.size() : 0; }
  void drop_wait_filter() noexcept {
    if (extra_) extra_->wait_filter.reset();
  }
  asio::io_context::executor_type executor() noexcept { return conn_.stream().socket().get_executor(); }

  // --- reader ----------------------------------------------------------------

  // Handles bytes not yet parsed (the handshake's leftovers; TLS records), then arms
  // the next read (unless paused by backpressure or done). Runs from start(), from
  // the read handlers and when the writer resumes it.
  void read_step() {
    if (stop_) return read_done();
    if (extra_ && !extra_->in.empty()) {
      consume(extra_->in.data(), extra_->in.size());
      extra_->in.clear();
      // TLS decrypts into `in`, so it keeps one record's room unless it grew large.
      if (!conn_.stream().is_tls() || extra_->in.capacity() > 256 * 1024) std::string().swap(extra_->in);
      if (parser_.closed()) return read_done();  // the peer's close: nothing follows it
      if (stop_) return read_done();
    }
    // Backpressure: a client that sends faster than it reads our replies waits
    // until the writer has sent what is queued (it calls read_step again).
    if (pending_size() > o_.max_pending_bytes) {
      read_paused_ = true;
      return;
    }
    read_pending_ = true;
    if (conn_.stream().is_tls()) {
      conn_.stream().async_read_append(extra().in, session_detail::thread_scratch(),
                                       [self = this->shared_from_this()](std::error_code ec, std::size_t) {
                                         self->read_pending_ = false;
                                         if (ec) return self->read_failed();
                                         self->read_step();
                                       });
      return;
    }
    // Plain TCP: a readiness wait (its handler is the session pointer), then the
    // bytes are parsed where they land, in the thread's scratch: an idle session
    // holds no receive buffer.
    conn_.stream().async_wait_readable([self = this->shared_from_this()](std::error_code ec) { self->on_readable(ec); });
  }

  void on_readable(std::error_code ec) {
    read_pending_ = false;
    if (ec) return read_failed();
    if (stop_) return read_done();
    std::span<char> scratch = session_detail::thread_scratch();
    const std::size_t n = conn_.stream().read_available(scratch, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return read_step();  // spurious
    if (ec) return read_failed();  // EOF or reset
    // The parser runs to the end of these bytes before anything else can use the
    // scratch (what it hands on is copied or queued; the writer is posted).
    consume(scratch.data(), n);
    if (parser_.closed()) return read_done();
    read_step();
  }

  // Feeds received bytes to the frame parser (after a close or an error they are
  // discarded).
  void consume(char* data, std::size_t size) {
    last_received_ = clock::now();
    if (parser_.closed() || parser_.failed()) return;
    parser_events events{this};
    auto r = parser_.feed(data, size, events);
    if (!r.ok()) close_with(close_code_for(r.error), describe(r.error));
  }

  // EOF or reset without a close handshake (or the read was cancelled).
  void read_failed() {
    if (!close_sent_ && !stop_) peer_gone_ = true;
    read_done();
  }

  void read_done() {
    reader_done_ = true;
    wake_writer();
  }

  // After a write: a reader paused by backpressure goes on.
  void resume_reader() {
    if (!read_paused_ || reader_done_) return;
    read_paused_ = false;
    read_step();
  }

  void on_data(message_kind kind, std::string_view chunk, bool fin) {
    if (close_queued_) return;  // after a close, data is ignored
    if (kind == message_kind::binary) {
      close_with(close_code::unsupported_data, "binary messages are not supported");
      return;
    }
    if (fin && (!extra_ || extra_->message.empty())) {
      handle_message(chunk);  // the common case: a whole message in one read, no copy
      return;
    }
    extra().message.append(chunk);
    if (!fin) return;
    std::string whole;
    whole.swap(extra_->message);  // handling may queue into extra_
    handle_message(whole);
  }

  void on_ping(std::string_view payload) {
    if (close_queued_) return;
    append_frame(extra().pending, opcode::pong, payload);  // in order with everything else queued
    wake_writer();
  }

  void on_close(std::uint16_t code) {
    if (close_queued_) return;  // the answer to our close
    close_queued_ = true;
    server_initiated_ = false;
    // Echo the code; an empty close (1005 locally) is answered with an empty one.
    extra().close_frame = code == close_code::no_status ? make_close_frame() : make_close_frame(code);
    wake_writer();
  }

  void handle_message(std::string_view text) {
    if (o_.counters) o_.counters->messages.fetch_add(1, std::memory_order_relaxed);
    auto parsed = parse_control(text);
    if (auto* err = std::get_if<control_error>(&parsed)) {
      send_error(err->code, err->message);
      return;
    }
    auto& m = std::get<control_message>(parsed);
    switch (m.type) {
      case control_type::ping: reply(pong_message()); break;
      case control_type::subscribe: subscribe(m); break;
      case control_type::unsubscribe: unsubscribe(m); break;
      case control_type::publish: publish(m); break;
    }
  }

  bool may_read(const topic_filter& f) const {
    if (claims_) return auth::may_read(*claims_, f);
    return !o_.require_claims;
  }

  void subscribe(const control_message& m) {
    auto filter = topic_filter::parse({std::string_view(m.topic)});
    if (!filter) return send_error(error_codes::bad_topic, "invalid topic");
    if (!may_read(*filter)) return send_error(error_codes::forbidden, "this token may not read " + m.topic);
    cursor start = lastmile::resolve(source_, m.from.value_or(position{static_cast<position::kind>(resume_kind_), resume_at_}));
    auto same = std::find_if(subs_.begin(), subs_.end(), [&](const subscription& s) { return s.is(m.topic); });
    if (same != subs_.end()) {
      same->at = start;  // subscribing again restarts the subscription where asked
    } else {
      if (subs_.size() >= o_.max_subscriptions)
        return send_error(error_codes::too_many_subscriptions,
                          "at most " + std::to_string(o_.max_subscriptions) + " subscriptions per connection");
      subs_.push_back({std::move(*filter), start});
    }
    filter_dirty_ = true;
    drop_wait_filter();
    // Queued now, so it leaves before any event of this subscription (the writer
    // sends queued replies first and reads the subscription only after this).
    reply(subscribed_message(m.topic));
  }

  void unsubscribe(const control_message& m) {
    auto it = std::find_if(subs_.begin(), subs_.end(), [&](const subscription& s) { return s.is(m.topic); });
    if (it != subs_.end()) {
      subs_.erase(it);
      filter_dirty_ = true;
      drop_wait_filter();
    }
    reply(unsubscribed_message(m.topic));  // idempotent
  }

  void publish(const control_message& m) {
    if constexpr (requires(Source& s, std::string_view v) { { s.publish(v, v, v) } -> std::same_as<result<cursor>>; }) {
      bool allowed = o_.allow_publish;
      if (allowed && claims_) allowed = auth::may_publish(*claims_, m.topic);
      else if (allowed && o_.require_claims) allowed = false;
      if (!allowed) return send_error(error_codes::forbidden, "this connection may not publish");
      auto id = source_.publish(m.topic, m.event, m.data);
      if (!id) {
        const bool topic = id.error() == make_error_code(errc::bad_topic);
        return send_error(topic ? error_codes::bad_topic : error_codes::bad_request, id.error().message());
      }
      if (o_.counters) o_.counters->published.fetch_add(1, std::memory_order_relaxed);
      reply(published_message(*id));
    } else {
      send_error(error_codes::forbidden, "publishing is not available here");
    }
  }

  void reply(std::string_view json) {
    append_frame(extra().pending, opcode::text, json);
    wake_writer();
  }

  // An error reply; a flood of them (a broken or hostile client) closes with 1008.
  void send_error(std::string_view code, std::string_view message) {
    auto now = clock::now();
    if (now - error_window_start_ > o_.error_window) {
      error_window_start_ = now;
      errors_in_window_ = 0;
    }
    if (++errors_in_window_ >= o_.error_limit) {
      close_with(close_code::policy_violation, "too many bad messages");
      return;
    }
    if (o_.counters) o_.counters->errors.fetch_add(1, std::memory_order_relaxed);
    reply(error_message(code, message));
  }

  // Starts our side of the close handshake (once).
  void close_with(std::uint16_t code, std::string_view reason) {
    if (close_queued_) return;
    close_queued_ = true;
    server_initiated_ = true;
    extra().close_frame = make_close_frame(code, reason);
    wake_writer();
  }

  // --- writer ------------------------------------------------------------------

  // Starts the writer unless it runs (it looks at everything again before it
  // returns) or the session is ending (then it only interrupts the close wait).
  void wake_writer() {
    if (ending_) {
      if (extra_ && extra_->close_timer) extra_->close_timer->cancel();
      return;
    }
    if (writer_running_) return;
    writer_running_ = true;
    // On the next turn, not inline: what the reader has in hand (several messages of
    // one segment) is handled before the writer looks.
    asio::post(executor(), [self = this->shared_from_this()] {
      asio::co_spawn(self->executor(), self->write_loop(self), asio::detached);
    });
  }

  // Ends a pending source wait when the writer leaves, even by an exception.
  struct wait_guard {
    session* s;
    ~wait_guard() {
      if (s) s->cancel_source_wait();
    }
  };

  asio::awaitable<void> write_loop(std::shared_ptr<session> self) {
    try {
      if (co_await write_some()) co_return;  // idle: the source wait or the reader restarts it
    } catch (const std::exception&) {
      // Out of memory in a frame or similar: the connection closes.
    }
    co_await end();
    (void)self;
  }

  // Writes until there is nothing to write (true: the session goes on) or the
  // session is over (false).
  asio::awaitable<bool> write_some() {
    wait_guard guard{this};
    std::string control;      // queued replies and pongs taken for this write
    std::string resets;       // reset messages of this write
    event_batch events;
    std::vector<asio::const_buffer> parts;
    std::error_code ec;
    for (;;) {
      if (peer_gone_ || stop_) break;
      parts.clear();
      control.clear();
      resets.clear();
      events.clear();
      if (extra_) control.swap(extra_->pending);
      if (!control.empty()) parts.push_back(asio::buffer(control));
      if (ping_due_ && !close_queued_) parts.push_back(asio::buffer(session_detail::ping_frame, sizeof session_detail::ping_frame));
      ping_due_ = false;
      if (!close_queued_) collect_events(resets, events);
      if (!resets.empty()) parts.push_back(asio::buffer(resets));
      for (const auto& e : events)
        parts.push_back(asio::buffer(deflate_events_ ? event_frame_deflated(*e) : event_frame(*e)));
      const bool with_close = close_queued_;
      if (with_close) parts.push_back(asio::buffer(extra().close_frame));
      if (parts.empty()) {
        if (reader_done_) break;  // the peer is gone and nothing is left to say
        arm_source_wait();
        // An idle session keeps none of its occasional state (the queue was swapped
        // with `control` above and may hold its capacity; a TLS read may be pending
        // into `in`).
        if (extra_ && !conn_.stream().is_tls()) {
          std::string().swap(extra_->pending);
          if (extra_->unused()) extra_.reset();
        }
        guard.s = nullptr;  // the source wait stays
        writer_running_ = false;
        co_return true;
      }
      std::size_t bytes = co_await conn_.stream().write(parts, ec);
      if (ec) break;
      resume_reader();  // the queue is empty again: a paused reader may go on
      if (o_.counters) {
        o_.counters->bytes.fetch_add(bytes, std::memory_order_relaxed);
        o_.counters->delivered.fetch_add(events.size(), std::memory_order_relaxed);
      }
      if (with_close) {
        close_sent_ = true;
        break;
      }
    }
    co_return false;
  }

  // The session is over: after our close, the peer gets a moment to answer; then
  // every wait is cancelled (their handlers release the session).
  asio::awaitable<void> end() {
    ending_ = true;
    cancel_source_wait();
    if (close_sent_ && server_initiated_ && !reader_done_ && !stop_) {
      // We closed first: half-close (nothing follows our close frame), then give the
      // peer a moment to answer before the connection is closed.
      conn_.stream().shutdown_send();
      resume_reader();  // its close may be behind replies we no longer send
      const auto deadline = clock::now() + o_.close_timeout;
      asio::steady_timer t(executor());
      extra().close_timer = &t;
      std::error_code ec;
      while (!reader_done_ && clock::now() < deadline) {
        t.expires_at(deadline);
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      extra_->close_timer = nullptr;
    }
    stop_ = true;
    conn_.set_deadline(clock::time_point::max());
    if (read_pending_) conn_.stream().cancel();
    resume_reader();  // a paused reader ends (read_step sees stop_)
  }

  // Reads what each subscription has after its cursor into `out` (merged in log
  // order, each event once) and reset messages into `resets`; advances cursors.
  //
  // Subscriptions may start at different cursors. So that a client can resume all of
  // them with the id of the last event it saw, the events of one write never run
  // ahead of an event still owed to another subscription: a subscription that hit
  // its share of the batch sets a horizon, and events past it wait for a later write.
  // The reads are not one atomic snapshot (publishers run meanwhile), so the head
  // seen before them is a horizon too: a later read cannot then send events past
  // what an earlier read saw.
  void collect_events(std::string& resets, event_batch& out) {
    if (subs_.empty()) return;
    const std::size_t share = std::max<std::size_t>(16, o_.batch_max / subs_.size());
    thread_local std::vector<read_range> reads;  // scratch: an idle session keeps none
    reads.clear();
    std::optional<cursor> horizon;
    if (subs_.size() > 1) horizon = source_.head();
    for (auto& s : subs_) {
      const std::size_t begin = out.size();
      read_status st = source_.read_after(s.at, s.filter, share, out);
      const std::size_t n = out.size() - begin;
      if (n == share && (!horizon || session_detail::less(out.back()->id(), *horizon))) horizon = out.back()->id();
      reads.push_back({begin, n, st});
    }
    std::size_t keep = 0;
    for (std::size_t i = 0; i < subs_.size(); ++i) {
      auto& s = subs_[i];
      const auto& r = reads[i];
      for (std::size_t j = r.begin; j < r.begin + r.count; ++j)
        if (!horizon || !session_detail::after(out[j]->id(), *horizon)) out[keep++] = std::move(out[j]);
      if (r.status.reset) {
        append_frame(resets, opcode::text, reset_message(s.topic(), r.status.reset->earliest));
        if (o_.counters) o_.counters->resets.fetch_add(1, std::memory_order_relaxed);
      }
      if (!horizon || !session_detail::after(r.status.next, *horizon))
        s.at = r.status.next;
      else if (r.status.reset || !session_detail::after(s.at, *horizon))
        s.at = *horizon;  // continue from the horizon next time
      // else: this subscription is already past the horizon; it stays where it is
    }
    out.resize(keep);
    if (subs_.size() == 1) return;  // one read: in log order, each event once
    std::sort(out.begin(), out.end(), [](const event_ptr& a, const event_ptr& b) {
      return session_detail::less(a->id(), b->id());
    });
    // An event two subscriptions match (`orders.*` and `orders.eu`) is sent once.
    out.erase(std::unique(out.begin(), out.end(), [](const event_ptr& a, const event_ptr& b) {
                return a->id() == b->id();
              }),
              out.end());
  }

  // One wait on the source for all subscriptions: their patterns, after the lowest
  // cursor. A subscription change replaces it (cancel, then re-arm when it has ended).
  void arm_source_wait() {
    if (source_wait_pending_) {
      if (!filter_dirty_) return;
      cancel_source_wait();
      if (source_wait_pending_) return;  // its completion wakes the writer, which re-arms
    }
    if (subs_.empty()) return;
    filter_dirty_ = false;
    cursor lowest = subs_.front().at;
    for (const auto& s : subs_)
      if (session_detail::less(s.at, lowest)) lowest = s.at;
    // One subscription: its own filter (a hub reads the filter only while arming).
    const bool own_filter = intrusive_source<Source> && subs_.size() == 1;
    if (!own_filter && !(extra_ && extra_->wait_filter)) {  // kept until the subscriptions change
      std::vector<std::string> patterns;
      patterns.reserve(subs_.size());
      for (const auto& s : subs_) patterns.push_back(s.topic());
      extra().wait_filter = std::make_shared<const topic_filter>(std::move(*topic_filter::parse(patterns)));
    }
    source_wait_pending_ = true;
    auto self = this->shared_from_this();
    // The wait holds the session until it completes or is withdrawn, however the
    // session ended in the meantime (and, with async_wait, the filter).
    if constexpr (intrusive_source<Source>) {
      armed_.self = std::move(self);
      source_.arm(armed_, lowest, own_filter ? subs_.front().filter : *extra_->wait_filter);
    } else {
      auto filter = extra_->wait_filter;
      source_.async_wait(executor(), lowest, *filter,
                         asio::bind_cancellation_slot(source_cancel_.slot(), [self, filter](std::error_code ec) {
                           self->source_done(ec);
                         }));
    }
  }
  void source_done(std::error_code ec) {
    source_wait_pending_ = false;
    if (ec && ec != asio::error::operation_aborted) close_with(close_code::going_away, "server shutting down");
    wake_writer();
  }
  // Ends a pending source wait: withdrawn at once (a hub: nothing follows), or
  // cancelled through its slot (its completion follows). Called by the writer,
  // which holds the session.
  void cancel_source_wait() {
    if (!source_wait_pending_) return;
    if constexpr (intrusive_source<Source>) {
      if (!source_.disarm(armed_)) return;  // its notify is on its way
      source_wait_pending_ = false;
      armed_.self.reset();
    } else {
      source_cancel_.emit(asio::cancellation_type::all);
    }
  }

  // --- heartbeat, token expiry, shutdown ------------------------------------------

  void arm_tick() {
    auto next = clock::now() + o_.heartbeat;
    if (expires_at_ < next) next = expires_at_;
    conn_.set_deadline(next);
  }

  void on_shutdown() override {
    if (!stop_) close_with(close_code::going_away, "server shutting down");
  }

  void on_deadline() override {
    if (stop_) return;
    const auto now = clock::now();
    if (now >= expires_at_) {
      expires_at_ = clock::time_point::max();
      close_with(close_code::policy_violation, "token expired");
      return arm_tick();
    }
    // Silent for two intervals (not even a pong): a dead peer or one that stopped
    // reading (our pings are stuck behind unread data). Ending here cancels the
    // reader and the writer, even a write that would never finish.
    if (now - last_received_ >= 2 * o_.heartbeat) {
      stop_ = true;
      conn_.stream().cancel();
      resume_reader();  // a paused reader ends too
      return wake_writer();
    }
    if (!close_queued_) {
      ping_due_ = true;
      wake_writer();
    }
    arm_tick();
  }

  struct read_range {
    std::size_t begin = 0, count = 0;
    read_status status;
  };

  http::adopted_connection conn_;  // first: closed last, after everything below is gone
  Source& source_;
  const options& o_;
  std::unique_ptr<const auth::claims> claims_;  // the upgrade request's (none: anonymous)
  frame_parser parser_;
  cursor resume_at_;              // ?resumeFrom=, the default start of subscriptions (with resume_kind_)
  std::vector<subscription> subs_;
  std::unique_ptr<extra_state> extra_;  // see extra_state: none while idle
  struct no_cancel {};
  // A source without arm/disarm is waited on with async_wait, cancelled through this.
  [[no_unique_address]] std::conditional_t<intrusive_source<Source>, no_cancel, asio::cancellation_signal> source_cancel_;
  // The source wait of a hub (intrusive): it holds the session while armed.
  struct armed_wait final : hub_waiter {
    std::shared_ptr<session> self;  // set while armed
    asio::io_context::executor_type notify_executor() const noexcept override { return self->executor(); }
    void notify(std::error_code ec) override {
      std::shared_ptr<session> s = std::move(self);
      s->source_done(ec);
    }
  };
  struct no_wait {};
  [[no_unique_address]] std::conditional_t<intrusive_source<Source>, armed_wait, no_wait> armed_;
  clock::time_point expires_at_ = clock::time_point::max();  // the token's expiry (max: none)
  clock::time_point last_received_;
  clock::time_point error_window_start_;
  unsigned errors_in_window_ = 0;
  // Flags as bits: a session is kept per idle connection.
  bool deflate_events_ : 1 = false;
  bool filter_dirty_ : 1 = false;
  bool source_wait_pending_ : 1 = false;
  bool ping_due_ : 1 = false;
  bool close_queued_ : 1 = false;     // no more replies or events after this
  bool server_initiated_ : 1 = false;
  bool close_sent_ : 1 = false;
  bool peer_gone_ : 1 = false;
  bool reader_done_ : 1 = false;
  bool read_pending_ : 1 = false;
  bool read_paused_ : 1 = false;
  bool stop_ : 1 = false;
  bool writer_running_ : 1 = false;
  bool ending_ : 1 = false;           // end() runs: no new writer
  std::uint8_t resume_kind_ : 2;      // position::kind of ?resumeFrom=
};

// Where subscriptions start by default: `?resumeFrom=<cursor|earliest|latest>`
// (absent or empty: latest).
inline result<position> resume_position(const http::exchange& ex) {
  auto text = ex.query().get("resumeFrom");
  if (!text || text->empty()) return position::latest();
  return parse_position(*text);
}

// Serves GET /ws: checks the handshake (426/400/403, and 400 bad_cursor for a bad
// resumeFrom) before upgrading, then runs the session until either side closes, the
// server shuts down, or the token expires. Authentication has already run (the
// server's authenticator); `ex.claims()` then limits subscribe and publish.
namespace session_detail {
// What serve() decided before any I/O: a refusal, or the 101 head and the session.
template <class Session>
struct start {
  std::shared_ptr<Session> session;
  std::string head;
  int status = 0;
  std::string_view code;     // static strings (handshake and error codes)
  std::string_view message;
  http::header_list headers;
};

// The handshake checks, outside the coroutine so that their temporaries do not stay
// in its frame for the life of the connection.
template <class Source>
start<session<Source>> prepare(http::exchange& ex, Source& source, const options& o) {
  start<session<Source>> st;
  handshake_result hs = check_handshake(ex.req(), o.handshake);
  if (!hs.accepted()) {
    if (hs.status == 426) st.headers.emplace_back("Sec-WebSocket-Version", "13");
    st.status = hs.status, st.code = hs.code, st.message = hs.message;
    return st;
  }
  auto resume = resume_position(ex);
  if (!resume) {
    st.status = 400, st.code = error_codes::bad_cursor;
    st.message = "resumeFrom must be a cursor, 'earliest' or 'latest'";
    return st;
  }
  st.head = switching_protocols_response(hs);
  st.session = std::make_shared<session<Source>>(ex, source, o, hs, *resume);
  ex.release_request_headers();  // the handshake is done with them
  return st;
}
}  // namespace session_detail

template <event_source Source>
asio::awaitable<void> serve(http::exchange& ex, Source& source, const options& o) {
  auto st = session_detail::prepare(ex, source, o);
  if (!st.session) {
    ex.close_after_response();
    co_await ex.respond_error(st.status, st.code, st.message, std::move(st.headers));
    co_return;
  }
  ex.mark_upgraded();  // from here the connection is ours
  if (co_await ex.write_raw(st.head)) co_return;
  // The session adopts the connection and runs on its own; this handler ends.
  // With the frames sent right behind the request.
  st.session->start(ex, ex.take_buffered());
}

}  // namespace lastmile::ws
