#pragma once

// Webhook retry policy, sans-I/O: the retry schedule with jitter, Retry-After
// parsing (delta-seconds or HTTP-date, RFC 9110 section 10.2.3) and the
// classification of a response status into an outcome.

#include <lastmile/core/error.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

namespace lastmile::webhook {

struct retry_schedule {
  // delays[i] is the wait after the (i+1)-th failed attempt; after the last one
  // the event is given up. Empty = no retries.
  std::vector<std::chrono::milliseconds> delays;
  // Each delay is multiplied by a uniform factor in [1 - jitter, 1 + jitter]; 0..1.
  double jitter = 0.2;

  static constexpr std::size_t max_entries = 100;
  static constexpr std::chrono::milliseconds max_delay{std::chrono::hours(24 * 30)};

  // 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.6 hours.
  static retry_schedule standard() {
    using namespace std::chrono;
    retry_schedule s;
    s.delays = {seconds(5), minutes(5), minutes(30), hours(2), hours(5), hours(10), hours(10)};
    return s;
  }

  // "5,300,1800": seconds, decimals allowed ("0.5"), spaces around entries allowed.
  // Each entry 0..30 days, at most 100 entries; anything else (including an empty
  // string or an empty entry) is errc::invalid_argument.
  static result<retry_schedule> parse(std::string_view text) {
    retry_schedule s;
    if (text.empty()) return errc::invalid_argument;
    while (true) {
      const auto comma = text.find(',');
      std::string_view item = text.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      auto ms = parse_seconds(item);
      if (!ms || s.delays.size() == max_entries) return errc::invalid_argument;
      s.delays.push_back(*ms);
      if (comma == std::string_view::npos) break;
      text.remove_prefix(comma + 1);
    }
    return s;
  }

  // The wait before the next attempt after `failures` failed attempts (1 = the
  // first attempt failed), jittered with `rng`; std::nullopt once the schedule is
  // exhausted. failures == 0 gives zero (the first attempt is immediate).
  std::optional<std::chrono::milliseconds> delay_after(std::uint32_t failures,
                                                       std::mt19937_64& rng) const {
    if (failures == 0) return std::chrono::milliseconds(0);
    if (failures > delays.size()) return std::nullopt;
    const auto base = delays[failures - 1];
    const double j = std::clamp(jitter, 0.0, 1.0);
    if (j == 0 || base.count() == 0) return base;
    std::uniform_real_distribution<double> factor(1.0 - j, 1.0 + j);
    const double jittered = static_cast<double>(base.count()) * factor(rng);
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(jittered)));
  }

 private:
  // "12", "0.5", "1.25" (at most 3 decimals kept); nullopt for anything else.
  static std::optional<std::chrono::milliseconds> parse_seconds(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::int64_t whole = 0, frac_ms = 0;
    std::size_t i = 0, digits = 0;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits) {
      whole = whole * 10 + (s[i] - '0');
      if (whole > max_delay.count() / 1000) return std::nullopt;
    }
    if (i < s.size()) {
      if (s[i] != '.') return std::nullopt;
      ++i;
      std::size_t frac_digits = 0;
      std::int64_t scale = 100;
      for (; i < s.size(); ++i, ++frac_digits) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        frac_ms += (s[i] - '0') * scale;
        scale /= 10;
      }
      if (frac_digits == 0) return std::nullopt;  // "5."
    }
    if (digits == 0) return std::nullopt;  // ".5"
    const std::chrono::milliseconds total(whole * 1000 + frac_ms);
    if (total > max_delay) return std::nullopt;
    return total;
  }
};

namespace detail_retry {

inline int month_index(std::string_view m) noexcept {
  static constexpr std::string_view names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (names[i] == m) return i + 1;
  return 0;
}

inline bool is_day_name(std::string_view d, bool long_form) noexcept {
  static constexpr std::string_view shorts[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr std::string_view longs[] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                               "Friday", "Saturday", "Sunday"};
  for (int i = 0; i < 7; ++i)
    if ((long_form ? longs[i] : shorts[i]) == d) return true;
  return false;
}

// Exactly `n` digits at `s[pos]`; advances pos.
inline bool take_digits(std::string_view s, std::size_t& pos, std::size_t n, int& out) noexcept {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

inline bool take(std::string_view s, std::size_t& pos, std::string_view lit) noexcept {
  if (s.substr(pos, lit.size()) != lit) return false;
  pos += lit.size();
  return true;
}

inline bool take_time(std::string_view s, std::size_t& pos, int& h, int& m, int& sec) noexcept {
  return take_digits(s, pos, 2, h) && take(s, pos, ":") && take_digits(s, pos, 2, m) &&
         take(s, pos, ":") && take_digits(s, pos, 2, sec) && h <= 23 && m <= 59 && sec <= 60;
}

inline std::optional<std::chrono::system_clock::time_point> make_time(int y, int mon, int d, int h,
                                                                      int m, int s) {
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mon)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  const auto secs = sys_days(ymd).time_since_epoch() + hours(h) + minutes(m) + seconds(std::min(s, 59));
  return system_clock::time_point(duration_cast<system_clock::duration>(secs));
}

}  // namespace detail_retry

// HTTP-date (RFC 9110 section 5.6.7): IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT",
// and the obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime
// "Sun Nov  6 08:49:37 1994" forms. Case-sensitive, as the grammar says.
inline std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view s) {
  using namespace detail_retry;
  std::size_t pos = 0;
  int y = 0, mon = 0, d = 0, h = 0, m = 0, sec = 0;
  const auto comma = s.find(',');
  if (comma == 3) {  // IMF-fixdate
    if (!is_day_name(s.substr(0, 3), false)) return std::nullopt;
    pos = 4;
    if (!take(s, pos, " ") || !take_digits(s, pos, 2, d) || !take(s, pos, " ")) return std::nullopt;
    mon = month_index(s.substr(pos, 3));
    pos += 3;
    if (mon == 0 || !take(s, pos, " ") || !take_digits(s, pos, 4, y) || !take(s, pos, " ") ||
        !take_time(s, pos, h, m, sec) || !take(s, pos, " GMT") || pos != s.size())
      return std::nullopt;
    return make_time(y, mon, d, h, m, sec);
  }
  if (comma != std::string_view::npos) {  // RFC 850
    if (!is_day_name(s.substr(0, comma), true)) return std::nullopt;
    pos = comma + 1;
    int yy = 0;
    if (!take(s, pos, " ") || !take_digits(s, pos, 2, d) || !take(s, pos, "-")) return std::nullopt;
    mon = month_index(s.substr(pos, 3));
    pos += 3;
    if (mon == 0 || !take(s, pos, "-") || !take_digits(s, pos, 2, yy) || !take(s, pos, " ") ||
        !take_time(s, pos, h, m, sec) || !take(s, pos, " GMT") || pos != s.size())
      return std::nullopt;
    y = yy < 70 ? 2000 + yy : 1900 + yy;  // a simple pivot; these dates are obsolete anyway
    return make_time(y, mon, d, h, m, sec);
  }
  // asctime: "Sun Nov  6 08:49:37 1994" (day is 2 characters, space-padded)
  if (s.size() != 24 || !is_day_name(s.substr(0, 3), false) || s[3] != ' ') return std::nullopt;
  mon = month_index(s.substr(4, 3));
  if (mon == 0 || s[7] != ' ') return std::nullopt;
  pos = 8;
  if (s[8] == ' ') {
    pos = 9;
    if (!take_digits(s, pos, 1, d)) return std::nullopt;
  } else if (!take_digits(s, pos, 2, d)) {
    return std::nullopt;
  }
  if (!take(s, pos, " ") || !take_time(s, pos, h, m, sec) || !take(s, pos, " ") ||
      !take_digits(s, pos, 4, y) || pos != s.size())
    return std::nullopt;
  return make_time(y, mon, d, h, m, sec);
}

// The wait a Retry-After value asks for, relative to `now`: delta-seconds ("120")
// or an HTTP-date (a date in the past gives zero). Surrounding spaces are ignored;
// anything else is std::nullopt. Huge delta-seconds saturate at about 31 years;
// clamp the result with clamp_delay() before using it.
inline std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                                  std::chrono::system_clock::time_point now) {
  using namespace std::chrono;
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    constexpr std::int64_t cap = 1'000'000'000;  // seconds (~31 years)
    std::int64_t secs = 0;
    for (const char c : value) {
      secs = secs * 10 + (c - '0');
      if (secs > cap) {
        secs = cap;
        break;
      }
    }
    return duration_cast<milliseconds>(seconds(secs));
  }
  const auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  if (*when <= now) return milliseconds(0);
  return duration_cast<milliseconds>(*when - now);
}

// Clamps a delay into [min, max] (defaults: 0 and one day).
inline std::chrono::milliseconds clamp_delay(std::chrono::milliseconds d,
                                             std::chrono::milliseconds max = std::chrono::hours(24),
                                             std::chrono::milliseconds min = std::chrono::milliseconds(0)) {
  return std::clamp(d, min, std::max(min, max));
}

// What a delivery attempt's HTTP status means for the event and the endpoint.
enum class verdict {
  delivered,  // 2xx
  retry,      // 3xx (never followed), 408, 429, 5xx, and anything unexpected (1xx, > 599)
  disable,    // 410 Gone: the receiver asks us to stop
  fail,       // other 4xx: recorded as failed, not retried
};

inline verdict classify(int http_status) noexcept {
  if (http_status >= 200 && http_status <= 299) return verdict::delivered;
  if (http_status == 410) return verdict::disable;
  if (http_status == 408 || http_status == 429) return verdict::retry;
  if (http_status >= 400 && http_status <= 499) return verdict::fail;
  return verdict::retry;
}

inline std::string_view verdict_name(verdict v) noexcept {
  switch (v) {
    case verdict::delivered: return "delivered";
    case verdict::retry: return "retry";
    case verdict::disable: return "disable";
    case verdict::fail: return "fail";
  }
  return "retry";
}

}  // namespace lastmile::webhook
