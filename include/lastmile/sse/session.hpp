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
#include <lastmile/http/server.hpp>
#include <lastmile/sse/encoder.hpp>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
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

// Runs one stream until the client goes away, the server shuts down, or `expires`
// passes (a token's expiry). Validate the request (topics, cursor, auth) first.
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

  std::string hello;
  append_retry(hello, o.retry);
  hello += ": connected\n\n";
  bool alive = !co_await ex.write_body(std::string_view(hello));

  auto executor = ex.get_executor();
  std::string control;  // reset frames of this write
  event_batch batch;
  std::vector<asio::const_buffer> parts;
  cursor c = start;
  using clock = asio::steady_timer::clock_type;
  // The token's expiry as a steady deadline (the stream ends there).
  std::optional<clock::time_point> end_at;
  if (expires) end_at = clock::now() + std::chrono::duration_cast<clock::duration>(*expires - std::chrono::system_clock::now());

  while (alive) {
    if (end_at && clock::now() >= *end_at) break;
    batch.clear();
    control.clear();
    read_status st = source.read_after(c, filter, o.batch_max, batch);
    if (st.reset) {
      append_reset(control, st.reset->earliest);
      if (o.counters) o.counters->resets.fetch_add(1, std::memory_order_relaxed);
    }
    c = st.next;
    if (batch.empty() && control.empty()) {
      auto deadline = clock::now() + o.heartbeat;
      if (end_at && *end_at < deadline) deadline = *end_at;
      auto woke = co_await ex.wait_any(
          [&](auto handler) { source.async_wait(executor, c, filter, std::move(handler)); }, deadline);
      using wake = http::exchange::wake;
      if (woke == wake::timeout) {
        if (end_at && clock::now() >= *end_at) break;
        alive = !co_await ex.write_body(heartbeat_frame);
      } else if (woke != wake::event) {
        break;  // peer gone, shutdown, or the source shut down
      }
      continue;
    }
    parts.clear();
    if (!control.empty()) parts.push_back(asio::buffer(control));
    std::size_t bytes = control.size();
    for (const auto& e : batch) {
      const std::string& frame = o.json_frames ? json_event_frame(*e) : event_frame(*e);
      parts.push_back(asio::buffer(frame));
      bytes += frame.size();
    }
    alive = !co_await ex.write_body(parts);
    if (alive && o.counters) {
      o.counters->delivered.fetch_add(batch.size(), std::memory_order_relaxed);
      o.counters->bytes.fetch_add(bytes, std::memory_order_relaxed);
    }
  }
  co_await ex.end_stream();
  if (o.counters) o.counters->open.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace lastmile::sse
