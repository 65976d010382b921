#include <lastmile/log/memory_log.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

using namespace lastmile;
using namespace std::chrono_literals;

namespace {
std::vector<std::uint64_t> offsets(const event_batch& b) {
  std::vector<std::uint64_t> v;
  for (auto& e : b) v.push_back(e->id().offset);
  return v;
}
}  // namespace

TEST_CASE("append assigns increasing cursors in this log's epoch") {
  memory_log log;
  CHECK(log.epoch() != 0);
  CHECK(log.head() == cursor{log.epoch(), 0});
  auto a = log.append("t", "message", "one");
  auto b = log.append("t", "message", "two");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->epoch == log.epoch());
  CHECK(b->offset == a->offset + 1);
  CHECK(log.head() == *b);
  memory_log other;
  CHECK(other.epoch() != log.epoch());  // 64 random bits: a collision would be a bug
}

TEST_CASE("read_after returns events strictly after the cursor, in order") {
  memory_log log;
  for (int i = 0; i < 10; ++i) log.append("t", "message", std::to_string(i));
  event_batch out;
  auto st = log.read_after(log.earliest(), topic_filter::all(), 100, out);
  CHECK_FALSE(st.reset);
  REQUIRE(out.size() == 10);
  CHECK(out[0]->payload() == "0");
  CHECK(st.next == log.head());

  out.clear();
  st = log.read_after(cursor{log.epoch(), 4}, topic_filter::all(), 3, out);
  CHECK(offsets(out) == std::vector<std::uint64_t>{5, 6, 7});
  CHECK(st.next == cursor{log.epoch(), 7});  // a full batch stops at its last event

  out.clear();
  st = log.read_after(log.head(), topic_filter::all(), 3, out);
  CHECK(out.empty());
  CHECK(st.next == log.head());
  CHECK_FALSE(st.reset);
}

TEST_CASE("a quiet topic's reader advances to the head") {
  memory_log log;
  log.append("quiet", "message", "q");
  for (int i = 0; i < 5; ++i) log.append("busy", "message", "b");
  auto f = *topic_filter::parse({"quiet"});
  event_batch out;
  auto st = log.read_after(log.earliest(), f, 10, out);
  CHECK(out.size() == 1);
  CHECK(st.next == log.head());
}

TEST_CASE("retention by count, at the boundary") {
  memory_log log({.max_events = 3});
  for (int i = 1; i <= 3; ++i) log.append("t", "m", std::to_string(i));
  CHECK(log.size() == 3);
  CHECK(log.earliest() == cursor{log.epoch(), 0});  // nothing evicted yet
  log.append("t", "m", "4");
  CHECK(log.size() == 3);
  CHECK(log.earliest() == cursor{log.epoch(), 1});  // event 1 gone

  event_batch out;
  // Cursor 1 (after event 1) is still retained: events 2..4 are all there.
  auto st = log.read_after(cursor{log.epoch(), 1}, topic_filter::all(), 10, out);
  CHECK_FALSE(st.reset);
  CHECK(offsets(out) == std::vector<std::uint64_t>{2, 3, 4});
  // Cursor 0 missed event 1: reset, then from the earliest retained.
  out.clear();
  st = log.read_after(cursor{log.epoch(), 0}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->reason == reset_reason::expired);
  CHECK(st.reset->earliest == cursor{log.epoch(), 2});
  CHECK(offsets(out) == std::vector<std::uint64_t>{2, 3, 4});
}

TEST_CASE("retention by bytes, at the boundary") {
  // Each event accounts topic(1) + type(1) + payload(8) = 10 bytes.
  memory_log log({.max_bytes = 30});
  for (int i = 0; i < 3; ++i) log.append("t", "m", "12345678");
  CHECK(log.size() == 3);
  CHECK(log.bytes() == 30);
  log.append("t", "m", "1");  // 33 bytes > 30: the oldest goes
  CHECK(log.size() == 3);
  CHECK(log.bytes() == 23);
  CHECK(log.earliest().offset == 1);
  // A single event larger than the whole budget is refused, not stored.
  auto big = log.append("t", "m", std::string(29, 'x'));
  CHECK(big.error() == errc::payload_too_large);
  CHECK(log.size() == 3);
}

TEST_CASE("retention by age, at the boundary") {
  auto now = clock_type::time_point{} + 1000s;
  memory_log log({.max_age = 10s, .clock = [&] { return now; }});
  log.append("t", "m", "old");
  now += 9s;
  log.append("t", "m", "newer");
  log.trim();
  CHECK(log.size() == 2);  // 9 s old: kept
  now += 1s;
  log.trim();
  CHECK(log.size() == 1);  // exactly 10 s old: gone
  CHECK(log.earliest().offset == 1);
  now += 100s;
  log.append("t", "m", "fresh");  // append evicts too
  CHECK(log.size() == 1);
  event_batch out;
  log.read_after(log.earliest(), topic_filter::all(), 10, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0]->payload() == "fresh");
}

TEST_CASE("foreign-epoch and ahead cursors reset to the earliest event") {
  memory_log log;
  log.append("t", "m", "a");
  log.append("t", "m", "b");
  event_batch out;
  auto st = log.read_after(cursor{log.epoch() ^ 1, 1}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->reason == reset_reason::foreign_epoch);
  CHECK(st.reset->earliest == cursor{log.epoch(), 1});
  CHECK(out.size() == 2);

  out.clear();
  st = log.read_after(cursor{log.epoch(), 99}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->reason == reset_reason::ahead);
  CHECK(out.size() == 2);
}

TEST_CASE("reset on an empty log points at the log's start") {
  memory_log log;
  event_batch out;
  auto st = log.read_after(cursor{12345, 6}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->earliest == log.earliest());
  CHECK(st.next == log.head());
  CHECK(out.empty());
}

TEST_CASE("the per-topic index returns the same as a full scan") {
  std::mt19937 rng(7);
  const std::vector<std::string> topics = {"a", "a.x", "a.x.y", "a.z", "b", "b.q", "c", "ab", "a.x2"};
  memory_log log({.max_events = 500});
  for (int i = 0; i < 2000; ++i)
    log.append(topics[rng() % topics.size()], "m", std::to_string(i));

  const std::vector<std::vector<std::string_view>> filters = {
      {"a"}, {"a.*"}, {"a.x.*"}, {"a.*", "a.x"}, {"b", "c"}, {"nope"}, {"a.x", "b.*", "ab"}, {"z.*"}};
  for (const auto& pats : filters) {
    auto f = *topic_filter::parse(pats);
    for (std::uint64_t start : {0ull, 1499ull, 1500ull, 1750ull, 1999ull, 2000ull}) {
      for (std::size_t max : {1u, 7u, 1000u}) {
        event_batch got;
        auto st = log.read_after(cursor{log.epoch(), start}, f, max, got);
        // Reference: scan the whole log without a filter and filter here.
        event_batch all;
        log.read_after(cursor{log.epoch(), start}, topic_filter::all(), 100000, all);
        std::vector<std::uint64_t> want;
        for (auto& e : all)
          if (f.matches(e->topic()) && want.size() < max) want.push_back(e->id().offset);
        INFO("filter ", pats[0], " start ", start, " max ", max);
        CHECK(offsets(got) == want);
        if (got.size() == max) CHECK(st.next == got.back()->id());
        else CHECK(st.next == log.head());
      }
    }
  }
}

TEST_CASE("eviction drops topics from the index") {
  memory_log log({.max_events = 2});
  log.append("one", "m", "");
  log.append("two", "m", "");
  log.append("three", "m", "");
  CHECK(log.topic_count() == 2);
}

TEST_CASE("insert keeps cursors assigned elsewhere, possibly sparse") {
  memory_log log({.epoch = 77, .start_offset = 1000});
  CHECK(log.earliest() == cursor{77, 1000});
  REQUIRE(log.insert({77, 1005}, "t", "m", "a", clock_type::now()));
  REQUIRE(log.insert({77, 1010}, "u", "m", "b", clock_type::now()));
  CHECK(log.insert({77, 1010}, "t", "m", "dup", clock_type::now()).error() == errc::out_of_order);
  CHECK(log.insert({78, 2000}, "t", "m", "x", clock_type::now()).error() == errc::out_of_order);
  event_batch out;
  auto st = log.read_after({77, 1007}, topic_filter::all(), 10, out);
  CHECK_FALSE(st.reset);
  CHECK(offsets(out) == std::vector<std::uint64_t>{1010});
  out.clear();
  log.read_after({77, 1000}, *topic_filter::parse({"u"}), 10, out);
  CHECK(offsets(out) == std::vector<std::uint64_t>{1010});
  out.clear();
  st = log.read_after({77, 999}, topic_filter::all(), 10, out);
  CHECK(st.reset);
  // After insert, append continues from the head.
  auto c = log.append("t", "m", "next");
  CHECK(*c == cursor{77, 1011});
}

TEST_CASE("event records keep their fields and share wire forms") {
  memory_log log;
  log.append("orders", "created", R"({"n":1})");
  event_batch out;
  log.read_after(log.earliest(), topic_filter::all(), 1, out);
  REQUIRE(out.size() == 1);
  const auto& e = *out[0];
  CHECK(e.topic() == "orders");
  CHECK(e.type() == "created");
  CHECK(e.payload() == R"({"n":1})");
  CHECK(e.size_bytes() == 6 + 7 + 7);
  int calls = 0;
  auto make = [&](const event_record& r) { ++calls; return "data: " + std::string(r.payload()); };
  const std::string& w1 = e.wire(wire_slot::sse, make);
  const std::string& w2 = e.wire(wire_slot::sse, make);
  CHECK(&w1 == &w2);
  CHECK(calls == 1);
  CHECK(w1 == R"(data: {"n":1})");
  CHECK(e.cached_wire(wire_slot::json) == nullptr);
}
