#pragma once
// HTTP long polling over any event_source: answer at once when events exist after
// the client's cursor, else hold the request until a matching publish (answered as
// soon as the hub wakes it) or the timeout (an empty batch). The answer is the JSON
// batch {"events":[...],"nextCursor":"..."} (+ "reset"), written as one gather
// write of the events' cached JSON (serialized once per event, shared by every
// answer that includes it).
//
// Query: topic (repeatable; none = every topic), cursor (a cursor, `latest` (the
// default) or `earliest`), timeout (seconds, 0-120, default 30), limit (1-1000,
// default 100). Out-of-range values are 400, never clamped.
#include <lastmile/core/concepts.hpp>
#include <lastmile/core/event_json.hpp>
#include <lastmile/http/server.hpp>
#include <lastmile/http/source_wait.hpp>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace lastmile::long_poll {

using namespace std::chrono_literals;

struct stats {
  std::atomic<std::int64_t> held{0};        // requests waiting right now
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::uint64_t> delivered{0};  // events in answers
  std::atomic<std::uint64_t> resets{0};
  std::atomic<std::uint64_t> timeouts{0};   // empty answers after the full wait
};

// Caps held requests per client address (429 beyond). Shared by all loops.
class hold_limiter {
 public:
  explicit hold_limiter(std::size_t per_ip = 100) : per_ip_(per_ip) {}
  bool acquire(const std::string& ip) {
    std::lock_guard lock(mutex_);
    auto& n = held_[ip];
    if (n >= per_ip_) {
      if (n == 0) held_.erase(ip);
      return false;
    }
    ++n;
    return true;
  }
  void release(const std::string& ip) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(ip);
    if (it != held_.end() && --it->second == 0) held_.erase(it);
  }

 private:
  std::size_t per_ip_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> held_;
};

struct options {
  std::chrono::seconds default_timeout = 30s;
  std::chrono::seconds max_timeout = 120s;
  std::size_t default_limit = 100;
  std::size_t max_limit = 1000;
  hold_limiter* limiter = nullptr;  // optional: caps held requests per client IP
  stats* counters = nullptr;
};

struct request_params {
  topic_filter filter;
  position from = position::latest();
  std::chrono::seconds timeout{30};
  std::size_t limit = 100;
};

// Parses the query; on error returns {code, message} for a 400.
struct param_error {
  std::string code, message;
};
inline std::variant<request_params, param_error> parse_params(const http::query_params& q, const options& o) {
  request_params p;
  p.timeout = o.default_timeout;
  p.limit = o.default_limit;
  auto f = topic_filter::parse(q.get_all("topic"));
  if (!f) return param_error{"bad_topic", "invalid topic or topic filter"};
  p.filter = std::move(*f);
  if (auto c = q.get("cursor")) {
    auto pos = parse_position(*c);
    if (!pos) return param_error{"bad_cursor", "cursor must be a cursor, 'latest' or 'earliest'"};
    p.from = *pos;
  }
  auto number = [](std::string_view s, std::uint64_t& out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && r.ec == std::errc{} && r.ptr == s.data() + s.size();
  };
  if (auto t = q.get("timeout")) {
    std::uint64_t v = 0;
    if (!number(*t, v) || v > static_cast<std::uint64_t>(o.max_timeout.count()))
      return param_error{"bad_request", "timeout must be an integer from 0 to " + std::to_string(o.max_timeout.count())};
    p.timeout = std::chrono::seconds(v);
  }
  if (auto l = q.get("limit")) {
    std::uint64_t v = 0;
    if (!number(*l, v) || v < 1 || v > o.max_limit)
      return param_error{"bad_request", "limit must be an integer from 1 to " + std::to_string(o.max_limit)};
    p.limit = static_cast<std::size_t>(v);
  }
  return p;
}

namespace detail {
// Writes the batch: the per-event JSON strings are gathered, not copied.
inline asio::awaitable<void> answer(http::exchange& ex, const event_batch& batch, const read_status& st,
                                    const options& o) {
  std::string head = "{\"events\":[";
  std::string tail = "],\"nextCursor\":\"";
  append_cursor(tail, st.next);
  tail += st.reset ? "\",\"reset\":{\"reason\":\"cursor_expired\"}}" : "\"}";
  std::vector<asio::const_buffer> parts;
  parts.reserve(batch.size() * 2 + 2);
  parts.push_back(asio::buffer(head));
  static constexpr char comma = ',';
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i) parts.push_back(asio::buffer(&comma, 1));
    parts.push_back(asio::buffer(event_json(*batch[i])));
  }
  parts.push_back(asio::buffer(tail));
  http::header_list h;
  h.emplace_back("Cache-Control", "no-store");
  co_await ex.respond(200, std::span<const asio::const_buffer>(parts), "application/json", std::move(h));
  if (o.counters) {
    o.counters->answered.fetch_add(1, std::memory_order_relaxed);
    o.counters->delivered.fetch_add(batch.size(), std::memory_order_relaxed);
    if (st.reset) o.counters->resets.fetch_add(1, std::memory_order_relaxed);
  }
}
}  // namespace detail

namespace detail {

// A held poll, parked on its connection (http::parked): this object (the filter,
// the cursor, the limit), one source wait, one timer-wheel entry and one readiness
// wait on the socket. No coroutine frame and no timer of its own.
template <event_source Source>
class held_poll final : public http::parked {
 public:
  held_poll(http::exchange& ex, Source& source, topic_filter filter, cursor c, std::size_t limit, const options& o)
      : source_(source), filter_(std::move(filter)), c_(c), limit_(limit), o_(o), wait_(ex) {}

  void start_wait(http::exchange& ex, http::park_handler h) override {
    wait_.start(source_, ex, std::move(h), c_, filter_);
  }
  bool cancel_wait() noexcept override { return wait_.cancel(source_); }

  asio::awaitable<void> resume(http::exchange& ex, http::wake why) override {
    if (why == http::wake::timeout && o_.counters) o_.counters->timeouts.fetch_add(1, std::memory_order_relaxed);
    if (o_.counters) o_.counters->held.fetch_sub(1, std::memory_order_relaxed);
    if (o_.limiter) o_.limiter->release(ex.remote_address().to_string());
    if (why == http::wake::peer_closed) {
      ex.close_after_response();
      co_return;  // nobody to answer; the connection closes
    }
    event_batch batch;
    read_status st = source_.read_after(c_, filter_, limit_, batch);
    co_await answer(ex, batch, st, o_);
  }

 private:
  Source& source_;
  topic_filter filter_;
  cursor c_;
  std::size_t limit_;
  const options& o_;
  http::source_wait<Source> wait_;
};

}  // namespace detail

// Serves one poll. Validate authorization for p.filter before calling.
// With nothing to answer yet, the request is held: parked on its connection
// (http::exchange::park), which answers it on a matching publish, at the timeout,
// or on shutdown. This returns then, before the answer: `source` and `o` must
// outlive the poll (a hub and options owned by the application do), and the handler
// must not touch `ex` after this returns.
template <event_source Source>
asio::awaitable<void> serve(http::exchange& ex, Source& source, request_params p, const options& o) {
  cursor c = lastmile::resolve(source, p.from);
  {
    event_batch batch;
    read_status st = source.read_after(c, p.filter, p.limit, batch);
    if (!batch.empty() || st.reset || p.timeout.count() == 0) {
      co_await detail::answer(ex, batch, st, o);
      co_return;
    }
    c = st.next;
  }
  if (o.limiter && !o.limiter->acquire(ex.remote_address().to_string())) {
    co_await ex.respond_error(429, "rate_limited", "too many held polls from this address");
    co_return;
  }
  if (o.counters) o.counters->held.fetch_add(1, std::memory_order_relaxed);
  ex.release_request_headers();  // a held poll keeps only what it needs to answer
  ex.park(std::make_unique<detail::held_poll<Source>>(ex, source, std::move(p.filter), c, p.limit, o),
          asio::steady_timer::clock_type::now() + p.timeout);
}

}  // namespace lastmile::long_poll
