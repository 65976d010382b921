#include <lastmile/webhook/store.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace lastmile;
using namespace lastmile::webhook;

namespace {

struct temp_path {
  std::filesystem::path path;
  temp_path() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("lastmile-webhook-store-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db");
    remove();
  }
  ~temp_path() { remove(); }
  void remove() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(path.string() + suffix, ec);
  }
};

struct memory_fixture {
  memory_webhook_store store{{.max_attempts = 5}};
};

struct sqlite_fixture {
  temp_path tmp;
  sqlite_webhook_store store = open(tmp.path.string());
  static sqlite_webhook_store open(const std::string& path) {
    auto s = sqlite_webhook_store::open({.path = path, .max_attempts = 5});
    REQUIRE_MESSAGE(s, s.error().message());
    return std::move(*s);
  }
};

endpoint make_endpoint(std::string id, std::int64_t created) {
  endpoint ep;
  ep.id = std::move(id);
  ep.url = "https://example.com/hook?x=1";
  ep.topics = {"orders.*", "billing"};
  ep.types = {};
  ep.secrets = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_old"};
  ep.position = cursor{0xabc, 41};
  ep.created_ms = created;
  return ep;
}

attempt_record make_attempt(std::string event, std::uint32_t n, std::string outcome, int status = 500) {
  attempt_record a;
  a.endpoint_id = "ignored";  // stored under the endpoint passed to record()
  a.event_id = std::move(event);
  a.attempt = n;
  a.at_ms = 1'780'000'000'000 + n;
  a.status = status;
  a.error = outcome == "delivered" ? "" : "http_" + std::to_string(status);
  a.duration_ms = 12 * n;
  a.outcome = std::move(outcome);
  return a;
}

}  // namespace

TEST_CASE_TEMPLATE("webhook store: endpoints are stored, replaced, listed and removed", F, memory_fixture,
                   sqlite_fixture) {
  F f;
  auto& s = f.store;
  CHECK_FALSE(s.get_endpoint("a").has_value());
  CHECK(s.list_endpoints().empty());

  auto a = make_endpoint("a", 200);
  auto b = make_endpoint("b", 100);
  auto c = make_endpoint("c", 200);
  c.types = {"created", "deleted"};
  c.secrets = {};
  c.topics = {""};  // an odd value still round-trips
  REQUIRE(s.put_endpoint(c));
  REQUIRE(s.put_endpoint(a));
  REQUIRE(s.put_endpoint(b));
  CHECK(s.get_endpoint("a") == a);
  CHECK(s.get_endpoint("c") == c);

  auto list = s.list_endpoints();
  REQUIRE(list.size() == 3);
  CHECK(list[0].id == "b");  // created first
  CHECK(list[1].id == "a");  // same time as c: by id
  CHECK(list[2].id == "c");

  a.url = "http://other.example/";
  a.status = endpoint_status::disabled;
  a.disabled_reason = "gone (410)";
  a.consecutive_failures = 3;
  a.failing_since_ms = 1234;
  REQUIRE(s.put_endpoint(a));
  CHECK(s.get_endpoint("a") == a);
  CHECK(s.list_endpoints().size() == 3);

  REQUIRE(s.remove_endpoint("a"));
  CHECK_FALSE(s.get_endpoint("a").has_value());
  CHECK(s.remove_endpoint("a").error() == errc::not_found);
  CHECK(s.list_endpoints().size() == 2);
}

TEST_CASE_TEMPLATE("webhook store: record updates progress and appends the attempt", F, memory_fixture,
                   sqlite_fixture) {
  F f;
  auto& s = f.store;
  auto ep = make_endpoint("e", 1);
  REQUIRE(s.put_endpoint(ep));

  auto progress = ep;
  progress.url = "http://must-not-change/";  // record touches only the progress fields
  progress.consecutive_failures = 1;
  progress.failing_since_ms = 555;
  REQUIRE(s.record(progress, make_attempt("abc-42", 1, "retry")));
  progress.position = cursor{0xabc, 42};
  progress.consecutive_failures = 0;
  progress.failing_since_ms = 0;
  REQUIRE(s.record(progress, make_attempt("abc-42", 2, "delivered", 200)));

  auto got = s.get_endpoint("e");
  REQUIRE(got);
  CHECK(got->position == cursor{0xabc, 42});
  CHECK(got->url == ep.url);
  CHECK(got->consecutive_failures == 0);

  auto att = s.attempts("e", 10);
  REQUIRE(att.size() == 2);
  CHECK(att[0].attempt == 2);  // newest first
  CHECK(att[0].outcome == "delivered");
  CHECK(att[0].error.empty());
  CHECK(att[0].endpoint_id == "e");
  CHECK(att[1] == [] {
    auto a = make_attempt("abc-42", 1, "retry");
    a.endpoint_id = "e";
    return a;
  }());
  CHECK(s.attempts("e", 1).size() == 1);
  CHECK(s.attempts("e", 0).empty());
  CHECK(s.attempts("nobody", 10).empty());

  // An endpoint that does not exist: nothing is written.
  auto ghost = make_endpoint("ghost", 1);
  CHECK(s.record(ghost, make_attempt("abc-1", 1, "failed")).error() == errc::not_found);
  CHECK(s.attempts("ghost", 10).empty());
  CHECK_FALSE(s.get_endpoint("ghost"));
}

TEST_CASE_TEMPLATE("webhook store: failed events, disabling, bounded history", F, memory_fixture, sqlite_fixture) {
  F f;
  auto& s = f.store;
  auto ep = make_endpoint("e", 1);
  REQUIRE(s.put_endpoint(ep));
  REQUIRE(s.record(ep, make_attempt("abc-42", 1, "failed", 400)));
  REQUIRE(s.record(ep, make_attempt("", 1, "cursor_expired", 0)));
  // Many deliveries afterwards: the history is bounded (5 here) but failures stay listed.
  for (std::uint32_t i = 0; i < 40; ++i) REQUIRE(s.record(ep, make_attempt("abc-" + std::to_string(50 + i), 1, "delivered", 200)));
  auto recent = s.attempts("e", 100);
  REQUIRE(recent.size() == 5);
  CHECK(recent[0].event_id == "abc-89");
  CHECK(recent[4].event_id == "abc-85");
  auto failed = s.failed_events("e", 10);
  REQUIRE(failed.size() == 2);
  CHECK(failed[0].outcome == "cursor_expired");
  CHECK(failed[1].event_id == "abc-42");
  CHECK(s.failed_events("e", 1).size() == 1);

  auto off = ep;
  off.status = endpoint_status::disabled;
  off.disabled_reason = "410 gone";
  REQUIRE(s.record(off, make_attempt("abc-99", 1, "disabled", 410)));
  auto got = s.get_endpoint("e");
  CHECK(got->status == endpoint_status::disabled);
  CHECK(got->disabled_reason == "410 gone");
  CHECK(s.failed_events("e", 10).size() == 2);  // "disabled" is not a failed event

  // Removing the endpoint drops its attempts; a new one with the same id starts clean.
  REQUIRE(s.remove_endpoint("e"));
  REQUIRE(s.put_endpoint(ep));
  CHECK(s.attempts("e", 100).empty());
  CHECK(s.failed_events("e", 100).empty());
}

TEST_CASE_TEMPLATE("webhook store: concurrent records of many endpoints", F, memory_fixture, sqlite_fixture) {
  F f;
  auto& s = f.store;
  constexpr int n = 4, per = 50;
  for (int i = 0; i < n; ++i) REQUIRE(s.put_endpoint(make_endpoint("e" + std::to_string(i), i)));
  std::vector<std::thread> ts;
  std::atomic<int> errors{0};
  for (int i = 0; i < n; ++i)
    ts.emplace_back([&, i] {
      auto ep = make_endpoint("e" + std::to_string(i), i);
      for (int k = 1; k <= per; ++k) {
        ep.position = cursor{0xabc, std::uint64_t(k)};
        if (!s.record(ep, make_attempt("abc-" + std::to_string(k), 1, "delivered", 200))) ++errors;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(errors == 0);
  for (int i = 0; i < n; ++i) {
    auto ep = s.get_endpoint("e" + std::to_string(i));
    REQUIRE(ep);
    CHECK(ep->position == cursor{0xabc, per});
    auto att = s.attempts(ep->id, 1);
    REQUIRE(att.size() == 1);
    CHECK(att[0].event_id == "abc-" + std::to_string(per));
  }
}

TEST_CASE("sqlite webhook store: everything survives a reopen, record included") {
  temp_path tmp;
  auto ep = make_endpoint("e", 7);
  {
    auto s = sqlite_fixture::open(tmp.path.string());
    REQUIRE(s.put_endpoint(ep));
    REQUIRE(s.put_endpoint(make_endpoint("gone", 8)));
    REQUIRE(s.remove_endpoint("gone"));
    auto progress = ep;
    progress.position = cursor{0xabc, 43};
    progress.consecutive_failures = 2;
    progress.failing_since_ms = 99;
    REQUIRE(s.record(progress, make_attempt("abc-43", 3, "failed", 404)));
  }
  auto s = sqlite_fixture::open(tmp.path.string());
  auto got = s.get_endpoint("e");
  REQUIRE(got);
  // Position and the attempt that justified it are both there.
  CHECK(got->position == cursor{0xabc, 43});
  CHECK(got->consecutive_failures == 2);
  CHECK(got->failing_since_ms == 99);
  CHECK(got->secrets == ep.secrets);
  CHECK(got->topics == ep.topics);
  auto att = s.attempts("e", 10);
  REQUIRE(att.size() == 1);
  CHECK(att[0].event_id == "abc-43");
  CHECK(att[0].attempt == 3);
  CHECK(att[0].status == 404);
  CHECK(s.failed_events("e", 10).size() == 1);
  CHECK_FALSE(s.get_endpoint("gone"));
  CHECK(s.list_endpoints().size() == 1);
}

TEST_CASE("sqlite webhook store: a failed record writes neither position nor attempt") {
  // The attempt's row (the attempt log for a failure, the newest-delivered row for a
  // delivery) is refused inside the transaction, after the position update.
  struct variant {
    const char* outcome;
    const char* table;
  };
  for (const variant v : {variant{"failed", "lastmile_webhook_attempts"},
                          variant{"delivered", "lastmile_webhook_last_delivered"}}) {
    const std::string outcome = v.outcome;
    CAPTURE(outcome);
    temp_path tmp;
    auto ep = make_endpoint("e", 7);
    {
      auto s = sqlite_fixture::open(tmp.path.string());
      REQUIRE(s.put_endpoint(ep));
    }
    {  // the store holds the file exclusively while it is open
      lastmile::detail::sqlite::db_ptr raw;
      REQUIRE_FALSE(lastmile::detail::sqlite::open(tmp.path.string(), false, raw));
      REQUIRE_FALSE(lastmile::detail::sqlite::exec(
          raw.get(), (std::string("CREATE TRIGGER refuse BEFORE INSERT ON ") + v.table +
                      " BEGIN SELECT RAISE(ABORT, 'refused'); END").c_str()));
      raw.reset();
    }
    {
      auto s = sqlite_fixture::open(tmp.path.string());
      auto progress = ep;
      progress.position = cursor{0xabc, 50};
      auto r = s.record(progress, make_attempt("abc-50", 1, v.outcome, 200));
      CHECK_FALSE(r);
      CHECK(s.attempts("e", 10).empty());  // not even in memory
    }
    auto s = sqlite_fixture::open(tmp.path.string());
    CHECK(s.get_endpoint("e")->position == ep.position);
    CHECK(s.attempts("e", 10).empty());
  }
}

TEST_CASE("sqlite webhook store: delivered attempts cost one row; the newest survives a reopen") {
  temp_path tmp;
  auto ep = make_endpoint("e", 7);
  {
    auto s = sqlite_fixture::open(tmp.path.string());
    REQUIRE(s.put_endpoint(ep));
    REQUIRE(s.record(ep, make_attempt("abc-42", 1, "retry", 503)));
    for (std::uint32_t i = 0; i < 10; ++i) {
      auto progress = ep;
      progress.position = cursor{0xabc, 43 + i};
      REQUIRE(s.record(progress, make_attempt("abc-" + std::to_string(43 + i), 1, "delivered", 200)));
    }
    // In this process: the history (bounded to max_attempts = 5), newest first.
    auto all = s.attempts("e", 100);
    REQUIRE(all.size() == 5);
    CHECK(all[0].event_id == "abc-52");
    CHECK(all[4].event_id == "abc-48");
  }
  {
    // On disk: the retry in the attempt log and one newest-delivered row, whatever
    // the number of deliveries.
    lastmile::detail::sqlite::db_ptr raw;
    REQUIRE_FALSE(lastmile::detail::sqlite::open(tmp.path.string(), false, raw));
    auto count = [&](const char* sql) {
      lastmile::detail::sqlite::statement st;
      REQUIRE_FALSE(st.prepare(raw.get(), sql));
      REQUIRE(st.step() == SQLITE_ROW);
      return st.int64(0);
    };
    CHECK(count("SELECT count(*) FROM lastmile_webhook_attempts") == 1);
    CHECK(count("SELECT count(*) FROM lastmile_webhook_last_delivered") == 1);
  }
  auto s = sqlite_fixture::open(tmp.path.string());
  CHECK(s.get_endpoint("e")->position == cursor{0xabc, 52});
  auto after = s.attempts("e", 100);
  REQUIRE(after.size() == 2);  // the newest delivery, then the retry from the log
  CHECK(after[0].event_id == "abc-52");
  CHECK(after[0].outcome == "delivered");
  CHECK(after[1].outcome == "retry");
  // New deliveries after the reopen take the place of the one read from disk.
  REQUIRE(s.record(ep, make_attempt("abc-60", 1, "delivered", 200)));
  auto later = s.attempts("e", 100);
  REQUIRE(later.size() == 2);
  CHECK(later[0].event_id == "abc-60");
  CHECK(later[1].outcome == "retry");
}

TEST_CASE("sqlite webhook store: durable_delivered_attempts keeps every delivery on disk") {
  temp_path tmp;
  auto ep = make_endpoint("e", 7);
  auto open = [&] {
    auto r = sqlite_webhook_store::open({.path = tmp.path.string(), .durable_delivered_attempts = true});
    REQUIRE(r);
    return std::move(*r);
  };
  {
    auto s = open();
    REQUIRE(s.put_endpoint(ep));
    for (std::uint32_t i = 0; i < 5; ++i)
      REQUIRE(s.record(ep, make_attempt("abc-" + std::to_string(43 + i), 1, "delivered", 200)));
  }
  auto s = open();
  auto all = s.attempts("e", 100);
  REQUIRE(all.size() == 5);
  CHECK(all[0].event_id == "abc-47");
  CHECK(all[4].event_id == "abc-43");
}

TEST_CASE("sqlite webhook store: open errors are clear") {
  auto r = sqlite_webhook_store::open(std::string("/nonexistent-dir-for-lastmile/hooks.db"));
  REQUIRE_FALSE(r);
  CHECK(r.error().message() == "unable to open database file");
  CHECK_FALSE(sqlite_webhook_store::open(std::string()));
}

TEST_CASE("webhook store: the list encoding is byte-safe and survives damage") {
  std::vector<std::string> v = {"", "a:b", std::string("x\0y", 3), "12:"};
  CHECK(webhook::detail::decode_list(webhook::detail::encode_list(v)) == v);
  CHECK(webhook::detail::decode_list("3:ab").empty());
  CHECK(webhook::detail::decode_list("x:ab").empty());
  CHECK(webhook::detail::decode_list("1:a99999999999999999999999:") == std::vector<std::string>{"a"});
}

// Mirrors the example in docs/webhook-store.md (path aside).
TEST_CASE("webhook store: the docs example") {
  temp_path tmp;
  auto opened = lastmile::webhook::sqlite_webhook_store::open(tmp.path.string());
  REQUIRE(opened);
  auto store = std::move(*opened);

  lastmile::webhook::endpoint ep;
  ep.id = "ep_1";
  ep.url = "https://example.com/hooks";
  ep.topics = {"orders.*"};
  ep.secrets = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
  REQUIRE(store.put_endpoint(ep));
  CHECK(store.get_endpoint("ep_1") == ep);
}
