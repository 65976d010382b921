#include <lastmile/core/event_json.hpp>

#include <doctest/doctest.h>
#include <simdjson.h>

#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace lastmile;
using namespace std::chrono;
using namespace std::string_literals;

namespace {

// 2026-11-28T10:00:00.123Z as Unix milliseconds (computed independently with Python).
constexpr std::int64_t known_ms = 1795860000123;

clock_type::time_point at_ms(std::int64_t ms) {
  return clock_type::time_point{duration_cast<clock_type::duration>(milliseconds{ms})};
}

std::string rfc3339(clock_type::time_point t) {
  std::string s;
  append_rfc3339_ms(s, t);
  return s;
}

event_ptr make_event(std::string_view payload, cursor id = {0xab, 7},
                     std::string_view topic = "orders", std::string_view type = "created") {
  return event_record::make(id, topic, type, payload, at_ms(known_ms));
}

std::string wrap(std::string_view data_json) {
  return R"({"id":"ab-7","topic":"orders","type":"created","data":)" + std::string(data_json) +
         R"(,"time":"2026-11-28T10:00:00.123Z"})";
}

// Parses `json` with simdjson (which also validates UTF-8) and returns the "data"
// member re-serialized, or "<invalid>".
std::string parsed_data(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) return "<invalid>";
  simdjson::dom::element data;
  if (doc["data"].get(data) != simdjson::SUCCESS) return "<no data>";
  return simdjson::minify(data);
}

bool parses(const std::string& json) {
  simdjson::dom::parser parser;
  return parser.parse(json).error() == simdjson::SUCCESS;
}

// Decoded value of the "data" member when it is a string.
std::string data_string(const std::string& json) {
  simdjson::dom::parser parser;
  std::string_view sv;
  if (parser.parse(json)["data"].get_string().get(sv) != simdjson::SUCCESS) return "<not a string>";
  return std::string(sv);
}

const std::string fffd = "\xEF\xBF\xBD";

}  // namespace

TEST_CASE("event json: JSON payloads of every kind are embedded verbatim") {
  const char* values[] = {
      R"({"order":42})", R"([1,2,{"a":[]}])", R"({})", R"([])", R"("text")",
      R"("esc \" \\ \n \u00e9")", "42", "-0.5e+10", "0", "true", "false", "null",
      "\"caf\xC3\xA9\"",  // raw UTF-8 inside a JSON string
  };
  for (const char* v : values) {
    INFO("payload: ", v);
    CHECK(is_json_value(v));
    auto e = make_event(v);
    std::string out;
    append_event_json(out, *e);
    CHECK(out == wrap(v));
    CHECK(parses(out));
  }
}

TEST_CASE("event json: surrounding whitespace is trimmed, inner layout kept") {
  auto e = make_event(" \t\r\n{ \"a\" : [1, 2] }\n\n");
  std::string out;
  append_event_json(out, *e);
  CHECK(out == wrap(R"({ "a" : [1, 2] })"));
  CHECK(parsed_data(out) == R"({"a":[1,2]})");
  CHECK(is_json_value("  null  "));
}

TEST_CASE("event json: non-JSON payloads become JSON strings") {
  struct vec {
    std::string payload;
    std::string data;
  };
  const vec vectors[] = {
      {"", R"("")"},
      {"hello world", R"("hello world")"},
      {"   ", R"("   ")"},                             // whitespace only is not a value
      {"{\"a\":1", R"("{\"a\":1")"},                   // truncated object
      {"{} {}", R"("{} {}")"},                         // two values
      {"1 2", R"("1 2")"},
      {"01", R"("01")"},                               // leading zero
      {"[1,]", R"("[1,]")"},                           // trailing comma
      {"'single'", R"("'single'")"},
      {"True", R"("True")"},
      {"nul", R"("nul")"},
      {"say \"hi\"\\", R"("say \"hi\"\\")"},
      {"line1\nline2\r\n\tend", R"("line1\nline2\r\n\tend")"},
      {"\x01\x1f\b\f"s, R"("\u0001\u001f\b\f")"},
      {"nul\0byte"s, R"("nul\u0000byte")"},
      {"\"unterminated", R"("\"unterminated")"},
      {"\"raw\ncontrol\"", R"("\"raw\ncontrol\"")"},  // control char inside a JSON string
      {"\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80", "\"\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80\""},
  };
  for (const auto& v : vectors) {
    INFO("payload: ", v.payload);
    CHECK_FALSE(is_json_value(v.payload));
    auto e = make_event(v.payload);
    std::string out;
    append_event_json(out, *e);
    CHECK(out == wrap(v.data));
    REQUIRE(parses(out));
    CHECK(data_string(out) == v.payload);  // the string round-trips exactly
  }
}

TEST_CASE("event json: invalid UTF-8 is replaced by U+FFFD per maximal subpart") {
  struct vec {
    std::string payload;
    std::string decoded;  // the "data" string after parsing
  };
  const vec vectors[] = {
      {"a\xC0\xAF" "b", "a" + fffd + fffd + "b"},                 // overlong '/'
      {"\xE0\x80\xAF", fffd + fffd + fffd},                       // overlong 3-byte
      {"\xF0\x80\x80\xAF", fffd + fffd + fffd + fffd},            // overlong 4-byte
      {"x\xE2\x82", "x" + fffd},                                  // truncated at end
      {"\xE2\x82x", fffd + "x"},                                  // truncated mid-text
      {"\xF0\x9F\x98", fffd},                                     // truncated 4-byte
      {"\x80", fffd},                                             // lone continuation
      {"a\xBF\xBF" "b", "a" + fffd + fffd + "b"},                 // two lone continuations
      {"\xED\xA0\x80", fffd + fffd + fffd},                       // high surrogate D800
      {"\xED\xBF\xBF", fffd + fffd + fffd},                       // low surrogate DFFF
      {"\xED\x9F\xBF", "\xED\x9F\xBF"},                           // U+D7FF is fine
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},            // above U+10FFFF
      {"\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF"},                   // U+10FFFF is fine
      {"\xF5\xFE\xFF", fffd + fffd + fffd},                       // never-valid bytes
      {"\xC3", fffd},                                             // lone lead byte
      {"\"\xFF\"", "\"" + fffd + "\""},                           // JSON-looking, bad UTF-8
      {"q\"\xFF\n", "q\"" + fffd + "\n"},                         // escaping still applies
  };
  for (const auto& v : vectors) {
    INFO("payload bytes: ", v.payload.size());
    auto e = make_event(v.payload);
    std::string out;
    append_event_json(out, *e);
    REQUIRE(parses(out));  // simdjson validates UTF-8 of the whole document
    CHECK(simdjson::validate_utf8(out.data(), out.size()));
    CHECK(data_string(out) == v.decoded);
  }
}

TEST_CASE("event json: topic and type are escaped too") {
  auto e = event_record::make({1, 2}, "a\"b", "t\xFF", "1", at_ms(0));
  std::string out;
  append_event_json(out, *e);
  CHECK(out == "{\"id\":\"1-2\",\"topic\":\"a\\\"b\",\"type\":\"t" + fffd +
                   "\",\"data\":1,\"time\":\"1970-01-01T00:00:00.000Z\"}");
  CHECK(parses(out));
}

TEST_CASE("event json: the cache serializes once and returns the same object") {
  auto e = make_event(R"({"order":42})");
  CHECK(e->cached_wire(wire_slot::json) == nullptr);
  const std::string& a = event_json(*e);
  const std::string& b = event_json(*e);
  CHECK(&a == &b);
  CHECK(e->cached_wire(wire_slot::json) == &a);
  CHECK(a == wrap(R"({"order":42})"));

  // Racing readers all get the one winning string.
  auto e2 = make_event("race");
  std::vector<const std::string*> seen(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i)
    threads.emplace_back([&, i] { seen[i] = &event_json(*e2); });
  for (auto& t : threads) t.join();
  for (auto* p : seen) CHECK(p == e2->cached_wire(wire_slot::json));
}

TEST_CASE("event json: large payloads take the uncached parser path") {
  std::string big = "[";
  while (big.size() < detail::json_parser_cache_limit + 10) big += "12345678,";
  big += "0]";
  CHECK(is_json_value(big));
  big.back() = ',';  // now invalid: "[...,0,"
  CHECK_FALSE(is_json_value(big));
}

TEST_CASE("rfc3339: time formatting vectors") {
  CHECK(rfc3339(at_ms(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(rfc3339(at_ms(known_ms)) == "2026-11-28T10:00:00.123Z");
  CHECK(rfc3339(sys_days{2026y / 11 / 28} + 10h + 123ms) == "2026-11-28T10:00:00.123Z");
  CHECK(rfc3339(at_ms(1709251199999)) == "2024-02-29T23:59:59.999Z");  // leap day
  CHECK(rfc3339(at_ms(951827696789)) == "2000-02-29T12:34:56.789Z");   // 400-year leap
  CHECK(rfc3339(sys_days{2100y / 3 / 1}) == "2100-03-01T00:00:00.000Z");  // 2100 not leap
  CHECK(rfc3339(sys_days{2100y / 2 / 28} + 24h) == "2100-03-01T00:00:00.000Z");
  // Sub-millisecond parts are floored, also before 1970.
  CHECK(rfc3339(clock_type::time_point{999999ns}) == "1970-01-01T00:00:00.000Z");
  CHECK(rfc3339(clock_type::time_point{1000000ns}) == "1970-01-01T00:00:00.001Z");
  CHECK(rfc3339(clock_type::time_point{-1ns}) == "1969-12-31T23:59:59.999Z");
  CHECK(rfc3339(at_ms(-1)) == "1969-12-31T23:59:59.999Z");
  CHECK(rfc3339(at_ms(-2208988800000)) == "1900-01-01T00:00:00.000Z");
  // The clock's extremes (libstdc++: int64 nanoseconds) still format.
  if constexpr (std::is_same_v<clock_type::duration, nanoseconds>) {
    CHECK(rfc3339(clock_type::time_point::max()) == "2262-04-11T23:47:16.854Z");
    CHECK(rfc3339(clock_type::time_point::min()) == "1677-09-21T00:12:43.145Z");
  }
}

TEST_CASE("batch json: with and without reset, reusing cached event JSON") {
  std::vector<event_ptr> batch{make_event(R"({"order":1})", {0xab, 7}),
                               make_event("plain", {0xab, 8})};
  std::string out;
  append_batch_json(out, batch, cursor{0xab, 9}, false);
  const std::string e1 = R"({"id":"ab-7","topic":"orders","type":"created","data":{"order":1},)"
                         R"("time":"2026-11-28T10:00:00.123Z"})";
  const std::string e2 = R"({"id":"ab-8","topic":"orders","type":"created","data":"plain",)"
                         R"("time":"2026-11-28T10:00:00.123Z"})";
  CHECK(out == R"({"events":[)" + e1 + "," + e2 + R"(],"nextCursor":"ab-9"})");
  CHECK(parses(out));
  // The batch filled the per-event cache.
  REQUIRE(batch[0]->cached_wire(wire_slot::json) != nullptr);
  CHECK(*batch[0]->cached_wire(wire_slot::json) == e1);

  const std::string reset = batch_json({}, cursor{0x1f, 0}, true);
  CHECK(reset == R"({"events":[],"nextCursor":"1f-0","reset":{"reason":"cursor_expired"}})");
  CHECK(parses(reset));

  std::string one = "prefix:";  // appends, does not overwrite
  append_batch_json(one, std::span(batch).first(1), cursor{0xab, 7}, true);
  CHECK(one == R"(prefix:{"events":[)" + e1 +
                   R"(],"nextCursor":"ab-7","reset":{"reason":"cursor_expired"}})");
  CHECK(parses(one.substr(7)));
}
