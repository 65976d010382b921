#pragma once

// Incremental UTF-8 validation for WebSocket text messages (RFC 6455 §8.1).
//
// A text message may arrive in many fragments and reads; a code point can be
// split anywhere. utf8_validator keeps one byte of state between chunks and
// rejects at the first byte that cannot start or continue a valid sequence
// (overlongs, surrogates and values above U+10FFFF included), so a bad message
// is failed as soon as the offending byte arrives ("fail fast").

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <simdjson.h>

namespace lastmile::ws {

// Whole-buffer check (close reasons, complete messages).
inline bool is_valid_utf8(std::string_view text) noexcept {
  return simdjson::validate_utf8(text.data(), text.size());
}

class utf8_validator {
 public:
  // Validates the next chunk. Returns false at the first invalid byte; the
  // failure is sticky until reset(). A chunk may end inside a code point.
  bool feed(std::string_view chunk) noexcept {
    if (state_ == reject) return false;
    const auto* bytes = reinterpret_cast<const unsigned char*>(chunk.data());
    std::size_t size = chunk.size();
    std::size_t pos = 0;
    // Finish a code point left open by the previous chunk byte by byte first.
    while (state_ != accept && pos < size) state_ = step(state_, bytes[pos++]);
    if (state_ == reject) return false;
    if (pos == size) return true;

    // From here we are at a code point boundary. Bulk-check everything up to the
    // last (possibly incomplete) sequence with simdjson, the tail with the DFA.
    const std::size_t boundary = pos + complete_prefix(bytes + pos, size - pos);
    if (boundary - pos >= bulk_threshold) {
      if (!simdjson::validate_utf8(reinterpret_cast<const char*>(bytes + pos), boundary - pos)) {
        state_ = reject;  // simdjson does not say where; the connection fails anyway
        return false;
      }
      pos = boundary;
    }
    for (; pos < size; ++pos) {
      state_ = step(state_, bytes[pos]);
      if (state_ == reject) return false;
    }
    return true;
  }

  // True when every fed byte formed complete code points (message may end here).
  bool complete() const noexcept { return state_ == accept; }
  bool failed() const noexcept { return state_ == reject; }
  void reset() noexcept { state_ = accept; }

  // Raw state for packing into a larger struct (0 = at a boundary).
  std::uint8_t state() const noexcept { return state_; }

 private:
  // States: 0 boundary; 1-3 need that many 80..BF bytes; 4-7 need a restricted
  // second byte (after E0, ED, F0, F4), then 1 or 2 more; 8 rejected.
  static constexpr std::uint8_t accept = 0, reject = 8;
  static constexpr std::size_t bulk_threshold = 64;  // below this the DFA is cheaper than a call

  static constexpr std::uint8_t step(std::uint8_t state, unsigned char byte) noexcept {
    switch (state) {
      case 0:
        if (byte < 0x80) return 0;
        if (byte < 0xC2) return reject;  // stray continuation or overlong C0/C1
        if (byte < 0xE0) return 1;
        if (byte == 0xE0) return 4;
        if (byte == 0xED) return 5;
        if (byte < 0xF0) return 2;
        if (byte == 0xF0) return 6;
        if (byte < 0xF4) return 3;
        if (byte == 0xF4) return 7;
        return reject;
      case 1:
      case 2:
      case 3: return (byte & 0xC0) == 0x80 ? static_cast<std::uint8_t>(state - 1) : reject;
      case 4: return (byte >= 0xA0 && byte <= 0xBF) ? 1 : reject;  // no overlong 3-byte forms
      case 5: return (byte >= 0x80 && byte <= 0x9F) ? 1 : reject;  // no surrogates D800..DFFF
      case 6: return (byte >= 0x90 && byte <= 0xBF) ? 2 : reject;  // no overlong 4-byte forms
      case 7: return (byte >= 0x80 && byte <= 0x8F) ? 2 : reject;  // nothing above U+10FFFF
      default: return reject;
    }
  }

  // Length of the prefix that ends on a code point boundary, judged by the last
  // lead byte in the final 3 bytes (a longer tail is invalid anyway, and the
  // bulk check or the DFA then rejects it).
  static std::size_t complete_prefix(const unsigned char* bytes, std::size_t size) noexcept {
    for (std::size_t back = 1; back <= 3 && back <= size; ++back) {
      const unsigned char byte = bytes[size - back];
      if ((byte & 0xC0) == 0x80) continue;  // continuation: keep looking for its lead
      const std::size_t need = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
      return need > back ? size - back : size;
    }
    return size;
  }

  std::uint8_t state_ = accept;
};

}  // namespace lastmile::ws
