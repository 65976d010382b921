// libFuzzer target for base64 and HS256 JWT verification.
//
// Random bytes almost never carry a valid HMAC, so besides feeding raw tokens
// the target also signs fuzzed headers/payloads to reach the code paths behind
// the signature check, and asserts properties rather than only "no crash".
#include "lastmile/auth/jwt.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lastmile/detail/base64.hpp"

namespace {

constexpr std::string_view fuzz_secret = "fuzz-secret-fuzz-secret-fuzz-sec";

void require(bool condition) {
  if (!condition) __builtin_trap();
}

lastmile::auth::verify_result verify(std::string_view token) {
  const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1'700'000'000}};
  return lastmile::auth::verify_hs256(token, fuzz_secret, now, std::chrono::seconds{30});
}

void check_success_invariants(const lastmile::auth::verify_result& result) {
  if (result.ok()) {
    require(result.value().expires.has_value());
    require(result.message().empty());
    require(result.value().topics_present || result.value().topics.empty());
  } else {
    require(!result.message().empty());
  }
}

// Strict decoding is canonical: anything accepted re-encodes to the same text,
// and encoding always decodes back.
void check_base64_round_trips(std::string_view text) {
  using namespace lastmile::detail;
  if (const auto decoded = base64_decode(text)) require(base64_encode(*decoded) == text);
  if (const auto decoded = base64url_decode(text)) require(base64url_encode(*decoded) == text);
  require(base64_decode(base64_encode(text)) == std::optional<std::string>{std::string{text}});
  require(base64url_decode(base64url_encode(text)) == std::optional<std::string>{std::string{text}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view rest{reinterpret_cast<const char*>(data + 1), size - 1};
  using lastmile::auth::jwt_error;

  switch (mode % 4) {
    case 0: {  // raw token
      check_success_invariants(verify(rest));
      break;
    }
    case 1: {
      check_base64_round_trips(rest);
      break;
    }
    case 2: {  // fuzzed payload behind a valid signature and standard header
      const auto result = verify(lastmile::auth::sign_hs256(rest, fuzz_secret));
      check_success_invariants(result);
      require(result.ok() || (result.error() != jwt_error::bad_signature &&
                              result.error() != jwt_error::unsupported_alg));
      break;
    }
    case 3: {  // fuzzed header behind a valid signature and a valid payload
      const auto result =
          verify(lastmile::auth::sign_hs256(R"({"sub":"s","exp":1800000000,"topics":["a.*"]})", fuzz_secret, rest));
      check_success_invariants(result);
      require(result.ok() || result.error() == jwt_error::malformed ||
              result.error() == jwt_error::unsupported_alg);
      break;
    }
  }
  return 0;
}
