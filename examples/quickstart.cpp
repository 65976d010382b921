// lastmile quickstart: a producer thread publishes into a hub; a reader coroutine on
// an io_context follows the log with cursor-pull (read what is there, then wait).
#include <lastmile/lastmile.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdio>
#include <string>
#include <thread>

int main() {
  lastmile::memory_log log({.max_events = 10'000});  // bounded ring, the default log
  lastmile::hub<lastmile::memory_log> hub(log);
  asio::io_context io;

  const int total = 5;
  int received = 0;
  auto filter = *lastmile::topic_filter::parse({"orders.*"});  // orders.eu, orders.us, ...
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    lastmile::cursor c = hub.resolve(lastmile::position::earliest());
    lastmile::event_batch batch;
    while (received < total) {
      batch.clear();
      auto st = hub.read_after(c, filter, 64, batch);  // catch-up and live: one path
      if (st.reset) std::printf("reset: resuming from the earliest retained event\n");
      for (auto& e : batch) {
        std::printf("%s %s %s\n", lastmile::to_string(e->id()).c_str(),
                    std::string(e->topic()).c_str(), std::string(e->payload()).c_str());
        ++received;
      }
      c = st.next;
      if (batch.empty()) co_await hub.async_wait(ex, c, filter, asio::use_awaitable);
    }
  }, asio::detached);

  std::thread producer([&] {
    for (int i = 0; i < total; ++i) {
      hub.publish(i % 2 ? "orders.eu" : "orders.us", "created", "{\"order\":" + std::to_string(i) + "}");
      hub.publish("users", "seen", "{}");  // not matched by the reader's filter
    }
  });
  io.run();
  producer.join();
  return received == total ? 0 : 1;
}
