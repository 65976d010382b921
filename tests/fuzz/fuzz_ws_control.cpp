// libFuzzer target: WebSocket control messages. parse_control must never crash or
// throw, must accept only what it can vouch for (topics and types valid, `data`
// valid JSON), and the server messages it leads to must be valid JSON.
#include <lastmile/ws/control.hpp>

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

bool is_json(const std::string& s) {
  simdjson::dom::parser p;
  return p.parse(s).error() == simdjson::SUCCESS;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = lastmile::ws::parse_control(text);
  if (auto* e = std::get_if<lastmile::ws::control_error>(&r)) {
    require(!e->code.empty() && !e->message.empty());
    require(is_json(lastmile::ws::error_message(e->code, e->message)));
    return 0;
  }
  const auto& m = std::get<lastmile::ws::control_message>(r);
  using lastmile::ws::control_type;
  switch (m.type) {
    case control_type::ping: break;
    case control_type::subscribe:
    case control_type::unsubscribe:
      require(static_cast<bool>(lastmile::topic_filter::parse_pattern(m.topic)));
      require(is_json(lastmile::ws::subscribed_message(m.topic)));
      break;
    case control_type::publish:
      require(lastmile::valid_topic(m.topic) && lastmile::valid_type(m.event));
      require(is_json(m.data));
      // Re-parsing the re-serialized data gives the same text (minify is a fixpoint).
      {
        auto again = lastmile::ws::parse_control(R"({"type":"publish","topic":"t","data":)" + m.data + "}");
        require(std::holds_alternative<lastmile::ws::control_message>(again) &&
                std::get<lastmile::ws::control_message>(again).data == m.data);
      }
      break;
  }
  return 0;
}
