// Standard Webhooks v1 signatures: the published vectors, rotation, tampering,
// the timestamp window and malformed headers.
#include <lastmile/webhook/signature.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace lastmile;
using namespace lastmile::webhook;

namespace {

// Vector 1: the reference libraries' sign test (python/go/js/... and svix).
constexpr std::string_view v1_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view v1_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t v1_ts = 1614265330;
constexpr std::string_view v1_body = R"({"test": 2432232314})";
constexpr std::string_view v1_sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// Vector 2: the Rust library's sign test.
constexpr std::string_view v2_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
constexpr std::string_view v2_id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
constexpr std::int64_t v2_ts = 1649367553;
constexpr std::string_view v2_body = R"({"email":"test@example.com","username":"test_user"})";
constexpr std::string_view v2_sig = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

secret must_parse(std::string_view text) {
  auto s = secret::parse(text);
  REQUIRE(s);
  return *s;
}

}  // namespace

TEST_CASE("webhook signature: published sign vectors") {
  const auto k1 = must_parse(v1_secret);
  CHECK(k1.key().size() == 24);
  CHECK(sign(k1, v1_id, v1_ts, v1_body) == v1_sig);
  const auto k2 = must_parse(v2_secret);
  CHECK(sign(k2, v2_id, v2_ts, v2_body) == v2_sig);
}

TEST_CASE("webhook signature: verify the vectors, reject the negative one") {
  const auto k1 = must_parse(v1_secret);
  const std::string ts = std::to_string(v1_ts);
  CHECK(verify(k1, v1_id, ts, v1_sig, v1_body, v1_ts));
  const auto k2 = must_parse(v2_secret);
  CHECK(verify(k2, v2_id, std::to_string(v2_ts), v2_sig, v2_body, v2_ts + 10));
  // Last base64 symbol changed: must fail.
  auto r = verify(k1, v1_id, ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", v1_body, v1_ts);
  CHECK(r.error() == errc::bad_signature);
  // The other secret does not verify vector 1.
  CHECK(verify(k2, v1_id, ts, v1_sig, v1_body, v1_ts).error() == errc::bad_signature);
}

TEST_CASE("webhook signature: tampered id, timestamp or body fail") {
  const auto k = must_parse(v1_secret);
  const std::string ts = std::to_string(v1_ts);
  CHECK(verify(k, v1_id, ts, v1_sig, R"({"test": 2432232315})", v1_ts).error() == errc::bad_signature);
  CHECK(verify(k, "msg_other", ts, v1_sig, v1_body, v1_ts).error() == errc::bad_signature);
  CHECK(verify(k, v1_id, std::to_string(v1_ts + 1), v1_sig, v1_body, v1_ts).error() == errc::bad_signature);
  CHECK(verify(k, v1_id, ts, v1_sig, std::string(v1_body) + " ", v1_ts).error() == errc::bad_signature);
}

TEST_CASE("webhook signature: the multi-signature header from the anchors") {
  const auto k = must_parse(v1_secret);
  const std::string ts = std::to_string(v1_ts);
  const std::string other = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
  const std::string with_valid = "v1," + other + " v2," + other + " " + std::string(v1_sig) + " v1," + other;
  CHECK(verify(k, v1_id, ts, with_valid, v1_body, v1_ts));
  const std::string without_valid = "v1," + other + " v2," + other + " v1," + other;
  CHECK(verify(k, v1_id, ts, without_valid, v1_body, v1_ts).error() == errc::bad_signature);
  // Unknown versions are skipped even when their value would match.
  const std::string v2_only = "v2," + std::string(v1_sig.substr(3)) + " v1a,abc";
  CHECK(verify(k, v1_id, ts, v2_only, v1_body, v1_ts).error() == errc::bad_signature);
  // Repeated spaces between entries are tolerated.
  CHECK(verify(k, v1_id, ts, "v1," + other + "   " + std::string(v1_sig), v1_body, v1_ts));
}

TEST_CASE("webhook signature: rotation signs with every secret, either verifies") {
  const auto old_key = must_parse(v1_secret);
  const auto new_key = secret::generate();
  const std::vector<secret> both{new_key, old_key};
  const std::string header = sign(both, "msg_1", 1700000000, "{}");
  const auto space = header.find(' ');
  REQUIRE(space != std::string::npos);
  CHECK(header.substr(0, space) == sign(new_key, "msg_1", 1700000000, "{}"));
  CHECK(header.substr(space + 1) == sign(old_key, "msg_1", 1700000000, "{}"));
  // A receiver that knows only one of the secrets accepts.
  CHECK(verify(old_key, "msg_1", "1700000000", header, "{}", 1700000000));
  CHECK(verify(new_key, "msg_1", "1700000000", header, "{}", 1700000000));
  // A receiver holding several secrets accepts a header signed by only one of them.
  const std::vector<secret> receiver{secret::generate(), old_key};
  CHECK(verify(receiver, "msg_1", "1700000000", sign(old_key, "msg_1", 1700000000, "{}"), "{}", 1700000000));
  // No secrets: an empty header and nothing verifies.
  CHECK(sign(std::span<const secret>{}, "msg_1", 1, "{}").empty());
  CHECK(verify(std::span<const secret>{}, "msg_1", "1", "v1,abc", "{}", 1).error() == errc::bad_signature);
}

TEST_CASE("webhook signature: timestamp window is +-300 s by default, both ways") {
  const auto k = must_parse(v1_secret);
  const std::string ts = std::to_string(v1_ts);
  CHECK(verify(k, v1_id, ts, v1_sig, v1_body, v1_ts + 300));
  CHECK(verify(k, v1_id, ts, v1_sig, v1_body, v1_ts - 300));
  CHECK(verify(k, v1_id, ts, v1_sig, v1_body, v1_ts + 301).error() == errc::stale_timestamp);  // too old
  CHECK(verify(k, v1_id, ts, v1_sig, v1_body, v1_ts - 301).error() == errc::stale_timestamp);  // too new
  CHECK(verify(k, v1_id, ts, v1_sig, v1_body, v1_ts + 3600, 3600));
  CHECK(verify(k, v1_id, ts, v1_sig, v1_body, v1_ts + 1, 0).error() == errc::stale_timestamp);
}

TEST_CASE("webhook signature: malformed headers are their own error") {
  const auto k = must_parse(v1_secret);
  const std::string ts = std::to_string(v1_ts);
  for (std::string_view bad_ts : {"", "abc", "-1614265330", "1614265330.5", " 1614265330", "99999999999999999999"})
    CHECK(verify(k, v1_id, bad_ts, v1_sig, v1_body, v1_ts).error() == errc::malformed_header);
  for (std::string_view bad_sig : {"", " ", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                                   "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= garbage"})
    CHECK(verify(k, v1_id, ts, bad_sig, v1_body, v1_ts).error() == errc::malformed_header);
  CHECK(verify(k, "", ts, v1_sig, v1_body, v1_ts).error() == errc::malformed_header);
}

TEST_CASE("webhook secret: parse, text, generate") {
  // Unpadded base64 is accepted; text() prints the padded form.
  const auto k = must_parse(v1_secret);
  CHECK(k.text() == v1_secret);  // 24 bytes: no padding needed either way
  const auto key25 = secret::from_key(std::string(25, 'k'));
  REQUIRE(key25);
  const std::string padded = key25->text();
  CHECK(padded.back() == '=');
  std::string unpadded = padded;
  while (unpadded.back() == '=') unpadded.pop_back();
  auto reparsed = secret::parse(unpadded);
  REQUIRE(reparsed);
  CHECK(*reparsed == *key25);

  CHECK(secret::parse("").error() == errc::bad_secret);
  CHECK(secret::parse("whsec_").error() == errc::bad_secret);
  CHECK(secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").error() == errc::bad_secret);  // no prefix
  CHECK(secret::parse("whsec_!!!!").error() == errc::bad_secret);
  CHECK(secret::parse("whsec_" + std::string(30, 'A')).error() == errc::bad_secret);  // 22 bytes
  CHECK(secret::parse(secret::from_key(std::string(64, 'x'))->text()));               // 64: the maximum
  CHECK(secret::parse("whsec_" + std::string(88, 'A')).error() == errc::bad_secret);  // 66 bytes
  CHECK(secret::from_key(std::string(23, 'x')).error() == errc::bad_secret);

  const auto g = secret::generate();
  CHECK(g.key().size() == 32);
  CHECK(secret::parse(g.text()));
  CHECK(*secret::parse(g.text()) == g);
  CHECK_FALSE(secret::generate() == g);
  CHECK(secret::generate(64).key().size() == 64);
  CHECK_THROWS_AS(secret::generate(16), std::invalid_argument);
}

// Mirrors the receiver example in docs/webhook-signing.md.
TEST_CASE("docs: webhook-signing receiver example") {
  using namespace lastmile::webhook;
  // --- begin docs/webhook-signing.md example ---
  auto key = secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  if (!key) { /* configuration error: not whsec_ + base64 of 24..64 bytes */ }
  std::vector<secret> keys{*key};  // during a rotation: the old and the new secret

  // Sender side (what lastmile's dispatcher does for every attempt):
  std::string id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  std::int64_t ts = 1614265330;
  std::string body = R"({"test": 2432232314})";
  std::string header = sign(keys, id, ts, body);  // "v1,g0hM9S..."

  // Receiver side, with the three headers and the raw body as received:
  std::int64_t now = 1614265330 + 12;  // e.g. seconds since the epoch from system_clock
  auto ok = verify(keys, id, std::to_string(ts), header, body, now);
  if (!ok) {
    // errc::malformed_header -> 400, errc::stale_timestamp / errc::bad_signature -> 401
  }
  // --- end example ---
  CHECK(header == v1_sig);
  CHECK(ok);
}
