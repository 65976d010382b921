#include <lastmile/core/cursor.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

using namespace lastmile;

TEST_CASE("cursor text form round-trips") {
  for (cursor c : {cursor{1, 0}, cursor{0xdeadbeef, 42}, cursor{UINT64_MAX, UINT64_MAX},
                   cursor{0, 0}, cursor{0x10, 10}}) {
    std::string s = to_string(c);
    CHECK(s.size() <= max_cursor_text);
    auto back = parse_cursor(s);
    REQUIRE(back);
    CHECK(*back == c);
  }
  CHECK(to_string(cursor{0xab, 7}) == "ab-7");
  CHECK(to_string(cursor{UINT64_MAX, UINT64_MAX}) == "ffffffffffffffff-18446744073709551615");
}

TEST_CASE("cursor text is URL-safe") {
  std::string s = to_string(cursor{0x0123456789abcdef, 9876543210});
  for (char ch : s) CHECK(((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || ch == '-'));
}

TEST_CASE("malformed cursors are rejected with bad_cursor") {
  const char* bad[] = {
      "",                                        // empty
      "-",                                       // no digits
      "ab",                                      // no dash
      "ab-",                                     // empty offset
      "-5",                                      // empty epoch
      "AB-5",                                    // upper-case hex
      "ab-5-6",                                  // two dashes
      "0ab-5",                                   // leading zero epoch
      "ab-05",                                   // leading zero offset
      "ab- 5",                                   // space
      "ab-+5",                                   // sign
      "ab--5",                                   // negative
      "g1-5",                                    // not hex
      "ab-5a",                                   // hex in offset
      "10000000000000000-1",                     // epoch overflows 64 bits
      "ab-18446744073709551616",                 // offset overflows
      "ab-99999999999999999999",                 // offset overflows
      "earliest",                                // keyword is not a cursor
      "ab-5\n",                                  // trailing newline
      "ab-5%00",                                 // junk
  };
  for (const char* b : bad) {
    INFO("input: ", b);
    auto r = parse_cursor(b);
    CHECK_FALSE(r);
    CHECK(r.error() == errc::bad_cursor);
  }
  std::string overlong(65, 'a');
  CHECK_FALSE(parse_cursor(overlong));
  std::string nul("ab-5\0", 5);
  CHECK_FALSE(parse_cursor(nul));
}

TEST_CASE("positions accept keywords and cursors") {
  CHECK(*parse_position("earliest") == position::earliest());
  CHECK(*parse_position("latest") == position::latest());
  auto p = parse_position("1f-3");
  REQUIRE(p);
  CHECK(p->k == position::kind::at);
  CHECK(p->at == cursor{0x1f, 3});
  CHECK_FALSE(parse_position("Latest"));
  CHECK(parse_position("nope").error() == errc::bad_cursor);
}

TEST_CASE("error codes carry the lastmile category") {
  std::error_code ec = errc::bad_cursor;
  CHECK(ec.category().name() == std::string("lastmile"));
  CHECK(ec.message() == "malformed cursor");
  CHECK(std::string(error_code_name(errc::bad_topic)) == "bad_topic");
}
