#pragma once
// The JSON control messages of the WebSocket endpoint (PROTOCOL "WebSocket"),
// sans-I/O: parse what a client sends, build what the server answers.
//
//   client -> server                                       server -> client
//   {"type":"subscribe","topic":"orders"[,"from":"<c>"]}   {"type":"subscribed","topic":"orders"}
//   {"type":"unsubscribe","topic":"orders"}                {"type":"unsubscribed","topic":"orders"}
//   {"type":"publish","topic":"t"[,"event":"e"],"data":v}  {"type":"published","id":"<cursor>"}
//   {"type":"ping"}                                        {"type":"pong"}
//                                                          {"type":"error","code":"...","message":"..."}
//                                                          {"type":"reset","topic":...,"reason":"cursor_expired","earliest":"<c>"}
//   event message: {"topic":"<event topic>","event":{"id","type","data","time"}}
//
// Unknown fields are ignored. Parsing uses simdjson's DOM parser (strict RFC 8259).
#include <lastmile/core/cursor.hpp>
#include <lastmile/core/event_json.hpp>
#include <lastmile/core/topic.hpp>
#include <lastmile/detail/json_writer.hpp>

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace lastmile::ws {

namespace error_codes {
inline constexpr std::string_view bad_request = "bad_request";  // not JSON, not an object, missing/mistyped field
inline constexpr std::string_view unknown_type = "unknown_type";
inline constexpr std::string_view bad_topic = "bad_topic";
inline constexpr std::string_view bad_cursor = "bad_cursor";
inline constexpr std::string_view forbidden = "forbidden";
inline constexpr std::string_view too_many_subscriptions = "too_many_subscriptions";
}  // namespace error_codes

enum class control_type : std::uint8_t { subscribe, unsubscribe, publish, ping };

struct control_message {
  control_type type = control_type::ping;
  std::string topic;               // subscribe/unsubscribe: a topic or `prefix.*`; publish: a topic
  std::optional<position> from;    // subscribe: where to start; absent = the connection's default
  std::string event;               // publish: the event type ("message" when absent)
  std::string data;                // publish: the JSON text of `data`, minified
};

struct control_error {
  std::string_view code;  // error_codes::*
  std::string message;
};

using control_result = std::variant<control_message, control_error>;

namespace control_detail {

// Messages up to this size are parsed with a per-thread parser (its buffers are
// reused, so small messages do not allocate); bigger ones get a throwaway parser, so
// no thread keeps buffers sized for the largest message it ever saw.
inline constexpr std::size_t parser_cache_limit = 64 * 1024;

inline control_error error(std::string_view code, std::string message) { return {code, std::move(message)}; }

// A string member: absent -> nullopt with ok = true; present but not a string -> ok = false.
inline std::optional<std::string_view> string_field(simdjson::dom::object obj, std::string_view key, bool& ok) {
  auto field = obj[key];
  if (field.error() == simdjson::NO_SUCH_FIELD) return std::nullopt;
  std::string_view value;
  if (field.get(value) != simdjson::SUCCESS) {
    ok = false;
    return std::nullopt;
  }
  return value;
}

inline control_result interpret(simdjson::dom::element root) {
  simdjson::dom::object obj;
  if (root.get(obj) != simdjson::SUCCESS) return error(error_codes::bad_request, "a message must be a JSON object");
  bool ok = true;
  auto type = string_field(obj, "type", ok);
  if (!ok || !type) return error(error_codes::bad_request, "\"type\" (a string) is required");

  control_message m;
  if (*type == "ping") {
    m.type = control_type::ping;
    return m;
  }
  if (*type == "subscribe") m.type = control_type::subscribe;
  else if (*type == "unsubscribe") m.type = control_type::unsubscribe;
  else if (*type == "publish") m.type = control_type::publish;
  else return error(error_codes::unknown_type, "unknown message type");

  auto topic = string_field(obj, "topic", ok);
  if (!ok || !topic) return error(error_codes::bad_request, "\"topic\" (a string) is required");
  if (m.type == control_type::publish) {
    if (!valid_topic(*topic))
      return error(error_codes::bad_topic, "topic names are 1-128 characters of A-Z a-z 0-9 . _ : -");
  } else if (!topic_filter::parse_pattern(*topic)) {
    return error(error_codes::bad_topic, "a topic is 1-128 characters of A-Z a-z 0-9 . _ : -, optionally ending in .*");
  }
  m.topic = std::string(*topic);

  if (m.type == control_type::subscribe) {
    auto from = string_field(obj, "from", ok);
    if (!ok) return error(error_codes::bad_cursor, "\"from\" must be a cursor, \"earliest\" or \"latest\"");
    if (from) {
      auto p = parse_position(*from);
      if (!p) return error(error_codes::bad_cursor, "\"from\" must be a cursor, \"earliest\" or \"latest\"");
      m.from = *p;
    }
  } else if (m.type == control_type::publish) {
    auto event = string_field(obj, "event", ok);
    if (!ok || (event && !valid_type(*event)))
      return error(error_codes::bad_request, "\"event\" is 1-64 characters of A-Z a-z 0-9 . _ : -");
    m.event = event ? std::string(*event) : std::string("message");
    auto data = obj["data"];
    if (data.error() != simdjson::SUCCESS) return error(error_codes::bad_request, "\"data\" is required");
    m.data = simdjson::minify(data.value_unsafe());
  }
  return m;
}

}  // namespace control_detail

// Parses one text message. Never throws on bad input.
inline control_result parse_control(std::string_view text) {
  // An empty message may come as a view with a null data pointer (an empty frame),
  // which must not reach simdjson (it copies from it).
  if (text.empty()) return control_detail::error(error_codes::bad_request, "the message is not valid JSON");
  auto run = [&](simdjson::dom::parser& parser) -> control_result {
    simdjson::dom::element root;
    // realloc_if_needed: the text is copied into a padded buffer when necessary.
    if (parser.parse(text.data(), text.size(), true).get(root) != simdjson::SUCCESS)
      return control_detail::error(error_codes::bad_request, "the message is not valid JSON");
    return control_detail::interpret(root);
  };
  if (text.size() <= control_detail::parser_cache_limit) {
    thread_local simdjson::dom::parser parser;
    return run(parser);
  }
  simdjson::dom::parser parser;
  return run(parser);
}

// --- server -> client messages ---------------------------------------------

inline std::string subscribed_message(std::string_view topic) {
  std::string s = R"({"type":"subscribed","topic":)";
  lastmile::detail::append_json_string(s, topic);
  s.push_back('}');
  return s;
}

inline std::string unsubscribed_message(std::string_view topic) {
  std::string s = R"({"type":"unsubscribed","topic":)";
  lastmile::detail::append_json_string(s, topic);
  s.push_back('}');
  return s;
}

inline std::string published_message(cursor id) {
  std::string s = R"({"type":"published","id":")";
  append_cursor(s, id);
  s += "\"}";
  return s;
}

inline std::string pong_message() { return R"({"type":"pong"})"; }

inline std::string error_message(std::string_view code, std::string_view message) {
  std::string s = R"({"type":"error","code":)";
  lastmile::detail::append_json_string(s, code);
  s += R"(,"message":)";
  lastmile::detail::append_json_text(s, message);  // messages may quote client input
  s.push_back('}');
  return s;
}

inline std::string reset_message(std::string_view topic, cursor earliest) {
  std::string s = R"({"type":"reset","topic":)";
  lastmile::detail::append_json_string(s, topic);
  s += R"(,"reason":"cursor_expired","earliest":")";
  append_cursor(s, earliest);
  s += "\"}";
  return s;
}

// {"topic":T,"event":{"id","type","data","time"}}. Built from the event's cached JSON
// form (wire_slot::json, shared with REST/long polling/webhooks) minus its topic
// member, so the payload is validated once per event whatever transports use it.
inline std::string event_message(const event_record& e) {
  const std::string& json = event_json(e);
  std::string topic_member = R"("topic":)";
  lastmile::detail::append_json_text(topic_member, e.topic());
  topic_member.push_back(',');
  std::string s;
  s.reserve(json.size() + 24);
  s = R"({"topic":)";
  lastmile::detail::append_json_text(s, e.topic());
  s += R"(,"event":)";
  // The id (a URL-safe cursor) comes first, so the first match is the topic member.
  const auto at = json.find(topic_member);
  if (at == std::string::npos) {
    s += json;  // cannot happen with append_event_json's layout; stay correct anyway
  } else {
    s.append(json, 0, at);
    s.append(json, at + topic_member.size());
  }
  s.push_back('}');
  return s;
}

}  // namespace lastmile::ws
