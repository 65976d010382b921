#pragma once
// An SSE stream over an http::exchange, reading from any event_source (hub<Log>).
//
// Cursor-pull: the session keeps a cursor, not a queue. When the socket has taken
// the previous write, it reads everything after its cursor (up to batch_max) and
// writes it in one gather write of the events' shared frames. With nothing to send
// it waits on the source, with a heartbeat comment after `heartbeat` of silence.
// A client that stops reading blocks only its own session (one write in flight);
// the log moves on without it and, if it falls out of retention, it gets a reset.
#include <lastmile/core/concepts.hpp>
#include <lastmile/http/source_wait.hpp>
#include <lastmile/http/server.hpp>
#include <lastmile/sse/encoder.hpp>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lastmile::sse {

using namespace std::chrono_literals;

// Counters a session updates (owned by the application; all optional).
struct stats {
  std::atomic<std::int64_t> open{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> resets{0};
  std::atomic<std::uint64_t> bytes{0};
};

struct options {
  std::chrono::milliseconds heartbeat = 15s;   // ": ping" after this much silence
  std::chrono::milliseconds retry = 2s;        // the client's reconnection delay
  std::size_t batch_max = 256;                 // events per gather write
  std::vector<std::string> allow_origins;      // CORS allow-list; empty: any origin
  bool json_frames = false;                    // data = the event's JSON, no event: line (format=json)
  stats* counters = nullptr;
};

// Where a stream starts: `Last-Event-ID` (header wins) or `last_event_id` (query).
// Absent (or an empty header, which EventSource sends after an empty id) means latest.
inline result<position> start_position(const http::exchange& ex) {
  std::optional<std::string_view> text = ex.req().header("Last-Event-ID");
  if (text && text->empty()) text.reset();
  if (!text) text = ex.query().get("last_event_id");
  if (!text || text->empty()) return position::latest();
  return parse_position(*text);
}

// CORS response headers for `origin`; false if the origin is not allowed.
inline bool cors_headers(const options& o, const http::request& req, http::header_list& h) {
  auto origin = req.header("Origin");
  if (o.allow_origins.empty()) {
    h.emplace_back("Access-Control-Allow-Origin", "*");
    return true;
  }
  if (!origin) return true;  // not a cross-origin browser request
  for (const auto& a : o.allow_origins)
    if (a == *origin) {
      h.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
      h.emplace_back("Access-Control-Allow-Credentials", "true");
      h.emplace_back("Vary", "Origin");
      return true;
    }
  return false;
}

// Answers a CORS preflight (EventSource sends one when Last-Event-ID is long or
// unusual, and fetch-based clients send one for Authorization).
inline asio::awaitable<void> preflight(http::exchange& ex, const options& o) {
  http::header_list h;
  if (!cors_headers(o, ex.req(), h)) {
    co_await ex.respond_error(403, "forbidden", "origin not allowed");
    co_return;
  }
  h.emplace_back("Access-Control-Allow-Methods", "GET, OPTIONS");
  h.emplace_back("Access-Control-Allow-Headers", "Last-Event-ID, Authorization, Cache-Control");
  h.emplace_back("Access-Control-Max-Age", "600");
  co_await ex.respond(204, std::string_view{}, std::string_view{}, std::move(h));
}

namespace detail {

// A stream between writes: parked on its connection (http::parked), so an idle
// stream keeps this object, a source wait, a timer-wheel entry and a readiness wait
// on the socket, and no coroutine frame.
template <event_source Source>
class stream_state final : public http::parked {
 public:
  using clock = asio::steady_timer::clock_type;
  stream_state(http::exchange& ex, Source& source, topic_filter filter, cursor start, const options& o,
               std::optional<clock::time_point> end_at)
      : source_(source), filter_(std::move(filter)), c_(start), o_(o), end_at_(end_at), wait_(ex) {}

  void start_wait(http::exchange& ex, http::park_handler h) override {
    wait_.start(source_, ex, std::move(h), c_, filter_);
  }
  bool cancel_wait() noexcept override { return wait_.cancel(source_); }

  asio::awaitable<void> resume(http::exchange& ex, http::wake why) override {
    std::optional<clock::time_point> again;
    if (why == http::wake::event) {
      again = co_await pump(ex);
    } else if (why == http::wake::timeout && !expired()) {
      if (!co_await ex.write_body(heartbeat_frame)) again = next_deadline();
    }
    if (again) ex.park(*again);
    else co_await finish(ex);
  }

  // Writes everything after the cursor (batch_max events per gather write), then
  // returns when to resume at the latest (heartbeat or expiry), or nothing when the
  // stream is over (write failed, expired).
  asio::awaitable<std::optional<clock::time_point>> pump(http::exchange& ex) {
    std::string control;  // reset frames of this write
    event_batch batch;
    std::vector<asio::const_buffer> parts;
    for (;;) {
      if (expired()) co_return std::nullopt;
      batch.clear();
      control.clear();
      read_status st = source_.read_after(c_, filter_, o_.batch_max, batch);
      if (st.reset) {
        append_reset(control, st.reset->earliest);
        if (o_.counters) o_.counters->resets.fetch_add(1, std::memory_order_relaxed);
      }
      c_ = st.next;
      if (batch.empty() && control.empty()) co_return next_deadline();
      parts.clear();
      if (!control.empty()) parts.push_back(asio::buffer(control));
      std::size_t bytes = control.size();
      for (const auto& e : batch) {
        const std::string& frame = o_.json_frames ? json_event_frame(*e) : event_frame(*e);
        parts.push_back(asio::buffer(frame));
        bytes += frame.size();
      }
      if (co_await ex.write_body(parts)) co_return std::nullopt;
      if (o_.counters) {
        o_.counters->delivered.fetch_add(batch.size(), std::memory_order_relaxed);
        o_.counters->bytes.fetch_add(bytes, std::memory_order_relaxed);
      }
    }
  }

  asio::awaitable<void> finish(http::exchange& ex) {
    co_await ex.end_stream();
    if (o_.counters) o_.counters->open.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  bool expired() const { return end_at_ && clock::now() >= *end_at_; }
  clock::time_point next_deadline() const {
    auto d = clock::now() + o_.heartbeat;
    return end_at_ && *end_at_ < d ? *end_at_ : d;
  }

  Source& source_;
  topic_filter filter_;
  cursor c_;
  const options& o_;
  std::optional<clock::time_point> end_at_;
  http::source_wait<Source> wait_;
};

}  // namespace detail

// Runs one stream until the client goes away, the server shuts down, or `expires`
// passes (a token's expiry). Validate the request (topics, cursor, auth) first.
// The head, the backlog and whatever is pending are written before this returns;
// then the stream is parked on its connection (http::exchange::park), which wakes it
// for new events and heartbeats: the handler's coroutines are gone by then, so
// `source` and `o` must outlive the stream (a hub and options owned by the
// application do), and the handler must not touch `ex` after this returns.
template <event_source Source>
asio::awaitable<void> serve(http::exchange& ex, Source& source, topic_filter filter, cursor start,
                            const options& o,
                            std::optional<std::chrono::system_clock::time_point> expires = std::nullopt) {
  http::header_list h;
  if (!cors_headers(o, ex.req(), h)) {
    co_await ex.respond_error(403, "forbidden", "origin not allowed");
    co_return;
  }
  h.emplace_back("Content-Type", "text/event-stream");
  h.emplace_back("Cache-Control", "no-cache");
  h.emplace_back("X-Accel-Buffering", "no");
  if (co_await ex.begin_stream(200, std::move(h))) co_return;
  ex.release_request_headers();  // read above; a long-lived stream need not keep them
  if (o.counters) o.counters->open.fetch_add(1, std::memory_order_relaxed);

  using clock = asio::steady_timer::clock_type;
  // The token's expiry as a steady deadline (the stream ends there).
  std::optional<clock::time_point> end_at;
  if (expires) end_at = clock::now() + std::chrono::duration_cast<clock::duration>(*expires - std::chrono::system_clock::now());
  auto state = std::make_unique<detail::stream_state<Source>>(ex, source, std::move(filter), start, o, end_at);

  std::optional<clock::time_point> park_until;
  {
    std::string hello;
    append_retry(hello, o.retry);
    hello += ": connected\n\n";
    if (!co_await ex.write_body(std::string_view(hello))) park_until = co_await state->pump(ex);
  }
  if (park_until) ex.park(std::move(state), *park_until);
  else co_await state->finish(ex);
}

}  // namespace lastmile::sse
