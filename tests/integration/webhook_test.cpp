// The webhook dispatcher against a real HTTP receiver over loopback: signatures,
// ordering, every outcome class, Retry-After, timeouts, a receiver that is down and
// comes back, SSRF refusals, type filters, replay, cursor expiry, the in-flight window,
// and a restart on a durable store.
#include <lastmile/http/server.hpp>
#include <lastmile/lastmile.hpp>
#include <lastmile/webhook/dispatcher.hpp>

#include "reference_fixture.hpp"
#include "test_client.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

using namespace lastmile;
using namespace std::chrono_literals;

namespace {

struct delivery {
  std::string id, timestamp, signature, body;
  std::chrono::steady_clock::time_point at;
};

// A receiver whose answers are scripted: `script` is consulted for every request
// (return the status; 0 = never answer, -1 = drop the connection). Deliveries are
// recorded whatever the answer.
struct receiver {
  http::server srv;
  std::uint16_t port = 0;
  std::mutex mutex;
  std::vector<delivery> got;
  std::function<int(std::size_t n, const delivery&)> script = [](std::size_t, const delivery&) { return 200; };
  std::string retry_after;

  explicit receiver(std::uint16_t want_port = 0) : srv(opts()) {
    srv.route("POST", "/hook", [this](http::exchange& ex) -> asio::awaitable<void> {
      delivery d;
      d.id = std::string(ex.req().header("webhook-id").value_or(""));
      d.timestamp = std::string(ex.req().header("webhook-timestamp").value_or(""));
      d.signature = std::string(ex.req().header("webhook-signature").value_or(""));
      d.body = ex.req().body;
      d.at = std::chrono::steady_clock::now();
      int status;
      std::string ra;
      {
        std::lock_guard lock(mutex);
        got.push_back(d);
        status = script(got.size(), d);
        ra = retry_after;
      }
      if (status == -1) {
        ex.abort();
        co_return;
      }
      if (status == 0) {
        asio::steady_timer t(ex.get_executor(), 10s);
        co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        co_return;
      }
      http::header_list h;
      if (!ra.empty()) h.emplace_back("Retry-After", ra);
      std::string_view body = "{}";
      co_await ex.respond(status, body, "application/json", std::move(h));
    });
    REQUIRE_FALSE(srv.listen("127.0.0.1", want_port));
    port = srv.local_endpoint().port();
    srv.start();
  }
  ~receiver() {
    srv.shutdown();
    srv.wait();
  }
  static http::server_options opts() {
    http::server_options o;
    o.threads = 1;
    return o;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/hook"; }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return got.size();
  }
  std::vector<delivery> snapshot() {
    std::lock_guard lock(mutex);
    return got;
  }
};

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return p();
}

webhook::dispatcher_options fast_options() {
  webhook::dispatcher_options o;
  o.schedule = webhook::retry_schedule::parse("0.02,0.02,0.02,0.02,0.02").value();
  o.attempt_timeout = 1s;
  o.connect_timeout = 500ms;
  REQUIRE(o.policy.allow("127.0.0.0/8"));
  o.seed = 42;
  return o;
}

// Runs dispatcher::add from a thread that is not the dispatcher's.
template <class D>
result<webhook::endpoint> add(D& d, webhook::endpoint_spec spec) {
  asio::io_context io;
  using outcome = std::optional<result<webhook::endpoint>>;  // co_spawn wants a default-constructible value
  auto fut = asio::co_spawn(
      io, [&]() -> asio::awaitable<outcome> { co_return co_await d.add(std::move(spec)); }, asio::use_future);
  io.run();
  return *fut.get();
}

struct fixture {
  memory_log log{memory_log_options{.max_events = 1000}};
  hub<memory_log> events{log};
  webhook::memory_webhook_store store;
};

std::vector<std::string> ids_of(const std::vector<delivery>& v) {
  std::vector<std::string> out;
  for (auto& d : v) out.push_back(d.id);
  return out;
}

}  // namespace

TEST_CASE("webhooks: signed deliveries in log order, verified by the receiver's rules") {
  fixture f;
  receiver r;
  webhook::dispatcher d(f.events, f.store, fast_options());
  d.start();
  auto ep = add(d, {.url = r.url(), .topics = {"orders.*"}, .from = position::latest()});
  REQUIRE(ep);
  REQUIRE(ep->secrets.front().starts_with("whsec_"));
  std::vector<std::string> published;
  for (int i = 0; i < 20; ++i) {
    published.push_back(to_string(*f.events.publish("orders.eu", "created", "{\"n\":" + std::to_string(i) + "}")));
    f.events.publish("billing", "x", "{}");  // another topic: not delivered
  }
  REQUIRE(eventually([&] { return r.count() >= 20; }));
  std::this_thread::sleep_for(50ms);
  auto got = r.snapshot();
  CHECK(ids_of(got) == published);
  auto key = webhook::secret::parse(ep->secrets.front()).value();
  std::vector<webhook::secret> keys{key};
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(webhook::verify(keys, got[i].id, got[i].timestamp, got[i].signature, got[i].body, now));
    CHECK(got[i].body.find("\"n\":" + std::to_string(i) + "}") != std::string::npos);
    CHECK(got[i].body.find("\"topic\":\"orders.eu\"") != std::string::npos);
  }
  // A tampered body does not verify.
  CHECK_FALSE(webhook::verify(keys, got[0].id, got[0].timestamp, got[0].signature, got[0].body + " ", now));
  REQUIRE(eventually([&] { return to_string(f.store.get_endpoint(ep->id)->position) == published.back(); }));
  auto attempts = d.attempts(ep->id, 100);
  REQUIRE(attempts.size() == 20);
  CHECK(attempts.front().outcome == "delivered");
  CHECK(attempts.front().status == 200);
  CHECK(d.stats().delivered.load() == 20);
}

TEST_CASE("webhooks: 5xx and 3xx are retried with the same webhook-id, then delivered") {
  fixture f;
  receiver r;
  r.script = [](std::size_t n, const delivery&) { return n == 1 ? 503 : n == 2 ? 302 : 200; };
  webhook::dispatcher d(f.events, f.store, fast_options());
  d.start();
  auto ep = add(d, {.url = r.url(), .topics = {"t"}});
  REQUIRE(ep);
  auto id = to_string(*f.events.publish("t", "x", "1"));
  f.events.publish("t", "x", "2");
  REQUIRE(eventually([&] { return r.count() >= 4; }));
  auto got = r.snapshot();
  CHECK(got[0].id == id);
  CHECK(got[1].id == id);
  CHECK(got[2].id == id);
  CHECK(got[3].id != id);  // the second event only after the first was delivered
  REQUIRE(eventually([&] { return d.attempts(ep->id, 10).size() >= 4; }));
  auto a = d.attempts(ep->id, 10);  // newest first
  CHECK(a[3].outcome == "retry");
  CHECK(a[3].status == 503);
  CHECK(a[3].error == "http_503");
  CHECK(a[3].attempt == 1);
  CHECK(a[2].outcome == "retry");
  CHECK(a[2].status == 302);
  CHECK(a[1].outcome == "delivered");
  CHECK(a[1].attempt == 3);
}

TEST_CASE("webhooks: 410 disables the endpoint; replay re-enables it from a cursor") {
  fixture f;
  receiver r;
  r.script = [](std::size_t n, const delivery&) { return n == 1 ? 410 : 200; };
  webhook::dispatcher d(f.events, f.store, fast_options());
  d.start();
  auto ep = add(d, {.url = r.url(), .topics = {"t"}});
  REQUIRE(ep);
  auto first = *f.events.publish("t", "x", "1");
  f.events.publish("t", "x", "2");
  REQUIRE(eventually([&] { return f.store.get_endpoint(ep->id)->status == webhook::endpoint_status::disabled; }));
  std::this_thread::sleep_for(100ms);
  CHECK(r.count() == 1);  // nothing more after 410
  CHECK(d.attempts(ep->id, 1).front().outcome == "disabled");
  // Replay from before the first event: both are delivered now.
  REQUIRE(d.replay(ep->id, position::earliest()));
  REQUIRE(eventually([&] { return r.count() >= 3; }));
  auto got = r.snapshot();
  CHECK(got[1].id == to_string(first));
  CHECK(f.store.get_endpoint(ep->id)->status == webhook::endpoint_status::active);
  CHECK_FALSE(d.replay("ep_nope", position::earliest()));
}

TEST_CASE("webhooks: other 4xx fail the event, which is listed, and delivery moves on") {
  fixture f;
  receiver r;
  r.script = [](std::size_t n, const delivery&) { return n == 1 ? 422 : 200; };
  webhook::dispatcher d(f.events, f.store, fast_options());
  d.start();
  auto ep = add(d, {.url = r.url(), .topics = {"t"}});
  REQUIRE(ep);
  auto bad = to_string(*f.events.publish("t", "x", "1"));
  f.events.publish("t", "x", "2");
  REQUIRE(eventually([&] { return r.count() >= 2; }));
  std::this_thread::sleep_for(50ms);
  CHECK(r.count() == 2);  // the 422 was not retried
  auto failed = d.failed_events(ep->id, 10);
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].event_id == bad);
  CHECK(failed[0].status == 422);
}

TEST_CASE("webhooks: an exhausted schedule gives the event up") {
  fixture f;
  receiver r;
  r.script = [](std::size_t n, const delivery&) { return n <= 3 ? 500 : 200; };
  auto o = fast_options();
  o.schedule = webhook::retry_schedule::parse("0.01,0.01").value();  // 3 attempts in all
  webhook::dispatcher d(f.events, f.store, std::move(o));
  d.start();
  auto ep = add(d, {.url = r.url(), .topics = {"t"}});
  REQUIRE(ep);
  auto first = to_string(*f.events.publish("t", "x", "1"));
  auto second = to_string(*f.events.publish("t", "x", "2"));
  REQUIRE(eventually([&] { return r.count() >= 4; }));
  auto got = r.snapshot();
  CHECK(got[2].id == first);
  CHECK(got[3].id == second);
  REQUIRE(eventually([&] { return !d.failed_events(ep->id, 10).empty(); }));
  CHECK(d.failed_events(ep->id, 10)[0].event_id == first);
}

TEST_CASE("webhooks: 429 with Retry-After waits that long instead of the schedule") {
  fixture f;
  receiver r;
  r.retry_after = "1";
  r.script = [](std::size_t n, const delivery&) { return n == 1 ? 429 : 200; };
  webhook::dispatcher d(f.events, f.store, fast_options());
  d.start();
  auto ep = add(d, {.url = r.url(), .topics = {"t"}});
  REQUIRE(ep);
  f.events.publish("t", "x", "1");
  REQUIRE(eventually([&] { return r.count() >= 2; }, 5s));
  auto got = r.snapshot();
  auto gap = got[1].at - got[0].at;
  CHECK(gap >= 900ms);  // the schedule alone would retry after ~20 ms
  CHECK(gap < 3s);
}

TEST_CASE("webhooks: a receiver that never answers times out and is retried") {
  fixture f;
  receiver r;
  r.script = [](std::size_t n, const delivery&) { return n == 1 ? 0 : n == 2 ? -1 : 200; };
  auto o = fast_options();
  o.attempt_timeout = 300ms;
  webhook::dispatcher d(f.events, f.store, std::move(o));
  d.start();
  auto ep = add(d, {.url = r.url(), .topics = {"t"}});
  REQUIRE(ep);
  f.events.publish("t", "x", "1");
  REQUIRE(eventually([&] { return r.count() >= 3; }, 5s));
  REQUIRE(eventually([&] { return d.attempts(ep->id, 10).size() >= 3; }));
  auto a = d.attempts(ep->id, 10);
  CHECK(a[2].error == "timeout");
  CHECK(a[2].status == 0);
  CHECK(a[1].outcome == "retry");  // dropped connection
  CHECK(a[1].status == 0);
  CHECK(a[0].outcome == "delivered");
}

TEST_CASE("webhooks: a receiver that is down, then comes back, gets everything in order") {
  fixture f;
  std::uint16_t port;
  {
    receiver probe;  // find a free port, then free it
    port = probe.port;
  }
  auto o = fast_options();
  o.schedule = webhook::retry_schedule::parse("0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05,0.05").value();
  webhook::dispatcher d(f.events, f.store, std::move(o));
  d.start();
  auto ep = add(d, {.url = "http://127.0.0.1:" + std::to_string(port) + "/hook", .topics = {"t"}});
  REQUIRE(ep);
  std::vector<std::string> published;
  for (int i = 0; i < 5; ++i) published.push_back(to_string(*f.events.publish("t", "x", std::to_string(i))));
  REQUIRE(eventually([&] { return d.attempts(ep->id, 10).size() >= 2; }));
  CHECK(d.attempts(ep->id, 1)[0].error == "connect");
  receiver r(port);
  REQUIRE(eventually([&] { return r.count() >= 5; }));
  CHECK(ids_of(r.snapshot()) == published);
}

TEST_CASE("webhooks: SSRF — private and loopback targets are refused without the allow-list") {
  fixture f;
  auto o = fast_options();
  o.policy = webhook::address_policy{};  // nothing allowed
  webhook::dispatcher d(f.events, f.store, std::move(o));
  d.start();
  for (std::string url : {"http://127.0.0.1/hook", "http://localhost:8080/x", "http://127.1/", "http://[::1]/",
                          "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data",
                          "http://10.0.0.1/", "https://192.168.1.1/"}) {
    CAPTURE(url);
    auto ep = add(d, {.url = url, .topics = {"t"}});
    REQUIRE_FALSE(ep);
    CHECK(ep.error() == errc::address_not_allowed);
  }
  for (std::string url : {"ftp://example.com/", "not a url", "http://user:pw@127.0.0.1/", ""}) {
    CAPTURE(url);
    auto ep = add(d, {.url = url, .topics = {"t"}});
    REQUIRE_FALSE(ep);
    CHECK(ep.error() == errc::bad_url);
  }
  CHECK(f.store.list_endpoints().empty());
  // Bad topic, type and secret.
  CHECK(add(d, {.url = "http://127.0.0.1/", .topics = {"a b"}}).error() == errc::bad_topic);
  CHECK(add(d, {.url = "http://127.0.0.1/", .topics = {}}).error() == errc::bad_topic);
  CHECK(add(d, {.url = "http://127.0.0.1/", .topics = {"t"}, .types = {"a b"}}).error() == errc::bad_type);
  CHECK(add(d, {.url = "http://127.0.0.1/", .topics = {"t"}, .secret = "whsec_short"}).error() == errc::bad_secret);
}

TEST_CASE("webhooks: type filters, and a given secret is used") {
  fixture f;
  receiver r;
  webhook::dispatcher d(f.events, f.store, fast_options());
  d.start();
  auto given = webhook::secret::generate(32);
  auto ep = add(d, {.url = r.url(), .topics = {"t"}, .types = {"created", "deleted"}, .secret = given.text()});
  REQUIRE(ep);
  CHECK(ep->secrets.front() == given.text());
  f.events.publish("t", "updated", "1");
  auto a = to_string(*f.events.publish("t", "created", "2"));
  f.events.publish("t", "updated", "3");
  auto b = to_string(*f.events.publish("t", "deleted", "4"));
  REQUIRE(eventually([&] { return r.count() >= 2; }));
  std::this_thread::sleep_for(50ms);
  auto got = r.snapshot();
  CHECK(ids_of(got) == std::vector<std::string>{a, b});
  std::vector<webhook::secret> keys{given};
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(webhook::verify(keys, got[0].id, got[0].timestamp, got[0].signature, got[0].body, now));
  REQUIRE(eventually([&] { return to_string(f.store.get_endpoint(ep->id)->position) == b; }));
}

TEST_CASE("webhooks: a cursor out of retention records cursor_expired and continues from the earliest") {
  memory_log log{memory_log_options{.max_events = 5}};
  hub<memory_log> events{log};
  webhook::memory_webhook_store store;
  receiver r;
  webhook::dispatcher d(events, store, fast_options());
  // Registered (not started yet) from the start of the log; then 20 events, 5 kept.
  auto start_cursor = events.head();
  webhook::endpoint ep;
  ep.id = "ep_test";
  ep.url = r.url();
  ep.topics = {"t"};
  ep.secrets = {webhook::secret::generate().text()};
  ep.position = start_cursor;
  REQUIRE(store.put_endpoint(ep));
  for (int i = 0; i < 20; ++i) events.publish("t", "x", std::to_string(i));
  d.start();
  REQUIRE(eventually([&] { return r.count() >= 5; }));
  std::this_thread::sleep_for(50ms);
  CHECK(r.count() == 5);
  auto attempts = d.attempts("ep_test", 100);
  REQUIRE(attempts.size() == 6);
  CHECK(attempts.back().outcome == "cursor_expired");
  CHECK(d.stats().expired.load() == 1);
}

TEST_CASE("webhooks: an in-flight window delivers everything and the cursor ends at the last event") {
  fixture f;
  receiver r;
  std::atomic<int> fails{0};
  r.script = [&](std::size_t n, const delivery&) { return (n % 7 == 3 && fails++ < 5) ? 500 : 200; };
  auto o = fast_options();
  o.in_flight = 8;
  webhook::dispatcher d(f.events, f.store, std::move(o));
  d.start();
  auto ep = add(d, {.url = r.url(), .topics = {"t"}});
  REQUIRE(ep);
  std::set<std::string> published;
  std::string last;
  for (int i = 0; i < 100; ++i) published.insert(last = to_string(*f.events.publish("t", "x", std::to_string(i))));
  REQUIRE(eventually([&] { return to_string(f.store.get_endpoint(ep->id)->position) == last; }));
  std::set<std::string> got;
  for (auto& dl : r.snapshot()) got.insert(dl.id);
  CHECK(got == published);
}

TEST_CASE("webhooks: outcomes that complete together share one store write (group commit)") {
  auto dir = std::filesystem::temp_directory_path() / ("lastmile-wh-gc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto db = (dir / "hooks.db").string();
  std::filesystem::remove(db);
  memory_log log{memory_log_options{.max_events = 1000}};
  hub<memory_log> events{log};
  receiver r;
  {
    auto store = webhook::sqlite_webhook_store::open(db).value();
    webhook::dispatcher d(events, store, fast_options());
    d.start();
    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i) {
      auto ep = add(d, {.url = r.url(), .topics = {"t"}});
      REQUIRE(ep);
      ids.push_back(ep->id);
    }
    std::string last;
    for (int i = 0; i < 30; ++i) last = to_string(*events.publish("t", "x", std::to_string(i)));
    REQUIRE(eventually([&] {
      for (auto& id : ids)
        if (to_string(store.get_endpoint(id)->position) != last) return false;
      return true;
    }));
    const auto outcomes = d.stats().delivered.load();
    CHECK(outcomes == 600);
    // Twenty endpoints in flight at once: their outcomes are written in batches.
    CHECK(d.stats().commits.load() < outcomes);
    MESSAGE("600 outcomes in " << d.stats().commits.load() << " store writes");
    for (auto& id : ids) CHECK(d.attempts(id, 100).size() == 30);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("webhooks: a dead endpoint does not delay a healthy one") {
  fixture f;
  receiver healthy, dead;
  dead.script = [](std::size_t, const delivery&) { return 0; };  // never answers
  auto o = fast_options();
  o.attempt_timeout = 2s;
  webhook::dispatcher d(f.events, f.store, std::move(o));
  d.start();
  REQUIRE(add(d, {.url = dead.url(), .topics = {"t"}}));
  REQUIRE(add(d, {.url = healthy.url(), .topics = {"t"}}));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) f.events.publish("t", "x", std::to_string(i));
  REQUIRE(eventually([&] { return healthy.count() >= 10; }, 5s));
  CHECK(std::chrono::steady_clock::now() - t0 < 1500ms);  // well before the dead one's timeout
}

TEST_CASE("webhooks: a restarted dispatcher on a durable store continues from the stored cursor") {
  auto dir = std::filesystem::temp_directory_path() / ("lastmile-wh-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto db = (dir / "hooks.db").string();
  std::filesystem::remove(db);
  memory_log log{memory_log_options{.max_events = 1000}};
  hub<memory_log> events{log};
  receiver r;
  std::string id;
  std::vector<std::string> published;
  {
    auto store = webhook::sqlite_webhook_store::open(db).value();
    webhook::dispatcher d(events, store, fast_options());
    d.start();
    auto ep = add(d, {.url = r.url(), .topics = {"t"}});
    REQUIRE(ep);
    id = ep->id;
    for (int i = 0; i < 3; ++i) published.push_back(to_string(*events.publish("t", "x", std::to_string(i))));
    REQUIRE(eventually([&] { return to_string(store.get_endpoint(id)->position) == published.back(); }));
    d.stop();
  }
  for (int i = 3; i < 6; ++i) published.push_back(to_string(*events.publish("t", "x", std::to_string(i))));
  {
    auto store = webhook::sqlite_webhook_store::open(db).value();
    webhook::dispatcher d(events, store, fast_options());
    d.start();
    REQUIRE(eventually([&] { return r.count() >= 6; }));
    std::this_thread::sleep_for(50ms);
    CHECK(ids_of(r.snapshot()) == published);  // nothing twice, nothing lost
    CHECK(d.get(id).has_value());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("reference server: webhook management API and delivery (PROTOCOL.md Webhooks)") {
  lastmile_server::options o;
  o.webhook_allow = {"127.0.0.0/8"};
  o.webhook_retry_schedule = "0.02,0.02";
  testing::in_process_server s(o);
  receiver r;
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  std::string body = R"({"url":")" + r.url() + R"(","topics":["orders"],"types":["created"],"secret":")" + secret + R"("})";
  auto created = testing::request(s.port(), "POST", "/webhooks", body);
  REQUIRE(created);
  REQUIRE(created->status == 201);
  CHECK(created->body.find("\"secret\":\"" + secret + "\"") != std::string::npos);
  auto idpos = created->body.find("\"id\":\"") + 6;
  std::string id = created->body.substr(idpos, created->body.find('"', idpos) - idpos);

  s.publish("orders", "{\"n\":1}", "updated");  // type not subscribed
  std::string ev = s.publish("orders", "{\"n\":2}", "created");
  REQUIRE(eventually([&] { return r.count() >= 1; }));
  auto got = r.snapshot();
  CHECK(got[0].id == ev);
  std::vector<webhook::secret> keys{webhook::secret::parse(secret).value()};
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(webhook::verify(keys, got[0].id, got[0].timestamp, got[0].signature, got[0].body, now));

  REQUIRE(eventually([&] {
    auto g = testing::request(s.port(), "GET", "/webhooks/" + id);
    return g && g->body.find("\"cursor\":\"" + ev + "\"") != std::string::npos;
  }));
  auto one = testing::request(s.port(), "GET", "/webhooks/" + id);
  CHECK(one->status == 200);
  CHECK(one->body.find("\"status\":\"active\"") != std::string::npos);
  CHECK(one->body.find("\"url\":\"" + r.url() + "\"") != std::string::npos);
  CHECK(one->body.find("\"lastAttempt\":{\"eventId\":\"" + ev + "\"") != std::string::npos);
  auto all = testing::request(s.port(), "GET", "/webhooks");
  CHECK(all->status == 200);
  CHECK(all->body.starts_with("{\"webhooks\":[{\"id\":\"" + id + "\""));
  auto attempts = testing::request(s.port(), "GET", "/webhooks/" + id + "/attempts");
  CHECK(attempts->status == 200);
  CHECK(attempts->body.find("\"status\":200") != std::string::npos);
  CHECK(attempts->body.find("\"durationMs\":") != std::string::npos);

  // Replay from the start: the event comes again.
  auto replay = testing::request(s.port(), "POST", "/webhooks/" + id + "/replay", R"({"from":"earliest"})");
  CHECK(replay->status == 202);
  REQUIRE(eventually([&] { return r.count() >= 2; }));
  CHECK(r.snapshot()[1].id == ev);

  // Metrics count the attempts (recorded just after the receiver answered).
  CHECK(eventually([&] {
    auto m = testing::request(s.port(), "GET", "/metrics");
    return m && m->body.find("lastmile_webhook_attempts_total{outcome=\"delivered\"} 2") != std::string::npos;
  }));

  // Errors.
  auto bad_json = testing::request(s.port(), "POST", "/webhooks", "{");
  CHECK(bad_json->status == 400);
  CHECK(bad_json->body.find("\"error\":\"bad_request\"") != std::string::npos);
  auto bad_secret = testing::request(s.port(), "POST", "/webhooks",
                                     R"({"url":"http://127.0.0.1:1/","topics":["t"],"secret":"whsec_abc"})");
  CHECK(bad_secret->status == 400);
  CHECK(bad_secret->body.find("\"error\":\"bad_secret\"") != std::string::npos);
  auto bad_url = testing::request(s.port(), "POST", "/webhooks", R"({"url":"gopher://x/","topics":["t"]})");
  CHECK(bad_url->status == 400);
  CHECK(bad_url->body.find("\"error\":\"bad_url\"") != std::string::npos);
  auto ssrf = testing::request(s.port(), "POST", "/webhooks", R"({"url":"http://169.254.169.254/","topics":["t"]})");
  CHECK(ssrf->status == 400);
  CHECK(ssrf->body.find("\"error\":\"url_not_allowed\"") != std::string::npos);
  auto bad_from = testing::request(s.port(), "POST", "/webhooks", R"({"url":"http://127.0.0.1:1/","topics":["t"],"from":"zz"})");
  CHECK(bad_from->status == 400);
  CHECK(testing::request(s.port(), "GET", "/webhooks/ep_nope")->status == 404);
  CHECK(testing::request(s.port(), "GET", "/webhooks/ep_nope/attempts")->status == 404);
  CHECK(testing::request(s.port(), "POST", "/webhooks/ep_nope/replay", "{}")->status == 404);

  auto del = testing::request(s.port(), "DELETE", "/webhooks/" + id);
  CHECK(del->status == 204);
  CHECK(testing::request(s.port(), "GET", "/webhooks/" + id)->status == 404);
  CHECK(testing::request(s.port(), "DELETE", "/webhooks/" + id)->status == 404);
}

TEST_CASE("reference server: without --webhook-allow, loopback webhook URLs are refused") {
  testing::in_process_server s;
  auto r = testing::request(s.port(), "POST", "/webhooks", R"({"url":"http://localhost:9/","topics":["t"]})");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(r->body.find("\"error\":\"url_not_allowed\"") != std::string::npos);
}
