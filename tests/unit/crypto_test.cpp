#include "lastmile/detail/crypto.hpp"

#include <doctest/doctest.h>

#include <set>
#include <span>
#include <string>

#include "lastmile/detail/base64.hpp"

namespace {

std::string to_hex(std::span<const unsigned char> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (const unsigned char b : bytes) {
    hex.push_back(digits[b >> 4]);
    hex.push_back(digits[b & 0x0F]);
  }
  return hex;
}

std::string repeated(unsigned char byte, std::size_t count) {
  return std::string(count, static_cast<char>(byte));
}

}  // namespace

using lastmile::detail::constant_time_equal;
using lastmile::detail::hmac_sha256;
using lastmile::detail::random_bytes;
using lastmile::detail::sha1;

TEST_CASE("hmac_sha256: RFC 4231 test cases 1-4, 6, 7") {
  // Case 1
  CHECK(to_hex(hmac_sha256(repeated(0x0b, 20), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Case 2: key shorter than the output
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Case 3
  CHECK(to_hex(hmac_sha256(repeated(0xaa, 20), repeated(0xdd, 50))) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  // Case 4
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4.push_back(static_cast<char>(i));
  CHECK(to_hex(hmac_sha256(key4, repeated(0xcd, 50))) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  // Case 6: key larger than the block size gets hashed first
  CHECK(to_hex(hmac_sha256(repeated(0xaa, 131), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Case 7
  CHECK(to_hex(hmac_sha256(repeated(0xaa, 131),
                           "This is a test using a larger than block-size key and a larger than "
                           "block-size data. The key needs to be hashed before being used by the "
                           "HMAC algorithm.")) ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("hmac_sha256: empty key and data are valid inputs") {
  CHECK(to_hex(hmac_sha256("", "")) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  CHECK(to_hex(hmac_sha256(std::string_view{}, std::string_view{})) ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("sha1: FIPS 180 vectors") {
  CHECK(to_hex(sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(to_hex(sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(to_hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK(to_hex(sha1("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")) ==
        "a49b2446a02c645bf419f995b67091253a04a259");
  CHECK(to_hex(sha1(std::string(1000000, 'a'))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("sha1: every length around the block and padding boundaries agrees with OpenSSL") {
  std::string input;
  for (std::size_t n = 0; n <= 300; ++n) {
    std::array<unsigned char, 20> expected{};
    unsigned int size = 0;
    static constexpr unsigned char none[1] = {0};
    REQUIRE(EVP_Digest(input.empty() ? none : reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                       expected.data(), &size, EVP_sha1(), nullptr) == 1);
    INFO("length " << n);
    CHECK(sha1(input) == expected);
    input.push_back(static_cast<char>('A' + (n * 7) % 53));
  }
}

TEST_CASE("sha1 + base64: RFC 6455 Sec-WebSocket-Accept example") {
  const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
  CHECK(lastmile::detail::base64_encode(sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) ==
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("constant_time_equal") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("Secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secret2"));  // equal prefix, different lengths
  CHECK_FALSE(constant_time_equal("secret2", "secret"));
  CHECK_FALSE(constant_time_equal("", "x"));
  CHECK(constant_time_equal(std::string_view{"a\0b", 3}, std::string_view{"a\0b", 3}));
  CHECK_FALSE(constant_time_equal(std::string_view{"a\0b", 3}, std::string_view{"a\0c", 3}));
  const auto mac = hmac_sha256("k", "d");
  CHECK(constant_time_equal(mac, hmac_sha256("k", "d")));
  CHECK_FALSE(constant_time_equal(mac, hmac_sha256("k", "e")));
}

TEST_CASE("random_bytes: requested size and not constant") {
  CHECK(random_bytes(0).empty());
  CHECK(random_bytes(1).size() == 1);
  CHECK(random_bytes(1000).size() == 1000);
  // 16 random bytes colliding across 8 draws has probability ~2^-122.
  std::set<std::string> draws;
  for (int i = 0; i < 8; ++i) draws.insert(random_bytes(16));
  CHECK(draws.size() == 8);
}
