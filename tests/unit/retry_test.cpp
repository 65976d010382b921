// Retry schedule, jitter, Retry-After (both forms, injectable clock), clamping and
// the status classification.
#include <lastmile/webhook/retry.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <random>

using namespace lastmile;
using namespace lastmile::webhook;
using namespace std::chrono_literals;

TEST_CASE("retry schedule: standard is 5s,5m,30m,2h,5h,10h,10h then exhausted") {
  auto s = retry_schedule::standard();
  s.jitter = 0;
  std::mt19937_64 rng(1);
  const std::chrono::milliseconds expected[] = {5s, 5min, 30min, 2h, 5h, 10h, 10h};
  CHECK(s.delays.size() == 7);
  for (std::uint32_t i = 0; i < 7; ++i) CHECK(s.delay_after(i + 1, rng) == expected[i]);
  CHECK_FALSE(s.delay_after(8, rng));
  CHECK_FALSE(s.delay_after(1000, rng));
  CHECK(s.delay_after(0, rng) == 0ms);
  CHECK(retry_schedule{}.delay_after(1, rng) == std::nullopt);  // no delays: no retries
}

TEST_CASE("retry schedule: jitter stays within +-20% and actually varies") {
  const auto s = retry_schedule::standard();
  std::mt19937_64 rng(42);
  std::int64_t lo = INT64_MAX, hi = 0;
  double sum = 0;
  constexpr int draws = 20000;
  for (int i = 0; i < draws; ++i) {
    const auto d = s.delay_after(2, rng);  // base 300 s
    REQUIRE(d);
    lo = std::min<std::int64_t>(lo, d->count());
    hi = std::max<std::int64_t>(hi, d->count());
    sum += static_cast<double>(d->count());
  }
  CHECK(lo >= 240000);
  CHECK(hi <= 360000);
  CHECK(lo < 245000);  // the whole range is used
  CHECK(hi > 355000);
  CHECK(sum / draws == doctest::Approx(300000).epsilon(0.01));  // centred on the base
  // Same seed, same delays (reproducible tests).
  std::mt19937_64 a(7), b(7);
  CHECK(s.delay_after(3, a) == s.delay_after(3, b));
}

TEST_CASE("retry schedule: parse") {
  auto s = retry_schedule::parse("5,300,1800,7200,18000,36000,36000");
  REQUIRE(s);
  auto standard = retry_schedule::standard();
  CHECK(s->delays == standard.delays);
  s = retry_schedule::parse(" 0.5 , 1.25,2 ");
  REQUIRE(s);
  CHECK(s->delays == std::vector<std::chrono::milliseconds>{500ms, 1250ms, 2000ms});
  s = retry_schedule::parse("0");
  REQUIRE(s);
  CHECK(s->delays == std::vector<std::chrono::milliseconds>{0ms});
  for (std::string_view bad : {"", ",", "5,", ",5", "5,,6", "-1", "abc", "5s", "1e3", ".5", "5.", "1.2.3",
                               "2592001", "99999999999999999999"})
    CHECK_MESSAGE(retry_schedule::parse(bad).error() == errc::invalid_argument, bad);
  CHECK(retry_schedule::parse("2592000"));  // 30 days is the maximum
}

TEST_CASE("Retry-After: delta-seconds") {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  CHECK(parse_retry_after("120", now) == 120s);
  CHECK(parse_retry_after("0", now) == 0s);
  CHECK(parse_retry_after("  7 ", now) == 7s);
  CHECK(parse_retry_after("99999999999999999999999", now) == std::chrono::seconds(1'000'000'000));
  for (std::string_view bad : {"", " ", "-5", "1.5", "+5", "5s", "soon", "0x10"})
    CHECK_FALSE_MESSAGE(parse_retry_after(bad, now), bad);
}

TEST_CASE("Retry-After: HTTP-date in all three forms, relative to an injected clock") {
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
  const auto date = std::chrono::system_clock::time_point(std::chrono::seconds(784111777));
  const auto now = date - 90s;
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == 90s);
  CHECK(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now) == 90s);
  CHECK(parse_retry_after("Sun Nov  6 08:49:37 1994", now) == 90s);
  CHECK(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
                          std::chrono::system_clock::time_point(std::chrono::seconds(1445412480 - 5))) == 5s);
  // A date in the past means "now".
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 1h) == 0ms);
  for (std::string_view bad : {"Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
                               "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 31 Feb 1994 08:49:37 GMT",
                               "Sun, 06 Nov 1994 25:49:37 GMT", "sun, 06 Nov 1994 08:49:37 GMT",
                               "Sun, 06 Nov 1994 08:49:37 GMT x", "Sun Nov 6 08:49:37 1994",
                               "Funday, 06-Nov-94 08:49:37 GMT", "Sun,06 Nov 1994 08:49:37 GMT"})
    CHECK_FALSE_MESSAGE(parse_retry_after(bad, now), bad);
}

TEST_CASE("Retry-After: clamping") {
  CHECK(clamp_delay(48h) == 24h);
  CHECK(clamp_delay(-5s) == 0ms);
  CHECK(clamp_delay(10s, 5s) == 5s);
  CHECK(clamp_delay(10s, 1h, 30s) == 30s);
  CHECK(clamp_delay(2h, 1h, 30s) == 1h);
}

TEST_CASE("classify: status classes") {
  for (int s : {200, 201, 202, 204, 299}) CHECK(classify(s) == verdict::delivered);
  for (int s : {300, 301, 302, 304, 307, 308}) CHECK(classify(s) == verdict::retry);  // never followed
  for (int s : {408, 429, 500, 502, 503, 504, 599}) CHECK(classify(s) == verdict::retry);
  CHECK(classify(410) == verdict::disable);
  for (int s : {400, 401, 403, 404, 405, 409, 413, 422, 499}) CHECK(classify(s) == verdict::fail);
  for (int s : {0, 100, 101, 199, 600, 999, -1}) CHECK(classify(s) == verdict::retry);
  CHECK(verdict_name(verdict::disable) == "disable");
}
