// Fuzzes the SSE client parser (untrusted bytes) and the encoder round trip:
// - any bytes, fed whole or split where the first byte says, give the same events;
// - any payload, encoded as an event and parsed back, gives the payload with its
//   line ends turned into LF.
#include <lastmile/sse/encoder.hpp>
#include <lastmile/sse/parser.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {
std::vector<lastmile::sse::message> run(std::string_view s, std::size_t split) {
  lastmile::sse::parser p;
  p.set_max_line(4096);
  std::vector<lastmile::sse::message> out;
  auto on = [&](const lastmile::sse::message& m) { out.push_back(m); };
  if (split == 0) p.feed(s, on);
  else for (std::size_t i = 0; i < s.size(); i += split) p.feed(s.substr(i, split), on);
  return out;
}
bool same(const std::vector<lastmile::sse::message>& a, const std::vector<lastmile::sse::message>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].data != b[i].data || a[i].type != b[i].type || a[i].last_event_id != b[i].last_event_id) return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t split = data[0] % 17;
  std::string_view s(reinterpret_cast<const char*>(data + 1), size - 1);
  if (!same(run(s, 0), run(s, split == 0 ? 1 : split))) std::abort();

  std::string stream, expect;
  lastmile::sse::append_event(stream, {7, size}, "t", s);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      expect.push_back('\n');
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      expect.push_back(s[i]);
    }
  }
  auto ms = run(stream, split);
  if (s.size() < 4000 && (ms.size() != 1 || ms[0].data != expect || ms[0].type != "t")) std::abort();
  return 0;
}
