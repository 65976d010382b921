#pragma once

// WebSocket framing (RFC 6455 §5), server side: an encoder for unmasked
// server frames and an incremental, sans-I/O parser for masked client frames.
//
// Parser model: the session hands it every received byte (any split, even one
// byte at a time) in a mutable buffer; the parser unmasks payload in place and
// calls the handler with views into that buffer:
//   on_data(message_kind, std::string_view chunk, bool fin)  // fin: last chunk of the message
//   on_ping(std::string_view payload), on_pong(std::string_view payload)
//   on_close(std::uint16_t code, std::string_view reason)    // code 1005 for an empty close
// Views are valid only during the call. Message data is streamed: text/binary
// chunks arrive as they are read (already inflated and UTF-8 checked), so a
// session can either process them incrementally or append them to a buffer;
// the parser itself enforces max_message_size. Control frames between
// fragments are reported in wire order.

#include <lastmile/ws/close.hpp>
#include <lastmile/ws/deflate.hpp>
#include <lastmile/ws/utf8.hpp>

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lastmile::ws {

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

inline constexpr bool is_control(opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

inline constexpr std::size_t max_control_payload = 125;

// ---------------------------------------------------------------------------
// Encoder (server -> client: never masked, shortest length form).

inline constexpr std::size_t max_frame_header_size = 10;  // 2 + 8-byte length, no mask key

// Writes a frame header into `out` (room for max_frame_header_size bytes) and
// returns its size. Precondition for control opcodes: fin and payload <= 125.
inline std::size_t write_frame_header(char* out, opcode op, std::uint64_t payload_size, bool fin = true,
                                      bool rsv1 = false) noexcept {
  out[0] = static_cast<char>((fin ? 0x80 : 0x00) | (rsv1 ? 0x40 : 0x00) | static_cast<std::uint8_t>(op));
  if (payload_size < 126) {
    out[1] = static_cast<char>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<char>(payload_size >> 8);
    out[3] = static_cast<char>(payload_size & 0xFF);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>((payload_size >> (56 - 8 * i)) & 0xFF);
  return 10;
}

// A header on the stack, for gather writes of header + shared payload.
struct frame_header {
  std::array<char, max_frame_header_size> bytes{};
  std::uint8_t size = 0;
  std::string_view view() const noexcept { return {bytes.data(), size}; }
};

inline frame_header make_frame_header(opcode op, std::uint64_t payload_size, bool fin = true,
                                      bool rsv1 = false) noexcept {
  frame_header header;
  header.size = static_cast<std::uint8_t>(write_frame_header(header.bytes.data(), op, payload_size, fin, rsv1));
  return header;
}

// Appends a complete frame. Throws std::invalid_argument for a control frame
// that is fragmented or longer than 125 bytes, or RSV1 on a control/continuation frame.
inline void append_frame(std::string& out, opcode op, std::string_view payload, bool fin = true,
                         bool rsv1 = false) {
  if (is_control(op) && (!fin || payload.size() > max_control_payload))
    throw std::invalid_argument("control frames must be unfragmented with at most 125 bytes");
  if (rsv1 && (is_control(op) || op == opcode::continuation))
    throw std::invalid_argument("RSV1 is only valid on the first frame of a data message");
  char header[max_frame_header_size];
  const std::size_t header_size = write_frame_header(header, op, payload.size(), fin, rsv1);
  out.reserve(out.size() + header_size + payload.size());
  out.append(header, header_size);
  out.append(payload);
}

inline std::string make_frame(opcode op, std::string_view payload, bool fin = true, bool rsv1 = false) {
  std::string out;
  append_frame(out, op, payload, fin, rsv1);
  return out;
}

// Close frame with a code and a reason (truncated to 123 bytes on a code point boundary).
inline std::string make_close_frame(std::uint16_t code, std::string_view reason = {}) {
  return make_frame(opcode::close, make_close_payload(code, reason));
}

// Close frame without a payload (peer sees 1005).
inline std::string make_close_frame() { return make_frame(opcode::close, {}); }

// The close frame to send when the parser failed with `error`.
inline std::string make_close_frame(frame_error error) {
  return make_close_frame(close_code_for(error), describe(error));
}

// XORs `size` bytes with the masking key, starting at payload offset `phase`
// (mod 4), eight bytes per step.
inline void unmask(char* data, std::size_t size, const std::array<std::uint8_t, 4>& key,
                   std::size_t phase = 0) noexcept {
  unsigned char pattern[8];
  for (std::size_t i = 0; i < 8; ++i) pattern[i] = key[(phase + i) & 3];
  std::uint64_t word_key;
  std::memcpy(&word_key, pattern, 8);  // byte pattern, so endianness does not matter
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= word_key;
    std::memcpy(data + i, &word, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ pattern[i & 7]);
}

// ---------------------------------------------------------------------------
// Parser (client -> server).

enum class message_kind : std::uint8_t { text = 1, binary = 2 };

struct parser_options {
  // Largest accepted message in bytes, after inflating. Uncompressed frames are
  // checked as soon as their length is read; compressed messages are also
  // limited to max + max/8 + 1 KiB of wire bytes so a stream that inflates to
  // nothing cannot run forever.
  std::uint64_t max_message_size = 1024 * 1024;
};

struct feed_result {
  std::size_t consumed = 0;  // bytes used; less than given only after a close frame or an error
  frame_error error = frame_error::none;
  bool ok() const noexcept { return error == frame_error::none; }
};

template <typename H>
concept frame_handler = requires(H& handler, message_kind kind, std::string_view bytes, bool fin,
                                 std::uint16_t code) {
  handler.on_data(kind, bytes, fin);
  handler.on_ping(bytes);
  handler.on_pong(bytes);
  handler.on_close(code, bytes);
};

class frame_parser {
 public:
  explicit frame_parser(parser_options options = {}) noexcept
      : max_message_size_(options.max_message_size) {}

  // Call once after a handshake that negotiated permessage-deflate: RSV1 then
  // marks compressed messages. The inflater is allocated at the first
  // compressed message; with client_no_context_takeover it is freed after each.
  void enable_deflate(const deflate_params& params) noexcept {
    deflate_window_ = std::clamp<std::uint8_t>(params.client_max_window_bits, 8, 15);
    client_no_context_takeover_ = params.client_no_context_takeover;
  }

  // Parses `data` (unmasking it in place). Stops after a close frame
  // (closed()) or at the first error (failed(); send make_close_frame(error)).
  // After either, further calls consume nothing.
  template <frame_handler Handler>
  feed_result feed(char* data, std::size_t size, Handler& handler) {
    std::size_t pos = 0;
    while (pos < size) {
      switch (stage_) {
        case stage::header0:
          first_byte_ = static_cast<std::uint8_t>(data[pos++]);
          stage_ = stage::header1;
          break;
        case stage::header1:
          if (const auto e = start_frame(static_cast<std::uint8_t>(data[pos++])); e != frame_error::none)
            return fail(e, pos);
          break;
        case stage::length: {
          const auto byte = static_cast<std::uint8_t>(data[pos++]);
          if (need_ == 8 && (byte & 0x80)) return fail(frame_error::length_out_of_range, pos);
          remaining_ = (remaining_ << 8) | byte;
          if (--need_ == 0) {
            if (const auto e = after_length(); e != frame_error::none) return fail(e, pos);
          }
          break;
        }
        case stage::mask:
          mask_[4 - need_] = static_cast<std::uint8_t>(data[pos++]);
          if (--need_ == 0) {
            stage_ = stage::payload;
            phase_ = 0;
            if (remaining_ == 0) {  // empty frame: complete it now
              if (const auto e = payload_piece(nullptr, 0, handler); e != frame_error::none) return fail(e, pos);
            }
          }
          break;
        case stage::payload: {
          const std::size_t n = remaining_ < size - pos ? static_cast<std::size_t>(remaining_) : size - pos;
          char* chunk = data + pos;
          pos += n;
          if (const auto e = payload_piece(chunk, n, handler); e != frame_error::none) return fail(e, pos);
          break;
        }
        case stage::closed:
        case stage::failed: return {pos, error_};
      }
    }
    return {pos, error_};
  }

  template <frame_handler Handler>
  feed_result feed(std::span<char> data, Handler& handler) {
    return feed(data.data(), data.size(), handler);
  }

  bool closed() const noexcept { return stage_ == stage::closed; }  // a close frame was received
  bool failed() const noexcept { return stage_ == stage::failed; }
  frame_error error() const noexcept { return error_; }
  bool in_message() const noexcept { return message_ != 0; }  // inside a fragmented message
  bool deflate_enabled() const noexcept { return deflate_window_ != 0; }
  bool inflater_allocated() const noexcept { return inflater_ != nullptr; }

 private:
  enum class stage : std::uint8_t { header0, header1, length, mask, payload, closed, failed };

  bool frame_is_control() const noexcept { return (first_byte_ & 0x08) != 0; }
  bool frame_fin() const noexcept { return (first_byte_ & 0x80) != 0; }
  std::uint8_t frame_opcode() const noexcept { return first_byte_ & 0x0F; }

  feed_result fail(frame_error error, std::size_t pos) noexcept {
    stage_ = stage::failed;
    error_ = error;
    control_.reset();
    inflater_.reset();
    return {pos, error};
  }

  // Validates the first two header bytes (everything knowable before the length).
  frame_error start_frame(std::uint8_t second) noexcept {
    const std::uint8_t op = frame_opcode();
    if ((second & 0x80) == 0) return frame_error::unmasked_frame;
    if ((op >= 0x3 && op <= 0x7) || op >= 0xB) return frame_error::reserved_opcode;
    const bool control = frame_is_control();
    if (first_byte_ & 0x30) return frame_error::reserved_bits;  // RSV2/RSV3: no extension uses them
    if ((first_byte_ & 0x40) && (deflate_window_ == 0 || control || op == 0x0))
      return frame_error::reserved_bits;  // RSV1 only marks the first frame of a compressed message
    const std::uint8_t length7 = second & 0x7F;
    if (control) {
      if (!frame_fin()) return frame_error::fragmented_control_frame;
      if (length7 > max_control_payload) return frame_error::control_frame_too_long;
      if (op == 0x8 && length7 == 1) return frame_error::invalid_close_payload;
    } else if (op == 0x0) {
      if (message_ == 0) return frame_error::unexpected_continuation;
    } else if (message_ != 0) {
      return frame_error::expected_continuation;
    }
    remaining_ = length7;
    if (length7 >= 126) {
      need_ = length7 == 126 ? 2 : 8;
      remaining_ = 0;
      stage_ = stage::length;
      return frame_error::none;
    }
    return after_length();
  }

  // The frame length is known: apply the size limit before reading the payload.
  frame_error after_length() noexcept {
    stage_ = stage::mask;
    need_ = 4;
    if (frame_is_control()) return frame_error::none;
    if (frame_opcode() != 0x0) {  // first frame of a message
      message_ = frame_opcode();
      compressed_ = (first_byte_ & 0x40) != 0;
    }
    if (!compressed_) {
      if (remaining_ > max_message_size_ - message_bytes_) return frame_error::message_too_big;
      message_bytes_ += remaining_;
    } else {
      const std::uint64_t wire_limit = saturating_add(
          max_message_size_, saturating_add(max_message_size_ / 8, 1024));
      if (remaining_ > wire_limit - wire_bytes_) return frame_error::message_too_big;
      wire_bytes_ += remaining_;
    }
    return frame_error::none;
  }

  static constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
    return a + b < a ? UINT64_MAX : a + b;
  }

  // Handles `n` payload bytes of the current frame (n may be 0 for empty frames).
  template <typename Handler>
  frame_error payload_piece(char* chunk, std::size_t n, Handler& handler) {
    unmask(chunk, n, mask_, phase_);
    phase_ = static_cast<std::uint8_t>((phase_ + n) & 3);
    remaining_ -= n;
    const bool frame_end = remaining_ == 0;
    if (frame_is_control()) {
      if (frame_end && control_size_ == 0) return control_frame({chunk, n}, handler);
      // Split control frame (rare): collect it in a small buffer freed afterwards.
      if (!control_) control_ = std::make_unique<char[]>(max_control_payload);
      if (n != 0) std::memcpy(control_.get() + control_size_, chunk, n);
      control_size_ = static_cast<std::uint8_t>(control_size_ + n);
      if (!frame_end) return frame_error::none;
      const auto buffered = std::move(control_);
      const std::size_t buffered_size = control_size_;
      control_size_ = 0;
      return control_frame({buffered.get(), buffered_size}, handler);
    }
    const auto e = data_piece({chunk, n}, frame_end, handler);
    if (e == frame_error::none && frame_end) stage_ = stage::header0;
    return e;
  }

  template <typename Handler>
  frame_error control_frame(std::string_view payload, Handler& handler) {
    stage_ = stage::header0;
    switch (frame_opcode()) {
      case 0x9: handler.on_ping(payload); break;
      case 0xA: handler.on_pong(payload); break;
      default: {
        const close_payload close = parse_close_payload(payload);
        if (close.error != frame_error::none) return close.error;
        stage_ = stage::closed;
        handler.on_close(close.code, close.reason);
      }
    }
    return frame_error::none;
  }

  template <typename Handler>
  frame_error data_piece(std::string_view chunk, bool frame_end, Handler& handler) {
    const auto kind = static_cast<message_kind>(message_);
    const bool message_end = frame_end && frame_fin();
    if (compressed_) {
      if (!inflater_) inflater_ = std::make_unique<inflater>(deflate_window_);
      std::uint64_t budget = max_message_size_ - message_bytes_;
      const auto status = inflater_->inflate(chunk, message_end, budget, [&](std::string_view out) {
        if (kind == message_kind::text && !utf8_.feed(out)) return false;
        handler.on_data(kind, out, false);
        return true;
      });
      message_bytes_ = max_message_size_ - budget;
      switch (status) {
        case inflater::status::ok: break;
        case inflater::status::too_big: return frame_error::message_too_big;
        case inflater::status::corrupt: return frame_error::inflate_failed;
        case inflater::status::stopped: return frame_error::invalid_utf8;
      }
    } else if (kind == message_kind::text && !utf8_.feed(chunk)) {
      return frame_error::invalid_utf8;
    }
    if (message_end) {
      if (kind == message_kind::text && !utf8_.complete()) return frame_error::invalid_utf8;
      handler.on_data(kind, compressed_ ? std::string_view{} : chunk, true);
      end_message();
    } else if (!compressed_ && !chunk.empty()) {
      handler.on_data(kind, chunk, false);
    }
    return frame_error::none;
  }

  void end_message() noexcept {
    if (compressed_ && client_no_context_takeover_) inflater_.reset();  // nothing to carry over
    message_ = 0;
    compressed_ = false;
    utf8_.reset();
    message_bytes_ = 0;
    wire_bytes_ = 0;
  }

  std::uint64_t max_message_size_;
  std::uint64_t remaining_ = 0;      // payload bytes left in the frame (length accumulator before)
  std::uint64_t message_bytes_ = 0;  // open message's size so far (inflated size if compressed)
  std::uint64_t wire_bytes_ = 0;     // open compressed message's payload bytes on the wire
  std::unique_ptr<char[]> control_;  // only while a control frame is split across feeds
  std::unique_ptr<inflater> inflater_;
  std::array<std::uint8_t, 4> mask_{};
  stage stage_ = stage::header0;
  std::uint8_t need_ = 0;          // extended length / mask key bytes still to read
  std::uint8_t first_byte_ = 0;    // FIN, RSV and opcode of the current frame
  std::uint8_t phase_ = 0;         // payload offset mod 4, to continue unmasking across feeds
  std::uint8_t control_size_ = 0;  // bytes in control_
  std::uint8_t message_ = 0;       // opcode of the open message (1 text, 2 binary), 0 if none
  bool compressed_ = false;        // the open message had RSV1
  utf8_validator utf8_;            // carries a split code point across chunks and fragments
  std::uint8_t deflate_window_ = 0;  // negotiated client window bits; 0 = deflate off
  bool client_no_context_takeover_ = false;
  frame_error error_ = frame_error::none;
};

}  // namespace lastmile::ws
