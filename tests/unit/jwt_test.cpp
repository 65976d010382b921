#include "lastmile/auth/jwt.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "lastmile/detail/base64.hpp"

using lastmile::auth::jwt_error;
using lastmile::auth::sign_hs256;
using lastmile::auth::verify_hs256;
using lastmile::detail::base64url_decode;
using lastmile::detail::base64url_encode;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::system_clock;

clock_type::time_point jwt_time(double seconds_since_epoch) {
  return clock_type::time_point{std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>(seconds_since_epoch))};
}

constexpr std::string_view test_secret = "test-secret-0123456789abcdef-0123";
const auto test_now = jwt_time(1'700'000'000);

// Payload valid at test_now unless a test overrides exp.
std::string valid_payload(std::string_view extra_members = "") {
  std::string json = R"({"sub":"alice","exp":1700000600)";
  if (!extra_members.empty()) {
    json += ',';
    json += extra_members;
  }
  json += '}';
  return json;
}

jwt_error error_of(std::string_view token, std::string_view secret = test_secret,
                   clock_type::time_point now = test_now, std::chrono::seconds leeway = 0s) {
  const auto result = verify_hs256(token, secret, now, leeway);
  REQUIRE_FALSE(result.ok());
  CHECK_FALSE(result.message().empty());
  return result.error();
}

std::string replace_segment(std::string_view token, int index, std::string_view replacement) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  std::string parts[3] = {std::string{token.substr(0, first)},
                          std::string{token.substr(first + 1, second - first - 1)},
                          std::string{token.substr(second + 1)}};
  parts[index] = replacement;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

// RFC 7515 Appendix A.1: JWS using HMAC SHA-256.
constexpr std::string_view rfc7515_token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr std::string_view rfc7515_jwk_k =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

std::string rfc7515_key() {
  const auto key = base64url_decode(rfc7515_jwk_k);
  REQUIRE(key.has_value());
  return *key;
}

}  // namespace

TEST_CASE("jwt: RFC 7515 A.1 HS256 example verifies before exp") {
  const auto result = verify_hs256(rfc7515_token, rfc7515_key(), jwt_time(1300819379));
  REQUIRE(result.ok());
  CHECK(result.message().empty());
  const auto& granted = result.value();
  CHECK(granted.subject.empty());
  CHECK_FALSE(granted.topics_present);
  CHECK(granted.topics.empty());
  CHECK_FALSE(granted.may_publish);
  REQUIRE(granted.expires.has_value());
  CHECK(*granted.expires == jwt_time(1300819380));
}

TEST_CASE("jwt: RFC 7515 A.1 example is expired at and after exp") {
  CHECK(error_of(rfc7515_token, rfc7515_key(), jwt_time(1300819380)) == jwt_error::expired);
  CHECK(error_of(rfc7515_token, rfc7515_key(), test_now) == jwt_error::expired);
  // Leeway extends validity by exactly that much.
  CHECK(verify_hs256(rfc7515_token, rfc7515_key(), jwt_time(1300819380), 1s).ok());
  CHECK(error_of(rfc7515_token, rfc7515_key(), jwt_time(1300819381), 1s) == jwt_error::expired);
  // A negative leeway counts as zero rather than shortening validity.
  CHECK(verify_hs256(rfc7515_token, rfc7515_key(), jwt_time(1300819379), -10s).ok());
}

TEST_CASE("jwt: sign_hs256 reproduces the RFC 7515 A.1 token byte for byte") {
  const std::string header = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
  const std::string payload =
      "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
  CHECK(sign_hs256(payload, rfc7515_key(), header) == rfc7515_token);
}

TEST_CASE("jwt: claims are extracted; unknown claims ignored") {
  const auto token = sign_hs256(
      valid_payload(R"("topics":["orders.*","prices"],"publish":true,"iss":"x","aud":["a"],"iat":1,"nested":{"k":[1,2]})"),
      test_secret);
  const auto result = verify_hs256(token, test_secret, test_now);
  REQUIRE(result.ok());
  const auto& granted = result.value();
  CHECK(granted.subject == "alice");
  CHECK(granted.topics_present);
  CHECK(granted.topics == std::vector<std::string>{"orders.*", "prices"});
  CHECK(granted.may_publish);
  CHECK(granted.expires == jwt_time(1700000600));

  const auto moved = verify_hs256(token, test_secret, test_now).value();
  CHECK(moved.subject == "alice");
}

TEST_CASE("jwt: empty topics array is present but empty; publish false is kept") {
  const auto result =
      verify_hs256(sign_hs256(valid_payload(R"("topics":[],"publish":false)"), test_secret), test_secret, test_now);
  REQUIRE(result.ok());
  CHECK(result.value().topics_present);
  CHECK(result.value().topics.empty());
  CHECK_FALSE(result.value().may_publish);
}

TEST_CASE("jwt: default header and escaped JSON strings") {
  const auto token = sign_hs256(R"({"sub":"a\"b\u00e9","exp":1700000600})", test_secret);
  CHECK(token.substr(0, token.find('.')) == base64url_encode(std::string_view{R"({"alg":"HS256","typ":"JWT"})"}));
  const auto result = verify_hs256(token, test_secret, test_now);
  REQUIRE(result.ok());
  CHECK(result.value().subject == "a\"b\xc3\xa9");
}

TEST_CASE("jwt: algorithm and header rules") {
  const std::string payload = valid_payload();
  auto with_header = [&](std::string_view header) { return sign_hs256(payload, test_secret, header); };

  SUBCASE("alg none, unsigned and with an HS256 signature") {
    const std::string header = base64url_encode(std::string_view{R"({"alg":"none"})"});
    const std::string unsigned_token = header + "." + base64url_encode(payload) + ".";
    CHECK(error_of(unsigned_token) == jwt_error::unsupported_alg);
    CHECK(error_of(with_header(R"({"alg":"none"})")) == jwt_error::unsupported_alg);
  }
  SUBCASE("HS384 header with a valid HS256 signature") {
    CHECK(error_of(with_header(R"({"alg":"HS384","typ":"JWT"})")) == jwt_error::unsupported_alg);
  }
  SUBCASE("RS256, lowercase hs256, missing alg, non-string alg") {
    CHECK(error_of(with_header(R"({"alg":"RS256"})")) == jwt_error::unsupported_alg);
    CHECK(error_of(with_header(R"({"alg":"hs256"})")) == jwt_error::unsupported_alg);
    CHECK(error_of(with_header(R"({"typ":"JWT"})")) == jwt_error::unsupported_alg);
    CHECK(error_of(with_header(R"({})")) == jwt_error::unsupported_alg);
    CHECK(error_of(with_header(R"({"alg":["HS256"]})")) == jwt_error::unsupported_alg);
    CHECK(error_of(with_header(R"({"alg":null})")) == jwt_error::unsupported_alg);
  }
  SUBCASE("crit is refused, even empty") {
    CHECK(error_of(with_header(R"({"alg":"HS256","crit":["exp"],"exp":1})")) == jwt_error::unsupported_alg);
    CHECK(error_of(with_header(R"({"alg":"HS256","crit":[]})")) == jwt_error::unsupported_alg);
  }
  SUBCASE("typ is JWT case-insensitively when present") {
    CHECK(verify_hs256(with_header(R"({"alg":"HS256","typ":"jwt"})"), test_secret, test_now).ok());
    CHECK(verify_hs256(with_header(R"({"alg":"HS256","typ":"JwT"})"), test_secret, test_now).ok());
    CHECK(verify_hs256(with_header(R"({"alg":"HS256"})"), test_secret, test_now).ok());
    CHECK(verify_hs256(with_header(R"({"alg":"HS256","kid":"k1"})"), test_secret, test_now).ok());
    CHECK(error_of(with_header(R"({"alg":"HS256","typ":"JOSE"})")) == jwt_error::malformed);
    CHECK(error_of(with_header(R"({"alg":"HS256","typ":"JWTX"})")) == jwt_error::malformed);
    CHECK(error_of(with_header(R"({"alg":"HS256","typ":1})")) == jwt_error::malformed);
  }
  SUBCASE("header must be a JSON object with unique names") {
    CHECK(error_of(with_header("not json")) == jwt_error::malformed);
    CHECK(error_of(with_header(R"(["alg","HS256"])")) == jwt_error::malformed);
    CHECK(error_of(with_header(R"({"alg":"HS256")")) == jwt_error::malformed);
    CHECK(error_of(with_header(R"({"alg":"HS256","alg":"none"})")) == jwt_error::malformed);
    CHECK(error_of(with_header(R"({"alg":"none","alg":"HS256"})")) == jwt_error::malformed);
    // Duplicates are detected after unescaping: "\u0061lg" is "alg".
    CHECK(error_of(with_header(R"({"alg":"HS256","\u0061lg":"none"})")) == jwt_error::malformed);
  }
  SUBCASE("oversized header") {
    const std::string header = R"({"alg":"HS256","pad":")" + std::string(800, 'x') + "\"}";
    CHECK(error_of(with_header(header)) == jwt_error::malformed);
  }
}

TEST_CASE("jwt: signature checks") {
  const std::string token = sign_hs256(valid_payload(), test_secret);
  REQUIRE(verify_hs256(token, test_secret, test_now).ok());

  SUBCASE("tampered payload keeps the old signature") {
    const auto tampered = replace_segment(
        token, 1, base64url_encode(std::string_view{R"({"sub":"mallory","exp":1700000600})"}));
    CHECK(error_of(tampered) == jwt_error::bad_signature);
  }
  SUBCASE("tampered signature byte") {
    auto signature = *base64url_decode(token.substr(token.rfind('.') + 1));
    signature[5] = static_cast<char>(signature[5] ^ 0x01);
    CHECK(error_of(replace_segment(token, 2, base64url_encode(signature))) == jwt_error::bad_signature);
  }
  SUBCASE("truncated, extended and empty signatures") {
    const auto signature = *base64url_decode(token.substr(token.rfind('.') + 1));
    CHECK(error_of(replace_segment(token, 2, base64url_encode(signature.substr(0, 31)))) ==
          jwt_error::bad_signature);
    CHECK(error_of(replace_segment(token, 2, base64url_encode(signature + "x"))) == jwt_error::bad_signature);
    CHECK(error_of(replace_segment(token, 2, "")) == jwt_error::bad_signature);
  }
  SUBCASE("wrong secret") {
    CHECK(error_of(token, "another-secret") == jwt_error::bad_signature);
    CHECK(error_of(token, std::string{test_secret} + "x") == jwt_error::bad_signature);
  }
  SUBCASE("empty secret never verifies, and cannot sign") {
    CHECK(error_of(token, "") == jwt_error::bad_signature);
    // Even a token genuinely MACed with the empty key is refused.
    const auto signing_input = token.substr(0, token.rfind('.'));
    const auto empty_key_token =
        signing_input + "." + base64url_encode(lastmile::detail::hmac_sha256("", signing_input));
    CHECK(error_of(empty_key_token, "") == jwt_error::bad_signature);
    CHECK_THROWS_AS(sign_hs256(valid_payload(), ""), std::invalid_argument);
  }
  SUBCASE("signature is checked before the payload is parsed") {
    // Invalid JSON payload with a bad signature reports the signature, not the JSON.
    const auto junk = replace_segment(token, 1, base64url_encode(std::string_view{"{not json"}));
    CHECK(error_of(junk) == jwt_error::bad_signature);
  }
}

TEST_CASE("jwt: token shape") {
  const std::string token = sign_hs256(valid_payload(), test_secret);
  const auto last_dot = token.rfind('.');

  CHECK(error_of("") == jwt_error::malformed);
  CHECK(error_of(".") == jwt_error::malformed);
  CHECK(error_of("..") == jwt_error::malformed);
  CHECK(error_of("...") == jwt_error::malformed);
  CHECK(error_of(token.substr(0, last_dot)) == jwt_error::malformed);  // 2 segments
  CHECK(error_of(token + ".") == jwt_error::malformed);                // 4 segments
  CHECK(error_of(token + "." + token.substr(last_dot + 1)) == jwt_error::malformed);
  CHECK(error_of(token + " ") == jwt_error::malformed);
  CHECK(error_of(" " + token) == jwt_error::malformed);
  CHECK(error_of("Bearer " + token) == jwt_error::malformed);
}

TEST_CASE("jwt: segments must be strict unpadded base64url") {
  const std::string header_json = R"({"alg":"HS256"})";  // 15 bytes: the base64 form would end in '='
  const std::string payload_json = R"({"exp":1700000600})";
  const std::string token = sign_hs256(payload_json, test_secret, header_json);
  REQUIRE(verify_hs256(token, test_secret, test_now).ok());
  const auto first_dot = token.find('.');
  const auto last_dot = token.rfind('.');

  SUBCASE("padding '=' appended to a segment") {
    CHECK(error_of(replace_segment(token, 0, token.substr(0, first_dot) + "=")) == jwt_error::malformed);
    CHECK(error_of(token + "=") == jwt_error::malformed);  // 32-byte MAC: 43 chars + '='
  }
  SUBCASE("standard-alphabet characters and garbage") {
    std::string plus = token;
    plus[last_dot + 3] = '+';
    CHECK(error_of(plus) == jwt_error::malformed);
    std::string slash = token;
    slash[2] = '/';
    CHECK(error_of(slash) == jwt_error::malformed);
    std::string star = token;
    star[first_dot + 2] = '*';
    CHECK(error_of(star) == jwt_error::malformed);
    std::string nul = token;
    nul[first_dot + 2] = '\0';
    CHECK(error_of(nul) == jwt_error::malformed);
  }
  SUBCASE("non-canonical trailing bits in the signature") {
    // 43 chars encode 32 bytes; the last char carries 2 unused bits which must be zero.
    std::string sig = token.substr(last_dot + 1);
    REQUIRE(sig.size() == 43);
    const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    sig.back() = alphabet[alphabet.find(sig.back()) ^ 0x01];
    CHECK(error_of(replace_segment(token, 2, sig)) == jwt_error::malformed);
  }
}

TEST_CASE("jwt: size limit applies to the whole token") {
  constexpr auto limit = lastmile::auth::max_token_length;
  const std::string big_claim = R"("blob":")" + std::string(limit, 'x') + "\"";
  CHECK(error_of(sign_hs256(valid_payload(big_claim), test_secret)) == jwt_error::malformed);
  // Grow the payload until the token crosses the limit: the last token within
  // it verifies, the first one over it does not (its JSON alone would still fit).
  std::string last_within;
  std::string first_over;
  for (std::size_t blob = 5000; first_over.empty(); ++blob) {
    auto token = sign_hs256(valid_payload(R"("blob":")" + std::string(blob, 'x') + "\""), test_secret);
    (token.size() <= limit ? last_within : first_over) = std::move(token);
  }
  CHECK(last_within.size() >= limit - 2);
  CHECK(verify_hs256(last_within, test_secret, test_now).ok());
  CHECK(first_over.size() <= limit + 2);
  CHECK(error_of(first_over) == jwt_error::malformed);
}

TEST_CASE("jwt: payload must be a JSON object with unique claim names") {
  CHECK(error_of(sign_hs256("not json", test_secret)) == jwt_error::malformed);
  CHECK(error_of(sign_hs256("", test_secret)) == jwt_error::malformed);
  CHECK(error_of(sign_hs256("[1700000600]", test_secret)) == jwt_error::malformed);
  CHECK(error_of(sign_hs256("1700000600", test_secret)) == jwt_error::malformed);
  CHECK(error_of(sign_hs256(R"({"exp":1700000600} {})", test_secret)) == jwt_error::malformed);
  CHECK(error_of(sign_hs256(R"({"exp":1,"exp":1700000600})", test_secret)) == jwt_error::malformed);
  CHECK(error_of(sign_hs256(R"({"exp":1700000600,"sub":"a","sub":"b"})", test_secret)) == jwt_error::malformed);
  CHECK(error_of(sign_hs256("{\"exp\":1700000600,\"sub\":\"\xff\"}", test_secret)) == jwt_error::malformed);
}

TEST_CASE("jwt: exp rules") {
  auto token_with_exp = [](std::string_view exp_json) {
    return sign_hs256(std::string{R"({"sub":"alice","exp":)"} + std::string{exp_json} + "}", test_secret);
  };
  CHECK(error_of(sign_hs256(R"({"sub":"alice"})", test_secret)) == jwt_error::missing_exp);
  CHECK(error_of(sign_hs256(R"({})", test_secret)) == jwt_error::missing_exp);
  CHECK(error_of(token_with_exp(R"("1700000600")")) == jwt_error::bad_claims);
  CHECK(error_of(token_with_exp("null")) == jwt_error::bad_claims);
  CHECK(error_of(token_with_exp("true")) == jwt_error::bad_claims);
  CHECK(error_of(token_with_exp("1699999999")) == jwt_error::expired);
  CHECK(error_of(token_with_exp("1700000000")) == jwt_error::expired);  // now == exp
  CHECK(error_of(token_with_exp("0")) == jwt_error::expired);
  CHECK(error_of(token_with_exp("-5")) == jwt_error::expired);
  CHECK(error_of(token_with_exp("-1e300")) == jwt_error::expired);
  CHECK(verify_hs256(token_with_exp("1700000001"), test_secret, test_now).ok());
  CHECK(verify_hs256(token_with_exp("1699999990"), test_secret, test_now, 11s).ok());
  CHECK(error_of(token_with_exp("1699999990"), test_secret, test_now, 10s) == jwt_error::expired);

  SUBCASE("fractional exp") {
    const auto token = token_with_exp("1700000000.5");
    const auto result = verify_hs256(token, test_secret, test_now);
    REQUIRE(result.ok());
    CHECK(*result.value().expires == test_now + 500ms);
    CHECK(error_of(token, test_secret, test_now + 500ms) == jwt_error::expired);
    CHECK(verify_hs256(token_with_exp("1.7000006e9"), test_secret, test_now).ok());
  }
  SUBCASE("exp beyond the clock range saturates instead of overflowing") {
    const auto result = verify_hs256(token_with_exp("1e300"), test_secret, test_now);
    REQUIRE(result.ok());
    CHECK(*result.value().expires == clock_type::time_point::max());
    const auto max_u64 = verify_hs256(token_with_exp("18446744073709551615"), test_secret, test_now);
    REQUIRE(max_u64.ok());
    CHECK(*max_u64.value().expires == clock_type::time_point::max());
    CHECK(verify_hs256(token_with_exp("1e300"), test_secret, clock_type::time_point::max(), 1000000h).ok());
  }
}

TEST_CASE("jwt: nbf rules") {
  auto token_with_nbf = [](std::string_view nbf_json) {
    return sign_hs256(valid_payload(std::string{R"("nbf":)"} + std::string{nbf_json}), test_secret);
  };
  CHECK(error_of(token_with_nbf("1700000001")) == jwt_error::not_yet_valid);
  CHECK(error_of(token_with_nbf("1700000000.5")) == jwt_error::not_yet_valid);
  CHECK(verify_hs256(token_with_nbf("1700000000"), test_secret, test_now).ok());  // now == nbf is valid
  CHECK(verify_hs256(token_with_nbf("1699999000"), test_secret, test_now).ok());
  CHECK(verify_hs256(token_with_nbf("1700000005"), test_secret, test_now, 5s).ok());
  CHECK(error_of(token_with_nbf("1700000006"), test_secret, test_now, 5s) == jwt_error::not_yet_valid);
  CHECK(error_of(token_with_nbf(R"("1699999000")")) == jwt_error::bad_claims);
  CHECK(error_of(token_with_nbf("null")) == jwt_error::bad_claims);
}

TEST_CASE("jwt: claim types") {
  auto token_with = [](std::string_view members) { return sign_hs256(valid_payload(members), test_secret); };
  CHECK(error_of(token_with(R"("topics":"orders.*")")) == jwt_error::bad_claims);
  CHECK(error_of(token_with(R"("topics":{"a":1})")) == jwt_error::bad_claims);
  CHECK(error_of(token_with(R"("topics":null)")) == jwt_error::bad_claims);
  CHECK(error_of(token_with(R"("topics":["ok",1])")) == jwt_error::bad_claims);
  CHECK(error_of(token_with(R"("topics":[["nested"]])")) == jwt_error::bad_claims);
  CHECK(error_of(token_with(R"("publish":"true")")) == jwt_error::bad_claims);
  CHECK(error_of(token_with(R"("publish":1)")) == jwt_error::bad_claims);
  CHECK(error_of(token_with(R"("publish":null)")) == jwt_error::bad_claims);
  CHECK(error_of(sign_hs256(R"({"sub":42,"exp":1700000600})", test_secret)) == jwt_error::bad_claims);
  CHECK(error_of(sign_hs256(R"({"sub":null,"exp":1700000600})", test_secret)) == jwt_error::bad_claims);
}

TEST_CASE("jwt: verify_result accessors and error names") {
  const auto failed = verify_hs256("x", test_secret, test_now);
  CHECK_FALSE(failed);
  CHECK(failed.error() == jwt_error::malformed);
  CHECK_THROWS_AS(failed.value(), std::logic_error);
  const auto succeeded = verify_hs256(sign_hs256(valid_payload(), test_secret), test_secret, test_now);
  CHECK(static_cast<bool>(succeeded));
  CHECK_THROWS_AS(succeeded.error(), std::logic_error);

  using lastmile::auth::to_string;
  CHECK(to_string(jwt_error::malformed) == "malformed");
  CHECK(to_string(jwt_error::unsupported_alg) == "unsupported_alg");
  CHECK(to_string(jwt_error::bad_signature) == "bad_signature");
  CHECK(to_string(jwt_error::expired) == "expired");
  CHECK(to_string(jwt_error::not_yet_valid) == "not_yet_valid");
  CHECK(to_string(jwt_error::missing_exp) == "missing_exp");
  CHECK(to_string(jwt_error::bad_claims) == "bad_claims");
}
