#pragma once

// permessage-deflate (RFC 7692) codec on zlib raw deflate streams.
//
// Sender: compress the message with Z_SYNC_FLUSH and drop the trailing
// 00 00 ff ff; the result is the payload of a frame with RSV1 set.
// Receiver: append 00 00 ff ff to the message's payload and inflate.
//
// zlib memory (zlib docs, "Memory footprint"; measured with zlib 1.2.13):
//   deflate: (1 << (window_bits + 2)) + (1 << (mem_level + 9)) + ~6 KB
//            -> 262 KiB at 15/8, 142 KiB at 15/4, 16 KiB at 9/4
//   inflate: (1 << window_bits) + ~7 KB -> 39 KiB at 15, 11 KiB at 12, 7.5 KiB at 9
// Streams exist only while deflate is negotiated and in use (see frame_parser).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>

#include <zlib.h>

namespace lastmile::ws {

// What the handshake agreed on (RFC 7692 §7.1). Window bits are 8-15.
struct deflate_params {
  bool server_no_context_takeover = false;  // we reset our compressor after every message
  bool client_no_context_takeover = false;  // the client resets; we may drop the inflater between messages
  std::uint8_t server_max_window_bits = 15;  // upper bound for our compressor's window
  std::uint8_t client_max_window_bits = 15;  // upper bound for the client's window (our inflater)
};

// The empty stored block that ends every compressed message on the wire.
inline constexpr std::string_view deflate_tail{"\x00\x00\xff\xff", 4};

// Inflates received messages. Not movable: zlib keeps a pointer to the z_stream.
class inflater {
 public:
  enum class status : std::uint8_t { ok, too_big, corrupt, stopped };

  // window_bits: the negotiated client_max_window_bits. 8 is widened to 9 (zlib
  // never produces 256-byte windows for raw deflate; a larger window is always safe).
  explicit inflater(int window_bits = 15) {
    window_bits = std::clamp(window_bits, 9, 15);
    if (inflateInit2(&stream_, -window_bits) != Z_OK) throw std::bad_alloc();
  }
  ~inflater() { inflateEnd(&stream_); }
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;

  // Inflates `input` (a piece of a message's payload, any split). With
  // `end_of_message`, also inflates the 00 00 ff ff tail. Each output piece goes
  // to `sink(std::string_view) -> bool` (false stops with status::stopped).
  // `budget` is the number of output bytes still allowed; it is decreased, and
  // producing more gives status::too_big without inflating much past it.
  template <typename Sink>
  status inflate(std::string_view input, bool end_of_message, std::uint64_t& budget, Sink&& sink) {
    auto result = run(input, budget, sink);
    if (result == status::ok && end_of_message && !stream_ended_) result = run(deflate_tail, budget, sink);
    if (end_of_message && stream_ended_) reset();  // the next message starts a new stream
    return result;
  }

  // Forgets the window (client_no_context_takeover, or a new connection).
  void reset() noexcept {
    inflateReset(&stream_);
    stream_ended_ = false;
  }

 private:
  static constexpr std::size_t chunk_size = 16 * 1024;  // stack buffer per call

  template <typename Sink>
  status run(std::string_view input, std::uint64_t& budget, Sink& sink) {
    if (stream_ended_) return status::ok;  // bytes after a final block carry no data
    if (input.size() > UINT32_MAX) return status::too_big;  // zlib counts input in 32 bits
    char out[chunk_size];
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.avail_in = static_cast<uInt>(input.size());
    while (true) {
      // Ask for at most budget + 1 bytes so an over-limit message stops early.
      const std::size_t cap = budget < chunk_size ? static_cast<std::size_t>(budget) + 1 : chunk_size;
      stream_.next_out = reinterpret_cast<Bytef*>(out);
      stream_.avail_out = static_cast<uInt>(cap);
      const uInt in_before = stream_.avail_in;
      const int rc = ::inflate(&stream_, Z_SYNC_FLUSH);
      if (rc == Z_MEM_ERROR) throw std::bad_alloc();
      // Hand over what was produced within the budget before reporting a
      // problem, so the outcome does not depend on how the input was split.
      const std::size_t produced = cap - stream_.avail_out;
      const std::size_t allowed = produced < budget ? produced : static_cast<std::size_t>(budget);
      budget -= allowed;
      if (allowed != 0 && !sink(std::string_view{out, allowed})) return status::stopped;
      if (produced > allowed) return status::too_big;
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return status::corrupt;
      if (rc == Z_STREAM_END) {
        // The client ended the deflate stream with a BFINAL block (RFC 7692
        // §7.2.3.4): ignore the rest of this message, including our 00 00 ff ff.
        stream_ended_ = true;
        return status::ok;
      }
      const bool progressed = produced != 0 || stream_.avail_in != in_before;
      if (rc == Z_BUF_ERROR || !progressed) return status::ok;  // needs more input
      if (stream_.avail_in == 0 && stream_.avail_out != 0) return status::ok;
    }
  }

  z_stream stream_{};
  bool stream_ended_ = false;
};

// Compresses messages to send. With no_context_takeover each message is
// independent (reset after each), so its output may be shared by many
// connections and interleaved with other compressed frames; with context
// takeover it must be the only compressor feeding that connection.
class deflater {
 public:
  // window_bits 9-15 (zlib raw deflate cannot do 8: decline offers that demand it);
  // mem_level 1-9; level 0-9 or Z_DEFAULT_COMPRESSION.
  explicit deflater(int window_bits = 15, bool no_context_takeover = true, int mem_level = 8,
                    int level = Z_DEFAULT_COMPRESSION)
      : no_context_takeover_(no_context_takeover) {
    if (window_bits < 9 || window_bits > 15) throw std::invalid_argument("deflate window_bits must be 9-15");
    const int rc = deflateInit2(&stream_, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY);
    if (rc == Z_MEM_ERROR) throw std::bad_alloc();
    if (rc != Z_OK) throw std::invalid_argument("invalid deflate level or mem_level");
  }
  ~deflater() { deflateEnd(&stream_); }
  deflater(const deflater&) = delete;
  deflater& operator=(const deflater&) = delete;

  // Appends the compressed message (frame payload, RSV1 set on its first frame) to `out`.
  void compress(std::string_view message, std::string& out) {
    if (message.size() > UINT32_MAX) throw std::length_error("message too large for one deflate call");
    const std::size_t start = out.size();
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    stream_.avail_in = static_cast<uInt>(message.size());
    // deflateBound ignores flush markers; +16 covers the sync flush block.
    std::size_t room = deflateBound(&stream_, static_cast<uLong>(message.size())) + 16;
    while (true) {
      const std::size_t used = out.size();
      out.resize(used + room);
      stream_.next_out = reinterpret_cast<Bytef*>(out.data() + used);
      stream_.avail_out = static_cast<uInt>(room);
      const int rc = ::deflate(&stream_, Z_SYNC_FLUSH);
      out.resize(used + room - stream_.avail_out);
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        out.resize(start);
        deflateReset(&stream_);
        throw std::runtime_error("deflate failed");
      }
      if (stream_.avail_out != 0 && stream_.avail_in == 0) break;  // all input in, flush complete
      room = 4096;
    }
    // Z_SYNC_FLUSH always ends with the empty stored block 00 00 ff ff (RFC 7692 §7.2.1).
    if (out.size() - start >= deflate_tail.size() &&
        std::string_view{out}.substr(out.size() - deflate_tail.size()) == deflate_tail)
      out.resize(out.size() - deflate_tail.size());
    if (no_context_takeover_) deflateReset(&stream_);
  }
  std::string compress(std::string_view message) {
    std::string out;
    compress(message, out);
    return out;
  }

 private:
  z_stream stream_{};
  bool no_context_takeover_;
};

// Compress once, no context takeover: the payload for a frame with RSV1 that
// any client that negotiated permessage-deflate with a server window of at least
// `window_bits` can inflate (broadcast: one buffer shared by many connections).
// For many messages, keep a deflater(window_bits, true) instead: same output,
// without re-allocating ~256 KiB of zlib state per call.
inline std::string deflate_message(std::string_view message, int window_bits = 15, int mem_level = 8,
                                   int level = Z_DEFAULT_COMPRESSION) {
  deflater once(window_bits, true, mem_level, level);
  return once.compress(message);
}

}  // namespace lastmile::ws
