// Several producer threads publish while readers on two event-loop threads follow the
// log with cursor-pull: every reader must see every matching event exactly once, in
// log order. Run under TSan by scripts/test (test suite "concurrency").
#include <lastmile/hub.hpp>
#include <lastmile/log/memory_log.hpp>

#include <doctest/doctest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace lastmile;

TEST_SUITE("concurrency") {
TEST_CASE("producers and cursor-pull readers: every matching event exactly once, in order") {
  constexpr int producers = 4;
  constexpr int per_producer = 3000;
  memory_log log({.max_events = 1'000'000});
  hub h(log);
  const std::vector<std::string> topics = {"p.a", "p.b", "q", "r"};

  struct reader {
    topic_filter filter;
    std::vector<std::string> payloads;
    std::vector<std::uint64_t> offsets;
    bool reset = false;
  };
  std::vector<reader> readers;
  readers.push_back({topic_filter::all(), {}, {}, false});
  readers.push_back({*topic_filter::parse({"q"}), {}, {}, false});
  readers.push_back({*topic_filter::parse({"p.*", "r"}), {}, {}, false});

  auto expected_count = [&](const topic_filter& f) {
    int n = 0;
    for (int p = 0; p < producers; ++p)
      for (int i = 0; i < per_producer; ++i)
        if (f.matches(topics[(p + i) % topics.size()])) ++n;
    return n;
  };

  asio::io_context io1, io2;
  const cursor start = h.head();
  for (std::size_t r = 0; r < readers.size(); ++r) {
    auto& io = r % 2 ? io2 : io1;
    const int want = expected_count(readers[r].filter);
    asio::co_spawn(io, [&h, &rd = readers[r], start, want]() -> asio::awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      cursor c = start;
      event_batch batch;
      while (static_cast<int>(rd.payloads.size()) < want) {
        batch.clear();
        auto st = h.read_after(c, rd.filter, 64, batch);
        if (st.reset) rd.reset = true;
        for (auto& e : batch) {
          rd.payloads.emplace_back(e->payload());
          rd.offsets.push_back(e->id().offset);
        }
        c = st.next;
        if (batch.empty()) co_await h.async_wait(ex, c, rd.filter, asio::use_awaitable);
      }
    }, asio::detached);
  }
  std::thread l1([&] { io1.run(); }), l2([&] { io2.run(); });

  std::vector<std::thread> prod;
  for (int p = 0; p < producers; ++p)
    prod.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i)
        REQUIRE(h.publish(topics[(p + i) % topics.size()], "m",
                          std::to_string(p) + ":" + std::to_string(i)));
    });
  for (auto& t : prod) t.join();
  l1.join();
  l2.join();

  for (auto& rd : readers) {
    CHECK_FALSE(rd.reset);
    CHECK(static_cast<int>(rd.payloads.size()) == expected_count(rd.filter));
    // Log order: strictly increasing offsets (so no duplicates)...
    bool increasing = true;
    for (std::size_t i = 1; i < rd.offsets.size(); ++i)
      if (rd.offsets[i] <= rd.offsets[i - 1]) increasing = false;
    CHECK(increasing);
    // ...and each producer's events in the order it published them, none missing.
    std::map<int, int> next_seq;
    bool in_order = true;
    for (auto& s : rd.payloads) {
      int p = std::stoi(s.substr(0, s.find(':')));
      int i = std::stoi(s.substr(s.find(':') + 1));
      auto& n = next_seq[p];
      while (n < per_producer && !rd.filter.matches(topics[(p + n) % topics.size()])) ++n;
      if (i != n) in_order = false;
      n = i + 1;
    }
    CHECK(in_order);
  }
  CHECK(h.stats().waiters == 0);
}

TEST_CASE("concurrent appends and readers on memory_log with eviction") {
  memory_log log({.max_events = 1000});
  std::atomic<bool> stop{false};
  std::atomic<int> resets{0};
  std::thread reader([&] {
    cursor c = log.earliest();
    event_batch b;
    std::uint64_t last = 0;
    while (!stop) {
      b.clear();
      auto st = log.read_after(c, topic_filter::all(), 100, b);
      if (st.reset) ++resets;
      for (auto& e : b) {
        CHECK(e->id().offset > last);
        last = e->id().offset;
      }
      c = st.next;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) log.append("t", "m", "payload");
    });
  for (auto& t : writers) t.join();
  stop = true;
  reader.join();
  CHECK(log.size() == 1000);
  CHECK(log.head().offset == 40000);
}
}
