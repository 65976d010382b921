#pragma once

// Pure request router: method + path pattern -> handler, with `{param}` segments.
//
//   router<int> routes;
//   routes.add("GET", "/topics/{topic}/events", 1);
//   auto m = routes.match("GET", "/topics/a%2Fb/events");   // found, param("topic") == "a/b"
//
// Paths are split on '/' before percent-decoding, so an encoded slash stays
// inside one parameter. A literal segment beats a parameter at the same depth
// (so "/topics/stats" wins over "/topics/{topic}"), otherwise the earliest
// added route wins. Methods are compared case-sensitively and exactly: HEAD
// does not fall back to GET unless a HEAD route is added.

#include <lastmile/http/url.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lastmile::http {

enum class match_status {
  found,
  not_found,           // 404
  method_not_allowed,  // 405: the path exists for other methods (see match_result::allow)
  bad_request,         // 400: a parameter had a malformed percent-escape or decoded to NUL
};

// Refers into the router (handler, parameter names): valid while the router lives unchanged.
template <typename Handler>
struct match_result {
  match_status status = match_status::not_found;
  const Handler* handler = nullptr;
  std::vector<std::pair<std::string_view, std::string>> params;  // name -> decoded value
  std::string allow;  // for 405: "GET, POST", in order of registration

  explicit operator bool() const noexcept { return status == match_status::found; }

  std::optional<std::string_view> param(std::string_view name) const noexcept {
    for (const auto& [key, value] : params)
      if (key == name) return std::string_view{value};
    return std::nullopt;
  }

  int http_status() const noexcept {
    switch (status) {
      case match_status::found: return 200;
      case match_status::not_found: return 404;
      case match_status::method_not_allowed: return 405;
      case match_status::bad_request: return 400;
    }
    return 500;
  }
};

template <typename Handler>
class router {
 public:
  // Throws std::invalid_argument for a pattern that does not start with '/',
  // has an unterminated / empty / partial-segment `{param}`, or repeats a name.
  router& add(std::string method, std::string_view pattern, Handler handler) {
    if (method.empty()) throw std::invalid_argument("empty route method");
    route entry{std::move(method), parse_pattern(pattern), std::move(handler)};
    routes_.push_back(std::move(entry));
    return *this;
  }

  std::size_t size() const noexcept { return routes_.size(); }

  // `path` is the still-encoded path (request::path()), without the query.
  match_result<Handler> match(std::string_view method, std::string_view path) const {
    match_result<Handler> result;
    if (path.empty() || path.front() != '/') return result;

    std::vector<std::string_view> segments;  // raw (encoded) segments
    split_path(path, segments);

    const route* best = nullptr;
    bool decode_failed = false;
    for (const auto& candidate : routes_) {
      const auto outcome = matches(candidate, segments);
      if (outcome == segment_match::no) continue;
      if (candidate.method != method) {
        append_allow(result.allow, candidate.method);
        continue;
      }
      if (outcome == segment_match::bad_escape) {
        decode_failed = true;
        continue;
      }
      if (best == nullptr || more_specific(candidate, *best)) best = &candidate;
    }

    if (best != nullptr) {
      result.status = match_status::found;
      result.handler = &best->handler;
      result.allow.clear();
      for (std::size_t i = 0; i < best->segments.size(); ++i) {
        const auto& segment = best->segments[i];
        if (!segment.is_param) continue;
        // matches() already proved this decodes.
        result.params.emplace_back(segment.text, *percent_decode(segments[i], decode_component::path));
      }
      return result;
    }
    if (decode_failed) {
      result.status = match_status::bad_request;
      result.allow.clear();
    } else if (!result.allow.empty()) {
      result.status = match_status::method_not_allowed;
    }
    return result;
  }

 private:
  struct pattern_segment {
    std::string text;  // literal text, or the parameter name
    bool is_param = false;
  };

  struct route {
    std::string method;
    std::vector<pattern_segment> segments;
    Handler handler;
  };

  enum class segment_match { no, yes, bad_escape };

  static void split_path(std::string_view path, std::vector<std::string_view>& segments) {
    path.remove_prefix(1);  // leading '/'
    while (true) {
      const auto slash = path.find('/');
      segments.push_back(path.substr(0, slash));
      if (slash == std::string_view::npos) return;
      path.remove_prefix(slash + 1);
    }
  }

  static std::vector<pattern_segment> parse_pattern(std::string_view pattern) {
    if (pattern.empty() || pattern.front() != '/')
      throw std::invalid_argument("route pattern must start with '/'");
    std::vector<std::string_view> raw;
    split_path(pattern, raw);
    std::vector<pattern_segment> segments;
    segments.reserve(raw.size());
    for (const auto piece : raw) {
      const bool opens = piece.find('{') != std::string_view::npos;
      const bool closes = piece.find('}') != std::string_view::npos;
      if (!opens && !closes) {
        segments.push_back({std::string(piece), false});
        continue;
      }
      // Parameters must be whole segments: "{name}".
      if (piece.size() < 3 || piece.front() != '{' || piece.back() != '}' ||
          piece.substr(1, piece.size() - 2).find_first_of("{}") != std::string_view::npos)
        throw std::invalid_argument("route parameter must be a whole segment like {name}");
      std::string name(piece.substr(1, piece.size() - 2));
      for (const auto& existing : segments)
        if (existing.is_param && existing.text == name)
          throw std::invalid_argument("duplicate route parameter name");
      segments.push_back({std::move(name), true});
    }
    return segments;
  }

  static segment_match matches(const route& candidate, const std::vector<std::string_view>& segments) {
    if (candidate.segments.size() != segments.size()) return segment_match::no;
    bool bad_escape = false;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const auto& expected = candidate.segments[i];
      const std::string_view actual = segments[i];
      if (expected.is_param) {
        if (actual.empty()) return segment_match::no;  // "/topics//events" has no topic
        if (actual.find('%') != std::string_view::npos && !percent_decode(actual, decode_component::path))
          bad_escape = true;
        continue;
      }
      if (actual.find('%') == std::string_view::npos) {
        if (actual != expected.text) return segment_match::no;
      } else {
        const auto decoded = percent_decode(actual, decode_component::path);
        if (!decoded) return segment_match::no;
        if (*decoded != expected.text) return segment_match::no;
      }
    }
    return bad_escape ? segment_match::bad_escape : segment_match::yes;
  }

  // Literal beats parameter at the first depth where the two routes differ.
  static bool more_specific(const route& a, const route& b) noexcept {
    for (std::size_t i = 0; i < a.segments.size() && i < b.segments.size(); ++i) {
      if (a.segments[i].is_param != b.segments[i].is_param) return !a.segments[i].is_param;
    }
    return false;
  }

  static void append_allow(std::string& allow, std::string_view method) {
    // Deduplicate: several patterns may match the same path for one method.
    std::string_view existing = allow;
    while (!existing.empty()) {
      const auto comma = existing.find(", ");
      if (existing.substr(0, comma) == method) return;
      if (comma == std::string_view::npos) break;
      existing.remove_prefix(comma + 2);
    }
    if (!allow.empty()) allow.append(", ");
    allow.append(method);
  }

  std::vector<route> routes_;
};

}  // namespace lastmile::http
