// libFuzzer target for the WebSocket handshake: Sec-WebSocket-Extensions
// negotiation, subprotocol and key handling on arbitrary header values.
//
// Input: NUL-separated fields: extensions, protocol, key, version, origin.
// Invariants: no crash; an accepted deflate answer has window bits 9-15
// (server) / 8-15 (client) and re-negotiating our own response accepts it
// unchanged; the 101 head is well formed; a chosen subprotocol is supported.

#include <lastmile/ws/handshake.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace lastmile;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input{reinterpret_cast<const char*>(data), size};
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (fields.size() < 5) {
    const auto end = input.find('\0', start);
    fields.emplace_back(input.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  fields.resize(5);

  ws::deflate_options deflate;
  deflate.server_no_context_takeover = size % 2 == 0;
  deflate.client_no_context_takeover = size % 3 == 0;
  deflate.client_max_window_bits = static_cast<std::uint8_t>(8 + size % 8);
  deflate.server_max_window_bits = static_cast<std::uint8_t>(9 + size % 7);
  if (const auto answer = ws::negotiate_deflate(fields[0], deflate)) {
    const auto& p = answer->params;
    if (p.server_max_window_bits < 9 || p.server_max_window_bits > 15) __builtin_trap();
    if (p.client_max_window_bits < 8 || p.client_max_window_bits > 15) __builtin_trap();
    if (!answer->response.starts_with("permessage-deflate")) __builtin_trap();
    // Our response, read back as an offer, must itself be acceptable.
    if (!ws::negotiate_deflate(answer->response, deflate)) __builtin_trap();
  }

  http::request request;
  request.method = "GET";
  request.target = "/ws";
  request.headers = {{"Upgrade", "websocket"},
                     {"Connection", "Upgrade"},
                     {"Sec-WebSocket-Extensions", fields[0]},
                     {"Sec-WebSocket-Protocol", fields[1]},
                     {"Sec-WebSocket-Key", fields[2]},
                     {"Sec-WebSocket-Version", fields[3]},
                     {"Origin", fields[4]}};
  ws::handshake_options options;
  options.subprotocols = {"chat", "v1"};
  if (size % 5 == 0) options.allowed_origins = {"https://a.example"};
  options.deflate = deflate;
  const auto result = ws::check_handshake(request, options);
  if (result.accepted()) {
    if (result.accept.size() != 28) __builtin_trap();
    if (!result.subprotocol.empty() && result.subprotocol != "chat" && result.subprotocol != "v1") __builtin_trap();
    try {
      const auto head = ws::switching_protocols_response(result);
      if (!head.ends_with("\r\n\r\n")) __builtin_trap();
    } catch (const std::invalid_argument&) {
      // Extension response is built from validated numbers only: must never throw.
      __builtin_trap();
    }
  } else {
    if (result.status != 400 && result.status != 403 && result.status != 426) __builtin_trap();
    (void)ws::rejection_response(result);
  }
  return 0;
}
