#include "lastmile/ws/utf8.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <string_view>

using lastmile::ws::is_valid_utf8;
using lastmile::ws::utf8_validator;

namespace {

// Feeds `text` in pieces of `step` bytes; returns whether it is complete valid UTF-8.
bool validate_in_steps(std::string_view text, std::size_t step) {
  utf8_validator validator;
  for (std::size_t pos = 0; pos < text.size(); pos += step)
    if (!validator.feed(text.substr(pos, step))) return false;
  return validator.complete();
}

}  // namespace

TEST_CASE("ws utf8: incremental validator agrees with simdjson on every split") {
  const char* samples[] = {"",
                           "plain ascii",
                           "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
                           "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80",
                           "\xed\xa0\x80",       // surrogate
                           "\xc0\x80",           // overlong NUL
                           "\xe0\x9f\xbf",       // overlong 3-byte
                           "\xf0\x8f\xbf\xbf",   // overlong 4-byte
                           "\xf4\x90\x80\x80",   // above U+10FFFF
                           "\xf5\x80\x80\x80",   // invalid lead
                           "abc\xe2\x82",        // truncated
                           "\xe2\x82\xac\x80"};  // stray continuation
  for (const char* sample : samples) {
    const std::string_view text{sample};
    CAPTURE(text);
    for (std::size_t step = 1; step <= text.size() + 1; ++step)
      CHECK(validate_in_steps(text, step) == is_valid_utf8(text));
  }
}

TEST_CASE("ws utf8: fails at the first bad byte, not at the end") {
  utf8_validator validator;
  CHECK(validator.feed("ok \xf4"));
  CHECK_FALSE(validator.complete());
  CHECK_FALSE(validator.feed("\x90"));  // F4 90 can never become valid
  CHECK(validator.failed());
  CHECK_FALSE(validator.feed("more"));  // sticky
  validator.reset();
  CHECK(validator.feed("fine"));
}

TEST_CASE("ws utf8: random mixes of valid and invalid buffers, bulk path included") {
  std::mt19937 rng{1234};
  const std::string_view pieces[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xed\xa0\x80", "\xff", "\xc3"};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int count = static_cast<int>(rng() % 200);
    for (int i = 0; i < count; ++i) {
      const auto index = rng() % 100 < 97 ? rng() % 4 : 4 + rng() % 3;  // mostly valid
      text += pieces[index];
    }
    CAPTURE(text.size());
    const bool expected = is_valid_utf8(text);
    for (std::size_t step : {std::size_t{1}, std::size_t{5}, std::size_t{64}, std::size_t{100}, text.size() + 1})
      CHECK(validate_in_steps(text, step) == expected);
  }
}
