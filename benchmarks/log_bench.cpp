// memory_log and hub micro-benchmarks.
//   build/benchmarks/lastmile_log_bench [appends_per_thread]
// Prints: append throughput with 1 and 2 producer threads (128-byte payloads),
// read_after throughput (all topics / one topic of 8), and hub publish-to-wake
// latency (p50/p99/p99.9) for a waiter on an io_context thread.
#include <lastmile/lastmile.hpp>

#include <asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using namespace lastmile;
using steady = std::chrono::steady_clock;

static double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

static void bench_append(int threads, std::size_t per_thread) {
  memory_log log({.max_events = 1'000'000});
  const std::string payload(128, 'x');
  const std::string topics[] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};
  std::vector<std::thread> ts;
  auto t0 = steady::now();
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (std::size_t i = 0; i < per_thread; ++i) log.append(topics[(i + t) & 7], "m", payload);
    });
  for (auto& t : ts) t.join();
  double s = seconds_since(t0);
  std::printf("append, %d thread%s: %10.0f appends/s  (%zu appends, %.3f s)\n", threads,
              threads > 1 ? "s" : " ", threads * per_thread / s, threads * per_thread, s);
}

static void bench_read(std::size_t n) {
  memory_log log({.max_events = n});
  const std::string payload(128, 'x');
  const std::string topics[] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};
  for (std::size_t i = 0; i < n; ++i) log.append(topics[i & 7], "m", payload);
  for (auto* name : {"all topics", "one topic of 8"}) {
    topic_filter f = std::string(name) == "all topics" ? topic_filter::all() : *topic_filter::parse({"t3"});
    event_batch batch;
    batch.reserve(64);
    std::size_t got = 0;
    auto t0 = steady::now();
    for (int rep = 0; rep < 5; ++rep) {
      cursor c = log.earliest();
      for (;;) {
        batch.clear();
        auto st = log.read_after(c, f, 64, batch);
        got += batch.size();
        if (batch.empty()) break;
        c = st.next;
      }
    }
    double s = seconds_since(t0);
    std::printf("read_after (%s, batches of 64): %10.0f events/s\n", name, got / s);
  }
}

static void bench_wake(int samples) {
  memory_log log;
  hub<memory_log> h(log);
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  auto f = *topic_filter::parse({"t"});
  std::vector<double> us;
  us.reserve(samples);
  for (int i = 0; i < samples; ++i) {
    std::atomic<bool> registered{false}, woke{false};
    steady::time_point published, received;
    asio::post(io, [&] {
      h.async_wait(io.get_executor(), h.head(), f, [&](std::error_code) {
        received = steady::now();
        woke = true;
      });
      registered = true;
    });
    while (!registered) std::this_thread::yield();
    published = steady::now();
    h.publish("t", "m", "x");
    while (!woke) std::this_thread::yield();
    us.push_back(std::chrono::duration<double, std::micro>(received - published).count());
  }
  guard.reset();
  loop.join();
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[std::min(us.size() - 1, std::size_t(p * us.size()))]; };
  std::printf("hub publish-to-wake latency (%d samples): p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n",
              samples, pct(0.50), pct(0.99), pct(0.999));
}

int main(int argc, char** argv) {
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 4'000'000;
  bench_append(1, n);
  bench_append(2, n / 2);
  bench_read(1'000'000);
  bench_wake(20'000);
}
