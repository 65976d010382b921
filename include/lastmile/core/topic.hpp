#pragma once
// Topic names, event types and topic filters.
// Topics: 1-128 chars, types: 1-64 chars, both of `A-Z a-z 0-9 . _ : -`.
// A filter is a set of patterns: an exact topic name, or a prefix wildcard
// `orders.*` that matches `orders.x` and `orders.x.y` but not `orders`.
// A filter with no patterns matches every topic.
#include <lastmile/core/error.hpp>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace lastmile {

inline constexpr std::size_t max_topic_length = 128;
inline constexpr std::size_t max_type_length = 64;

constexpr bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == ':' || c == '-';
}

constexpr bool valid_name(std::string_view s, std::size_t max_len) noexcept {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s)
    if (!is_name_char(c)) return false;
  return true;
}

constexpr bool valid_topic(std::string_view s) noexcept { return valid_name(s, max_topic_length); }
constexpr bool valid_type(std::string_view s) noexcept { return valid_name(s, max_type_length); }

class topic_filter {
 public:
  struct pattern {
    std::string text;  // exact name, or for a wildcard the prefix including its dot ("orders.")
    bool prefix = false;
    bool matches(std::string_view topic) const noexcept {
      return prefix ? (topic.size() > text.size() && topic.starts_with(text)) : topic == text;
    }
    // As a client writes it (`orders` or `orders.*`).
    std::string to_string() const { return prefix ? text + "*" : text; }
    friend bool operator==(const pattern&, const pattern&) = default;
  };

  topic_filter() = default;  // matches every topic
  static topic_filter all() { return {}; }

  // Parses patterns; duplicates are dropped. Any invalid pattern fails the whole filter.
  template <class Range>
  static result<topic_filter> parse(const Range& patterns) {
    topic_filter f;
    for (const auto& p : patterns) {
      auto pat = parse_pattern(std::string_view(p));
      if (!pat) return pat.error();
      if (std::find(f.patterns_.begin(), f.patterns_.end(), *pat) == f.patterns_.end())
        f.patterns_.push_back(std::move(*pat));
    }
    return f;
  }
  static result<topic_filter> parse(std::initializer_list<std::string_view> patterns) {
    return parse<std::initializer_list<std::string_view>>(patterns);
  }

  static result<pattern> parse_pattern(std::string_view p) {
    if (p.size() > 2 && p.ends_with(".*")) {
      auto base = p.substr(0, p.size() - 2);
      if (!valid_topic(base)) return errc::bad_topic;
      return pattern{std::string(p.substr(0, p.size() - 1)), true};
    }
    if (!valid_topic(p)) return errc::bad_topic;
    return pattern{std::string(p), false};
  }

  bool matches_all() const noexcept { return patterns_.empty(); }
  bool matches(std::string_view topic) const noexcept {
    if (patterns_.empty()) return true;
    for (const auto& p : patterns_)
      if (p.matches(topic)) return true;
    return false;
  }
  const std::vector<pattern>& patterns() const noexcept { return patterns_; }

  // The text form of each pattern, as a client would write it.
  std::vector<std::string> to_strings() const {
    std::vector<std::string> out;
    for (const auto& p : patterns_) out.push_back(p.to_string());
    return out;
  }

 private:
  std::vector<pattern> patterns_;
};

}  // namespace lastmile
