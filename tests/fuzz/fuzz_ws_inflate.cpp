// libFuzzer target for the permessage-deflate receive path: lastmile::ws::inflater
// on its own and inside frame_parser, with the message size limit (close 1009).
//
// Byte 0 picks options: bits 0-1 the size limit (1, 64, 1000, 65536 bytes), bit 2
// "compress the input first" (a valid stream of known content instead of raw
// fuzz bytes), bit 3 client_no_context_takeover, bits 4-6 the window bits (8 + n).
// Byte 1 picks the read size and the number of frames the message is split into.
// The rest is the message: raw deflate data (without the 00 00 ff ff tail), or the
// plain text to compress. Invariants, besides sanitizer reports:
//  - never more output than the limit; too_big only once exactly the limit was handed over;
//  - the same output and status whether the input arrives whole or in pieces;
//  - with window 15, the same outcome as plain zlib inflating payload + 00 00 ff ff
//    (too_big exactly when zlib would produce more than the limit before any error);
//  - compressed input comes back unchanged (or too_big when it is over the limit);
//  - frame_parser, given the message as masked RSV1 frames, fails with
//    message_too_big / inflate_failed exactly when the inflater says too_big / corrupt,
//    delivers the same bytes otherwise, and then still parses an uncompressed message.

#include <lastmile/ws/deflate.hpp>
#include <lastmile/ws/frame.hpp>

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace lastmile::ws;

struct outcome {
  std::string output;
  inflater::status status = inflater::status::ok;
};

outcome run_inflater(std::string_view payload, std::size_t step, int window_bits, std::uint64_t limit) {
  inflater inf(window_bits);
  outcome out;
  std::uint64_t budget = limit;
  for (std::size_t pos = 0;; pos += step) {
    const std::size_t n = payload.size() - pos < step ? payload.size() - pos : step;
    const bool last = pos + n >= payload.size();
    const std::uint64_t before = budget;
    out.status = inf.inflate(payload.substr(pos, n), last, budget, [&](std::string_view piece) {
      out.output.append(piece);
      return true;
    });
    if (before - budget > before) __builtin_trap();  // the budget never grows
    if (out.output.size() > limit) __builtin_trap();
    if (out.output.size() != limit - budget) __builtin_trap();
    if (out.status != inflater::status::ok || last) break;
  }
  if (out.status == inflater::status::too_big && out.output.size() != limit) __builtin_trap();
  if (out.status == inflater::status::stopped) __builtin_trap();  // the sink never stops
  return out;
}

// Plain zlib: payload + 00 00 ff ff, at most limit + 1 bytes of output.
struct reference {
  std::string output;
  bool error = false;
};

reference run_zlib(std::string_view payload, std::uint64_t limit) {
  std::string input(payload);
  input.append(deflate_tail);
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) __builtin_trap();
  reference ref;
  z.next_in = reinterpret_cast<Bytef*>(input.data());
  z.avail_in = static_cast<uInt>(input.size());
  char buf[4096];
  while (ref.output.size() <= limit) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    const int rc = inflate(&z, Z_SYNC_FLUSH);
    ref.output.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      ref.error = true;
      break;
    }
    if (rc == Z_BUF_ERROR || (z.avail_in == 0 && z.avail_out != 0)) break;  // all input used
  }
  inflateEnd(&z);
  return ref;
}

struct parser_sink {
  std::string message;
  std::string second;
  int messages = 0;
  void on_data(message_kind, std::string_view chunk, bool fin) {
    (messages == 0 ? message : second).append(chunk);
    if (fin) ++messages;
  }
  void on_ping(std::string_view) { __builtin_trap(); }
  void on_pong(std::string_view) { __builtin_trap(); }
  void on_close(std::uint16_t, std::string_view) { __builtin_trap(); }
};

void append_client_frame(std::string& out, opcode op, std::string_view payload, bool fin, bool rsv1,
                         std::uint8_t key_seed) {
  char header[max_frame_header_size];
  const std::size_t n = write_frame_header(header, op, payload.size(), fin, rsv1);
  header[1] = static_cast<char>(header[1] | 0x80);
  out.append(header, n);
  const char key[4] = {static_cast<char>(key_seed), static_cast<char>(key_seed * 3 + 1), static_cast<char>(0x5a),
                       static_cast<char>(key_seed ^ 0xa5)};
  out.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ key[i & 3]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t config = data[0];
  const std::uint8_t split = data[1];
  static constexpr std::uint64_t limits[] = {1, 64, 1000, 65536};
  const std::uint64_t limit = limits[config & 0x3];
  const bool compress_first = (config & 0x04) != 0;
  const bool no_context_takeover = (config & 0x08) != 0;
  const int window_bits = 8 + ((config >> 4) & 0x7);
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  // Keep the compressed size under the parser's wire limit for compressed messages
  // (limit + limit/8 + 1 KiB), so only the inflated size decides.
  std::string payload;
  if (compress_first) {
    deflater d(window_bits < 9 ? 9 : window_bits, true);
    payload = d.compress(rest);
    if (payload.size() > limit + 1024) return 0;
  } else {
    payload = std::string(rest.substr(0, limit + 1024));
  }

  const std::size_t step = 1 + split % 61;
  const outcome whole = run_inflater(payload, payload.size() ? payload.size() : 1, window_bits, limit);
  const outcome pieces = run_inflater(payload, step, window_bits, limit);
  // zlib resolves distances beyond a small window while the bytes are still in its
  // output buffer, so a stream exceeding a window below 15 may fail in one split and
  // not in another (see fuzz_ws_frame.cpp). Only window 15 is compared then.
  const bool exact = window_bits == 15 || (whole.status != inflater::status::corrupt &&
                                           pieces.status != inflater::status::corrupt);
  if (exact && (whole.output != pieces.output || whole.status != pieces.status)) __builtin_trap();

  if (window_bits == 15) {
    const reference ref = run_zlib(payload, limit);
    if (ref.output.size() > limit) {
      if (whole.status != inflater::status::too_big) __builtin_trap();
      if (ref.output.compare(0, limit, whole.output) != 0) __builtin_trap();
    } else {
      if (ref.output != whole.output) __builtin_trap();
      const auto expected = ref.error ? inflater::status::corrupt : inflater::status::ok;
      if (whole.status != expected) __builtin_trap();
    }
  }
  if (compress_first) {
    if (rest.size() > limit ? whole.status != inflater::status::too_big
                            : whole.status != inflater::status::ok || whole.output != rest)
      __builtin_trap();
  }

  // The same message through the frame parser, in up to 4 frames, then a plain one.
  frame_parser parser(parser_options{.max_message_size = limit});
  deflate_params params;
  params.client_no_context_takeover = no_context_takeover;
  params.client_max_window_bits = static_cast<std::uint8_t>(window_bits);
  parser.enable_deflate(params);
  std::string wire;
  const std::size_t frames = 1 + (split >> 6);
  const std::size_t per = payload.size() / frames + 1;
  for (std::size_t i = 0, pos = 0; i < frames; ++i, pos += per) {
    const std::string_view piece = pos < payload.size() ? std::string_view(payload).substr(pos, per) : std::string_view{};
    append_client_frame(wire, i == 0 ? opcode::binary : opcode::continuation, piece, i + 1 == frames, i == 0,
                        static_cast<std::uint8_t>(split + i));
  }
  append_client_frame(wire, opcode::binary, "!", true, false, config);  // 1 byte: within every limit
  parser_sink sink;
  for (std::size_t pos = 0; pos < wire.size(); pos += step) {
    const std::size_t n = wire.size() - pos < step ? wire.size() - pos : step;
    const auto r = parser.feed(wire.data() + pos, n, sink);
    if (!r.ok()) break;
  }
  if (sink.message.size() > limit) __builtin_trap();
  const outcome& expect = pieces;
  if (window_bits == 15) {  // below 15 the outcome may depend on the split (see above)
    switch (expect.status) {
      case inflater::status::too_big:
        if (parser.error() != frame_error::message_too_big) __builtin_trap();
        break;
      case inflater::status::corrupt:
        if (parser.error() != frame_error::inflate_failed) __builtin_trap();
        break;
      default:
        if (parser.failed() || sink.message != expect.output) __builtin_trap();
        break;
    }
    if (!parser.failed() && (sink.messages != 2 || sink.second != "!")) __builtin_trap();
  } else if (!parser.failed() && sink.messages != 2) {
    __builtin_trap();
  }
  return 0;
}
