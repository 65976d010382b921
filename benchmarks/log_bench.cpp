// memory_log, sqlite_log and hub micro-benchmarks.
//   build/benchmarks/lastmile_log_bench [appends_per_thread]
// Prints: append throughput with 1 and 2 producer threads (128-byte payloads),
// read_after throughput (all topics / one topic of 8), hub publish-to-wake
// latency (p50/p99/p99.9) for a waiter on an io_context thread, and sqlite_log
// append throughput (one transaction per append, group commit under 4 threads,
// append_batch) plus its read throughput from disk and from the memory tail. The
// sqlite file lives in the system temp directory and is removed afterwards.
#include <lastmile/lastmile.hpp>
#include <lastmile/log/sqlite_log.hpp>
#include <lastmile/webhook/store.hpp>

#include <asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

namespace {

struct temp_db {
  std::filesystem::path path = std::filesystem::temp_directory_path() / "lastmile-log-bench.db";
  temp_db() { remove(); }
  ~temp_db() { remove(); }
  void remove() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix, ec);
  }
};

sqlite_log open_sqlite(const temp_db& db, bool full = false) {
  auto log = sqlite_log::open({.path = db.path.string(), .synchronous_full = full});
  if (!log) {
    std::fprintf(stderr, "cannot open %s: %s\n", db.path.c_str(), log.error().message().c_str());
    std::exit(1);
  }
  return std::move(*log);
}

}  // namespace

static void bench_sqlite_append(int threads, std::size_t per_thread, bool full) {
  temp_db db;
  auto log = open_sqlite(db, full);
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
  auto st = log.stats();
  std::printf("sqlite_log append (synchronous=%s), %d thread%s: %10.0f appends/s  (%zu appends, %llu commits, %.3f s)\n",
              full ? "FULL" : "NORMAL", threads, threads > 1 ? "s" : " ", threads * per_thread / s,
              threads * per_thread, (unsigned long long)st.commits, s);
}

static void bench_sqlite_batch(std::size_t batch_size, std::size_t total) {
  temp_db db;
  auto log = open_sqlite(db);
  const std::string payload(128, 'x');
  const std::string topics[] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};
  std::vector<log_entry> batch;
  for (std::size_t i = 0; i < batch_size; ++i) batch.push_back({topics[i & 7], "m", payload});
  auto t0 = steady::now();
  for (std::size_t done = 0; done < total; done += batch_size) log.append_batch(batch);
  double s = seconds_since(t0);
  std::printf("sqlite_log append_batch(%zu): %10.0f appends/s  (%zu appends, %.3f s)\n", batch_size, total / s,
              total, s);
}

static void bench_sqlite_read(std::size_t n) {
  temp_db db;
  auto log = open_sqlite(db);
  const std::string payload(128, 'x');
  const std::string topics[] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};
  std::vector<log_entry> batch;
  for (std::size_t i = 0; i < n; ++i) {
    batch.push_back({topics[i & 7], "m", payload});
    if (batch.size() == 1000) log.append_batch(batch), batch.clear();
  }
  log.append_batch(batch);
  const std::size_t tail = log.tail().size();
  for (auto* name : {"all topics", "one topic of 8"}) {
    topic_filter f = std::string(name) == "all topics" ? topic_filter::all() : *topic_filter::parse({"t3"});
    for (bool from_tail : {false, true}) {
      event_batch out;
      std::size_t got = 0;
      auto t0 = steady::now();
      cursor c = from_tail ? cursor{log.epoch(), log.head().offset - tail} : log.earliest();
      for (;;) {
        out.clear();
        auto st = log.read_after(c, f, 64, out);
        got += out.size();
        if (out.empty()) break;
        c = st.next;
      }
      double s = seconds_since(t0);
      std::printf("sqlite_log read_after (%s, batches of 64, %s): %10.0f events/s\n", name,
                  from_tail ? "memory tail" : "disk", got / s);
    }
  }
}

// The webhook store's write per delivery outcome: record() (one transaction each, as
// one endpoint delivering one event at a time) and record_many() (the dispatcher's
// group commit when several outcomes complete together).
static void bench_webhook_store(std::size_t total, std::size_t group) {
  temp_db db;
  auto store = webhook::sqlite_webhook_store::open(db.path.string());
  if (!store) {
    std::fprintf(stderr, "cannot open the webhook store: %s\n", store.error().message().c_str());
    std::exit(1);
  }
  std::vector<webhook::endpoint> eps(100);
  for (std::size_t i = 0; i < eps.size(); ++i) {
    eps[i].id = "ep_" + std::to_string(i);
    eps[i].url = "http://127.0.0.1:9/" + std::to_string(i);
    eps[i].topics = {"orders"};
    eps[i].secrets = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    (void)store->put_endpoint(eps[i]);
  }
  std::vector<webhook::progress_record> batch;
  auto t0 = steady::now();
  for (std::size_t i = 0; i < total; ++i) {
    auto& ep = eps[group == 1 ? 0 : i % eps.size()];
    ep.position = cursor{1, i + 1};
    webhook::attempt_record a;
    a.endpoint_id = ep.id;
    a.event_id = to_string(ep.position);
    a.attempt = 1;
    a.at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i);
    a.status = 200;
    a.duration_ms = 1;
    a.outcome = "delivered";
    if (group == 1) {
      (void)store->record(ep, a);
    } else {
      batch.push_back({ep, std::move(a)});
      if (batch.size() == group) (void)store->record_many(batch), batch.clear();
    }
  }
  double s = seconds_since(t0);
  if (group == 1)
    std::printf("webhook store record(), one endpoint: %10.0f outcomes/s  (%.1f us each)\n", total / s,
                s * 1e6 / total);
  else
    std::printf("webhook store record_many(%zu), 100 endpoints: %10.0f outcomes/s\n", group, total / s);
}

int main(int argc, char** argv) {
  std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 4'000'000;
  bench_append(1, n);
  bench_append(2, n / 2);
  bench_read(1'000'000);
  bench_wake(20'000);
  bench_sqlite_append(1, 20'000, false);
  bench_sqlite_append(4, 20'000, false);
  bench_sqlite_append(1, 2'000, true);
  bench_sqlite_append(4, 2'000, true);
  bench_sqlite_batch(100, 500'000);
  bench_sqlite_batch(1000, 1'000'000);
  bench_sqlite_read(200'000);
  bench_webhook_store(20'000, 1);
  bench_webhook_store(100'000, 16);
}
