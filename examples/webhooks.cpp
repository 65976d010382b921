// Webhooks in one file: a dispatcher delivers a hub's events to an HTTP endpoint,
// signed the Standard Webhooks way; the endpoint (here in the same process, built on
// lastmile's HTTP server) verifies every delivery. docs/webhooks.md explains each step.
// Exits 0 once the three published events have arrived, verified and in order.
#include <lastmile/http/server.hpp>
#include <lastmile/lastmile.hpp>
#include <lastmile/webhook/dispatcher.hpp>

#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace lastmile;

int main() {
  // The receiving side: verify the signature and the timestamp, then answer 2xx.
  const auto key = webhook::secret::generate();
  std::vector<webhook::secret> keys{key};
  std::mutex mutex;
  std::vector<std::string> received;
  http::server receiver(http::server_options{.threads = 1});
  receiver.route("POST", "/hook", [&](http::exchange& ex) -> asio::awaitable<void> {
    const auto& req = ex.req();
    auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
    auto ok = webhook::verify(keys, req.header("webhook-id").value_or(""), req.header("webhook-timestamp").value_or(""),
                              req.header("webhook-signature").value_or(""), req.body, now.count());
    if (!ok) {
      co_await ex.respond_error(401, "bad_signature", ok.error().message());
      co_return;
    }
    {
      std::lock_guard lock(mutex);
      received.push_back(req.body);
    }
    co_await ex.respond(204, std::string_view{});
  });
  if (receiver.listen("127.0.0.1", 0)) return 1;
  receiver.start();
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.local_endpoint().port()) + "/hook";

  // The sending side: a log, a hub, a store for endpoints and attempts, a dispatcher.
  memory_log log;
  hub<memory_log> events(log);
  webhook::memory_webhook_store store;  // webhook::sqlite_webhook_store to survive restarts
  webhook::dispatcher_options options;
  (void)options.policy.allow("127.0.0.0/8");  // the SSRF guard refuses loopback unless allowed
  webhook::dispatcher dispatcher(events, store, std::move(options));
  dispatcher.start();

  // Register the endpoint (add() is a coroutine: from an HTTP handler, co_await it).
  asio::io_context io;
  using outcome = std::optional<result<webhook::endpoint>>;
  auto added = asio::co_spawn(
      io,
      [&]() -> asio::awaitable<outcome> {
        webhook::endpoint_spec spec;  // (GCC 12: no braced lists inside co_await)
        spec.url = url;
        spec.topics = {"orders.*"};
        spec.secret = key.text();
        co_return co_await dispatcher.add(std::move(spec));
      },
      asio::use_future);
  io.run();
  auto endpoint = *added.get();
  if (!endpoint) {
    std::fprintf(stderr, "add: %s\n", endpoint.error().message().c_str());
    return 1;
  }

  events.publish("orders.eu", "created", R"({"order":1})");
  events.publish("billing", "charged", R"({"order":1})");  // another topic: not for this endpoint
  events.publish("orders.us", "created", R"({"order":2})");
  events.publish("orders.eu", "shipped", R"({"order":1})");

  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mutex);
      if (received.size() >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  dispatcher.stop();
  receiver.shutdown();
  receiver.wait();
  if (received.size() != 3 || received[0].find("\"order\":1") == std::string::npos ||
      received[1].find("\"order\":2") == std::string::npos || received[2].find("shipped") == std::string::npos) {
    std::fprintf(stderr, "expected 3 deliveries in order, got %zu\n", received.size());
    return 1;
  }
  for (const auto& body : received) std::printf("delivered %s\n", body.c_str());
  std::printf("endpoint %s: %zu attempts recorded\n", endpoint->id.c_str(), store.attempts(endpoint->id, 10).size());
  return 0;
}
