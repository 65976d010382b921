// The docs' custom event_log example drives a hub like memory_log does.
#include "../../examples/custom_log/vector_log.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>

using namespace lastmile;

TEST_CASE("a hub over the custom vector_log: publish, filtered read, wake, reset") {
  example::vector_log log(9);
  hub<example::vector_log> h(log);
  asio::io_context io;
  auto f = *topic_filter::parse({"b"});
  bool woke = false;
  h.async_wait(io.get_executor(), h.head(), f, [&](std::error_code ec) { woke = !ec; });
  h.publish("a", "m", "1");
  io.poll();
  CHECK_FALSE(woke);
  h.publish("b", "m", "2");
  io.restart();
  io.poll();
  CHECK(woke);

  event_batch out;
  auto st = h.read_after(h.earliest(), f, 10, out);
  REQUIRE(out.size() == 1);
  CHECK(out[0]->payload() == "2");
  CHECK(st.next == h.head());

  out.clear();
  st = h.read_after(cursor{8, 1}, topic_filter::all(), 10, out);
  REQUIRE(st.reset);
  CHECK(st.reset->earliest == cursor{9, 1});
  CHECK(out.size() == 2);
}
