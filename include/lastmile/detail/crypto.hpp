// Thin wrappers over OpenSSL 3 (one-shot, non-deprecated APIs only), and SHA-1.
//
// Failures inside OpenSSL for hashing/MAC cannot happen with valid inputs short
// of memory exhaustion or a broken provider setup, so they throw
// std::runtime_error rather than burden every caller with an error path.
#pragma once

#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace lastmile::detail {

inline constexpr std::size_t sha256_size = 32;
inline constexpr std::size_t sha1_size = 20;

namespace crypto_internal {

// OpenSSL's error queue is per thread; drain it so a later, unrelated check
// does not pick up our stale error.
[[noreturn]] inline void throw_openssl_error(const char* what) {
  std::string message = what;
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    message += ": ";
    message += buffer;
  }
  ERR_clear_error();
  throw std::runtime_error(message);
}

// Some OpenSSL paths treat a null pointer as "absent" even with length 0, and
// an empty std::string_view may well carry a null data().
inline const unsigned char* non_null_bytes(std::string_view text) {
  static constexpr unsigned char empty_input[1] = {0};
  return text.empty() ? empty_input : reinterpret_cast<const unsigned char*>(text.data());
}

}  // namespace crypto_internal

/// View raw bytes as chars (and back) without copying, for mixing hash
/// outputs with std::string-based byte buffers.
inline std::string_view as_chars(std::span<const unsigned char> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
inline std::span<const unsigned char> as_unsigned_bytes(std::string_view text) {
  return {reinterpret_cast<const unsigned char*>(text.data()), text.size()};
}

/// HMAC-SHA256 (RFC 2104 / RFC 4231). Any key length, including empty.
/// Throws std::length_error for keys over INT_MAX bytes (an OpenSSL limit).
inline std::array<unsigned char, sha256_size> hmac_sha256(std::string_view key,
                                                          std::string_view data) {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) {
    throw std::length_error("hmac_sha256: key longer than INT_MAX bytes");
  }
  std::array<unsigned char, sha256_size> mac{};
  unsigned int mac_length = 0;
  if (HMAC(EVP_sha256(), crypto_internal::non_null_bytes(key), static_cast<int>(key.size()),
           crypto_internal::non_null_bytes(data), data.size(), mac.data(), &mac_length) == nullptr ||
      mac_length != mac.size()) {
    crypto_internal::throw_openssl_error("HMAC-SHA256 failed");
  }
  return mac;
}

/// SHA-1 (FIPS 180-4): only for protocols that mandate it (WebSocket
/// Sec-WebSocket-Accept); never for anything security-relevant. Computed here,
/// not through OpenSSL: a server that does no TLS and no HMAC then never touches
/// libcrypto (its first EVP call pages in ~2 MB of it and builds its provider
/// tables), and a 60-byte handshake input costs a fraction of a microsecond.
inline std::array<unsigned char, sha1_size> sha1(std::string_view data) {
  std::uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  auto rotl = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  auto block = [&](const unsigned char* p) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i)
      w[i] = (std::uint32_t(p[4 * i]) << 24) | (std::uint32_t(p[4 * i + 1]) << 16) |
             (std::uint32_t(p[4 * i + 2]) << 8) | std::uint32_t(p[4 * i + 3]);
    for (int i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f, k;
      if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999u;
      else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1u;
      else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
      else f = b ^ c ^ d, k = 0xCA62C1D6u;
      const std::uint32_t t = rotl(a, 5) + f + e + k + w[i];
      e = d, d = c, c = rotl(b, 30), b = a, a = t;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
  };
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  std::size_t at = 0;
  for (; n - at >= 64; at += 64) block(bytes + at);
  // The last bytes, the 0x80 marker, zeros and the bit length (big-endian), in one
  // or two blocks.
  unsigned char tail[128] = {};
  const std::size_t rest = n - at;
  if (rest) std::memcpy(tail, bytes + at, rest);
  tail[rest] = 0x80;
  const std::size_t tail_size = rest < 56 ? 64 : 128;
  const std::uint64_t bits = std::uint64_t(n) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_size - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  block(tail);
  if (tail_size == 128) block(tail + 64);
  std::array<unsigned char, sha1_size> digest{};
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) digest[4 * i + j] = static_cast<unsigned char>(h[i] >> (24 - 8 * j));
  return digest;
}

/// Compares secrets without data-dependent timing. Different lengths return
/// false; the content comparison still runs over the common prefix so timing
/// depends only on the lengths (which are not secret: MAC sizes are public).
inline bool constant_time_equal(std::span<const unsigned char> a, std::span<const unsigned char> b) {
  const std::size_t common = a.size() < b.size() ? a.size() : b.size();
  const int content_differs = common == 0 ? 0 : CRYPTO_memcmp(a.data(), b.data(), common);
  return (a.size() == b.size()) & (content_differs == 0);
}
inline bool constant_time_equal(std::string_view a, std::string_view b) {
  return constant_time_equal(as_unsigned_bytes(a), as_unsigned_bytes(b));
}

/// `count` bytes from the OpenSSL CSPRNG. Throws std::runtime_error if the
/// generator fails (e.g. not seeded): falling back to weaker randomness is never OK.
inline std::string random_bytes(std::size_t count) {
  std::string bytes(count, '\0');
  std::size_t filled = 0;
  while (filled < count) {  // RAND_bytes takes an int length
    const std::size_t chunk = count - filled < static_cast<std::size_t>(INT_MAX)
                                  ? count - filled
                                  : static_cast<std::size_t>(INT_MAX);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data() + filled),
                   static_cast<int>(chunk)) != 1) {
      crypto_internal::throw_openssl_error("RAND_bytes failed");
    }
    filled += chunk;
  }
  return bytes;
}

}  // namespace lastmile::detail
