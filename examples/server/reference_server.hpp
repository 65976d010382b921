#pragma once
// The reference server: lastmile's transports on one port over a memory log or a
// durable SQLite log (--log), as docs/server.md describes. Kept in a header so tests
// can run it in-process.
#include "dashboard.hpp"
#include "flags.hpp"
#include "webhook_api.hpp"

#include <lastmile/auth/authorization.hpp>
#include <lastmile/core/event_json.hpp>
#include <lastmile/http/server.hpp>
#include <lastmile/lastmile.hpp>
#include <lastmile/log/sqlite_log.hpp>
#include <lastmile/metrics.hpp>
#include <lastmile/long_poll/handler.hpp>
#include <lastmile/sse/session.hpp>
#include <lastmile/ws/session.hpp>

#include <simdjson.h>

#include <stdexcept>
#include <variant>
#include <string>

namespace lastmile_server {

using namespace lastmile;

// The log the flags ask for; throws std::runtime_error with a one-line reason when
// it cannot be opened.
template <class Log>
Log open_log(const options& o);

template <>
inline memory_log open_log<memory_log>(const options& o) {
  return memory_log(memory_log_options{.max_events = o.retention});
}

template <>
inline sqlite_log open_log<sqlite_log>(const options& o) {
  std::string path = o.log.starts_with("sqlite:") ? o.log.substr(7) : o.log;
  auto log = sqlite_log::open({.path = path, .max_events = o.retention});
  if (!log) throw std::runtime_error("cannot open the sqlite log '" + path + "': " + log.error().message());
  return std::move(*log);
}

// The webhook store the flags ask for: durable SQLite (default) or memory.
class server_webhook_store {
  template <class F>
  decltype(auto) on(F&& f) {
    if (auto* m = std::get_if<webhook::memory_webhook_store>(&s_)) return f(*m);
    return f(std::get<webhook::sqlite_webhook_store>(s_));
  }

 public:
  explicit server_webhook_store(const options& o) {
    if (o.webhook_store == "memory") {
      s_.emplace<webhook::memory_webhook_store>();
      return;
    }
    std::string path = o.webhook_store;
    if (path.empty()) path = o.log.starts_with("sqlite:") ? o.log.substr(7) + "-webhooks.db" : "lastmile-webhooks.db";
    auto st = webhook::sqlite_webhook_store::open(path);
    if (!st) throw std::runtime_error("cannot open the webhook store '" + path + "': " + st.error().message());
    s_.emplace<webhook::sqlite_webhook_store>(std::move(*st));
  }
  result<void> put_endpoint(const webhook::endpoint& e) { return on([&](auto& s) { return s.put_endpoint(e); }); }
  std::optional<webhook::endpoint> get_endpoint(std::string_view id) {
    return on([&](auto& s) { return s.get_endpoint(id); });
  }
  std::vector<webhook::endpoint> list_endpoints() { return on([&](auto& s) { return s.list_endpoints(); }); }
  result<void> remove_endpoint(std::string_view id) { return on([&](auto& s) { return s.remove_endpoint(id); }); }
  result<void> record(const webhook::endpoint& e, const webhook::attempt_record& a) {
    return on([&](auto& s) { return s.record(e, a); });
  }
  std::vector<webhook::attempt_record> attempts(std::string_view id, std::size_t limit) {
    return on([&](auto& s) { return s.attempts(id, limit); });
  }
  std::vector<webhook::attempt_record> failed_events(std::string_view id, std::size_t limit) {
    return on([&](auto& s) { return s.failed_events(id, limit); });
  }

 private:
  std::variant<std::monostate, webhook::memory_webhook_store, webhook::sqlite_webhook_store> s_;
};
static_assert(webhook::webhook_store<server_webhook_store>);

inline webhook::dispatcher_options webhook_options(const options& o) {
  webhook::dispatcher_options d;
  d.schedule = webhook::retry_schedule::parse(o.webhook_retry_schedule).value();
  d.attempt_timeout = std::chrono::milliseconds(static_cast<long long>(o.webhook_timeout_seconds * 1000));
  d.in_flight = o.webhook_in_flight;
  d.connect_timeout = std::min(d.attempt_timeout, std::chrono::milliseconds(5000));
  for (const auto& cidr : o.webhook_allow) (void)d.policy.allow(cidr);
  return d;
}

template <event_log Log>
class basic_reference_server {
 public:
  explicit basic_reference_server(const options& o)
      : opts_(o), log_(open_log<Log>(o)), hub_(log_), http_(http_options(o)) {
    if (opts_.auth_secret) http_.set_authenticator(auth::jwt_authenticator(*opts_.auth_secret));
    const http::route_options open{.authenticate = false};
    http_.route("POST", "/topics/{topic}/events", [this](http::exchange& ex) { return publish(ex); });
    http_.route("GET", "/topics/{topic}/events", [this](http::exchange& ex) { return read(ex); });
    http_.route("GET", "/healthz", [](http::exchange& ex) { return healthz(ex); }, open);
    http_.route("GET", "/", [](http::exchange& ex) { return dashboard(ex); }, open);
    http_.route("GET", "/metrics", [this](http::exchange& ex) { return metrics(ex); }, open);
    // Server-Sent Events: every (re)connection is authenticated again.
    http_.route("GET", "/sse", [this](http::exchange& ex) { return sse_stream(ex, false); });
    http_.route("GET", "/events", [this](http::exchange& ex) { return sse_stream(ex, false); });
    http_.route("GET", "/topics/{topic}/sse", [this](http::exchange& ex) { return sse_stream(ex, true); });
    for (const char* path : {"/sse", "/events", "/topics/{topic}/sse"})
      http_.route("OPTIONS", path, [this](http::exchange& ex) { return sse::preflight(ex, sse_options_); }, open);
    sse_options_.heartbeat = std::chrono::milliseconds(static_cast<long long>(opts_.heartbeat_seconds * 1000));
    sse_options_.allow_origins = opts_.allow_origins;
    sse_options_.counters = &sse_stats_;
    sse_json_options_ = sse_options_;
    sse_json_options_.json_frames = true;
    // Long polling (and the seed article's path for it).
    http_.route("GET", "/poll", [this](http::exchange& ex) { return poll(ex); });
    http_.route("GET", "/api/events", [this](http::exchange& ex) { return poll(ex); });
    poll_options_.limiter = &poll_limiter_;
    poll_options_.counters = &poll_stats_;
    // WebSocket: the token (header or ?token=) is checked before the upgrade; the
    // claims then limit subscribe and publish per message.
    http_.route("GET", "/ws", [this](http::exchange& ex) { return ws::serve(ex, hub_, ws_options_); });
    ws_options_.handshake.allowed_origins = opts_.allow_origins;
    ws_options_.heartbeat = sse_options_.heartbeat;
    ws_options_.require_claims = opts_.auth_secret.has_value();
    ws_options_.counters = &ws_stats_;
    // Webhooks: management API and the dispatcher (started with the server).
    webhook_api_.add_routes(http_);
    http_.on_shutdown([this] { hub_.shutdown(); });
    register_metrics();
  }

  std::error_code listen() { return http_.listen(opts_.host, opts_.port); }
  void start() {
    http_.start();
    dispatcher_.start();
  }
  void shutdown() {
    dispatcher_.stop();
    http_.shutdown();
  }
  void wait() { http_.wait(); }
  std::uint16_t port() const { return http_.local_endpoint().port(); }
  std::string url() const {
    auto ep = http_.local_endpoint();
    std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
    return std::string(http_.is_tls() ? "https://" : "http://") + host + ":" + std::to_string(ep.port());
  }
  hub<Log>& events() { return hub_; }
  http::server& http() { return http_; }

 private:
  static http::server_options http_options(const options& o) {
    http::server_options h;
    h.threads = o.threads;
    h.max_connections = o.max_connections;
    if (o.tls_cert) h.tls = http::tls_options{*o.tls_cert, *o.tls_key};
    return h;
  }

  static asio::awaitable<void> healthz(http::exchange& ex) {
    std::string_view body = R"({"status":"ok"})";
    co_await ex.respond(200, body);
  }

  // The live dashboard page (static; its streams authenticate with ?token=).
  static asio::awaitable<void> dashboard(http::exchange& ex) {
    std::string_view type = "text/html; charset=utf-8";
    co_await ex.respond(200, dashboard_html, type);
  }

  asio::awaitable<void> metrics(http::exchange& ex) {
    std::string body = registry_.render();
    std::string_view type = metrics::content_type;
    co_await ex.respond(200, body, type);
  }

  // POST /topics/{topic}/events[?type=T] -> 201 {"id":"<cursor>"}
  asio::awaitable<void> publish(http::exchange& ex) {
    std::string topic(*ex.param("topic"));
    std::string type(ex.query().get("type").value_or("message"));
    int status = 0;
    std::string code, message;
    if (!valid_topic(topic)) {
      status = 400, code = "bad_topic", message = "topic names are 1-128 characters of A-Z a-z 0-9 . _ : -";
    } else if (!valid_type(type)) {
      status = 400, code = "bad_type", message = "event types are 1-64 characters of A-Z a-z 0-9 . _ : -";
    } else if (opts_.auth_secret && !(ex.claims() && auth::may_publish(*ex.claims(), topic))) {
      status = 403, code = "forbidden", message = "this token may not publish";
    } else if (!simdjson::validate_utf8(ex.req().body.data(), ex.req().body.size())) {
      status = 400, code = "bad_request", message = "the payload must be UTF-8 text (JSON or plain)";
    }
    if (status) {
      co_await ex.respond_error(status, code, message);
      co_return;
    }
    auto id = hub_.publish(topic, type, ex.req().body);
    if (id.error() && id.error().category() != lastmile::error_category()) {
      // The log could not store it (a durable log's disk error): nothing was published.
      std::string reason = "the event log cannot store events: " + id.error().message();
      co_await ex.respond_error(503, "unavailable", reason);
      co_return;
    }
    if (!id) {
      bool too_large = id.error() == errc::payload_too_large;
      status = too_large ? 413 : 400;
      code = error_code_name(static_cast<errc>(id.error().value()));
      message = id.error().message();
      co_await ex.respond_error(status, code, message);
      co_return;
    }
    std::string body = "{\"id\":\"" + to_string(*id) + "\"}";
    co_await ex.respond(201, body);
  }

  // GET /topics/{topic}/events?after=<cursor>&limit=N
  asio::awaitable<void> read(http::exchange& ex) {
    std::string topic(*ex.param("topic"));
    auto filter = topic_filter::parse({std::string_view(topic)});
    auto after = parse_position(ex.query().get("after").value_or("earliest"));
    std::size_t limit = 100;
    int status = 0;
    std::string code, message;
    if (!filter) {
      status = 400, code = "bad_topic", message = "invalid topic";
    } else if (opts_.auth_secret && !(ex.claims() && auth::may_read(*ex.claims(), *filter))) {
      status = 403, code = "forbidden", message = "this token may not read this topic";
    } else if (!after) {
      status = 400, code = "bad_cursor", message = "after: not a cursor, 'earliest' or 'latest'";
    } else if (auto l = ex.query().get("limit"); l && !parse_limit(*l, limit)) {
      status = 400, code = "bad_request", message = "limit must be an integer from 1 to 1000";
    }
    if (status) {
      co_await ex.respond_error(status, code, message);
      co_return;
    }
    event_batch batch;
    auto st = hub_.read_after(hub_.resolve(*after), *filter, limit, batch);
    delivered_rest_.inc(batch.size());
    if (st.reset) resets_rest_.inc();
    std::string body = batch_json(batch, st.next, st.reset.has_value());
    co_await ex.respond(200, body);
  }

  // GET /sse?topic=a&topic=b, GET /events (same), GET /topics/{topic}/sse
  asio::awaitable<void> sse_stream(http::exchange& ex, bool topic_in_path) {
    std::string path_topic;
    std::vector<std::string_view> topics;
    if (topic_in_path) {
      path_topic = std::string(*ex.param("topic"));
      topics.push_back(path_topic);
    } else {
      topics = ex.query().get_all("topic");
    }
    auto filter = topic_filter::parse(topics);
    auto start = sse::start_position(ex);
    int status = 0;
    std::string code, message;
    if (!filter) {
      status = 400, code = "bad_topic", message = "invalid topic or topic filter";
    } else if (!start) {
      status = 400, code = "bad_cursor", message = "Last-Event-ID / last_event_id is not a cursor";
    } else if (opts_.auth_secret && !(ex.claims() && auth::may_read(*ex.claims(), *filter))) {
      status = 403, code = "forbidden", message = "this token may not read these topics";
    }
    if (status) {
      co_await ex.respond_error(status, code, message);
      co_return;
    }
    std::optional<std::chrono::system_clock::time_point> expires;
    if (ex.claims()) expires = ex.claims()->expires;
    cursor from = hub_.resolve(*start);
    auto format = ex.query().get("format");
    if (format && *format != "json") {
      std::string_view bad_format = "format: only 'json' is known";
      co_await ex.respond_error(400, "bad_request", bad_format);
      co_return;
    }
    const sse::options& chosen = format ? sse_json_options_ : sse_options_;
    co_await sse::serve(ex, hub_, std::move(*filter), from, chosen, expires);
  }

  // GET /poll?topic=a&cursor=<cursor|latest|earliest>&timeout=<s>&limit=<n>
  asio::awaitable<void> poll(http::exchange& ex) {
    auto parsed = long_poll::parse_params(ex.query(), poll_options_);
    int status = 0;
    std::string code, message;
    if (auto* err = std::get_if<long_poll::param_error>(&parsed)) {
      status = 400, code = err->code, message = err->message;
    } else if (opts_.auth_secret &&
               !(ex.claims() && auth::may_read(*ex.claims(), std::get<long_poll::request_params>(parsed).filter))) {
      status = 403, code = "forbidden", message = "this token may not read these topics";
    }
    if (status) {
      co_await ex.respond_error(status, code, message);
      co_return;
    }
    co_await long_poll::serve(ex, hub_, std::get<long_poll::request_params>(parsed), poll_options_);
  }

  static bool parse_limit(std::string_view s, std::size_t& out) {
    std::size_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || v < 1 || v > 1000) return false;
    out = v;
    return true;
  }

  void register_metrics() {
    auto& st = http_.stats();
    registry_.add_gauge_callback("lastmile_connections", "Open connections by transport.",
                                 {{"transport", "http"}},
                                 [&st] { return double(st.connections_current.load()); });
    registry_.add_counter_callback("lastmile_http_connections_total", "Accepted HTTP connections.", {},
                                   [&st] { return double(st.connections_total.load()); });
    registry_.add_counter_callback("lastmile_http_connections_rejected_total",
                                   "Connections refused by the connection caps.", {},
                                   [&st] { return double(st.connections_rejected.load()); });
    registry_.add_counter_callback("lastmile_http_requests_total", "HTTP requests received.", {},
                                   [&st] { return double(st.requests_total.load()); });
    static constexpr std::string_view statuses[] = {"100", "200", "201", "204", "400", "401", "403", "404",
                                                    "405", "408", "413", "414", "417", "429", "431", "500",
                                                    "501", "503", "505"};
    for (auto code : statuses) {
      int c = std::stoi(std::string(code));
      registry_.add_counter_callback("lastmile_http_responses_total", "HTTP responses by status.",
                                     {{"status", code}},
                                     [&st, c] { return double(st.responses_by_status[c].load()); });
    }
    registry_.add_counter_callback("lastmile_events_published_total", "Events published.", {},
                                   [this] { return double(hub_.stats().published); });
    delivered_rest_ = registry_.add_counter("lastmile_events_delivered_total", "Events delivered by transport.",
                                            {{"transport", "rest"}});
    resets_rest_ = registry_.add_counter("lastmile_resets_total", "Resets sent by transport.",
                                         {{"transport", "rest"}});
    registry_.add_gauge_callback("lastmile_connections", "Open connections by transport.",
                                 {{"transport", "sse"}}, [this] { return double(sse_stats_.open.load()); });
    registry_.add_counter_callback("lastmile_events_delivered_total", "Events delivered by transport.",
                                   {{"transport", "sse"}}, [this] { return double(sse_stats_.delivered.load()); });
    registry_.add_counter_callback("lastmile_resets_total", "Resets sent by transport.",
                                   {{"transport", "sse"}}, [this] { return double(sse_stats_.resets.load()); });
    registry_.add_counter_callback("lastmile_bytes_sent_total", "Event bytes sent by transport.",
                                   {{"transport", "sse"}}, [this] { return double(sse_stats_.bytes.load()); });
    registry_.add_gauge_callback("lastmile_connections", "Open connections by transport.",
                                 {{"transport", "long_poll"}}, [this] { return double(poll_stats_.held.load()); });
    registry_.add_counter_callback("lastmile_events_delivered_total", "Events delivered by transport.",
                                   {{"transport", "long_poll"}}, [this] { return double(poll_stats_.delivered.load()); });
    registry_.add_counter_callback("lastmile_resets_total", "Resets sent by transport.",
                                   {{"transport", "long_poll"}}, [this] { return double(poll_stats_.resets.load()); });
    registry_.add_counter_callback("lastmile_long_poll_timeouts_total", "Held polls answered empty at their timeout.",
                                   {}, [this] { return double(poll_stats_.timeouts.load()); });
    registry_.add_gauge_callback("lastmile_connections", "Open connections by transport.",
                                 {{"transport", "ws"}}, [this] { return double(ws_stats_.open.load()); });
    registry_.add_counter_callback("lastmile_events_delivered_total", "Events delivered by transport.",
                                   {{"transport", "ws"}}, [this] { return double(ws_stats_.delivered.load()); });
    registry_.add_counter_callback("lastmile_resets_total", "Resets sent by transport.",
                                   {{"transport", "ws"}}, [this] { return double(ws_stats_.resets.load()); });
    registry_.add_counter_callback("lastmile_bytes_sent_total", "Event bytes sent by transport.",
                                   {{"transport", "ws"}}, [this] { return double(ws_stats_.bytes.load()); });
    registry_.add_counter_callback("lastmile_ws_messages_received_total", "WebSocket messages received from clients.",
                                   {}, [this] { return double(ws_stats_.messages.load()); });
    registry_.add_counter_callback("lastmile_ws_errors_total", "WebSocket error replies to bad client messages.",
                                   {}, [this] { return double(ws_stats_.errors.load()); });
    auto& wh = dispatcher_.stats();
    registry_.add_counter_callback("lastmile_webhook_attempts_total", "Webhook delivery attempts by outcome.",
                                   {{"outcome", "delivered"}}, [&wh] { return double(wh.delivered.load()); });
    registry_.add_counter_callback("lastmile_webhook_attempts_total", "Webhook delivery attempts by outcome.",
                                   {{"outcome", "retry"}}, [&wh] { return double(wh.retried.load()); });
    registry_.add_counter_callback("lastmile_webhook_attempts_total", "Webhook delivery attempts by outcome.",
                                   {{"outcome", "failed"}}, [&wh] { return double(wh.failed.load()); });
    registry_.add_counter_callback("lastmile_webhook_endpoints_disabled_total", "Webhook endpoints disabled.", {},
                                   [&wh] { return double(wh.disabled.load()); });
    registry_.add_counter_callback("lastmile_resets_total", "Resets sent by transport.", {{"transport", "webhook"}},
                                   [&wh] { return double(wh.expired.load()); });
    registry_.add_gauge_callback("lastmile_webhook_in_flight", "Webhook deliveries in flight.", {},
                                 [&wh] { return double(wh.in_flight.load()); });
    registry_.add_gauge_callback("lastmile_hub_waiters", "Readers waiting for events.", {},
                                 [this] { return double(hub_.stats().waiters); });
    registry_.add_gauge_callback("lastmile_log_events", "Events retained in the log.", {},
                                 [this] { return double(log_.size()); });
  }

  options opts_;
  Log log_;
  hub<Log> hub_;
  http::server http_;
  metrics::registry registry_;
  metrics::counter delivered_rest_, resets_rest_;
  sse::options sse_options_, sse_json_options_;
  sse::stats sse_stats_;
  long_poll::hold_limiter poll_limiter_{100};
  long_poll::options poll_options_;
  long_poll::stats poll_stats_;
  ws::options ws_options_;
  ws::stats ws_stats_;
  server_webhook_store webhook_store_{opts_};
  webhook::dispatcher<Log, server_webhook_store> dispatcher_{hub_, webhook_store_, webhook_options(opts_)};
  webhook_api<webhook::dispatcher<Log, server_webhook_store>> webhook_api_{
      dispatcher_, [this](http::exchange& ex) { return !opts_.auth_secret || (ex.claims() && ex.claims()->may_publish); }};
};

using reference_server = basic_reference_server<memory_log>;

}  // namespace lastmile_server
