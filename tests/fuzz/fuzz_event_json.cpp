// libFuzzer target for the JSON form of events.
//
// Arbitrary bytes become the payload (and a slice the event type, and the first 8
// bytes the timestamp). Properties, not just "no crash": the output always parses as
// JSON and is valid UTF-8; a JSON payload is embedded verbatim (trimmed); any other
// valid-UTF-8 payload round-trips exactly as a string; the time text decodes back to
// the millisecond-floored input; a batch of such events parses too.
#include "lastmile/core/event_json.hpp"

#include <simdjson.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

unsigned digits(std::string_view s, std::size_t pos, std::size_t n) {
  unsigned v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    require(s[i] >= '0' && s[i] <= '9');
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return v;
}

// Inverse of append_rfc3339_ms for in-range times.
void check_time(std::string_view text, lastmile::clock_type::time_point t) {
  using namespace std::chrono;
  require(text.size() == 24 && text[4] == '-' && text[7] == '-' && text[10] == 'T' &&
          text[13] == ':' && text[16] == ':' && text[19] == '.' && text[23] == 'Z');
  const year_month_day ymd{year(static_cast<int>(digits(text, 0, 4))), month(digits(text, 5, 2)),
                           day(digits(text, 8, 2))};
  require(ymd.ok());
  const auto back = sys_days{ymd} + hours(digits(text, 11, 2)) + minutes(digits(text, 14, 2)) +
                    seconds(digits(text, 17, 2)) + milliseconds(digits(text, 20, 3));
  require(back == floor<milliseconds>(t));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  std::int64_t ns = 0;
  if (size >= 8) std::memcpy(&ns, data, 8);
  const auto time = lastmile::clock_type::time_point{lastmile::clock_type::duration{ns}};
  const std::string_view type = payload.substr(0, size % 9);

  auto e = lastmile::event_record::make({0x1f, size}, "topic", type, payload, time);
  const std::string& out = lastmile::event_json(*e);
  require(&out == &lastmile::event_json(*e));
  require(simdjson::validate_utf8(out.data(), out.size()));

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  require(parser.parse(out).get(doc) == simdjson::SUCCESS);
  std::string_view sv;
  require(doc["id"].get_string().get(sv) == simdjson::SUCCESS);
  require(sv == lastmile::to_string(e->id()));
  require(doc["topic"].get_string().get(sv) == simdjson::SUCCESS && sv == "topic");
  require(doc["type"].get_string().error() == simdjson::SUCCESS);
  require(doc["time"].get_string().get(sv) == simdjson::SUCCESS);
  check_time(sv, time);

  simdjson::dom::element d;
  require(doc["data"].get(d) == simdjson::SUCCESS);
  const bool utf8 = simdjson::validate_utf8(payload.data(), payload.size());
  if (lastmile::is_json_value(payload)) {
    // Verbatim: the trimmed payload sits between ,"data": and ,"time":
    const std::string_view trimmed = lastmile::detail::trim_json_ws(payload);
    const std::size_t at = out.rfind(R"(,"time":")");
    require(at != std::string::npos && at >= trimmed.size());
    require(std::string_view(out).substr(at - trimmed.size(), trimmed.size()) == trimmed);
    require(utf8);  // simdjson validated it
  } else {
    require(d.get_string().get(sv) == simdjson::SUCCESS);
    if (utf8) require(sv == payload);
    else require(sv.find("\xEF\xBF\xBD") != std::string_view::npos);
  }

  // A batch splices the cached forms; it must parse as well.
  std::vector<lastmile::event_ptr> batch{e, e};
  const std::string b = lastmile::batch_json(batch, {0x1f, size + 1}, (size & 1) != 0);
  require(parser.parse(b).error() == simdjson::SUCCESS);
  return 0;
}
