#include "lastmile/detail/base64.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>

using lastmile::detail::base64_decode;
using lastmile::detail::base64_encode;
using lastmile::detail::base64url_decode;
using lastmile::detail::base64url_encode;

TEST_CASE("base64: RFC 4648 section 10 vectors encode and decode") {
  struct vector_case {
    const char* plain;
    const char* encoded;
  };
  const vector_case cases[] = {
      {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.plain);
    CHECK(base64_encode(std::string_view{c.plain}) == c.encoded);
    const auto decoded = base64_decode(c.encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == c.plain);
  }
}

TEST_CASE("base64url: RFC 4648 vectors without padding") {
  CHECK(base64url_encode(std::string_view{""}).empty());
  CHECK(base64url_encode(std::string_view{"f"}) == "Zg");
  CHECK(base64url_encode(std::string_view{"fo"}) == "Zm8");
  CHECK(base64url_encode(std::string_view{"foo"}) == "Zm9v");
  CHECK(base64url_encode(std::string_view{"foob"}) == "Zm9vYg");
  CHECK(base64url_encode(std::string_view{"fooba"}) == "Zm9vYmE");
  CHECK(base64url_encode(std::string_view{"foobar"}) == "Zm9vYmFy");
  CHECK(base64url_decode("Zm9vYmE") == std::optional<std::string>{"fooba"});
  CHECK(base64url_decode("Zm9vYg") == std::optional<std::string>{"foob"});
  CHECK(base64url_decode("") == std::optional<std::string>{""});
}

TEST_CASE("base64 and base64url differ only in the two last alphabet symbols") {
  const std::array<unsigned char, 3> bytes{0xfb, 0xff, 0xbf};  // encodes to the 62nd/63rd symbols
  CHECK(base64_encode(bytes) == "+/+/");
  CHECK(base64url_encode(bytes) == "-_-_");
  CHECK(base64_decode("+/+/") == std::optional<std::string>{"\xfb\xff\xbf"});
  CHECK(base64url_decode("-_-_") == std::optional<std::string>{"\xfb\xff\xbf"});
  CHECK_FALSE(base64_decode("-_-_"));
  CHECK_FALSE(base64url_decode("+/+/"));
}

TEST_CASE("base64: all byte values round-trip") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t length = 0; length <= all.size(); length += 37) {
    const std::string input = all.substr(0, length);
    CHECK(base64_decode(base64_encode(input)) == std::optional<std::string>{input});
    CHECK(base64url_decode(base64url_encode(input)) == std::optional<std::string>{input});
  }
}

TEST_CASE("base64_decode is strict") {
  CHECK_FALSE(base64_decode("Zg"));          // padding required
  CHECK_FALSE(base64_decode("Zg="));         // length not a multiple of 4
  CHECK_FALSE(base64_decode("Z==="));        // three pad characters
  CHECK_FALSE(base64_decode("===="));
  CHECK_FALSE(base64_decode("Zm9v===="));    // a whole group of padding
  CHECK_FALSE(base64_decode("Zg==Zg=="));    // padding in the middle
  CHECK_FALSE(base64_decode("Zm=v"));        // '=' inside a group
  CHECK_FALSE(base64_decode("Zm9v\n"));      // no whitespace
  CHECK_FALSE(base64_decode(" Zm9v"));
  CHECK_FALSE(base64_decode("Zm9*"));        // invalid character
  CHECK_FALSE(base64_decode(std::string_view{"Zm\0v", 4}));
  CHECK_FALSE(base64_decode("Zh=="));        // non-zero trailing bits ("Zg==" is canonical)
  CHECK_FALSE(base64_decode("Zm9="));        // non-zero trailing bits ("Zm8=" is canonical)
  CHECK_FALSE(base64_decode("\xc3\xa9\xc3\xa9"));  // non-ASCII
}

TEST_CASE("base64url_decode is strict") {
  CHECK_FALSE(base64url_decode("Zg=="));     // padding never allowed
  CHECK_FALSE(base64url_decode("Zm8="));
  CHECK_FALSE(base64url_decode("Z"));        // impossible length (4n+1)
  CHECK_FALSE(base64url_decode("Zm9vY"));
  CHECK_FALSE(base64url_decode("Zh"));       // non-zero trailing bits
  CHECK_FALSE(base64url_decode("Zm9"));
  CHECK_FALSE(base64url_decode("Zm 9v"));
  CHECK_FALSE(base64url_decode("Zm.9v"));
}
