// Thin wrappers over OpenSSL 3 (one-shot, non-deprecated APIs only).
//
// Failures inside OpenSSL for hashing/MAC cannot happen with valid inputs short
// of memory exhaustion or a broken provider setup, so they throw
// std::runtime_error rather than burden every caller with an error path.
#pragma once

#include <array>
#include <climits>
#include <cstddef>
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

/// SHA-1: only for protocols that mandate it (WebSocket Sec-WebSocket-Accept);
/// never for anything security-relevant.
inline std::array<unsigned char, sha1_size> sha1(std::string_view data) {
  std::array<unsigned char, sha1_size> digest{};
  unsigned int digest_length = 0;
  if (EVP_Digest(crypto_internal::non_null_bytes(data), data.size(), digest.data(),
                 &digest_length, EVP_sha1(), nullptr) != 1 ||
      digest_length != digest.size()) {
    crypto_internal::throw_openssl_error("SHA-1 failed");
  }
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
