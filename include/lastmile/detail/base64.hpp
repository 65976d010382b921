// Base64 (RFC 4648 §4) and base64url (RFC 4648 §5) encoding with strict decoding.
//
// Decoding is canonical: every accepted input is exactly what the encoder would
// produce for the decoded bytes. That rejects invalid characters, whitespace,
// wrong or misplaced padding, impossible lengths and non-zero trailing bits, so
// one byte string has exactly one accepted spelling (no signature malleability).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace lastmile::detail {

namespace base64_internal {

inline constexpr std::string_view standard_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
inline constexpr std::string_view url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

inline constexpr signed char invalid_symbol = -1;

// Maps a character to its 6-bit value, or invalid_symbol; built at compile time.
constexpr std::array<signed char, 256> make_decode_table(std::string_view alphabet) {
  std::array<signed char, 256> table{};
  table.fill(invalid_symbol);
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  }
  return table;
}

inline constexpr auto standard_table = make_decode_table(standard_alphabet);
inline constexpr auto url_table = make_decode_table(url_alphabet);

inline std::string encode(std::span<const unsigned char> bytes, std::string_view alphabet,
                          bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned group = (unsigned{bytes[i]} << 16) | (unsigned{bytes[i + 1]} << 8) | bytes[i + 2];
    out.push_back(alphabet[(group >> 18) & 0x3F]);
    out.push_back(alphabet[(group >> 12) & 0x3F]);
    out.push_back(alphabet[(group >> 6) & 0x3F]);
    out.push_back(alphabet[group & 0x3F]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const unsigned group = unsigned{bytes[i]} << 16;
    out.push_back(alphabet[(group >> 18) & 0x3F]);
    out.push_back(alphabet[(group >> 12) & 0x3F]);
    if (pad) out.append("==");
  } else if (rest == 2) {
    const unsigned group = (unsigned{bytes[i]} << 16) | (unsigned{bytes[i + 1]} << 8);
    out.push_back(alphabet[(group >> 18) & 0x3F]);
    out.push_back(alphabet[(group >> 12) & 0x3F]);
    out.push_back(alphabet[(group >> 6) & 0x3F]);
    if (pad) out.push_back('=');
  }
  return out;
}

// `padded`: padding is required to make the length a multiple of 4 (standard
// base64); otherwise '=' is rejected outright (base64url as used by JWS).
inline std::optional<std::string> decode(std::string_view text,
                                         const std::array<signed char, 256>& table,
                                         bool padded) {
  if (padded) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad_count = 0;
    while (pad_count < text.size() && text[text.size() - 1 - pad_count] == '=') ++pad_count;
    if (pad_count > 2) return std::nullopt;
    text.remove_suffix(pad_count);
  }
  // A lone trailing symbol carries only 6 bits: never produced by an encoder.
  if (text.size() % 4 == 1) return std::nullopt;

  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  auto value_at = [&](std::size_t index) {
    return table[static_cast<unsigned char>(text[index])];
  };
  std::size_t i = 0;
  for (; i + 4 <= text.size(); i += 4) {
    const int a = value_at(i), b = value_at(i + 1), c = value_at(i + 2), d = value_at(i + 3);
    if ((a | b | c | d) < 0) return std::nullopt;
    const unsigned group = (unsigned(a) << 18) | (unsigned(b) << 12) | (unsigned(c) << 6) | unsigned(d);
    out.push_back(static_cast<char>((group >> 16) & 0xFF));
    out.push_back(static_cast<char>((group >> 8) & 0xFF));
    out.push_back(static_cast<char>(group & 0xFF));
  }
  const std::size_t rest = text.size() - i;
  if (rest == 2) {
    const int a = value_at(i), b = value_at(i + 1);
    if ((a | b) < 0 || (b & 0x0F) != 0) return std::nullopt;  // non-canonical trailing bits
    out.push_back(static_cast<char>((a << 2) | (b >> 4)));
  } else if (rest == 3) {
    const int a = value_at(i), b = value_at(i + 1), c = value_at(i + 2);
    if ((a | b | c) < 0 || (c & 0x03) != 0) return std::nullopt;  // non-canonical trailing bits
    out.push_back(static_cast<char>((a << 2) | (b >> 4)));
    out.push_back(static_cast<char>(((b & 0x0F) << 4) | (c >> 2)));
  }
  return out;
}

inline std::span<const unsigned char> as_bytes(std::string_view text) {
  return {reinterpret_cast<const unsigned char*>(text.data()), text.size()};
}

}  // namespace base64_internal

/// Standard base64 with '=' padding.
inline std::string base64_encode(std::span<const unsigned char> bytes) {
  return base64_internal::encode(bytes, base64_internal::standard_alphabet, true);
}
inline std::string base64_encode(std::string_view bytes) {
  return base64_encode(base64_internal::as_bytes(bytes));
}

/// URL-safe alphabet ('-', '_'), no padding (the JWS form, RFC 7515 §2).
inline std::string base64url_encode(std::span<const unsigned char> bytes) {
  return base64_internal::encode(bytes, base64_internal::url_alphabet, false);
}
inline std::string base64url_encode(std::string_view bytes) {
  return base64url_encode(base64_internal::as_bytes(bytes));
}

/// Strict standard base64: padding required, no whitespace, canonical trailing bits.
inline std::optional<std::string> base64_decode(std::string_view text) {
  return base64_internal::decode(text, base64_internal::standard_table, true);
}

/// Strict base64url: '=' rejected, no whitespace, canonical trailing bits.
inline std::optional<std::string> base64url_decode(std::string_view text) {
  return base64_internal::decode(text, base64_internal::url_table, false);
}

}  // namespace lastmile::detail
