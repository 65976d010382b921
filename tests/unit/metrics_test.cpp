#include <lastmile/metrics.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace lastmile;

TEST_CASE("metrics: render exact text for a small registry") {
  metrics::registry reg;
  const char* help = "Open client connections.";
  auto sse = reg.add_gauge("lastmile_connections", help, {{"transport", "sse"}});
  auto ws = reg.add_gauge("lastmile_connections", help, {{"transport", "ws"}});
  auto ok = reg.add_counter("lastmile_http_requests_total", "HTTP requests by status.",
                            {{"status", "200"}});
  auto nf = reg.add_counter("lastmile_http_requests_total", "HTTP requests by status.",
                            {{"status", "404"}});
  auto plain = reg.add_counter("lastmile_events_published_total", "Events appended.");
  int waiters = 3;
  reg.add_gauge_callback("lastmile_waiters", "Parked long-poll readers.", {},
                         [&] { return static_cast<double>(waiters); });

  sse.inc();
  sse.inc();
  ws.inc();
  sse.dec();
  ok.inc(5);
  nf.inc();
  plain.inc(0);
  waiters = 7;  // read at render time

  CHECK(reg.render() ==
        "# HELP lastmile_connections Open client connections.\n"
        "# TYPE lastmile_connections gauge\n"
        "lastmile_connections{transport=\"sse\"} 1\n"
        "lastmile_connections{transport=\"ws\"} 1\n"
        "# HELP lastmile_http_requests_total HTTP requests by status.\n"
        "# TYPE lastmile_http_requests_total counter\n"
        "lastmile_http_requests_total{status=\"200\"} 5\n"
        "lastmile_http_requests_total{status=\"404\"} 1\n"
        "# HELP lastmile_events_published_total Events appended.\n"
        "# TYPE lastmile_events_published_total counter\n"
        "lastmile_events_published_total 0\n"
        "# HELP lastmile_waiters Parked long-poll readers.\n"
        "# TYPE lastmile_waiters gauge\n"
        "lastmile_waiters 7\n");

  ws.dec();
  ws.dec();
  ws.sub(3);
  CHECK(ws.value() == -4);
  ws.set(-2);
  CHECK(reg.render().find("lastmile_connections{transport=\"ws\"} -2\n") != std::string::npos);
}

TEST_CASE("metrics: re-registration returns the same series; label order is irrelevant") {
  metrics::registry reg;
  auto a = reg.add_counter("x_total", "X.", {{"b", "2"}, {"a", "1"}});
  auto b = reg.add_counter("x_total", "X.", {{"a", "1"}, {"b", "2"}});
  a.inc();
  b.inc();
  CHECK(a.value() == 2);
  CHECK(reg.render() == "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"2\"} 2\n");
}

TEST_CASE("metrics: label values and help text are escaped") {
  metrics::registry reg;
  auto c = reg.add_counter("esc_total", "Help with \\ backslash\nand \"quotes\".",
                           {{"path", "C:\\dir\n\"q\""}, {"utf8", "caf\xC3\xA9"}});
  c.inc();
  CHECK(reg.render() ==
        "# HELP esc_total Help with \\\\ backslash\\nand \"quotes\".\n"
        "# TYPE esc_total counter\n"
        "esc_total{path=\"C:\\\\dir\\n\\\"q\\\"\",utf8=\"caf\xC3\xA9\"} 1\n");
}

TEST_CASE("metrics: callback gauges render special float values") {
  metrics::registry reg;
  double v = 0.25;
  reg.add_gauge_callback("cb", "Callback.", {{"k", "v"}}, [&] { return v; });
  CHECK(reg.render() == "# HELP cb Callback.\n# TYPE cb gauge\ncb{k=\"v\"} 0.25\n");
  v = std::numeric_limits<double>::infinity();
  CHECK(reg.render().ends_with("cb{k=\"v\"} +Inf\n"));
  v = -v;
  CHECK(reg.render().ends_with("cb{k=\"v\"} -Inf\n"));
  v = std::nan("");
  CHECK(reg.render().ends_with("cb{k=\"v\"} NaN\n"));
  v = 1e21;
  CHECK(reg.render().ends_with("cb{k=\"v\"} 1e+21\n"));
}

TEST_CASE("metrics: concurrent increments add up") {
  metrics::registry reg;
  auto c = reg.add_counter("hits_total", "Hits.");
  auto g = reg.add_gauge("level", "Level.");
  constexpr int threads = 4, per_thread = 100000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      // Each thread also registers lazily (locking) while others increment lock-free.
      auto mine = reg.add_counter("hits_total", "Hits.");
      auto own = reg.add_counter("per_thread_total", "Per thread.", {{"t", std::to_string(t)}});
      for (int i = 0; i < per_thread; ++i) {
        (i % 2 ? c : mine).inc();
        own.inc();
        g.inc();
        if (i % 4 == 0) g.dec();
      }
    });
  for (auto& t : ts) t.join();
  CHECK(c.value() == std::uint64_t(threads) * per_thread);
  CHECK(g.value() == std::int64_t(threads) * (per_thread - per_thread / 4));
  const std::string text = reg.render();
  const std::string total = std::to_string(threads * per_thread);
  CHECK(text.find("hits_total " + total + "\n") != std::string::npos);
  for (int t = 0; t < threads; ++t)
    CHECK(text.find("per_thread_total{t=\"" + std::to_string(t) + "\"} " +
                    std::to_string(per_thread) + "\n") != std::string::npos);
}

TEST_CASE("metrics: invalid names and conflicting registrations are rejected") {
  metrics::registry reg;
  for (const char* bad : {"", "1abc", "has-dash", "has space", "é", "a.b", "a{b}"}) {
    INFO("name: ", bad);
    CHECK_THROWS_AS(reg.add_counter(bad, "h"), std::invalid_argument);
  }
  for (const char* good : {"a", "_a", ":a", "a:b_c9", "A_Z"}) {
    INFO("name: ", good);
    CHECK_NOTHROW(reg.add_counter(good, "h"));
  }
  for (const char* bad : {"", "1a", "a:b", "a-b", "__reserved", "x y"}) {
    INFO("label: ", bad);
    CHECK_THROWS_AS(reg.add_gauge("g", "h", {{bad, "v"}}), std::invalid_argument);
  }
  CHECK_NOTHROW(reg.add_gauge("g", "h", {{"_ok", "v"}, {"Ok9", "v"}}));
  CHECK_THROWS_AS(reg.add_gauge("g", "h", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_gauge("g", "h", {{"a", "\xFF"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_gauge("g", "h", {{"a", "\xED\xA0\x80"}}), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_gauge("u", "bad \xC3"), std::invalid_argument);
  // Same name, other type or help.
  CHECK_THROWS_AS(reg.add_counter("g", "h"), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_gauge("g", "other help"), std::invalid_argument);
  // Callback series cannot be re-registered or shadowed by a plain gauge.
  reg.add_gauge_callback("cb", "h", {}, [] { return 1.0; });
  CHECK_THROWS_AS(reg.add_gauge_callback("cb", "h", {}, [] { return 2.0; }), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_gauge("cb", "h"), std::invalid_argument);
  CHECK_THROWS_AS(reg.add_gauge_callback("cb2", "h", {}, nullptr), std::invalid_argument);
  // Rejected registrations leave no trace in the output.
  CHECK(reg.render().find("cb2") == std::string::npos);
  CHECK(reg.render().find("# HELP u ") == std::string::npos);
}

TEST_CASE("metrics: default handles are detached no-ops") {
  metrics::counter c;
  metrics::gauge g;
  c.inc();
  g.inc();
  CHECK(c.value() == 0);
  CHECK(g.value() == 0);
}
