#include <lastmile/core/topic.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace lastmile;

TEST_CASE("topic names") {
  CHECK(valid_topic("orders"));
  CHECK(valid_topic("a.b_c:d-E9"));
  CHECK(valid_topic(std::string(128, 'x')));
  CHECK_FALSE(valid_topic(std::string(129, 'x')));
  CHECK_FALSE(valid_topic(""));
  for (const char* bad : {"a b", "a/b", "a*", "ä", "a\n", "a?b", "a#", "a%20"}) {
    INFO(bad);
    CHECK_FALSE(valid_topic(bad));
  }
  CHECK_FALSE(valid_topic(std::string("a\0b", 3)));
  CHECK(valid_type(std::string(64, 't')));
  CHECK_FALSE(valid_type(std::string(65, 't')));
}

TEST_CASE("exact and prefix filters") {
  auto f = topic_filter::parse({"orders.*", "users"});
  REQUIRE(f);
  CHECK(f->matches("orders.x"));
  CHECK(f->matches("orders.x.y"));
  CHECK_FALSE(f->matches("orders"));
  CHECK_FALSE(f->matches("ordersx"));
  CHECK_FALSE(f->matches("orders."));  // not a valid topic anyway; a prefix needs a suffix
  CHECK(f->matches("users"));
  CHECK_FALSE(f->matches("users.x"));
  CHECK_FALSE(f->matches_all());
  CHECK(f->to_strings() == std::vector<std::string>{"orders.*", "users"});
}

TEST_CASE("empty filter matches everything; duplicates collapse") {
  CHECK(topic_filter::all().matches("anything"));
  auto f = topic_filter::parse({"a", "a", "b.*", "b.*"});
  REQUIRE(f);
  CHECK(f->patterns().size() == 2);
}

TEST_CASE("invalid filters are rejected") {
  for (const char* bad : {"", "*", ".*", "a.**", "a*", "a b", "*.a", "a.*.b"}) {
    INFO(bad);
    auto f = topic_filter::parse({bad});
    CHECK_FALSE(f);
    CHECK(f.error() == errc::bad_topic);
  }
}
