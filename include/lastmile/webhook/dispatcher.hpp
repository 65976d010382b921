#pragma once
// Webhook dispatcher: delivers the events of a hub's log to HTTP endpoints, signed
// (Standard Webhooks), in log order per endpoint, at least once.
//
// Every endpoint has a worker (a coroutine on the dispatcher's own thread) that pulls
// from the log after the endpoint's cursor, exactly as a streaming session does. An
// outcome is written to the store together with the endpoint's new cursor in one
// transaction, and only then does the worker move on: a process killed at any instant
// restarts from the stored cursor, so only events in flight at the kill are delivered
// twice. See docs/webhooks.md.
#include <lastmile/core/concepts.hpp>
#include <lastmile/core/event_json.hpp>
#include <lastmile/hub.hpp>
#include <lastmile/http/client.hpp>
#include <lastmile/webhook/retry.hpp>
#include <lastmile/webhook/signature.hpp>
#include <lastmile/webhook/ssrf.hpp>
#include <lastmile/webhook/store.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace lastmile::webhook {

// What an application asks for when it registers an endpoint.
struct endpoint_spec {
  std::string url;                   // http:// or https://
  std::vector<std::string> topics;   // topic filters, at least one
  std::vector<std::string> types;    // empty = every type
  std::optional<std::string> secret; // "whsec_..."; generated when absent
  position from = position::latest();
};

struct dispatcher_options {
  retry_schedule schedule = retry_schedule::standard();
  std::chrono::milliseconds attempt_timeout{15000};  // whole attempt: connect, send, response
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds max_retry_after{std::chrono::hours(24)};  // clamp for Retry-After
  // An endpoint that has failed without a single success for this long is disabled.
  std::chrono::milliseconds disable_after{std::chrono::hours(24 * 5)};
  std::size_t in_flight = 1;          // deliveries in flight per endpoint (1 = strictly one by one)
  double max_rate = 0;                // deliveries started per second per endpoint, 0 = no limit
  std::size_t max_response_body = 64 * 1024;
  // Keep-alive connections kept per origin. Many endpoints often share one origin
  // (a platform's hook URLs): below their concurrency, connections are re-opened.
  std::size_t max_idle_per_origin = 256;
  address_policy policy;              // SSRF guard; allow() ranges to open private networks
  asio::ssl::context* tls = nullptr;  // default: the client's own, verifying peers
  // Wall clock for webhook-timestamp and attempt records (injectable for tests).
  std::function<std::chrono::system_clock::time_point()> now = [] { return std::chrono::system_clock::now(); };
  std::uint64_t seed = 0;             // jitter RNG seed; 0 = random
  std::size_t batch = 64;             // events read from the log per pull
};

// Counters of attempts by outcome (shared with /metrics).
struct dispatcher_stats {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> retried{0};     // failed attempts that will be retried
  std::atomic<std::uint64_t> failed{0};      // events given up (4xx, schedule exhausted)
  std::atomic<std::uint64_t> disabled{0};    // endpoints disabled (410, failing too long)
  std::atomic<std::uint64_t> expired{0};     // cursor_expired records
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> commits{0};     // store writes (each carries one or more outcomes)
};

namespace detail {

// Whether `a` lies after `b` in the same history of the log.
inline bool later(cursor a, cursor b) noexcept { return a.epoch == b.epoch && a.offset > b.offset; }

inline std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

inline std::string random_endpoint_id(std::mt19937_64& rng) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "ep_";
  std::uint64_t v = rng();
  for (int i = 0; i < 16; ++i) id.push_back(hex[(v >> (i * 4)) & 15]);
  return id;
}

// A short machine-readable reason for a failed attempt without a response.
inline std::string attempt_error_name(std::error_code ec) {
  if (ec == make_error_code(errc::timeout)) return "timeout";
  if (ec == make_error_code(errc::address_not_allowed)) return "url_not_allowed";
  if (ec == make_error_code(errc::connect_failed)) return "connect";
  if (ec == make_error_code(errc::tls_failed)) return "tls";
  if (ec == make_error_code(errc::response_too_large)) return "response_too_large";
  if (ec == make_error_code(errc::bad_response)) return "bad_response";
  return "connection";
}

}  // namespace detail

template <event_log Log, webhook_store Store>
class dispatcher {
 public:
  dispatcher(hub<Log>& events, Store& store, dispatcher_options o = {})
      : hub_(events), store_(store), opts_(std::move(o)), strand_(asio::make_strand(io_)),
        rng_(opts_.seed ? opts_.seed : std::random_device{}()) {
    if (opts_.in_flight == 0) opts_.in_flight = 1;
    http::client_options co;
    co.connect_timeout = opts_.connect_timeout;
    co.total_timeout = opts_.attempt_timeout;
    co.max_response_body = opts_.max_response_body;
    co.max_idle_per_origin = opts_.max_idle_per_origin;
    co.policy = &opts_.policy;
    co.user_agent = "lastmile-webhooks";
    client_.emplace(strand_, co, opts_.tls);
  }
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;
  ~dispatcher() { stop(); }

  // Loads the stored endpoints and starts delivering on the dispatcher's own thread.
  void start() {
    if (thread_.joinable()) return;
    work_.emplace(io_.get_executor());
    asio::post(strand_, [this] {
      for (auto& ep : store_.list_endpoints())
        if (ep.status == endpoint_status::active) start_worker(std::move(ep));
    });
    thread_ = std::thread([this] { io_.run(); });
  }

  // Ends every worker (an attempt in flight is abandoned unrecorded: it is delivered
  // again after a restart, as after a crash) and joins the thread.
  void stop() {
    if (!thread_.joinable()) return;
    asio::post(strand_, [this] {
      stopping_ = true;
      flush();  // outcomes already known are kept
      for (auto& [id, w] : workers_) halt(*w);
      workers_.clear();
      client_->close_idle();
    });
    work_.reset();
    // Everything the workers wait on is cancelled above; a stuck operation (e.g. a
    // resolver) must not hold shutdown hostage.
    for (int i = 0; i < 300 && !io_.stopped(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    io_.stop();
    thread_.join();
  }

  // Validates and registers an endpoint: the URL must be http(s) and every address
  // its host resolves to must pass the address policy. Completes on the caller's
  // executor.
  asio::awaitable<result<endpoint>> add(endpoint_spec spec) {
    auto out = co_await asio::co_spawn(strand_, do_add(std::move(spec)), asio::use_awaitable);
    if (out.ec) co_return out.ec;
    co_return std::move(out.ep);
  }

  std::optional<endpoint> get(std::string_view id) { return store_.get_endpoint(id); }
  std::vector<endpoint> list() { return store_.list_endpoints(); }
  std::vector<attempt_record> attempts(std::string_view id, std::size_t limit = 100) {
    return store_.attempts(id, limit);
  }
  std::vector<attempt_record> failed_events(std::string_view id, std::size_t limit = 100) {
    return store_.failed_events(id, limit);
  }

  // Stops and deletes an endpoint (its attempt history goes with it).
  result<void> remove(std::string_view id) {
    return run_on_strand([this, id = std::string(id)]() -> result<void> {
      if (auto it = workers_.find(id); it != workers_.end()) {
        halt(*it->second);
        workers_.erase(it);
      }
      return store_.remove_endpoint(id);
    });
  }

  // Restarts delivery after `from` (re-enabling a disabled endpoint).
  result<void> replay(std::string_view id, position from) {
    return run_on_strand([this, id = std::string(id), from]() -> result<void> {
      auto ep = store_.get_endpoint(id);
      if (!ep) return errc::not_found;
      if (auto it = workers_.find(id); it != workers_.end()) {
        halt(*it->second);
        workers_.erase(it);
      }
      ep->position = hub_.resolve(from);
      ep->status = endpoint_status::active;
      ep->disabled_reason.clear();
      ep->consecutive_failures = 0;
      ep->failing_since_ms = 0;
      if (auto r = store_.put_endpoint(*ep); !r) return r;
      if (!stopping_ && thread_.joinable()) start_worker(std::move(*ep));
      return {};
    });
  }

  const dispatcher_stats& stats() const noexcept { return stats_; }
  const dispatcher_options& options() const noexcept { return opts_; }

 private:
  struct worker {
    explicit worker(const asio::strand<asio::io_context::executor_type>& ex, endpoint e)
        : ep(std::move(e)), stop(ex, asio::steady_timer::time_point::max()) {}
    endpoint ep;
    topic_filter filter;
    std::vector<secret> secrets;
    asio::steady_timer stop;  // never expires; cancelled to end every wait of the worker
    asio::cancellation_signal hub_cancel;
    bool stopped = false;
    // rate limiting
    std::chrono::steady_clock::time_point next_start{};
  };

  template <class F>
  auto run_on_strand(F f) -> decltype(f()) {
    if (!thread_.joinable() || strand_.running_in_this_thread()) return f();
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    asio::post(strand_, [&task] { task(); });
    return fut.get();
  }

  void halt(worker& w) {
    w.stopped = true;
    w.stop.cancel();
    w.hub_cancel.emit(asio::cancellation_type::terminal);
  }

  struct add_outcome {  // default-constructible, as co_spawn wants
    std::error_code ec;
    endpoint ep;
  };

  asio::awaitable<add_outcome> do_add(endpoint_spec spec) {
    auto r = co_await validate_and_store(std::move(spec));
    if (!r) co_return add_outcome{r.error(), {}};
    co_return add_outcome{{}, std::move(*r)};
  }

  asio::awaitable<result<endpoint>> validate_and_store(endpoint_spec spec) {
    auto target = parse_target(spec.url);
    if (!target) co_return target.error();
    if (spec.topics.empty()) co_return errc::bad_topic;
    auto filter = topic_filter::parse(spec.topics);
    if (!filter) co_return filter.error();
    for (const auto& t : spec.types)
      if (!valid_type(t)) co_return errc::bad_type;
    secret key;
    if (spec.secret) {
      auto s = secret::parse(*spec.secret);
      if (!s) co_return s.error();
      key = std::move(*s);
    } else {
      key = secret::generate();
    }
    // SSRF: every address the name resolves to must be allowed (the client checks the
    // address it connects to again, at every connection).
    auto checked = co_await check_target(*target);
    if (!checked) co_return checked.error();

    endpoint ep;
    ep.id = detail::random_endpoint_id(rng_);
    ep.url = spec.url;
    ep.topics = spec.topics;
    ep.types = spec.types;
    ep.secrets.push_back(key.text());
    ep.position = hub_.resolve(spec.from);
    ep.created_ms = detail::unix_ms(opts_.now());
    if (auto r = store_.put_endpoint(ep); !r) co_return r.error();
    if (!stopping_ && thread_.joinable()) start_worker(ep);
    co_return ep;
  }

  asio::awaitable<result<void>> check_target(const target_url& t) {
    asio::ip::tcp::resolver resolver(strand_);
    auto [ec, results] = co_await resolver.async_resolve(t.host, std::to_string(t.port),
                                                         asio::experimental::as_tuple(asio::use_awaitable));
    if (ec || results.empty()) co_return errc::bad_url;
    for (const auto& r : results)
      if (!opts_.policy.permits(r.endpoint().address())) co_return errc::address_not_allowed;
    co_return result<void>{};
  }

  void start_worker(endpoint ep) {
    auto w = std::make_shared<worker>(strand_, std::move(ep));
    auto f = topic_filter::parse(w->ep.topics);
    if (f) w->filter = std::move(*f);
    for (const auto& s : w->ep.secrets)
      if (auto k = secret::parse(s)) w->secrets.push_back(std::move(*k));
    workers_[w->ep.id] = w;
    asio::co_spawn(strand_, run(w), asio::detached);
  }

  bool type_matches(const worker& w, std::string_view type) const {
    if (w.ep.types.empty()) return true;
    for (const auto& t : w.ep.types)
      if (t == type) return true;
    return false;
  }

  // Queues the endpoint's progress together with one attempt record. Outcomes that
  // complete in the same turn of the dispatcher's loop are written by one flush (one
  // transaction where the store supports record_many), in the order they were queued.
  void record(worker& w, attempt_record rec) {
    rec.endpoint_id = w.ep.id;
    pending_.push_back(progress_record{w.ep, std::move(rec)});
    if (!flush_posted_) {
      flush_posted_ = true;
      asio::post(strand_, [this] { flush(); });
    }
  }

  // record(), then waits until the flush that carries it has been written: the next
  // delivery of the endpoint starts only once this outcome is durable, so a crash
  // repeats at most the deliveries in flight.
  asio::awaitable<void> record_durably(worker& w, attempt_record rec) {
    record(w, std::move(rec));
    const std::uint64_t mine = flushes_ + 1;  // the flush that takes the queue as it is now
    while (flushes_ < mine && !w.stopped) {
      co_await flushed_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
  }

  void flush() {
    flush_posted_ = false;
    if (pending_.empty()) return;
    std::vector<progress_record> batch;
    batch.swap(pending_);
    if constexpr (batching_webhook_store<Store>) {
      (void)store_.record_many(batch);  // a failing store is retried on the next outcome
    } else {
      for (const auto& r : batch) (void)store_.record(r.progress, r.attempt);
    }
    ++flushes_;
    stats_.commits.fetch_add(1, std::memory_order_relaxed);
    flushed_.cancel();  // wakes every record_durably waiting for this flush
  }

  asio::awaitable<void> run(std::shared_ptr<worker> w) {
    using namespace asio::experimental::awaitable_operators;
    event_batch batch;
    while (!w->stopped) {
      batch.clear();
      read_status st = hub_.read_after(w->ep.position, w->filter, opts_.batch, batch);
      if (st.reset) {
        // The cursor fell out of retention (or belongs to another history of the log):
        // record the lost range and go on from the earliest retained event.
        attempt_record rec;
        rec.event_id = to_string(w->ep.position);
        rec.at_ms = detail::unix_ms(opts_.now());
        rec.error = "cursor_expired";
        rec.outcome = "cursor_expired";
        w->ep.position = hub_.earliest();
        stats_.expired.fetch_add(1, std::memory_order_relaxed);
        record(*w, std::move(rec));
        continue;
      }
      if (batch.empty()) {
        w->ep.position = st.next;  // past events of other topics (re-read after a restart)
        auto [ec] = co_await hub_.async_wait(
            strand_, w->ep.position, w->filter,
            asio::bind_cancellation_slot(w->hub_cancel.slot(), asio::experimental::as_tuple(asio::use_awaitable)));
        if (ec == make_error_code(errc::shut_down)) co_return;
        continue;
      }
      const bool full = batch.size() >= opts_.batch;
      co_await deliver_batch(w, batch);
      if (w->stopped || w->ep.status != endpoint_status::active) co_return;
      if (!full && (detail::later(st.next, w->ep.position) || st.next.epoch != w->ep.position.epoch))
        w->ep.position = st.next;
    }
  }

  // Delivers a batch, at most opts_.in_flight at a time; the cursor moves over the
  // longest prefix whose outcomes are recorded.
  asio::awaitable<void> deliver_batch(std::shared_ptr<worker> w, const event_batch& batch) {
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (type_matches(*w, batch[i]->type())) todo.push_back(i);
    }
    if (todo.empty()) {
      w->ep.position = batch.back()->id();
      co_return;
    }
    // Events skipped by the type filter before the first delivery need no record.
    std::vector<bool> done(batch.size(), false);
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (!type_matches(*w, batch[i]->type())) done[i] = true;
    std::size_t prefix = 0;  // batch[0, prefix) are done
    auto advance = [&] {
      while (prefix < batch.size() && done[prefix]) ++prefix;
      if (prefix > 0) w->ep.position = batch[prefix - 1]->id();
    };

    if (opts_.in_flight == 1) {
      for (std::size_t i : todo) {
        auto final_rec = co_await attempt_until_final(w, batch[i]);
        if (w->stopped || !final_rec) co_return;
        done[i] = true;
        advance();
        co_await record_durably(*w, std::move(*final_rec));
        if (w->stopped || w->ep.status != endpoint_status::active) co_return;
      }
      advance();
      co_return;
    }

    // Windowed: up to in_flight deliveries at once, each retried on its own.
    std::size_t next = 0, running = 0;
    asio::steady_timer signal(strand_, asio::steady_timer::time_point::max());
    auto launch = [&](std::size_t i) {
      ++running;
      asio::co_spawn(strand_,
                     [&, i, w]() -> asio::awaitable<void> {
                       auto rec = co_await attempt_until_final(w, batch[i]);
                       if (!w->stopped && rec) {
                         done[i] = true;
                         advance();
                         co_await record_durably(*w, std::move(*rec));
                       }
                       --running;
                       signal.cancel();
                     },
                     asio::detached);
    };
    while (next < todo.size() || running > 0) {
      while (next < todo.size() && running < opts_.in_flight && !w->stopped &&
             w->ep.status == endpoint_status::active)
        launch(todo[next++]);
      if (running == 0) break;
      co_await signal.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
    advance();
  }

  // Attempts one event until an outcome ends it: delivered, failed (given up), or the
  // endpoint disabled. Retries are recorded as they happen; the final record is
  // returned for the caller to persist with the advanced cursor. nullopt = stopped.
  asio::awaitable<std::optional<attempt_record>> attempt_until_final(std::shared_ptr<worker> w,
                                                                     event_ptr ev) {
    using namespace asio::experimental::awaitable_operators;
    const std::string id = to_string(ev->id());
    const std::string& body = event_json(*ev);
    for (std::uint32_t attempt = 1;; ++attempt) {
      if (w->stopped) co_return std::nullopt;
      if (opts_.max_rate > 0) {
        auto now = std::chrono::steady_clock::now();
        if (w->next_start > now) {
          asio::steady_timer t(strand_, w->next_start);
          co_await (t.async_wait(asio::experimental::as_tuple(asio::use_awaitable)) ||
                    w->stop.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
          if (w->stopped) co_return std::nullopt;
          now = std::chrono::steady_clock::now();
        }
        auto gap = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(1.0 / opts_.max_rate));
        w->next_start = std::max(now, w->next_start) + gap;
      }
      const auto wall = opts_.now();
      const std::int64_t ts = std::chrono::duration_cast<std::chrono::seconds>(wall.time_since_epoch()).count();
      std::vector<std::pair<std::string, std::string>> headers;
      headers.emplace_back("content-type", "application/json");
      headers.emplace_back("webhook-id", id);
      headers.emplace_back("webhook-timestamp", std::to_string(ts));
      headers.emplace_back("webhook-signature", sign(w->secrets, id, ts, body));
      const auto started = std::chrono::steady_clock::now();
      stats_.in_flight.fetch_add(1, std::memory_order_relaxed);
      auto outcome = co_await (client_->request("POST", w->ep.url, std::move(headers), body) ||
                               w->stop.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
      stats_.in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (w->stopped || outcome.index() != 0) co_return std::nullopt;
      auto& res = std::get<0>(outcome);

      attempt_record rec;
      rec.event_id = id;
      rec.attempt = attempt;
      rec.at_ms = detail::unix_ms(wall);
      rec.duration_ms = static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       std::chrono::steady_clock::now() - started)
                                                       .count());
      verdict v = verdict::retry;
      std::optional<std::chrono::milliseconds> retry_after;
      if (!res) {
        rec.error = detail::attempt_error_name(res.error());
      } else {
        rec.status = res->status;
        v = classify(res->status);
        if (v != verdict::delivered) rec.error = "http_" + std::to_string(res->status);
        if (auto ra = res->header("retry-after"); !ra.empty()) {
          retry_after = parse_retry_after(ra, wall);
          if (retry_after) retry_after = std::min(*retry_after, opts_.max_retry_after);
        }
      }

      const std::int64_t now_ms = detail::unix_ms(opts_.now());
      switch (v) {
        case verdict::delivered:
          w->ep.consecutive_failures = 0;
          w->ep.failing_since_ms = 0;
          rec.outcome = "delivered";
          stats_.delivered.fetch_add(1, std::memory_order_relaxed);
          co_return rec;
        case verdict::disable:
          disable(*w, "gone: the endpoint answered 410");
          rec.outcome = "disabled";
          record(*w, std::move(rec));
          co_return std::nullopt;
        case verdict::fail:
          note_failure(*w, now_ms);
          rec.outcome = "failed";
          stats_.failed.fetch_add(1, std::memory_order_relaxed);
          if (failing_too_long(*w, now_ms)) disable(*w, "failing continuously");
          co_return rec;
        case verdict::retry:
          break;
      }
      note_failure(*w, now_ms);
      if (failing_too_long(*w, now_ms)) {
        disable(*w, "failing continuously");
        rec.outcome = "disabled";
        record(*w, std::move(rec));
        co_return std::nullopt;
      }
      auto delay = opts_.schedule.delay_after(attempt, rng_);
      if (!delay) {  // schedule exhausted: give the event up and move on
        rec.outcome = "failed";
        stats_.failed.fetch_add(1, std::memory_order_relaxed);
        co_return rec;
      }
      if (retry_after) delay = std::max(*retry_after, std::chrono::milliseconds(0));
      rec.outcome = "retry";
      stats_.retried.fetch_add(1, std::memory_order_relaxed);
      record(*w, std::move(rec));
      asio::steady_timer t(strand_, *delay);
      co_await (t.async_wait(asio::experimental::as_tuple(asio::use_awaitable)) ||
                w->stop.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
    }
  }

  void note_failure(worker& w, std::int64_t now_ms) {
    ++w.ep.consecutive_failures;
    if (w.ep.failing_since_ms == 0) w.ep.failing_since_ms = now_ms;
  }
  bool failing_too_long(const worker& w, std::int64_t now_ms) const {
    return w.ep.failing_since_ms != 0 && now_ms - w.ep.failing_since_ms >= opts_.disable_after.count();
  }
  void disable(worker& w, std::string reason) {
    w.ep.status = endpoint_status::disabled;
    w.ep.disabled_reason = std::move(reason);
    stats_.disabled.fetch_add(1, std::memory_order_relaxed);
  }

  hub<Log>& hub_;
  Store& store_;
  dispatcher_options opts_;
  dispatcher_stats stats_;
  std::map<std::string, std::shared_ptr<worker>, std::less<>> workers_;  // on the strand
  std::vector<progress_record> pending_;  // outcomes waiting for the next flush (strand)
  bool flush_posted_ = false;
  std::uint64_t flushes_ = 0;
  bool stopping_ = false;
  std::thread thread_;
  // Declared last: destroyed first, so coroutine frames still queued in it go before
  // the members they refer to.
  asio::io_context io_{1};
  asio::strand<asio::io_context::executor_type> strand_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  asio::steady_timer flushed_{strand_, asio::steady_timer::time_point::max()};  // cancelled per flush
  std::mt19937_64 rng_;
  std::optional<http::client> client_;
};

}  // namespace lastmile::webhook
