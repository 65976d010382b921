#pragma once
// A tiny metrics registry rendered in the Prometheus text exposition format 0.0.4,
// for the reference server's /metrics.
//
//   metrics::registry reg;
//   auto sse = reg.add_gauge("lastmile_connections", "Open connections.",
//                            {{"transport", "sse"}});
//   sse.inc();  // lock-free relaxed atomic, from any thread
//   auto ok = reg.add_counter("lastmile_http_requests_total", "HTTP requests.",
//                             {{"status", "200"}});
//   ok.inc();
//   reg.add_gauge_callback("lastmile_waiters", "Parked readers.", {},
//                          [&] { return double(hub.waiters()); });
//   std::string body = reg.render();  // serve with metrics::content_type
//
// Registration locks and validates; registering the same name and label set again
// returns the same series, so call sites may register lazily (e.g. per status code).
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lastmile::metrics {

inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class metric_type : std::uint8_t { counter, gauge };

struct label {
  std::string_view name;
  std::string_view value;
};

namespace detail {

// One cache line per series so hot counters bumped by different threads do not
// false-share. Gauges store int64 as uint64 (two's complement; wraps are defined).
struct alignas(64) cell {
  std::atomic<std::uint64_t> value{0};
};

constexpr bool is_alpha_or_underscore(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*
constexpr bool valid_metric_name(std::string_view s) noexcept {
  if (s.empty() || !(is_alpha_or_underscore(s[0]) || s[0] == ':')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alpha_or_underscore(c) || is_digit(c) || c == ':'; });
}

// Label names: [a-zA-Z_][a-zA-Z0-9_]* (no colons, unlike metric names); names
// starting with "__" are reserved for Prometheus itself.
constexpr bool valid_label_name(std::string_view s) noexcept {
  if (s.empty() || !is_alpha_or_underscore(s[0]) || s.starts_with("__")) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alpha_or_underscore(c) || is_digit(c); });
}

// The exposition format is UTF-8; checked at registration so render() never emits
// bytes a scraper would reject. (Overlongs, surrogates, > U+10FFFF are invalid.)
constexpr bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t trail;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      trail = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      trail = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      trail = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (s.size() - i <= trail) return false;
    for (std::size_t k = 1; k <= trail; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < lo || c > hi) return false;
      lo = 0x80, hi = 0xBF;
    }
    i += trail + 1;
  }
  return true;
}

// HELP text escapes backslash and newline; label values also escape double quotes.
inline void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out += c;
  }
}

template <class Int>
void append_int(std::string& out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Prometheus spells the special values NaN, +Inf and -Inf; others in shortest form.
inline void append_double(std::string& out, double v) {
  if (std::isnan(v)) return void(out += "NaN");
  if (std::isinf(v)) return void(out += v > 0 ? "+Inf" : "-Inf");
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace detail

// Handle to one counter series: a pointer into the registry, cheap to copy, valid for
// the registry's lifetime. A default-constructed handle is detached and ignores inc().
class counter {
 public:
  counter() noexcept = default;
  void inc(std::uint64_t n = 1) const noexcept {
    if (cell_) cell_->value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept {
    return cell_ ? cell_->value.load(std::memory_order_relaxed) : 0;
  }

 private:
  friend class registry;
  explicit counter(detail::cell* c) noexcept : cell_(c) {}
  detail::cell* cell_ = nullptr;
};

// Handle to one gauge series; same lifetime rules as counter.
class gauge {
 public:
  gauge() noexcept = default;
  void add(std::int64_t n) const noexcept {
    if (cell_) cell_->value.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
  }
  void sub(std::int64_t n) const noexcept {
    if (cell_) cell_->value.fetch_sub(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
  }
  void inc() const noexcept { add(1); }
  void dec() const noexcept { sub(1); }
  void set(std::int64_t v) const noexcept {
    if (cell_) cell_->value.store(static_cast<std::uint64_t>(v), std::memory_order_relaxed);
  }
  std::int64_t value() const noexcept {
    return cell_ ? static_cast<std::int64_t>(cell_->value.load(std::memory_order_relaxed)) : 0;
  }

 private:
  friend class registry;
  explicit gauge(detail::cell* c) noexcept : cell_(c) {}
  detail::cell* cell_ = nullptr;
};

class registry {
 public:
  registry() = default;
  registry(const registry&) = delete;  // handles point into it
  registry& operator=(const registry&) = delete;

  // All add_* throw std::invalid_argument for an invalid metric or label name, a
  // duplicate label name, non-UTF-8 help or label values, or a name already
  // registered with another type or help text. Label order does not matter.
  counter add_counter(std::string_view name, std::string_view help,
                      std::initializer_list<label> labels = {}) {
    return counter(series_for(name, help, metric_type::counter, labels, nullptr));
  }
  gauge add_gauge(std::string_view name, std::string_view help,
                  std::initializer_list<label> labels = {}) {
    return gauge(series_for(name, help, metric_type::gauge, labels, nullptr));
  }
  // A gauge whose value is `fn()` at render time (e.g. a hub's current waiters).
  // `fn` runs under the registry lock: it must not call back into this registry, and
  // whatever it reads must outlive the registry (or at least its last render()).
  // Registering the same series twice throws.
  void add_gauge_callback(std::string_view name, std::string_view help,
                          std::initializer_list<label> labels, std::function<double()> fn) {
    if (!fn) throw std::invalid_argument("metrics: empty gauge callback");
    series_for(name, help, metric_type::gauge, labels, &fn);
  }

  // A counter whose value is `fn()` at render time, for counts kept elsewhere (e.g.
  // the HTTP server's own atomics). Same rules as add_gauge_callback.
  void add_counter_callback(std::string_view name, std::string_view help,
                            std::initializer_list<label> labels, std::function<double()> fn) {
    if (!fn) throw std::invalid_argument("metrics: empty counter callback");
    series_for(name, help, metric_type::counter, labels, &fn);
  }

  // The exposition text: families in registration order, each with one HELP and one
  // TYPE line followed by its series in registration order.
  std::string render() const {
    std::string out;
    std::lock_guard lock(mu_);
    out.reserve(render_size_hint_);
    for (const auto& f : families_) {
      out += "# HELP ";
      out += f->name;
      out += ' ';
      detail::append_escaped(out, f->help, false);
      out += "\n# TYPE ";
      out += f->name;
      out += f->type == metric_type::counter ? " counter\n" : " gauge\n";
      for (const auto& s : f->members) {
        out += f->name;
        out += s.label_text;
        out += ' ';
        if (s.fn) {
          detail::append_double(out, s.fn());
        } else {
          const std::uint64_t v = s.cell->value.load(std::memory_order_relaxed);
          if (f->type == metric_type::counter)
            detail::append_int(out, v);
          else
            detail::append_int(out, static_cast<std::int64_t>(v));
        }
        out += '\n';
      }
    }
    render_size_hint_ = std::max(render_size_hint_, out.size());
    return out;
  }

 private:
  struct series {
    std::string label_text;  // `{a="x",b="y"}` (sorted by name) or empty; also the key
    detail::cell* cell = nullptr;
    std::function<double()> fn;
  };
  struct family {
    std::string name;
    std::string help;
    metric_type type;
    std::vector<series> members;
  };

  static std::string label_text(std::initializer_list<label> labels) {
    std::vector<label> sorted(labels);
    std::sort(sorted.begin(), sorted.end(),
              [](const label& a, const label& b) { return a.name < b.name; });
    std::string text;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const label& l = sorted[i];
      if (!detail::valid_label_name(l.name))
        throw std::invalid_argument("metrics: invalid label name '" + std::string(l.name) + "'");
      if (i > 0 && sorted[i - 1].name == l.name)
        throw std::invalid_argument("metrics: duplicate label '" + std::string(l.name) + "'");
      if (!detail::valid_utf8(l.value))
        throw std::invalid_argument("metrics: label value is not UTF-8");
      text += i == 0 ? '{' : ',';
      text += l.name;
      text += "=\"";
      detail::append_escaped(text, l.value, true);
      text += '"';
    }
    if (!text.empty()) text += '}';
    return text;
  }

  // Finds or creates a series; `fn` non-null means a callback gauge (no cell: returns null).
  detail::cell* series_for(std::string_view name, std::string_view help, metric_type type,
                           std::initializer_list<label> labels, std::function<double()>* fn) {
    if (!detail::valid_metric_name(name))
      throw std::invalid_argument("metrics: invalid metric name '" + std::string(name) + "'");
    if (!detail::valid_utf8(help)) throw std::invalid_argument("metrics: help is not UTF-8");
    std::string key = label_text(labels);

    std::lock_guard lock(mu_);
    family* f = nullptr;
    if (auto it = by_name_.find(name); it != by_name_.end()) {
      f = it->second;
      if (f->type != type || f->help != help)
        throw std::invalid_argument("metrics: '" + std::string(name) +
                                    "' already registered with another type or help");
    } else {
      auto fresh = std::make_unique<family>(family{std::string(name), std::string(help), type, {}});
      f = fresh.get();
      families_.push_back(std::move(fresh));
      by_name_.emplace(f->name, f);
    }
    for (auto& s : f->members) {
      if (s.label_text != key) continue;
      if (fn || s.fn)
        throw std::invalid_argument("metrics: callback series '" + std::string(name) + key +
                                    "' conflicts with an existing series");
      return s.cell;
    }
    detail::cell* c = fn ? nullptr : &cells_.emplace_back();  // deque: stable addresses
    f->members.push_back(series{std::move(key), c, fn ? std::move(*fn) : nullptr});
    return c;
  }

  mutable std::mutex mu_;  // registration and render; never taken by handles
  std::vector<std::unique_ptr<family>> families_;
  std::map<std::string, family*, std::less<>> by_name_;
  std::deque<detail::cell> cells_;
  mutable std::size_t render_size_hint_ = 0;
};

}  // namespace lastmile::metrics
