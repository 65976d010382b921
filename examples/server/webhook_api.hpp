#pragma once
// The reference server's webhook management API (PROTOCOL.md "Webhooks") over a
// lastmile::webhook::dispatcher.
#include <lastmile/detail/json_writer.hpp>
#include <lastmile/http/server.hpp>
#include <lastmile/webhook/dispatcher.hpp>

#include <simdjson.h>

#include <functional>
#include <string>
#include <vector>

namespace lastmile_server {

using namespace lastmile;

namespace detail {

inline const char* status_name(webhook::endpoint_status s) {
  return s == webhook::endpoint_status::active ? "active" : "disabled";
}

inline void write_attempt(lastmile::detail::json_writer& w, const webhook::attempt_record& a) {
  std::string at;
  append_rfc3339_ms(at, clock_type::time_point(std::chrono::milliseconds(a.at_ms)));
  w.begin_object();
  w.key("eventId").value(std::string_view(a.event_id));
  w.key("attempt").value(static_cast<std::uint64_t>(a.attempt));
  w.key("at").value(std::string_view(at));
  w.key("status");
  if (a.status) w.value(a.status);
  else w.null();
  w.key("error");
  if (a.error.empty()) w.null();
  else w.value(std::string_view(a.error));
  w.key("outcome").value(std::string_view(a.outcome));
  w.key("durationMs").value(static_cast<std::uint64_t>(a.duration_ms));
  w.end_object();
}

inline void write_strings(lastmile::detail::json_writer& w, const std::vector<std::string>& v) {
  w.begin_array();
  for (const auto& s : v) w.value(std::string_view(s));
  w.end_array();
}

}  // namespace detail

template <class Dispatcher>
class webhook_api {
 public:
  // `may_manage(ex)` decides whether a request may use the API (the reference server:
  // open without --auth-secret, else a token with publish rights).
  webhook_api(Dispatcher& d, std::function<bool(http::exchange&)> may_manage)
      : d_(d), may_manage_(std::move(may_manage)) {}

  void add_routes(http::server& s) {
    s.route("POST", "/webhooks", [this](http::exchange& ex) { return create(ex); });
    s.route("GET", "/webhooks", [this](http::exchange& ex) { return list(ex); });
    s.route("GET", "/webhooks/{id}", [this](http::exchange& ex) { return get(ex); });
    s.route("DELETE", "/webhooks/{id}", [this](http::exchange& ex) { return remove(ex); });
    s.route("GET", "/webhooks/{id}/attempts", [this](http::exchange& ex) { return attempts(ex); });
    s.route("POST", "/webhooks/{id}/replay", [this](http::exchange& ex) { return replay(ex); });
  }

  static std::string endpoint_json(const webhook::endpoint& ep, const std::vector<webhook::attempt_record>& last) {
    std::string out;
    lastmile::detail::json_writer w(out);
    w.begin_object();
    w.key("id").value(std::string_view(ep.id));
    w.key("url").value(std::string_view(ep.url));
    w.key("topics");
    detail::write_strings(w, ep.topics);
    w.key("types");
    detail::write_strings(w, ep.types);
    std::string cur = to_string(ep.position);
    w.key("cursor").value(std::string_view(cur));
    w.key("status").value(detail::status_name(ep.status));
    if (!ep.disabled_reason.empty()) w.key("disabledReason").value(std::string_view(ep.disabled_reason));
    w.key("consecutiveFailures").value(static_cast<std::uint64_t>(ep.consecutive_failures));
    w.key("lastAttempt");
    if (last.empty()) w.null();
    else detail::write_attempt(w, last.front());
    w.end_object();
    return out;
  }

 private:
  asio::awaitable<bool> guard(http::exchange& ex) {
    if (may_manage_(ex)) co_return true;
    co_await ex.respond_error(403, "forbidden", "this token may not manage webhooks");
    co_return false;
  }

  // POST /webhooks {"url","topics","types"?,"secret"?,"from"?} -> 201 {"id","secret"}
  asio::awaitable<void> create(http::exchange& ex) {
    if (!co_await guard(ex)) co_return;
    webhook::endpoint_spec spec;
    std::string problem = parse_spec(ex.req().body, spec);
    if (!problem.empty()) {
      co_await ex.respond_error(400, "bad_request", problem);
      co_return;
    }
    auto ep = co_await d_.add(std::move(spec));
    if (!ep) {
      auto [code, message] = describe(ep.error());
      co_await ex.respond_error(400, code, message);
      co_return;
    }
    std::string body;
    lastmile::detail::json_writer w(body);
    w.begin_object();
    w.key("id").value(std::string_view(ep->id));
    w.key("secret").value(std::string_view(ep->secrets.front()));
    w.end_object();
    co_await ex.respond(201, body);
  }

  asio::awaitable<void> list(http::exchange& ex) {
    if (!co_await guard(ex)) co_return;
    std::string body = "{\"webhooks\":[";
    bool first = true;
    for (const auto& ep : d_.list()) {
      if (!first) body.push_back(',');
      first = false;
      body += endpoint_json(ep, d_.attempts(ep.id, 1));
    }
    body += "]}";
    co_await ex.respond(200, body);
  }

  asio::awaitable<void> get(http::exchange& ex) {
    if (!co_await guard(ex)) co_return;
    auto ep = d_.get(*ex.param("id"));
    if (!ep) {
      co_await ex.respond_error(404, "not_found", "no such webhook");
      co_return;
    }
    std::string body = endpoint_json(*ep, d_.attempts(ep->id, 1));
    co_await ex.respond(200, body);
  }

  asio::awaitable<void> attempts(http::exchange& ex) {
    if (!co_await guard(ex)) co_return;
    std::string id(*ex.param("id"));
    if (!d_.get(id)) {
      co_await ex.respond_error(404, "not_found", "no such webhook");
      co_return;
    }
    std::size_t limit = 100;
    if (auto l = ex.query().get("limit")) {
      std::size_t v = 0;
      auto r = std::from_chars(l->data(), l->data() + l->size(), v);
      if (r.ec != std::errc{} || r.ptr != l->data() + l->size() || v < 1 || v > 1000) {
        co_await ex.respond_error(400, "bad_request", "limit must be an integer from 1 to 1000");
        co_return;
      }
      limit = v;
    }
    std::string body;
    lastmile::detail::json_writer w(body);
    w.begin_object();
    w.key("attempts").begin_array();
    for (const auto& a : d_.attempts(id, limit)) detail::write_attempt(w, a);
    w.end_array();
    w.end_object();
    co_await ex.respond(200, body);
  }

  asio::awaitable<void> remove(http::exchange& ex) {
    if (!co_await guard(ex)) co_return;
    auto r = d_.remove(*ex.param("id"));
    if (!r) {
      co_await ex.respond_error(404, "not_found", "no such webhook");
      co_return;
    }
    co_await ex.respond(204, std::string_view{});
  }

  // POST /webhooks/{id}/replay {"from":"<cursor>"} -> 202
  asio::awaitable<void> replay(http::exchange& ex) {
    if (!co_await guard(ex)) co_return;
    std::string from_text = "earliest";
    {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      std::string_view body = ex.req().body;
      if (!body.empty()) {
        if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object()) {
          co_await ex.respond_error(400, "bad_request", "the body must be a JSON object");
          co_return;
        }
        std::string_view f;
        auto field = doc["from"];
        if (!field.error()) {
          if (field.get_string().get(f)) {
            co_await ex.respond_error(400, "bad_request", "from must be a string");
            co_return;
          }
          from_text = std::string(f);
        }
      }
    }
    auto from = parse_position(from_text);
    if (!from) {
      co_await ex.respond_error(400, "bad_cursor", "from: not a cursor, 'earliest' or 'latest'");
      co_return;
    }
    auto r = d_.replay(*ex.param("id"), *from);
    if (!r) {
      co_await ex.respond_error(404, "not_found", "no such webhook");
      co_return;
    }
    std::string_view accepted = R"({"status":"replaying"})";
    co_await ex.respond(202, accepted);
  }

  // Reads the POST /webhooks body; returns "" or what is wrong with it.
  static std::string parse_spec(std::string_view body, webhook::endpoint_spec& spec) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object())
      return "the body must be a JSON object";
    std::string_view s;
    if (doc["url"].get_string().get(s)) return "url (a string) is required";
    spec.url = std::string(s);
    simdjson::dom::array topics;
    if (doc["topics"].get_array().get(topics)) return "topics (an array of topic filters) is required";
    for (auto t : topics) {
      if (t.get_string().get(s)) return "topics must be strings";
      spec.topics.emplace_back(s);
    }
    if (spec.topics.empty()) return "topics must not be empty";
    if (auto types = doc["types"]; !types.error()) {
      simdjson::dom::array arr;
      if (types.get_array().get(arr)) return "types must be an array of strings";
      for (auto t : arr) {
        if (t.get_string().get(s)) return "types must be strings";
        spec.types.emplace_back(s);
      }
    }
    if (auto sec = doc["secret"]; !sec.error()) {
      if (sec.get_string().get(s)) return "secret must be a string";
      spec.secret = std::string(s);
    }
    if (auto f = doc["from"]; !f.error()) {
      if (f.get_string().get(s)) return "from must be a string";
      auto p = parse_position(s);
      if (!p) return "from: not a cursor, 'earliest' or 'latest'";
      spec.from = *p;
    }
    return {};
  }

  static std::pair<const char*, const char*> describe(std::error_code ec) {
    if (ec == errc::bad_url) return {"bad_url", "url must be an absolute http:// or https:// URL whose host resolves"};
    if (ec == errc::address_not_allowed)
      return {"url_not_allowed", "the URL resolves to a loopback, private, link-local, multicast or reserved address"};
    if (ec == errc::bad_secret) return {"bad_secret", "secret must be whsec_ + base64 of 24 to 64 bytes"};
    if (ec == errc::bad_topic) return {"bad_topic", "invalid topic filter"};
    if (ec == errc::bad_type) return {"bad_type", "event types are 1-64 characters of A-Z a-z 0-9 . _ : -"};
    return {"bad_request", "the webhook could not be registered"};
  }

  Dispatcher& d_;
  std::function<bool(http::exchange&)> may_manage_;
};

}  // namespace lastmile_server
