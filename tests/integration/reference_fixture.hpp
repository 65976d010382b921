#pragma once
// The reference server run in-process on an ephemeral port, for integration tests.
#include "../../examples/server/reference_server.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

namespace testing {

struct in_process_server {
  lastmile_server::reference_server srv;
  explicit in_process_server(lastmile_server::options o = {}) : srv(prepare(std::move(o))) {
    REQUIRE_FALSE(srv.listen());
    srv.start();
  }
  ~in_process_server() {
    srv.shutdown();
    srv.wait();
  }
  std::uint16_t port() const { return srv.port(); }
  // Ephemeral port, two loops, and (unless a test asks for a file) a memory webhook
  // store, so parallel test servers share nothing on disk.
  static lastmile_server::options prepare(lastmile_server::options o) {
    o.port = 0;
    o.threads = 2;
    if (o.webhook_store.empty()) o.webhook_store = "memory";
    return o;
  }
  // Publishes straight into the hub; returns the id's text form.
  std::string publish(std::string_view topic, std::string_view payload, std::string_view type = "m") {
    auto id = srv.events().publish(topic, type, payload);
    REQUIRE(id);
    return lastmile::to_string(*id);
  }
};

}  // namespace testing
