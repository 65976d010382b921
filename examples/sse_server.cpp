// A complete SSE server in ~40 lines: a hub over a memory log, an HTTP server, one
// route. A producer thread publishes a tick per second to topic "ticks".
//
//   lastmile_sse_server [port]        then: curl -N localhost:8090/ticks
//   lastmile_sse_server --self-test   (what the test suite runs: serve, read 3 events back, exit)
#include <lastmile/http/server.hpp>
#include <lastmile/lastmile.hpp>
#include <lastmile/sse/session.hpp>

#include <asio/connect.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  const bool self_test = argc > 1 && std::string(argv[1]) == "--self-test";
  const auto port = static_cast<std::uint16_t>(argc > 1 && !self_test ? std::stoi(argv[1]) : self_test ? 0 : 8090);

  lastmile::memory_log log;
  lastmile::hub<lastmile::memory_log> hub(log);
  lastmile::sse::options sse_options{.heartbeat = std::chrono::seconds(15)};
  lastmile::http::server server({.threads = 1});

  server.route("GET", "/ticks", [&](lastmile::http::exchange& ex) -> asio::awaitable<void> {
    auto start = lastmile::sse::start_position(ex);  // Last-Event-ID resumes
    if (!start) {
      co_await ex.respond_error(400, "bad_cursor", "Last-Event-ID is not a cursor");
      co_return;
    }
    auto filter = *lastmile::topic_filter::parse({"ticks"});
    co_await lastmile::sse::serve(ex, hub, std::move(filter), hub.resolve(*start), sse_options);
  });
  server.on_shutdown([&] { hub.shutdown(); });
  if (auto ec = server.listen("127.0.0.1", port)) {
    std::fprintf(stderr, "listen: %s\n", ec.message().c_str());
    return 1;
  }
  server.start();
  const auto bound = server.local_endpoint().port();
  std::printf("serving http://127.0.0.1:%u/ticks\n", bound);

  std::atomic<bool> stop{false};
  std::thread producer([&] {
    for (int i = 0; !stop; ++i) {
      hub.publish("ticks", "tick", "{\"n\":" + std::to_string(i) + "}");
      for (int k = 0; k < (self_test ? 1 : 100) && !stop; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });

  int status = 0;
  if (self_test) {  // a raw client: read three events, print their lines
    asio::io_context io;
    asio::ip::tcp::socket sock(io);
    sock.connect({asio::ip::make_address("127.0.0.1"), bound});
    std::string req = "GET /ticks?last_event_id=earliest HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(sock, asio::buffer(req));
    asio::streambuf buf;
    int events = 0;
    while (events < 3) {
      asio::read_until(sock, buf, "\n");
      std::istream in(&buf);
      std::string line;
      std::getline(in, line);
      if (line.rfind("data: ", 0) == 0) {
        std::printf("%s\n", line.c_str());
        ++events;
      }
    }
    status = events == 3 ? 0 : 1;
  } else {
    server.wait();  // until killed
  }
  stop = true;
  producer.join();
  server.shutdown();
  server.wait();
  return status;
}
