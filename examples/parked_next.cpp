// A custom long wait with http::parked: GET /next?topic=T answers with the payload of
// the next event published to T (or 204 after 10 s). While it waits, the request is
// parked on its connection: no coroutine frame, no timer (its deadline is an entry in
// the loop's timer wheel), a hub wait and a readiness wait on the socket.
//
//   lastmile_parked_next [port]       then: curl localhost:8091/next?topic=orders
//   lastmile_parked_next --self-test  (what the test suite runs: wait, publish, check)
#include <lastmile/http/server.hpp>
#include <lastmile/lastmile.hpp>

#include <asio/connect.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

using hub_type = lastmile::hub<lastmile::memory_log>;

// What the connection keeps while the request waits: copied from the request, since the
// handler's coroutine is gone by then (and parking releases the parsed query).
class next_event final : public lastmile::http::parked {
 public:
  next_event(hub_type& hub, lastmile::topic_filter filter, lastmile::cursor after)
      : hub_(hub), filter_(std::move(filter)), after_(after) {}

  void start_wait(lastmile::http::exchange& ex, lastmile::http::park_handler h) override {
    hub_.async_wait(ex.get_executor(), after_, filter_, std::move(h));
  }

  asio::awaitable<void> resume(lastmile::http::exchange& ex, lastmile::http::wake why) override {
    if (why == lastmile::http::wake::peer_closed) co_return;  // nobody to answer
    lastmile::event_batch batch;
    hub_.read_after(after_, filter_, 1, batch);
    if (batch.empty()) {  // timeout, shutdown, or a reset with nothing retained
      co_await ex.respond(204, std::string_view{}, std::string_view{});
      co_return;
    }
    co_await ex.respond(200, batch.front()->payload());
  }

 private:
  hub_type& hub_;
  lastmile::topic_filter filter_;
  lastmile::cursor after_;
};

int main(int argc, char** argv) {
  const bool self_test = argc > 1 && std::string_view(argv[1]) == "--self-test";
  const auto port = static_cast<std::uint16_t>(argc > 1 && !self_test ? std::atoi(argv[1]) : self_test ? 0 : 8091);
  lastmile::memory_log log;
  hub_type hub(log);
  lastmile::http::server server({.threads = 1});

  server.route("GET", "/next", [&](lastmile::http::exchange& ex) -> asio::awaitable<void> {
    auto filter = lastmile::topic_filter::parse(ex.query().get_all("topic"));
    if (!filter) {
      co_await ex.respond_error(400, "bad_topic", "invalid topic");
      co_return;
    }
    // Park: the handler returns now; the connection resumes next_event::resume later.
    ex.park(std::make_unique<next_event>(hub, std::move(*filter), hub.head()),
            std::chrono::steady_clock::now() + std::chrono::seconds(10));
  });
  server.on_shutdown([&] { hub.shutdown(); });
  if (auto ec = server.listen("127.0.0.1", port)) {
    std::fprintf(stderr, "listen: %s\n", ec.message().c_str());
    return 1;
  }
  server.start();
  const auto bound = server.local_endpoint().port();
  std::printf("serving http://127.0.0.1:%u/next?topic=orders\n", bound);

  int status = 0;
  if (self_test) {
    asio::io_context io;
    asio::ip::tcp::socket sock(io);
    sock.connect({asio::ip::make_address("127.0.0.1"), bound});
    std::string req = "GET /next?topic=orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    asio::write(sock, asio::buffer(req));
    // Publish once the request is waiting on the hub (noise on another topic first).
    while (hub.stats().waiters == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    hub.publish("audit", "x", R"({"ignored":true})");
    hub.publish("orders", "created", R"({"id":42})");
    std::string response;
    std::error_code ec;
    asio::read(sock, asio::dynamic_buffer(response), ec);  // until the server closes
    std::printf("%s\n", response.c_str());
    const bool ok = response.rfind("HTTP/1.1 200", 0) == 0 && response.ends_with(R"({"id":42})");
    status = ok ? 0 : 1;
  } else {
    server.wait();  // until killed
  }
  server.shutdown();
  server.wait();
  return status;
}
