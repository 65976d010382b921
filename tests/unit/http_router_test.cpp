#include <lastmile/http/router.hpp>

#include <lastmile/http/url.hpp>

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace lastmile::http;

TEST_SUITE("http url") {
  TEST_CASE("percent_decode is strict") {
    CHECK(percent_decode("a%20b").value_or("!") == "a b");
    CHECK(percent_decode("%41%62%2f").value_or("!") == "Ab/");
    CHECK(percent_decode("plain").value_or("!") == "plain");
    CHECK(percent_decode("").value_or("!") == "");
    CHECK(percent_decode("%e2%82%ac").value_or("!") == "\xe2\x82\xac");
    CHECK_FALSE(percent_decode("%zz").has_value());
    CHECK_FALSE(percent_decode("%4").has_value());
    CHECK_FALSE(percent_decode("abc%").has_value());
    CHECK_FALSE(percent_decode("%g0").has_value());
    CHECK_FALSE(percent_decode("a%00b").has_value());  // NUL after decoding
    CHECK_FALSE(percent_decode(std::string_view("a\0b", 3)).has_value());
  }

  TEST_CASE("'+' is a space only in the query component") {
    CHECK(percent_decode("a+b", decode_component::path).value_or("!") == "a+b");
    CHECK(percent_decode("a+b", decode_component::query).value_or("!") == "a b");
    CHECK(percent_decode("a%2Bb", decode_component::query).value_or("!") == "a+b");
  }

  TEST_CASE("split_target") {
    auto parts = split_target("/topics/x/events?since=4&a=b");
    CHECK(parts.path == "/topics/x/events");
    CHECK(parts.query == "since=4&a=b");

    parts = split_target("/only");
    CHECK(parts.path == "/only");
    CHECK(parts.query.empty());

    parts = split_target("/p?");
    CHECK(parts.path == "/p");
    CHECK(parts.query.empty());

    parts = split_target("/p?q=1#frag");
    CHECK(parts.path == "/p");
    CHECK(parts.query == "q=1");

    parts = split_target("http://host:8080/a/b?c=d");
    CHECK(parts.path == "/a/b");
    CHECK(parts.query == "c=d");

    parts = split_target("https://host?c=d");
    CHECK(parts.path == "/");
    CHECK(parts.query == "c=d");

    parts = split_target("http://host");
    CHECK(parts.path == "/");
    CHECK(parts.query.empty());

    CHECK(split_target("*").path == "*");
  }

  TEST_CASE("parse_query keeps repeated keys and decodes") {
    const auto params = parse_query("topic=a&topic=b%20c&since=42&flag&x=1+2&&empty=");
    REQUIRE(params.has_value());
    CHECK(params->size() == 6);
    CHECK(params->get_all("topic") == std::vector<std::string_view>{"a", "b c"});
    CHECK(params->get("topic").value_or("") == "a");
    CHECK(params->get("since").value_or("") == "42");
    CHECK(params->contains("flag"));
    CHECK(params->get("flag").value_or("!") == "");
    CHECK(params->get("x").value_or("") == "1 2");
    CHECK(params->get("empty").value_or("!") == "");
    CHECK_FALSE(params->get("missing").has_value());
    CHECK(params->get_all("missing").empty());

    const auto encoded_key = parse_query("a%5Bb%5D=1&c+d=2");
    REQUIRE(encoded_key.has_value());
    CHECK(encoded_key->get("a[b]").value_or("") == "1");
    CHECK(encoded_key->get("c d").value_or("") == "2");

    CHECK(parse_query("").value().empty());
    CHECK_FALSE(parse_query("a=%zz").has_value());
    CHECK_FALSE(parse_query("a%=1").has_value());
    CHECK_FALSE(parse_query("a=%00").has_value());
  }

}  // TEST_SUITE

TEST_SUITE("http router") {
  TEST_CASE("matches methods and patterns, decodes params") {
    router<std::string> routes;
    routes.add("GET", "/topics/{topic}/events", "events")
        .add("POST", "/topics/{topic}/events", "publish")
        .add("GET", "/health", "health")
        .add("GET", "/topics/{topic}/subscriptions/{id}", "subscription");
    CHECK(routes.size() == 4);

    auto m = routes.match("GET", "/topics/orders/events");
    REQUIRE(m.status == match_status::found);
    CHECK(static_cast<bool>(m));
    CHECK(m.http_status() == 200);
    CHECK(*m.handler == "events");
    CHECK(m.param("topic").value_or("") == "orders");
    CHECK_FALSE(m.param("other").has_value());

    m = routes.match("POST", "/topics/orders/events");
    REQUIRE(m);
    CHECK(*m.handler == "publish");

    m = routes.match("GET", "/topics/a%2Fb%20c/events");
    REQUIRE(m);
    CHECK(m.param("topic").value_or("") == "a/b c");  // encoded slash stays inside the segment

    m = routes.match("GET", "/topics/a+b/events");
    REQUIRE(m);
    CHECK(m.param("topic").value_or("") == "a+b");  // '+' is literal in paths

    m = routes.match("GET", "/topics/t1/subscriptions/s%201");
    REQUIRE(m);
    CHECK(*m.handler == "subscription");
    REQUIRE(m.params.size() == 2);
    CHECK(m.params[0].first == "topic");
    CHECK(m.params[0].second == "t1");
    CHECK(m.param("id").value_or("") == "s 1");

    CHECK(routes.match("GET", "/h%65alth"));  // literal segments compare decoded
  }

  TEST_CASE("not found and method not allowed") {
    router<int> routes;
    routes.add("GET", "/topics/{topic}/events", 1)
        .add("POST", "/topics/{topic}/events", 2)
        .add("DELETE", "/topics/{topic}", 3)
        .add("POST", "/topics/{name}/events", 4);  // same path again for POST: Allow must not repeat it

    auto m = routes.match("PUT", "/topics/x/events");
    CHECK(m.status == match_status::method_not_allowed);
    CHECK(m.http_status() == 405);
    CHECK(m.allow == "GET, POST");
    CHECK(m.handler == nullptr);

    m = routes.match("GET", "/nothing");
    CHECK(m.status == match_status::not_found);
    CHECK(m.http_status() == 404);
    CHECK(m.allow.empty());

    CHECK(routes.match("get", "/topics/x/events").status ==
          match_status::method_not_allowed);                                            // case-sensitive
    CHECK(routes.match("GET", "/topics/x/events/").status == match_status::not_found);  // trailing slash
    CHECK(routes.match("GET", "/topics/x").status == match_status::method_not_allowed);
    CHECK(routes.match("GET", "topics/x/events").status == match_status::not_found);
    CHECK(routes.match("GET", "").status == match_status::not_found);
  }

  TEST_CASE("a param segment never matches an empty segment") {
    router<int> routes;
    routes.add("GET", "/topics/{topic}/events", 1);
    CHECK(routes.match("GET", "/topics//events").status == match_status::not_found);
    router<int> tail;
    tail.add("GET", "/topics/{topic}", 1);
    CHECK(tail.match("GET", "/topics/").status == match_status::not_found);
    CHECK(tail.match("GET", "/topics/x"));
  }

  TEST_CASE("bad escapes in a param are a 400") {
    router<int> routes;
    routes.add("GET", "/topics/{topic}", 1);
    auto m = routes.match("GET", "/topics/%zz");
    CHECK(m.status == match_status::bad_request);
    CHECK(m.http_status() == 400);
    CHECK(routes.match("GET", "/topics/a%00b").status == match_status::bad_request);
  }

  TEST_CASE("literal segments beat params regardless of order") {
    router<std::string> routes;
    routes.add("GET", "/topics/{topic}", "param").add("GET", "/topics/stats", "literal");
    CHECK(*routes.match("GET", "/topics/stats").handler == "literal");
    CHECK(*routes.match("GET", "/topics/other").handler == "param");

    router<std::string> first_wins;
    first_wins.add("GET", "/a/{x}", "first").add("GET", "/a/{y}", "second");
    CHECK(*first_wins.match("GET", "/a/1").handler == "first");
  }

  TEST_CASE("root and literal-only routes") {
    router<int> routes;
    routes.add("GET", "/", 1).add("GET", "/a/b", 2);
    CHECK(*routes.match("GET", "/").handler == 1);
    CHECK(*routes.match("GET", "/a/b").handler == 2);
    CHECK(routes.match("GET", "/a").status == match_status::not_found);
  }

  TEST_CASE("invalid patterns are rejected") {
    router<int> routes;
    CHECK_THROWS_AS(routes.add("GET", "topics", 1), std::invalid_argument);
    CHECK_THROWS_AS(routes.add("GET", "/topics/{", 1), std::invalid_argument);
    CHECK_THROWS_AS(routes.add("GET", "/topics/{}", 1), std::invalid_argument);
    CHECK_THROWS_AS(routes.add("GET", "/topics/x{id}", 1), std::invalid_argument);
    CHECK_THROWS_AS(routes.add("GET", "/topics/{a{b}}", 1), std::invalid_argument);
    CHECK_THROWS_AS(routes.add("GET", "/{id}/{id}", 1), std::invalid_argument);
    CHECK_THROWS_AS(routes.add("", "/x", 1), std::invalid_argument);
    CHECK(routes.size() == 0);
  }

  TEST_CASE("handlers can be callables") {
    router<int (*)(int)> routes;
    routes.add("GET", "/double/{n}", [](int n) { return n * 2; });
    const auto m = routes.match("GET", "/double/4");
    REQUIRE(m);
    CHECK((*m.handler)(std::stoi(std::string(*m.param("n")))) == 8);
  }

}  // TEST_SUITE
