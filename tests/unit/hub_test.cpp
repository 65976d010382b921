#include <lastmile/hub.hpp>
#include <lastmile/log/memory_log.hpp>

#include <doctest/doctest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <chrono>
#include <optional>
#include <thread>

using namespace lastmile;
using namespace std::chrono_literals;

TEST_CASE("publish validates topic and type; empty type is message") {
  memory_log log;
  hub h(log);
  CHECK(h.publish("bad topic", "m", "x").error() == errc::bad_topic);
  CHECK(h.publish("t", "bad type!", "x").error() == errc::bad_type);
  auto id = h.publish("t", "", "x");
  REQUIRE(id);
  event_batch out;
  h.read_after(h.earliest(), topic_filter::all(), 10, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0]->type() == "message");
  CHECK(h.stats().published == 1);
}

TEST_CASE("a waiter is woken by a matching publish and not by another topic") {
  asio::io_context io;
  memory_log log;
  hub h(log);
  auto f = *topic_filter::parse({"orders.*"});
  std::optional<std::error_code> result;
  h.async_wait(io.get_executor(), h.head(), f, [&](std::error_code ec) { result = ec; });
  io.poll();
  CHECK_FALSE(result);
  CHECK(h.stats().waiters == 1);

  h.publish("orders", "m", "not a match: the wildcard needs a suffix");
  h.publish("users.1", "m", "other topic");
  io.restart();
  io.poll();
  CHECK_FALSE(result);

  h.publish("orders.eu", "m", "match");
  io.restart();
  io.poll();
  REQUIRE(result);
  CHECK(!*result);
  CHECK(h.stats().waiters == 0);
}

TEST_CASE("exact, all-topic and multi-pattern waiters") {
  asio::io_context io;
  memory_log log;
  hub h(log);
  auto exact = *topic_filter::parse({"a"});
  auto multi = *topic_filter::parse({"b", "c.*"});
  auto all = topic_filter::all();
  int woke_exact = 0, woke_multi = 0, woke_all = 0;
  auto start = h.head();
  h.async_wait(io.get_executor(), start, exact, [&](std::error_code) { ++woke_exact; });
  h.async_wait(io.get_executor(), start, multi, [&](std::error_code) { ++woke_multi; });
  h.async_wait(io.get_executor(), start, all, [&](std::error_code) { ++woke_all; });
  h.publish("c.1", "m", "");
  io.poll();
  CHECK(woke_exact == 0);
  CHECK(woke_multi == 1);
  CHECK(woke_all == 1);
  CHECK(h.stats().waiters == 1);  // multi unlinked from both of its buckets
  h.publish("b", "m", "");        // multi is gone: must not be completed twice
  io.restart();
  io.poll();
  CHECK(woke_multi == 1);
  h.publish("a", "m", "");
  io.restart();
  io.poll();
  CHECK(woke_exact == 1);
}

TEST_CASE("a wait completes at once when something is already there, or on reset") {
  asio::io_context io;
  memory_log log;
  hub h(log);
  auto before = h.head();
  h.publish("t", "m", "x");
  int done = 0;
  h.async_wait(io.get_executor(), before, topic_filter::all(), [&](std::error_code ec) {
    CHECK(!ec);
    ++done;
  });
  CHECK(done == 0);  // never invoked from inside the initiating function
  io.poll();
  CHECK(done == 1);
  h.async_wait(io.get_executor(), cursor{log.epoch() + 1, 0}, topic_filter::all(),
               [&](std::error_code ec) {
                 CHECK(!ec);
                 ++done;
               });
  io.restart();
  io.poll();
  CHECK(done == 2);
}

TEST_CASE("cancellation of a wait frees it") {
  asio::io_context io;
  memory_log log;
  hub h(log);
  asio::cancellation_signal sig;
  std::optional<std::error_code> result;
  h.async_wait(io.get_executor(), h.head(), topic_filter::all(),
               asio::bind_cancellation_slot(sig.slot(), [&](std::error_code ec) { result = ec; }));
  CHECK(h.stats().waiters == 1);
  sig.emit(asio::cancellation_type::terminal);
  CHECK(h.stats().waiters == 0);
  io.poll();
  REQUIRE(result);
  CHECK(*result == asio::error::operation_aborted);
  h.publish("t", "m", "x");  // must not touch the freed waiter
  io.restart();
  io.poll();
}

TEST_CASE("shutdown ends waits and refuses new ones") {
  asio::io_context io;
  memory_log log;
  hub h(log);
  auto f = *topic_filter::parse({"x", "y.*"});
  std::vector<std::error_code> results;
  for (int i = 0; i < 3; ++i)
    h.async_wait(io.get_executor(), h.head(), i == 0 ? topic_filter::all() : f,
                 [&](std::error_code ec) { results.push_back(ec); });
  h.shutdown();
  io.poll();
  REQUIRE(results.size() == 3);
  for (auto& ec : results) CHECK(ec == errc::shut_down);
  h.async_wait(io.get_executor(), h.head(), f, [&](std::error_code ec) { results.push_back(ec); });
  io.restart();
  io.poll();
  REQUIRE(results.size() == 4);
  CHECK(results.back() == errc::shut_down);
}

TEST_CASE("works with use_awaitable and use_future") {
  asio::io_context io;
  memory_log log;
  hub h(log);
  bool got = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto f = *topic_filter::parse({"t"});
    cursor c = h.head();
    co_await h.async_wait(ex, c, f, asio::use_awaitable);
    event_batch out;
    h.read_after(c, f, 10, out);
    got = out.size() == 1;
  }, asio::detached);
  io.poll();
  h.publish("t", "m", "x");
  io.restart();
  io.run();
  CHECK(got);

  std::thread runner;
  auto work = asio::make_work_guard(io);
  io.restart();
  runner = std::thread([&] { io.run(); });
  auto fut = h.async_wait(io.get_executor(), h.head(), topic_filter::all(), asio::use_future);
  h.publish("t", "m", "y");
  CHECK(fut.wait_for(5s) == std::future_status::ready);
  auto pf = h.async_publish(io.get_executor(), "t", "m", "z", asio::use_future);
  CHECK(pf.get() == h.head());
  work.reset();
  runner.join();
}

TEST_CASE("a publish wakes waiters on several io_contexts, each on its own thread") {
  memory_log log;
  hub h(log);
  asio::io_context io1, io2;
  auto g1 = asio::make_work_guard(io1);
  auto g2 = asio::make_work_guard(io2);
  std::thread t1([&] { io1.run(); }), t2([&] { io2.run(); });
  std::atomic<int> woke{0};
  std::atomic<bool> wrong_thread{false};
  auto f = *topic_filter::parse({"t"});
  const int per_ctx = 50;
  for (int i = 0; i < per_ctx; ++i) {
    h.async_wait(io1.get_executor(), h.head(), f, [&](std::error_code) {
      if (std::this_thread::get_id() != t1.get_id()) wrong_thread = true;
      ++woke;
    });
    h.async_wait(io2.get_executor(), h.head(), f, [&](std::error_code) {
      if (std::this_thread::get_id() != t2.get_id()) wrong_thread = true;
      ++woke;
    });
  }
  h.publish("t", "m", "x");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (woke < 2 * per_ctx && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  CHECK(woke == 2 * per_ctx);
  CHECK_FALSE(wrong_thread);
  g1.reset();
  g2.reset();
  t1.join();
  t2.join();
}

namespace {
// An intrusive waiter that counts its notifications.
struct counting_waiter : hub_waiter {
  explicit counting_waiter(asio::io_context& io) : io(io) {}
  asio::io_context& io;
  int calls = 0;
  std::error_code last;
  asio::io_context::executor_type notify_executor() const noexcept override { return io.get_executor(); }
  void notify(std::error_code ec) override {
    ++calls;
    last = ec;
  }
};
}  // namespace

TEST_CASE("intrusive waits: arm, wake once, re-arm; the filter is read only while arming") {
  asio::io_context io;
  memory_log log;
  hub h(log);
  counting_waiter w(io);
  {
    auto f = *topic_filter::parse({"orders.*", "alerts"});  // two links: one inline, one more
    h.arm(w, h.head(), f);
  }  // the filter is gone: the hub does not keep it
  CHECK(h.stats().waiters == 1);
  REQUIRE(h.publish("other", "m", "x"));
  io.run_for(20ms);
  io.restart();
  CHECK(w.calls == 0);
  REQUIRE(h.publish("alerts", "m", "x"));
  REQUIRE(h.publish("orders.eu", "m", "y"));  // the waiter is already unlinked: no second notify
  io.run_for(20ms);
  io.restart();
  CHECK(w.calls == 1);
  CHECK(!w.last);
  CHECK(h.stats().waiters == 0);

  // Re-armed after its events: at once (posted) when something is already there.
  auto one = *topic_filter::parse({"orders.*"});
  h.arm(w, h.earliest(), one);
  CHECK(w.calls == 1);  // never inline
  io.run_for(20ms);
  io.restart();
  CHECK(w.calls == 2);
  // Re-armed at the head: waits again, and a publish of another prefix leaves it.
  h.arm(w, h.head(), one);
  REQUIRE(h.publish("ordersx", "m", "z"));
  io.run_for(20ms);
  io.restart();
  CHECK(w.calls == 2);
  CHECK(h.stats().waiters == 1);
  REQUIRE(h.publish("orders.us", "m", "z"));
  io.run_for(20ms);
  io.restart();
  CHECK(w.calls == 3);
}

TEST_CASE("intrusive waits: disarm withdraws at once; not after the wake; shutdown notifies") {
  asio::io_context io;
  memory_log log;
  hub h(log);
  auto f = *topic_filter::parse({"t"});
  counting_waiter w(io);
  h.arm(w, h.head(), f);
  CHECK(h.disarm(w));        // it was waiting: nothing will follow
  CHECK_FALSE(h.disarm(w));  // not armed any more
  CHECK(h.stats().waiters == 0);
  REQUIRE(h.publish("t", "m", "x"));
  io.run_for(20ms);
  io.restart();
  CHECK(w.calls == 0);

  // Woken but not yet run: disarm says so, and the notify still comes (once).
  h.arm(w, h.head(), f);
  REQUIRE(h.publish("t", "m", "y"));
  CHECK_FALSE(h.disarm(w));
  io.run_for(20ms);
  io.restart();
  CHECK(w.calls == 1);

  // Shutdown notifies armed waiters with shut_down; arming afterwards does at once.
  h.arm(w, h.head(), f);
  h.shutdown();
  io.run_for(20ms);
  io.restart();
  CHECK(w.calls == 2);
  CHECK(w.last == make_error_code(errc::shut_down));
  h.arm(w, h.head(), f);
  io.run_for(20ms);
  CHECK(w.calls == 3);
  CHECK(w.last == make_error_code(errc::shut_down));
}
