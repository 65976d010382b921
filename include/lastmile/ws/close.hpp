#pragma once

// Close codes (RFC 6455 §7.4), the receive-side error list with the code to
// send for each, and close payload parsing/building.

#include <lastmile/ws/utf8.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lastmile::ws {

namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;  // reported when a close frame has no payload; never sent
inline constexpr std::uint16_t abnormal = 1006;   // connection dropped without close frame; never sent
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t service_restart = 1012;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t bad_gateway = 1014;
}  // namespace close_code

// Codes that may appear in a close frame on the wire (either direction):
// 1000-1003, 1007-1014 (1012-1014 are IANA-registered), 3000-4999.
// 1004 is reserved, 1005/1006/1015 are local-only, the rest of 1000-2999 is
// unassigned, and 0-999 / 5000+ are not used.
inline constexpr bool is_valid_close_code(std::uint32_t code) noexcept {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

// Everything the frame parser can fail with. The connection is failed with
// close_code_for(error) (send that close frame, then close the TCP connection).
enum class frame_error : std::uint8_t {
  none,
  unmasked_frame,            // client frame without the MASK bit
  reserved_bits,             // RSV1-3 not allowed here (no extension, control/continuation frame)
  reserved_opcode,           // opcodes 3-7, 11-15
  control_frame_too_long,    // ping/pong/close payload > 125
  fragmented_control_frame,  // control frame with FIN = 0
  unexpected_continuation,   // continuation frame with no message open
  expected_continuation,     // new text/binary frame while a fragmented message is open
  length_out_of_range,       // 64-bit length with the top bit set
  invalid_close_payload,     // close payload of exactly 1 byte
  invalid_close_code,        // close code not allowed on the wire
  invalid_close_reason,      // close reason not UTF-8
  invalid_utf8,              // text message not UTF-8 (checked after inflating)
  message_too_big,           // message over parser_options::max_message_size
  inflate_failed,            // permessage-deflate data corrupt
};

inline constexpr std::uint16_t close_code_for(frame_error error) noexcept {
  switch (error) {
    case frame_error::none: return close_code::normal;
    case frame_error::invalid_close_reason:
    case frame_error::invalid_utf8:
    case frame_error::inflate_failed: return close_code::invalid_payload;  // framing fine, data bad
    case frame_error::message_too_big: return close_code::message_too_big;
    default: return close_code::protocol_error;
  }
}

inline constexpr std::string_view describe(frame_error error) noexcept {
  switch (error) {
    case frame_error::none: return "no error";
    case frame_error::unmasked_frame: return "client frame not masked";
    case frame_error::reserved_bits: return "reserved bits set";
    case frame_error::reserved_opcode: return "reserved opcode";
    case frame_error::control_frame_too_long: return "control frame payload over 125 bytes";
    case frame_error::fragmented_control_frame: return "fragmented control frame";
    case frame_error::unexpected_continuation: return "continuation frame without a message";
    case frame_error::expected_continuation: return "new message before the previous one ended";
    case frame_error::length_out_of_range: return "frame length out of range";
    case frame_error::invalid_close_payload: return "close payload of one byte";
    case frame_error::invalid_close_code: return "invalid close code";
    case frame_error::invalid_close_reason: return "close reason is not UTF-8";
    case frame_error::invalid_utf8: return "text message is not UTF-8";
    case frame_error::message_too_big: return "message too big";
    case frame_error::inflate_failed: return "compressed data is corrupt";
  }
  return "unknown error";
}

struct close_payload {
  std::uint16_t code = close_code::no_status;  // no_status when the payload was empty
  std::string_view reason;                     // points into the parsed payload
  frame_error error = frame_error::none;
};

// Parses and validates a received close frame payload (already unmasked).
inline close_payload parse_close_payload(std::string_view payload) noexcept {
  close_payload result;
  if (payload.empty()) return result;
  if (payload.size() == 1) {
    result.error = frame_error::invalid_close_payload;
    return result;
  }
  result.code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                           static_cast<unsigned char>(payload[1]));
  result.reason = payload.substr(2);
  if (!is_valid_close_code(result.code))
    result.error = frame_error::invalid_close_code;
  else if (!is_valid_utf8(result.reason))
    result.error = frame_error::invalid_close_reason;
  return result;
}

inline constexpr std::size_t max_close_reason = 123;  // 125-byte control payload minus the code

// Cuts `reason` to at most `limit` bytes without splitting a code point
// (assumes valid UTF-8: drops trailing continuation bytes and their lead).
inline std::string_view truncate_utf8(std::string_view reason, std::size_t limit) noexcept {
  if (reason.size() <= limit) return reason;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
  return reason.substr(0, cut);
}

// Close frame payload: 2-byte code plus the reason truncated to fit 125 bytes.
// Pass a code for which is_valid_close_code() holds.
inline std::string make_close_payload(std::uint16_t code, std::string_view reason = {}) {
  reason = truncate_utf8(reason, max_close_reason);
  std::string payload;
  payload.reserve(2 + reason.size());
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason);
  return payload;
}

}  // namespace lastmile::ws
