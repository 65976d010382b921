// The reference server in-process over real sockets: REST publish/read, paging,
// resets, errors, JWT auth, metrics; and the binary itself: flags, startup line,
// SIGTERM.
#include "reference_fixture.hpp"

#include "test_client.hpp"

#include <lastmile/auth/jwt.hpp>

#include <doctest/doctest.h>
#include <simdjson.h>

#include <csignal>
#include <sys/wait.h>

using namespace std::chrono_literals;

namespace {

using running_server = testing::in_process_server;

simdjson::dom::element parse(simdjson::dom::parser& p, const std::string& s) {
  auto r = p.parse(s);
  REQUIRE(r.error() == simdjson::SUCCESS);
  return r.value();
}

std::string token(std::string_view claims, std::string_view secret = "s3cret") {
  return lastmile::auth::sign_hs256(claims, secret);
}
long long now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_CASE("REST publish and read round trip") {
  running_server s;
  auto r = testing::request(s.port(), "POST", "/topics/orders/events?type=created", R"({"order":42})");
  REQUIRE(r);
  CHECK(r->status == 201);
  simdjson::dom::parser p;
  std::string id{std::string_view(parse(p, r->body)["id"])};
  CHECK(lastmile::parse_cursor(id));
  testing::request(s.port(), "POST", "/topics/orders/events", "plain text");
  testing::request(s.port(), "POST", "/topics/other/events", "x");

  r = testing::request(s.port(), "GET", "/topics/orders/events?after=earliest");
  REQUIRE(r);
  CHECK(r->status == 200);
  auto doc = parse(p, r->body);
  auto events = doc["events"].get_array();
  REQUIRE(events.size() == 2);
  CHECK(std::string_view(events.at(0)["id"]) == id);
  CHECK(std::string_view(events.at(0)["type"]) == "created");
  CHECK(std::string_view(events.at(0)["topic"]) == "orders");
  CHECK(int64_t(events.at(0)["data"]["order"]) == 42);
  CHECK(std::string_view(events.at(1)["data"]) == "plain text");
  CHECK(std::string_view(events.at(1)["type"]) == "message");
  CHECK(doc["reset"].error() == simdjson::NO_SUCH_FIELD);
  // nextCursor lies past the other topic's event: reading from it returns nothing new.
  std::string next{std::string_view(doc["nextCursor"])};
  r = testing::request(s.port(), "GET", "/topics/orders/events?after=" + next);
  CHECK(parse(p, r->body)["events"].get_array().size() == 0);
  // latest: nothing, with a concrete cursor.
  r = testing::request(s.port(), "GET", "/topics/orders/events?after=latest");
  doc = parse(p, r->body);
  CHECK(doc["events"].get_array().size() == 0);
  CHECK(lastmile::parse_cursor(std::string_view(doc["nextCursor"])));
}

TEST_CASE("cursor paging returns every event exactly once, in order") {
  running_server s;
  for (int i = 0; i < 25; ++i)
    REQUIRE(testing::request(s.port(), "POST", "/topics/t/events", std::to_string(i))->status == 201);
  simdjson::dom::parser p;
  std::string after = "earliest";
  std::vector<int64_t> seen;
  for (int page = 0; page < 10; ++page) {
    auto r = testing::request(s.port(), "GET", "/topics/t/events?limit=10&after=" + after);
    REQUIRE(r->status == 200);
    auto doc = parse(p, r->body);
    auto events = doc["events"].get_array();
    if (events.size() == 0) break;
    CHECK(events.size() <= 10);
    for (auto e : events) seen.push_back(int64_t(e["data"]));
    after = std::string(std::string_view(doc["nextCursor"]));
  }
  REQUIRE(seen.size() == 25);
  for (int i = 0; i < 25; ++i) CHECK(seen[i] == i);
}

TEST_CASE("an expired cursor gets a reset and the earliest retained events") {
  lastmile_server::options o;
  o.retention = 5;
  running_server s(o);
  simdjson::dom::parser p;
  std::string first;
  for (int i = 0; i < 10; ++i) {
    auto r = testing::request(s.port(), "POST", "/topics/t/events", std::to_string(i));
    if (i == 0) first = std::string(std::string_view(parse(p, r->body)["id"]));
  }
  auto r = testing::request(s.port(), "GET", "/topics/t/events?after=" + first);
  REQUIRE(r->status == 200);
  auto doc = parse(p, r->body);
  CHECK(std::string_view(doc["reset"]["reason"]) == "cursor_expired");
  auto events = doc["events"].get_array();
  REQUIRE(events.size() == 5);
  CHECK(int64_t(events.at(0)["data"]) == 5);
  // A cursor of another epoch (another server's) resets too.
  r = testing::request(s.port(), "GET", "/topics/t/events?after=abc-3");
  CHECK(std::string_view(parse(p, r->body)["reset"]["reason"]) == "cursor_expired");
}

TEST_CASE("bad input: JSON errors with fitting statuses") {
  running_server s;
  struct c { std::string method, target, body; int status; std::string code; };
  std::vector<c> cases = {
      {"GET", "/topics/t/events?after=nope", "", 400, "bad_cursor"},
      {"GET", "/topics/t/events?after=ABC-1", "", 400, "bad_cursor"},
      {"GET", "/topics/t/events?limit=0", "", 400, "bad_request"},
      {"GET", "/topics/t/events?limit=1001", "", 400, "bad_request"},
      {"GET", "/topics/t/events?limit=ten", "", 400, "bad_request"},
      {"POST", "/topics/a%20b/events", "x", 400, "bad_topic"},
      {"POST", "/topics/" + std::string(129, 'a') + "/events", "x", 400, "bad_topic"},
      {"POST", "/topics/t/events?type=no%2Fslash", "x", 400, "bad_type"},
      {"POST", "/topics/t/events", "\xff\xfe", 400, "bad_request"},
      {"GET", "/topics/a%20b/events", "", 400, "bad_topic"},
      {"PUT", "/topics/t/events", "", 405, "method_not_allowed"},
      {"GET", "/nowhere", "", 404, "not_found"},
  };
  simdjson::dom::parser p;
  for (auto& k : cases) {
    INFO(k.method, " ", k.target);
    auto r = testing::request(s.port(), k.method, k.target, k.body);
    REQUIRE(r);
    CHECK(r->status == k.status);
    auto doc = parse(p, r->body);
    CHECK(std::string_view(doc["error"]) == k.code);
    CHECK(std::string_view(doc["message"]).size() > 0);
  }
}

TEST_CASE("JWT: valid, expired, bad signature, other algs, wrong topic; header and ?token=") {
  lastmile_server::options o;
  o.auth_secret = "s3cret";
  running_server s(o);
  auto exp = std::to_string(now_s() + 600);
  std::string good = token(R"({"sub":"ada","exp":)" + exp + R"(,"topics":["orders","eu.*"],"publish":true})");
  std::string reader = token(R"({"sub":"bob","exp":)" + exp + R"(,"topics":["orders"]})");
  std::string expired = token(R"({"exp":)" + std::to_string(now_s() - 10) + R"(,"topics":["orders"],"publish":true})");
  std::string wrong_key = token(R"({"exp":)" + exp + R"(,"topics":["orders"],"publish":true})", "other");
  std::string none = lastmile::detail::base64url_encode(std::string_view(R"({"alg":"none","typ":"JWT"})")) + "." +
                     lastmile::detail::base64url_encode(std::string_view(R"({"exp":)" + exp + R"(,"topics":["orders"]})")) + ".";
  std::string hs384 = lastmile::auth::sign_hs256(R"({"exp":)" + exp + R"(,"topics":["orders"]})", "s3cret",
                                                 R"({"alg":"HS384","typ":"JWT"})");
  auto bearer = [](const std::string& t) { return "Authorization: Bearer " + t + "\r\n"; };

  CHECK(testing::request(s.port(), "POST", "/topics/orders/events", "1")->status == 401);
  CHECK(testing::request(s.port(), "POST", "/topics/orders/events", "1", bearer(good))->status == 201);
  CHECK(testing::request(s.port(), "POST", "/topics/eu.fr/events", "1", bearer(good))->status == 201);
  CHECK(testing::request(s.port(), "GET", "/topics/orders/events", "", bearer(good))->status == 200);
  CHECK(testing::request(s.port(), "GET", "/topics/eu.fr/events", "", bearer(good))->status == 200);
  CHECK(testing::request(s.port(), "GET", "/topics/eu/events", "", bearer(good))->status == 403);  // eu.* needs a suffix
  CHECK(testing::request(s.port(), "GET", "/topics/users/events", "", bearer(good))->status == 403);
  CHECK(testing::request(s.port(), "POST", "/topics/orders/events", "1", bearer(reader))->status == 403);  // no publish claim
  CHECK(testing::request(s.port(), "GET", "/topics/orders/events?token=" + reader)->status == 200);
  CHECK(testing::request(s.port(), "GET", "/topics/orders/events", "", bearer(expired))->status == 401);
  CHECK(testing::request(s.port(), "GET", "/topics/orders/events", "", bearer(wrong_key))->status == 401);
  CHECK(testing::request(s.port(), "GET", "/topics/orders/events", "", bearer(none))->status == 401);
  CHECK(testing::request(s.port(), "GET", "/topics/orders/events?token=" + none)->status == 401);
  CHECK(testing::request(s.port(), "GET", "/topics/orders/events", "", bearer(hs384))->status == 401);
  auto r = testing::request(s.port(), "GET", "/topics/orders/events", "", bearer(expired));
  CHECK(r->body.find("\"error\":\"unauthorized\"") != std::string::npos);
  CHECK(r->header("WWW-Authenticate") == "Bearer");
  CHECK(testing::request(s.port(), "GET", "/healthz")->status == 200);  // operations stay open
  CHECK(testing::request(s.port(), "GET", "/metrics")->status == 200);
}

TEST_CASE("metrics count what happened") {
  running_server s;
  for (int i = 0; i < 3; ++i) testing::request(s.port(), "POST", "/topics/t/events", "x");
  testing::request(s.port(), "GET", "/topics/t/events?after=earliest");
  testing::request(s.port(), "GET", "/nowhere");
  auto r = testing::request(s.port(), "GET", "/metrics");
  REQUIRE(r);
  CHECK(r->header("Content-Type")->starts_with("text/plain; version=0.0.4"));
  CHECK(r->body.find("lastmile_events_published_total 3\n") != std::string::npos);
  CHECK(r->body.find("lastmile_http_responses_total{status=\"201\"} 3\n") != std::string::npos);
  CHECK(r->body.find("lastmile_http_responses_total{status=\"404\"} 1\n") != std::string::npos);
  CHECK(r->body.find("lastmile_events_delivered_total{transport=\"rest\"} 3\n") != std::string::npos);
  CHECK(r->body.find("# TYPE lastmile_connections gauge") != std::string::npos);
}

#ifdef LASTMILE_SERVER_BINARY

TEST_CASE("lastmile-server binary: startup line, serving, clean stop on SIGTERM and SIGINT") {
  for (int sig : {SIGTERM, SIGINT}) {
    auto c = testing::child_process::spawn(LASTMILE_SERVER_BINARY, {"--listen", "127.0.0.1:0", "--retention", "10"});
    std::string line = testing::child_process::read_line(c.out, 10s);
    REQUIRE(line.starts_with("listening on http://127.0.0.1:"));
    auto port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
    auto r = testing::request(port, "GET", "/healthz");
    REQUIRE(r);
    CHECK(r->body == R"({"status":"ok"})");
    ::kill(c.pid, sig);
    CHECK(c.wait_exit(10s) == 0);
    c.close_pipes();
  }
}

TEST_CASE("lastmile-server flags: webhook options are parsed into the server's options") {
  auto r = lastmile_server::parse_flags({"--webhook-in-flight", "16", "--webhook-allow", "127.0.0.0/8",
                                         "--webhook-store", "memory", "--webhook-timeout", "2.5",
                                         "--webhook-retry-schedule", "1,2,3"});
  REQUIRE(std::holds_alternative<lastmile_server::options>(r));
  const auto& o = std::get<lastmile_server::options>(r);
  CHECK(o.webhook_in_flight == 16);
  CHECK(o.webhook_allow == std::vector<std::string>{"127.0.0.0/8"});
  CHECK(o.webhook_store == "memory");
  CHECK(o.webhook_timeout_seconds == 2.5);
  CHECK(o.webhook_retry_schedule == "1,2,3");
  auto d = lastmile_server::webhook_options(o);
  CHECK(d.in_flight == 16);
  CHECK(d.attempt_timeout == std::chrono::milliseconds(2500));
}

TEST_CASE("lastmile-server binary: bad flags give one line and a non-zero exit") {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"--bogus"}, {"--listen", "nope"}, {"--retention", "-1"}, {"--heartbeat", "0"},
           {"--log", "mysql://x"}, {"--tls-cert", "a.pem"}, {"--listen"},
           {"--webhook-in-flight", "0"}, {"--webhook-in-flight", "300"}, {"--webhook-allow", "10.0.0.0/33"},
           {"--webhook-timeout", "0"}, {"--webhook-retry-schedule", "5,x"}}) {
    INFO(args[0]);
    auto c = testing::child_process::spawn(LASTMILE_SERVER_BINARY, args);
    std::string line = testing::child_process::read_line(c.err, 5s);
    CHECK(line.starts_with("lastmile-server: "));
    CHECK(line.find('\n') == line.size() - 1);
    CHECK(c.wait_exit(5s) > 0);
    c.close_pipes();
  }
  // Port already taken: a reason, not a crash.
  lastmile_server::options o;
  running_server s(o);
  auto c = testing::child_process::spawn(LASTMILE_SERVER_BINARY, {"--listen", "127.0.0.1:" + std::to_string(s.port())});
  CHECK(testing::child_process::read_line(c.err, 5s).find("cannot listen") != std::string::npos);
  CHECK(c.wait_exit(5s) == 1);
  c.close_pipes();
}
#endif
