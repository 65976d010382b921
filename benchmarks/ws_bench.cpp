// WebSocket codec micro-benchmarks (Google Benchmark): unmasking against memcpy of
// the same bytes, UTF-8 validation (whole buffer and the incremental validator fed
// in pieces), frame parsing and encoding for 16 B to 64 KiB payloads, and
// permessage-deflate of a broadcast event message (compressed once, shared).
//   build/benchmarks/lastmile_ws_bench [--benchmark_filter=...]
//
// Frame parsing runs over client frames masked with the key 00 00 00 00: the parser
// still XORs every payload byte, but the buffer is unchanged afterwards, so the same
// bytes can be parsed again on every iteration without copying them.
#include <lastmile/ws/deflate.hpp>
#include <lastmile/ws/frame.hpp>
#include <lastmile/ws/utf8.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

using namespace lastmile;

namespace {

const std::array<std::uint8_t, 4> some_key{0x37, 0xfa, 0x21, 0x3d};

// Mixed text: ASCII JSON with some 2-, 3- and 4-byte code points (~20% non-ASCII bytes).
std::string mixed_text(std::size_t size) {
  const std::string piece = "{\"name\":\"J\xc3\xbcrgen M\xc3\xbcller\",\"city\":\"\xe6\x9d\xb1\xe4\xba\xac\",\"mood\":\"\xf0\x9f\x98\x80\"},";
  std::string s;
  while (s.size() + piece.size() <= size) s += piece;
  s.append(size - s.size(), 'x');
  return s;
}

// A realistic event message as the server broadcasts it (the JSON inside a text frame).
std::string event_message(std::size_t data_size) {
  std::string data = "{\"order\":42,\"items\":[";
  for (int i = 0; data.size() < data_size; ++i)
    data += (i ? "," : "") + std::string("{\"sku\":\"SKU-") + std::to_string(1000 + i) +
            "\",\"qty\":" + std::to_string(i % 5 + 1) + ",\"price\":" + std::to_string(9.99 + i) + "}";
  data += "]}";
  return R"({"topic":"orders.eu","event":{"id":"1a2b3c4d5e6f7081-123456","type":"created","time":"2026-01-01T12:00:00.000Z","data":)" +
         data + "}}";
}

// Client frames (FIN, masked with a zero key) of `payload` bytes each, `count` of them.
std::string client_frames(ws::opcode op, std::string_view payload, std::size_t count, bool rsv1 = false) {
  std::string one;
  char header[ws::max_frame_header_size];
  const std::size_t n = ws::write_frame_header(header, op, payload.size(), true, rsv1);
  one.append(header, n);
  one[1] = static_cast<char>(one[1] | 0x80);  // MASK bit; the extended length is unchanged
  one.append(4, '\0');                         // the masking key
  one.append(payload);
  std::string out;
  out.reserve(one.size() * count);
  for (std::size_t i = 0; i < count; ++i) out += one;
  return out;
}

struct counting_handler {
  std::uint64_t bytes = 0, messages = 0;
  void on_data(ws::message_kind, std::string_view chunk, bool fin) {
    bytes += chunk.size();
    messages += fin;
  }
  void on_ping(std::string_view) {}
  void on_pong(std::string_view) {}
  void on_close(std::uint16_t, std::string_view) {}
};

// Enough frames per iteration to cover ~256 KiB (at least 4).
std::size_t batch_for(std::size_t payload) { return std::max<std::size_t>(4, (256 * 1024) / (payload + 6)); }

}  // namespace

// ---- unmasking ----------------------------------------------------------------

static void unmask(benchmark::State& state) {
  std::vector<char> buf(static_cast<std::size_t>(state.range(0)), 'a');
  for (auto _ : state) {
    ws::unmask(buf.data(), buf.size(), some_key);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(unmask)->Arg(16)->Arg(128)->Arg(4096)->Arg(65536)->Arg(1 << 20);

// Unmasking that continues mid-word (a read that ended at payload offset 1 mod 4).
static void unmask_phase1(benchmark::State& state) {
  std::vector<char> buf(static_cast<std::size_t>(state.range(0)), 'a');
  for (auto _ : state) {
    ws::unmask(buf.data() + 1, buf.size() - 1, some_key, 1);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * (state.range(0) - 1));
}
BENCHMARK(unmask_phase1)->Arg(4096)->Arg(65536);

static void memcpy_same_bytes(benchmark::State& state) {
  std::vector<char> src(static_cast<std::size_t>(state.range(0)), 'a'), dst(src.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(memcpy_same_bytes)->Arg(16)->Arg(128)->Arg(4096)->Arg(65536)->Arg(1 << 20);

// ---- UTF-8 --------------------------------------------------------------------

// range(0): size; range(1): 0 ASCII, 1 mixed.
static void utf8_whole(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string text = state.range(1) ? mixed_text(size) : std::string(size, 'a');
  for (auto _ : state) benchmark::DoNotOptimize(ws::is_valid_utf8(text));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(utf8_whole)->ArgsProduct({{128, 4096, 65536, 1 << 20}, {0, 1}});

// The incremental validator over the same bytes in pieces of range(1) bytes (pieces
// end inside code points; the DFA carries them over).
static void utf8_incremental(benchmark::State& state) {
  const std::string text = mixed_text(static_cast<std::size_t>(state.range(0)));
  const auto piece = static_cast<std::size_t>(state.range(1));
  for (auto _ : state) {
    ws::utf8_validator v;
    for (std::size_t at = 0; at < text.size(); at += piece)
      benchmark::DoNotOptimize(v.feed(std::string_view(text).substr(at, piece)));
    benchmark::DoNotOptimize(v.complete());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(utf8_incremental)->ArgsProduct({{65536}, {17, 1000, 4093, 65536}});

// ---- frames -----------------------------------------------------------------

// Parse (header, unmask, UTF-8 check, hand over) of text frames with a payload of
// range(0) bytes; items = frames.
static void frame_parse_text(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t count = batch_for(size);
  std::string wire = client_frames(ws::opcode::text, mixed_text(size), count);
  counting_handler h;
  for (auto _ : state) {
    ws::frame_parser p;
    auto r = p.feed(wire.data(), wire.size(), h);
    if (!r.ok()) state.SkipWithError("parse failed");
  }
  benchmark::DoNotOptimize(h.bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(frame_parse_text)->Arg(16)->Arg(128)->Arg(4096)->Arg(65536);

// Binary frames: no UTF-8 check, framing and unmasking only.
static void frame_parse_binary(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t count = batch_for(size);
  std::string wire = client_frames(ws::opcode::binary, std::string(size, 'b'), count);
  counting_handler h;
  for (auto _ : state) {
    ws::frame_parser p;
    auto r = p.feed(wire.data(), wire.size(), h);
    if (!r.ok()) state.SkipWithError("parse failed");
  }
  benchmark::DoNotOptimize(h.bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(frame_parse_binary)->Arg(16)->Arg(128)->Arg(4096)->Arg(65536);

// The same text frames arriving in 1460-byte reads (one TCP segment each).
static void frame_parse_text_segments(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t count = batch_for(size);
  std::string wire = client_frames(ws::opcode::text, mixed_text(size), count);
  counting_handler h;
  for (auto _ : state) {
    ws::frame_parser p;
    for (std::size_t at = 0; at < wire.size(); at += 1460) {
      auto r = p.feed(wire.data() + at, std::min<std::size_t>(1460, wire.size() - at), h);
      if (!r.ok()) state.SkipWithError("parse failed");
    }
  }
  benchmark::DoNotOptimize(h.bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(wire.size()));
}
BENCHMARK(frame_parse_text_segments)->Arg(128)->Arg(4096)->Arg(65536);

// A compressed (RSV1) client message: parse + inflate + UTF-8 check; bytes = inflated.
static void frame_parse_deflated(benchmark::State& state) {
  const std::string message = event_message(static_cast<std::size_t>(state.range(0)));
  ws::deflater d(15, true);
  const std::string compressed = d.compress(message);
  std::string wire = client_frames(ws::opcode::text, compressed, 16, true);
  counting_handler h;
  ws::deflate_params params;
  params.client_no_context_takeover = true;
  for (auto _ : state) {
    ws::frame_parser p;
    p.enable_deflate(params);
    auto r = p.feed(wire.data(), wire.size(), h);
    if (!r.ok()) state.SkipWithError("parse failed");
  }
  state.SetItemsProcessed(state.iterations() * 16);
  state.SetBytesProcessed(state.iterations() * 16 * static_cast<std::int64_t>(message.size()));
  state.counters["ratio"] = double(message.size()) / double(compressed.size());
}
BENCHMARK(frame_parse_deflated)->Arg(128)->Arg(4096);

// A complete server frame (header + payload copy) per iteration.
static void frame_encode(benchmark::State& state) {
  const std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  std::string out;
  out.reserve(payload.size() + ws::max_frame_header_size);
  for (auto _ : state) {
    out.clear();
    ws::append_frame(out, ws::opcode::text, payload);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(frame_encode)->Arg(16)->Arg(128)->Arg(4096)->Arg(65536);

// Only the header, as the session's gather writes use it (the payload is shared).
static void frame_header_only(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    auto h = ws::make_frame_header(ws::opcode::text, size);
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(frame_header_only)->Arg(16)->Arg(65536);

// ---- permessage-deflate of a broadcast message ---------------------------------

// The session's way: one reused deflater (window 15, reset after each message),
// compressing an event message once for every subscriber. bytes = uncompressed.
static void deflate_broadcast(benchmark::State& state) {
  const std::string message = event_message(static_cast<std::size_t>(state.range(0)));
  ws::deflater d(15, true);
  std::string out;
  for (auto _ : state) {
    out.clear();
    d.compress(message, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
  state.counters["in_bytes"] = double(message.size());
  state.counters["out_bytes"] = double(out.size());
}
BENCHMARK(deflate_broadcast)->Arg(128)->Arg(1024)->Arg(4096)->Arg(65536);

// deflate_message(): a new zlib stream per call (~256 KiB allocated and freed).
static void deflate_one_shot(benchmark::State& state) {
  const std::string message = event_message(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(ws::deflate_message(message));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(message.size()));
}
BENCHMARK(deflate_one_shot)->Arg(128)->Arg(4096);

BENCHMARK_MAIN();
