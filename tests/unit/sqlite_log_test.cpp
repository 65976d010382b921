#include <lastmile/log/sqlite_log.hpp>

#include <lastmile/hub.hpp>
#include <lastmile/log/memory_log.hpp>

#include <doctest/doctest.h>

#include <asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

using namespace lastmile;
using namespace std::chrono_literals;

namespace {

// A database path under the system temp directory, removed (with its -wal/-shm
// companions) at the end of the test.
struct temp_db {
  std::filesystem::path path;
  temp_db() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("lastmile-sqlite-log-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db");
    remove();
  }
  ~temp_db() { remove(); }
  void remove() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(path.string() + suffix, ec);
  }
  sqlite_log open(sqlite_log_options o = {}) const {
    o.path = path.string();
    auto log = sqlite_log::open(std::move(o));
    REQUIRE_MESSAGE(log, log.error().message());
    return std::move(*log);
  }
};

std::vector<std::uint64_t> offsets(const event_batch& b) {
  std::vector<std::uint64_t> v;
  for (auto& e : b) v.push_back(e->id().offset);
  return v;
}

std::vector<std::string> payloads(const event_batch& b) {
  std::vector<std::string> v;
  for (auto& e : b) v.emplace_back(e->payload());
  return v;
}

}  // namespace

TEST_CASE("sqlite_log: append assigns increasing cursors; reads return them in order") {
  temp_db db;
  auto log = db.open();
  CHECK(log.epoch() != 0);
  CHECK(log.head() == cursor{log.epoch(), 0});
  CHECK(log.earliest() == cursor{log.epoch(), 0});
  for (int i = 0; i < 10; ++i) {
    auto c = log.append("t", "message", std::to_string(i));
    REQUIRE(c);
    CHECK(*c == cursor{log.epoch(), std::uint64_t(i + 1)});
  }
  CHECK(log.size() == 10);
  event_batch out;
  auto st = log.read_after(log.earliest(), topic_filter::all(), 100, out);
  CHECK_FALSE(st.reset);
  REQUIRE(out.size() == 10);
  CHECK(out[0]->payload() == "0");
  CHECK(out[0]->topic() == "t");
  CHECK(out[0]->type() == "message");
  CHECK(st.next == log.head());

  out.clear();
  st = log.read_after(cursor{log.epoch(), 4}, topic_filter::all(), 3, out);
  CHECK(offsets(out) == std::vector<std::uint64_t>{5, 6, 7});
  CHECK(st.next == cursor{log.epoch(), 7});

  out.clear();
  st = log.read_after(log.head(), topic_filter::all(), 3, out);
  CHECK(out.empty());
  CHECK(st.next == log.head());
  CHECK_FALSE(st.reset);

  // max == 0 reads nothing and moves nowhere.
  st = log.read_after(log.earliest(), topic_filter::all(), 0, out);
  CHECK(out.empty());
  CHECK(st.next == log.earliest());
}

TEST_CASE("sqlite_log: empty payloads and binary-safe payloads round-trip through the disk") {
  temp_db db;
  std::string binary("a\0b\xff", 4);
  {
    auto log = db.open();
    REQUIRE(log.append("t", "m", ""));
    REQUIRE(log.append("t", "m", binary));
  }
  auto log = db.open({.tail_events = 1});
  event_batch out;
  log.read_after(log.earliest(), topic_filter::all(), 10, out);  // event 1 is only on disk
  REQUIRE(out.size() == 2);
  CHECK(out[0]->payload().empty());
  CHECK(out[1]->payload() == binary);
  CHECK(log.stats().disk_reads == 1);
}

TEST_CASE("sqlite_log: live readers are served from the memory tail, older cursors from disk") {
  temp_db db;
  auto log = db.open({.tail_events = 5});
  for (int i = 1; i <= 20; ++i) log.append(i % 2 ? "odd" : "even", "m", std::to_string(i));
  CHECK(log.tail().size() == 5);
  CHECK(log.tail().earliest().offset == 15);

  event_batch out;
  auto st = log.read_after({log.epoch(), 16}, topic_filter::all(), 100, out);
  CHECK(offsets(out) == std::vector<std::uint64_t>{17, 18, 19, 20});
  CHECK(log.stats().tail_reads == 1);
  CHECK(log.stats().disk_reads == 0);

  out.clear();
  auto odd = *topic_filter::parse({"odd"});
  st = log.read_after({log.epoch(), 2}, odd, 3, out);
  CHECK(offsets(out) == std::vector<std::uint64_t>{3, 5, 7});
  CHECK(st.next == cursor{log.epoch(), 7});
  CHECK(log.stats().disk_reads == 1);

  // A filtered read from disk that runs into the tail's range still sees every event.
  out.clear();
  st = log.read_after({log.epoch(), 10}, odd, 100, out);
  CHECK(offsets(out) == std::vector<std::uint64_t>{11, 13, 15, 17, 19});
  CHECK(st.next == log.head());
}

TEST_CASE("sqlite_log: a quiet topic's reader advances to the head, from the tail and from disk") {
  temp_db db;
  auto log = db.open({.tail_events = 3});
  log.append("quiet", "message", "q");
  for (int i = 0; i < 10; ++i) log.append("busy", "message", "b");
  auto f = *topic_filter::parse({"quiet"});
  event_batch out;
  auto st = log.read_after(log.earliest(), f, 10, out);  // disk
  CHECK(out.size() == 1);
  CHECK(st.next == log.head());
  out.clear();
  st = log.read_after({log.epoch(), 9}, f, 10, out);  // tail
  CHECK(out.empty());
  CHECK(st.next == log.head());
}

TEST_CASE("sqlite_log: filtered reads from disk match the memory tail and a full scan") {
  std::mt19937 rng(7);
  const std::vector<std::string> topics = {"a", "a.x", "a.x.y", "a.z", "b", "b.q", "c", "ab", "a.x2", "a."};
  temp_db db;
  // A tail of 100 events over 500 retained: reads start on disk or in the tail.
  auto log = db.open({.max_events = 500, .tail_events = 100, .delete_batch = 50});
  memory_log mem({.max_events = 500, .epoch = log.epoch()});
  for (int i = 0; i < 2000; ++i) {
    const auto& t = topics[rng() % topics.size()];
    REQUIRE(log.append(t, "m", std::to_string(i)));
    REQUIRE(mem.append(t, "m", std::to_string(i)));
  }
  CHECK(log.head() == mem.head());
  CHECK(log.earliest() == mem.earliest());

  const std::vector<std::vector<std::string_view>> filters = {
      {}, {"a"}, {"a.*"}, {"a.x.*"}, {"a.*", "a.x"}, {"b", "c"}, {"nope"}, {"a.x", "b.*", "ab"}, {"z.*"}, {"a.", "a.*"}};
  for (const auto& pats : filters) {
    auto f = *topic_filter::parse(pats);
    for (std::uint64_t start : {0ull, 1499ull, 1500ull, 1750ull, 1899ull, 1900ull, 1999ull, 2000ull, 2001ull}) {
      for (std::size_t max : {1u, 7u, 1000u}) {
        event_batch got, want;
        auto st = log.read_after(cursor{log.epoch(), start}, f, max, got);
        auto wst = mem.read_after(cursor{log.epoch(), start}, f, max, want);
        INFO("filter ", pats.empty() ? "(all)" : pats[0], " start ", start, " max ", max);
        CHECK(offsets(got) == offsets(want));
        CHECK(payloads(got) == payloads(want));
        CHECK(st.next == wst.next);
        REQUIRE(st.reset.has_value() == wst.reset.has_value());
        if (st.reset) {
          CHECK(st.reset->reason == wst.reset->reason);
          CHECK(st.reset->earliest == wst.reset->earliest);
        }
      }
    }
  }
  CHECK(log.stats().disk_reads > 0);
  CHECK(log.stats().tail_reads > 0);
}

TEST_CASE("sqlite_log: retention by count, at the boundary, with rows deleted in batches") {
  temp_db db;
  auto log = db.open({.max_events = 3, .delete_batch = 2});
  for (int i = 1; i <= 3; ++i) log.append("t", "m", std::to_string(i));
  CHECK(log.size() == 3);
  CHECK(log.earliest() == cursor{log.epoch(), 0});
  log.append("t", "m", "4");
  CHECK(log.size() == 3);
  CHECK(log.earliest() == cursor{log.epoch(), 1});  // event 1 is out of the retained range at once
  CHECK(log.stats().deleted == 0);                  // its row goes with the next batch

  event_batch out;
  auto st = log.read_after(cursor{log.epoch(), 1}, topic_filter::all(), 10, out);
  CHECK_FALSE(st.reset);
  CHECK(offsets(out) == std::vector<std::uint64_t>{2, 3, 4});
  out.clear();
  st = log.read_after(cursor{log.epoch(), 0}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->reason == reset_reason::expired);
  CHECK(st.reset->earliest == cursor{log.epoch(), 2});
  CHECK(offsets(out) == std::vector<std::uint64_t>{2, 3, 4});

  log.append("t", "m", "5");
  CHECK(log.stats().deleted == 2);
  log.trim();
  CHECK(log.stats().deleted == 2);  // nothing else due
}

TEST_CASE("sqlite_log: retention by age, at the boundary") {
  auto now = clock_type::time_point{} + 1000s;
  temp_db db;
  auto log = db.open({.max_age = 10s, .clock = [&] { return now; }});
  log.append("t", "m", "old");
  now += 9s;
  log.append("t", "m", "newer");
  log.trim();
  CHECK(log.size() == 2);  // 9 s old: kept
  now += 1s;
  log.trim();
  CHECK(log.size() == 1);  // exactly 10 s old: gone
  CHECK(log.earliest().offset == 1);
  CHECK(log.stats().deleted == 1);
  event_batch out;
  auto st = log.read_after({log.epoch(), 0}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->reason == reset_reason::expired);
  CHECK(payloads(out) == std::vector<std::string>{"newer"});
  now += 100s;
  log.append("t", "m", "fresh");  // appends apply age retention too
  CHECK(log.size() == 1);
  out.clear();
  log.read_after(log.earliest(), topic_filter::all(), 10, out);
  CHECK(payloads(out) == std::vector<std::string>{"fresh"});
}

TEST_CASE("sqlite_log: foreign-epoch and ahead cursors reset to the earliest event") {
  temp_db db;
  auto log = db.open();
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

TEST_CASE("sqlite_log: reset on an empty log points at the log's start") {
  temp_db db;
  auto log = db.open();
  event_batch out;
  auto st = log.read_after(cursor{12345, 6}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->earliest == log.earliest());
  CHECK(st.next == log.head());
  CHECK(out.empty());
}

TEST_CASE("sqlite_log: a restart keeps events, epoch and the next offset") {
  temp_db db;
  std::uint64_t epoch = 0;
  cursor before{};
  {
    auto log = db.open();
    epoch = log.epoch();
    for (int i = 1; i <= 5; ++i) log.append(i == 3 ? "x" : "t", "m", std::to_string(i));
    before = {epoch, 3};  // a client has read up to event 3
  }
  auto log = db.open();
  CHECK(log.epoch() == epoch);
  CHECK(log.head() == cursor{epoch, 5});
  CHECK(log.tail().size() == 5);  // the tail is warm again: live readers stay off the disk
  event_batch out;
  auto st = log.read_after(before, topic_filter::all(), 10, out);
  CHECK_FALSE(st.reset);
  CHECK(payloads(out) == std::vector<std::string>{"4", "5"});
  auto c = log.append("t", "m", "6");
  CHECK(*c == cursor{epoch, 6});
  out.clear();
  log.read_after(before, *topic_filter::parse({"x"}), 10, out);
  CHECK(out.empty());
}

TEST_CASE("sqlite_log: offsets are never reused, even when retention emptied the log") {
  temp_db db;
  std::uint64_t epoch = 0;
  auto now = clock_type::time_point{} + 1000s;
  {
    auto log = db.open({.max_age = 5s, .clock = [&] { return now; }});
    epoch = log.epoch();
    for (int i = 0; i < 4; ++i) log.append("t", "m", "x");
    now += 10s;
    log.trim();
    CHECK(log.size() == 0);
    CHECK(log.earliest() == cursor{epoch, 4});
  }
  auto log = db.open();
  CHECK(log.head() == cursor{epoch, 4});
  CHECK(log.earliest() == cursor{epoch, 4});
  CHECK(*log.append("t", "m", "y") == cursor{epoch, 5});
  event_batch out;
  auto st = log.read_after({epoch, 2}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->reason == reset_reason::expired);
  CHECK(offsets(out) == std::vector<std::uint64_t>{5});
}

TEST_CASE("sqlite_log: a smaller max_events at reopen moves the retained range") {
  temp_db db;
  {
    auto log = db.open();
    for (int i = 0; i < 10; ++i) log.append("t", "m", std::to_string(i));
  }
  auto log = db.open({.max_events = 4});
  CHECK(log.earliest().offset == 6);
  CHECK(log.size() == 4);
  event_batch out;
  log.read_after(log.earliest(), topic_filter::all(), 10, out);
  CHECK(offsets(out) == std::vector<std::uint64_t>{7, 8, 9, 10});
}

TEST_CASE("sqlite_log: append_batch writes consecutive offsets in one transaction") {
  temp_db db;
  auto log = db.open();
  std::vector<log_entry> batch = {{"a", "m", "1"}, {"b", "m", "2"}, {"a", "m", "3"}};
  auto commits = log.stats().commits;
  auto last = log.append_batch(batch);
  REQUIRE(last);
  CHECK(*last == cursor{log.epoch(), 3});
  CHECK(log.stats().commits == commits + 1);
  CHECK(*log.append_batch({}) == log.head());
  event_batch out;
  log.read_after(log.earliest(), *topic_filter::parse({"a"}), 10, out);
  CHECK(payloads(out) == std::vector<std::string>{"1", "3"});
}

TEST_CASE("sqlite_log: events over max_event_bytes are refused, whole batches included") {
  temp_db db;
  auto log = db.open({.max_event_bytes = 20});
  CHECK(log.append("t", "m", std::string(18, 'x')));
  CHECK(log.append("t", "m", std::string(19, 'x')).error() == errc::payload_too_large);
  std::vector<log_entry> batch = {{"t", "m", "ok"}, {"t", "m", std::string(19, 'x')}};
  CHECK(log.append_batch(batch).error() == errc::payload_too_large);
  CHECK(log.size() == 1);
  // tail_bytes caps the event size: the tail must be able to hold every event.
  temp_db db2;
  auto log2 = db2.open({.tail_bytes = 10});
  CHECK(log2.options().max_event_bytes == 10);
}

TEST_CASE("sqlite_log: concurrent appends are group-committed and every cursor is readable") {
  temp_db db;
  auto log = db.open();
  constexpr int threads = 4, per_thread = 200;
  std::vector<std::thread> ts;
  std::vector<std::vector<cursor>> got(threads);
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto c = log.append("t" + std::to_string(t), "m", std::to_string(i));
        if (c) got[t].push_back(*c);
      }
    });
  for (auto& t : ts) t.join();
  CHECK(log.head().offset == threads * per_thread);
  CHECK(log.stats().appended == threads * per_thread);
  CHECK(log.stats().commits <= threads * per_thread);
  for (int t = 0; t < threads; ++t) {
    REQUIRE(got[t].size() == per_thread);
    for (int i = 1; i < per_thread; ++i) CHECK(got[t][i].offset > got[t][i - 1].offset);
    // Each thread's events, in its order, under the cursors it was given.
    event_batch out;
    log.read_after(log.earliest(), *topic_filter::parse({std::string_view("t" + std::to_string(t))}), 1000, out);
    REQUIRE(out.size() == per_thread);
    for (int i = 0; i < per_thread; ++i) {
      CHECK(out[i]->id() == got[t][i]);
      CHECK(out[i]->payload() == std::to_string(i));
    }
  }
}

TEST_CASE("sqlite_log: readers concurrent with appends and retention never skip an event") {
  temp_db db;
  auto log = db.open({.max_events = 300, .tail_events = 20, .delete_batch = 10});
  std::atomic<bool> stop{false};
  std::atomic<int> problems{0}, resets{0};
  std::thread reader([&] {
    cursor c = log.earliest();
    while (!stop) {
      event_batch out;
      auto st = log.read_after(c, topic_filter::all(), 7, out);
      if (st.reset) {
        ++resets;
      } else {
        std::uint64_t expect = c.offset + 1;
        for (auto& e : out)
          if (e->id().offset != expect++) ++problems;
      }
      c = st.next;
      if (out.empty()) std::this_thread::yield();
      // Fall behind now and then, so reads hit the disk and the retention edge.
      if (!out.empty() && out.back()->id().offset % 97 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  for (int i = 0; i < 3000; ++i) log.append("t", "m", "x");
  stop = true;
  reader.join();
  CHECK(problems == 0);
  MESSAGE("resets seen by the lagging reader: ", resets.load());
}

TEST_CASE("sqlite_log: a hub over it wakes waiters and serves reads") {
  temp_db db;
  auto log = db.open();
  hub<sqlite_log> h(log);
  asio::io_context io;
  auto f = *topic_filter::parse({"orders.*"});
  bool woke = false;
  h.async_wait(io.get_executor(), h.head(), f, [&](std::error_code ec) { woke = !ec; });
  io.poll();
  CHECK_FALSE(woke);
  auto id = h.publish("orders.eu", "", R"({"n":1})");
  REQUIRE(id);
  io.run();
  CHECK(woke);
  event_batch out;
  h.read_after(h.resolve(position::earliest()), f, 10, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0]->type() == "message");
  CHECK(h.publish("bad topic", "m", "").error() == errc::bad_topic);
}

TEST_CASE("sqlite_log: open reports clear errors") {
  // An unwritable place.
  auto r = sqlite_log::open({.path = "/nonexistent-dir-for-lastmile/x.db"});
  REQUIRE_FALSE(r);
  CHECK(r.error().category().name() == std::string("sqlite"));
  CHECK(r.error().message() == "unable to open database file");
  // No path, or an in-memory database.
  CHECK_FALSE(sqlite_log::open({}));
  CHECK_FALSE(sqlite_log::open({.path = ":memory:"}));
  // A file that is not a database.
  temp_db db;
  {
    std::ofstream f(db.path, std::ios::binary);
    f << std::string(4096, 'z');
  }
  r = sqlite_log::open({.path = db.path.string()});
  REQUIRE_FALSE(r);
  CHECK(r.error().message() == "file is not a database");
}

TEST_CASE("sqlite_log: a database from a newer schema is refused") {
  temp_db db;
  { db.open(); }
  {
    detail::sqlite::db_ptr raw;
    REQUIRE_FALSE(detail::sqlite::open(db.path.string(), false, raw));
    REQUIRE_FALSE(detail::sqlite::exec(raw.get(), "UPDATE lastmile_log_meta SET value = 99 WHERE key = 'schema_version'"));
  }
  auto r = sqlite_log::open({.path = db.path.string()});
  REQUIRE_FALSE(r);
  CHECK(r.error().value() == detail::sqlite::schema_too_new);
}

// Mirrors the example in docs/sqlite-log.md (path aside).
TEST_CASE("sqlite_log: the docs example") {
  temp_db db;
  lastmile::cursor first_id;
  {
    auto opened = lastmile::sqlite_log::open({.path = db.path.string(), .max_events = 1'000'000});
    REQUIRE(opened);
    lastmile::sqlite_log log = std::move(*opened);
    lastmile::hub<lastmile::sqlite_log> hub(log);

    auto id = hub.publish("orders", "created", R"({"order":42})");
    REQUIRE(id);
    first_id = *id;

    std::vector<lastmile::log_entry> batch = {{"orders", "created", "{}"}, {"orders", "paid", "{}"}};
    auto last = log.append_batch(batch);
    REQUIRE(last);
    CHECK(last->offset == id->offset + 2);
  }
  auto opened = lastmile::sqlite_log::open({.path = db.path.string(), .max_events = 1'000'000});
  REQUIRE(opened);
  lastmile::sqlite_log log = std::move(*opened);
  lastmile::event_batch out;
  auto st = log.read_after(first_id, lastmile::topic_filter::all(), 100, out);
  CHECK_FALSE(st.reset);
  REQUIRE(out.size() == 2);
  CHECK(out[1]->type() == "paid");
}

TEST_CASE("sqlite_log: every append acknowledged before a SIGKILL is there after reopening") {
  temp_db db;
  std::uint64_t epoch = db.open().epoch();
  int acks[2];
  REQUIRE(::pipe(acks) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: append from two threads forever, reporting each acknowledged offset.
    ::close(acks[0]);
    auto log = sqlite_log::open({.path = db.path.string()});
    if (!log) ::_exit(3);
    auto work = [&](int t) {
      for (int i = 0;; ++i) {
        auto c = log->append("t" + std::to_string(t), "m", std::to_string(i));
        if (!c) ::_exit(4);
        std::uint64_t off = c->offset;
        if (::write(acks[1], &off, sizeof off) != sizeof off) ::_exit(5);
      }
    };
    std::thread other(work, 1);
    work(0);
  }
  ::close(acks[1]);
  std::vector<std::uint64_t> acked;
  std::uint64_t off = 0;
  while (acked.size() < 500 && ::read(acks[0], &off, sizeof off) == sizeof off) acked.push_back(off);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  while (::read(acks[0], &off, sizeof off) == sizeof off) acked.push_back(off);  // in the pipe at the kill
  ::close(acks[0]);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(acked.size() >= 500);

  auto log = db.open();
  CHECK(log.epoch() == epoch);
  const std::uint64_t max_acked = *std::max_element(acked.begin(), acked.end());
  CHECK(log.head().offset >= max_acked);
  event_batch out;
  log.read_after(log.earliest(), topic_filter::all(), 1'000'000, out);
  // Offsets are dense from 1 and include every acknowledged one.
  REQUIRE(out.size() == log.head().offset);
  for (std::size_t i = 0; i < out.size(); ++i) CHECK(out[i]->id().offset == i + 1);
  // The next append continues after everything the killed process committed.
  auto next = log.append("t", "m", "after");
  REQUIRE(next);
  CHECK(next->offset == out.size() + 1);
  CHECK(log.head() == *next);
}
