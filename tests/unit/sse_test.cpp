// SSE encoder and the WHATWG client parser: the parser against the wpt vectors a
// server influences, then every encoder output read back through it.
#include <lastmile/sse/encoder.hpp>
#include <lastmile/sse/parser.hpp>

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using namespace lastmile;

namespace {
std::vector<sse::message> parse_all(std::string_view stream, std::size_t split = 0, sse::parser* keep = nullptr) {
  sse::parser local;
  sse::parser& p = keep ? *keep : local;
  std::vector<sse::message> out;
  auto on = [&](const sse::message& m) { out.push_back(m); };
  if (split == 0) {
    p.feed(stream, on);
  } else {
    for (std::size_t i = 0; i < stream.size(); i += split) p.feed(stream.substr(i, split), on);
  }
  return out;
}
std::vector<std::string> datas(const std::vector<sse::message>& ms) {
  std::vector<std::string> v;
  for (auto& m : ms) v.push_back(m.data);
  return v;
}
}  // namespace

using namespace std::string_literals;

TEST_CASE("sse parser: wpt vectors") {
  for (std::size_t split : {0u, 1u, 2u, 5u}) {
    INFO("split ", split);
    CHECK(datas(parse_all("data:\n\ndata\ndata\n\ndata:test", split)) == std::vector<std::string>{"", "\n"});
    auto fp = parse_all("data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n"s, split);
    REQUIRE(fp.size() == 1);
    CHECK(fp[0].data == "\0\n 2\n1\n3\n\n4"s);
    CHECK(datas(parse_all("data:test\r\ndata\ndata:test\r\n\r", split)) == std::vector<std::string>{"test\n\ntest"});
    CHECK(datas(parse_all("data:\ttest\rdata: \ndata:test\n\n", split)) == std::vector<std::string>{"\ttest\n\ntest"});
    CHECK(datas(parse_all(": comment\0\r:" + std::string(2048, 'x') + "\nfoobar:\njustsometext\n data:x\ndata:ok\n\n", split)) ==
          std::vector<std::string>{"ok"});
  }
}

TEST_CASE("sse parser: BOM, event types, ids, retry, EOF") {
  CHECK(datas(parse_all("\xEF\xBB\xBF" "data:1\n\n\xEF\xBB\xBF" "data:2\n\ndata:3\n\n")) == std::vector<std::string>{"1", "3"});
  CHECK(datas(parse_all("\xEF\xBB\xBF\xEF\xBB\xBF" "data:1\n\ndata:2\n\ndata:3\n\n")) == std::vector<std::string>{"2", "3"});
  auto t = parse_all("event: \ndata:x\n\nevent:custom\ndata:y\n\n");
  REQUIRE(t.size() == 2);
  CHECK(t[0].type == "message");
  CHECK(t[1].type == "custom");
  auto ids = parse_all("id: 1\ndata:a\n\ndata:b\n\nid\ndata:c\n\nid: x\0y\ndata:d\n\n"s);
  REQUIRE(ids.size() == 4);
  CHECK(ids[0].last_event_id == "1");
  CHECK(ids[1].last_event_id == "1");  // persists
  CHECK(ids[2].last_event_id == "");   // "id" resets
  CHECK(ids[3].last_event_id == "");   // NUL: ignored
  sse::parser p;
  parse_all("retry:1000x\n\nretry\n\n", 0, &p);
  CHECK_FALSE(p.retry());
  parse_all("retry: 2500\n\n", 0, &p);
  CHECK(p.retry() == std::chrono::milliseconds(2500));
  sse::parser q;
  auto eof = parse_all("data:test1\n\nid:test\ndata:test2", 0, &q);
  CHECK(datas(eof) == std::vector<std::string>{"test1"});
  CHECK(q.last_event_id() == "");  // the unfinished event's id never applied
}

TEST_CASE("sse encoder: frames") {
  std::string s;
  sse::append_event(s, cursor{0xab, 7}, "created", R"({"n":1})");
  CHECK(s == "id: ab-7\nevent: created\ndata: {\"n\":1}\n\n");
  s.clear();
  sse::append_event(s, cursor{1, 1}, "message", "");
  CHECK(s == "id: 1-1\nevent: message\ndata:\n\n");
  s.clear();
  sse::append_event(s, cursor{1, 2}, "m", "a\r\nb\rc\nd\n");
  CHECK(s == "id: 1-2\nevent: m\ndata: a\ndata: b\ndata: c\ndata: d\ndata:\n\n");
  s.clear();
  sse::append_reset(s, cursor{0xf, 9});
  CHECK(s == "event: reset\ndata: {\"reason\":\"cursor_expired\",\"earliest\":\"f-9\"}\n\n");
  s.clear();
  sse::append_retry(s, std::chrono::milliseconds(1500));
  sse::append_comment(s, "a\nb");
  CHECK(s == "retry: 1500\n: a\n: b\n\n");
}

TEST_CASE("sse encoder output reads back exactly (line ends normalised to LF)") {
  std::mt19937 rng(3);
  const char alphabet[] = {'a', ' ', '\r', '\n', ':', 'x', '\0', '\t'};
  for (int round = 0; round < 2000; ++round) {
    std::string payload;
    int len = static_cast<int>(rng() % 24);
    for (int i = 0; i < len; ++i) payload.push_back(alphabet[rng() % sizeof alphabet]);
    std::string expect;
    for (std::size_t i = 0; i < payload.size(); ++i) {
      if (payload[i] == '\r') {
        expect.push_back('\n');
        if (i + 1 < payload.size() && payload[i + 1] == '\n') ++i;
      } else {
        expect.push_back(payload[i]);
      }
    }
    std::string stream;
    sse::append_event(stream, cursor{5, static_cast<std::uint64_t>(round)}, "t", payload);
    for (std::size_t split : {0u, 1u, 3u}) {
      auto ms = parse_all(stream, split);
      REQUIRE(ms.size() == 1);
      CHECK(ms[0].data == expect);
      CHECK(ms[0].type == "t");
      CHECK(ms[0].last_event_id == to_string(cursor{5, static_cast<std::uint64_t>(round)}));
    }
  }
}
