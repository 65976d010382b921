// Codec micro-benchmarks (Google Benchmark): the SSE encoder, WebSocket unmasking
// (against memcpy of the same bytes), UTF-8 validation, WebSocket frame encoding.
//   build/benchmarks/lastmile_codec_bench [--benchmark_filter=...]
#include <lastmile/sse/encoder.hpp>
#include <lastmile/ws/frame.hpp>
#include <lastmile/ws/utf8.hpp>

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

using namespace lastmile;

// One SSE frame per iteration, for a single-line payload of the given size.
static void sse_encode(benchmark::State& state) {
  const std::string payload(static_cast<std::size_t>(state.range(0)), 'x');
  std::string out;
  std::uint64_t n = 0;
  for (auto _ : state) {
    out.clear();
    sse::append_event(out, cursor{0x1234abcd, ++n}, "created", payload);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(sse_encode)->Arg(128)->Arg(1024)->Arg(16384);

// A multi-line payload (a line end every 64 bytes) exercises the data-line splitting.
static void sse_encode_multiline(benchmark::State& state) {
  std::string payload;
  while (payload.size() < static_cast<std::size_t>(state.range(0))) payload += std::string(63, 'y') + "\n";
  std::string out;
  for (auto _ : state) {
    out.clear();
    sse::append_event(out, cursor{1, 2}, "m", payload);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(sse_encode_multiline)->Arg(1024)->Arg(16384);

static void ws_unmask(benchmark::State& state) {
  std::vector<char> buf(static_cast<std::size_t>(state.range(0)), 'a');
  const std::array<std::uint8_t, 4> key{0x37, 0xfa, 0x21, 0x3d};
  for (auto _ : state) {
    ws::unmask(buf.data(), buf.size(), key);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(ws_unmask)->Arg(128)->Arg(4096)->Arg(65536);

static void memcpy_reference(benchmark::State& state) {
  std::vector<char> src(static_cast<std::size_t>(state.range(0)), 'a'), dst(src.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(memcpy_reference)->Arg(128)->Arg(4096)->Arg(65536);

static void utf8_validate(benchmark::State& state) {
  std::string text;
  while (text.size() < static_cast<std::size_t>(state.range(0))) text += "κόσμε and ascii text, ";
  text.resize(static_cast<std::size_t>(state.range(0)) - 2);
  text += "ok";
  for (auto _ : state) benchmark::DoNotOptimize(ws::is_valid_utf8(text));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(utf8_validate)->Arg(128)->Arg(4096)->Arg(65536);

static void ws_frame_encode(benchmark::State& state) {
  const std::string payload(static_cast<std::size_t>(state.range(0)), 'z');
  std::string out;
  for (auto _ : state) {
    out.clear();
    ws::append_frame(out, ws::opcode::text, payload);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
}
BENCHMARK(ws_frame_encode)->Arg(128)->Arg(65536);

BENCHMARK_MAIN();
