#pragma once

// Server side of the WebSocket opening handshake (RFC 6455 §4.2) with
// subprotocol selection and permessage-deflate negotiation (RFC 7692 §7.1).
// Pure functions over a parsed http::request; the session writes the bytes.

#include <lastmile/detail/base64.hpp>
#include <lastmile/detail/crypto.hpp>
#include <lastmile/http/request.hpp>
#include <lastmile/http/response.hpp>
#include <lastmile/ws/deflate.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lastmile::ws {

// Server policy for permessage-deflate.
struct deflate_options {
  bool enabled = true;
  // Reset our compressor after every message, so one compressed frame can be
  // shared by many connections (broadcast) and interleaved with others.
  bool server_no_context_takeover = true;
  // Ask the client to reset too: the inflater then lives only while a
  // compressed message is being received (saves ~40 KiB per idle connection).
  bool client_no_context_takeover = false;
  // Our compressor window (9-15). Offers demanding a smaller one than zlib
  // can produce (8) are declined.
  std::uint8_t server_max_window_bits = 15;
  // Client window to request (8-15); only sent when the offer has client_max_window_bits.
  std::uint8_t client_max_window_bits = 15;
  int mem_level = 8;  // deflater memLevel 1-9: (1 << (mem_level + 9)) bytes of its state
  int compression_level = -1;  // zlib level 0-9, -1 = Z_DEFAULT_COMPRESSION (6)
};

struct handshake_options {
  std::vector<std::string> subprotocols;     // supported, in our order of preference
  std::vector<std::string> allowed_origins;  // e.g. "https://example.com"; empty = any Origin
  deflate_options deflate;
};

namespace handshake_codes {
inline constexpr std::string_view bad_request = "bad_request";            // 400
inline constexpr std::string_view forbidden = "forbidden";                // 403
inline constexpr std::string_view upgrade_required = "upgrade_required";  // 426
}  // namespace handshake_codes

struct deflate_negotiation {
  deflate_params params;  // what both sides agreed on
  std::string response;   // Sec-WebSocket-Extensions value for the 101 response
};

struct handshake_result {
  int status = 400;           // 101 when accepted, else 400 / 403 / 426
  std::string_view code;      // handshake_codes::* when rejected
  std::string_view message;   // short reason when rejected
  std::string accept;         // Sec-WebSocket-Accept value
  std::string subprotocol;    // chosen subprotocol, empty for none
  std::optional<deflate_negotiation> deflate;
  bool accepted() const noexcept { return status == 101; }
};

inline constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Sec-WebSocket-Accept = base64(SHA-1(key + GUID)).
inline std::string compute_accept_key(std::string_view key) {
  std::string input;
  input.reserve(key.size() + websocket_guid.size());
  input.append(key);
  input.append(websocket_guid);
  return lastmile::detail::base64_encode(lastmile::detail::sha1(input));
}

namespace handshake_detail {

using http::detail::iequals;
using http::detail::trim_ows;

// Splits on `separator` outside double quotes (extension parameters may be quoted-strings).
template <typename Visitor>
void split_unquoted(std::string_view text, char separator, Visitor&& visit) {
  bool quoted = false, escaped = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size()) {
      const char c = text[i];
      if (escaped) {
        escaped = false;
        continue;
      }
      if (quoted && c == '\\') {
        escaped = true;
        continue;
      }
      if (c == '"') quoted = !quoted;
      if (c != separator || quoted) continue;
    }
    if (!visit(trim_ows(text.substr(start, i - start)))) return;
    start = i + 1;
  }
}

inline bool is_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (const char c : text)
    if (!http::detail::is_tchar(static_cast<unsigned char>(c))) return false;
  return true;
}

// Parameter value: token or quoted-string (RFC 6455 §9.1); nullopt if malformed.
inline std::optional<std::string> unquote(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    std::string out;
    for (std::size_t i = 1; i + 1 < value.size(); ++i) {
      if (value[i] == '\\') {
        if (++i + 1 >= value.size()) return std::nullopt;
      } else if (value[i] == '"') {
        return std::nullopt;
      }
      out.push_back(value[i]);
    }
    return out;
  }
  if (!is_token(value)) return std::nullopt;
  return std::string{value};
}

// "8".."15" without leading zeros; 0 if invalid.
inline std::uint8_t parse_window_bits(std::string_view value) noexcept {
  if (value.empty() || value.size() > 2 || value[0] == '0') return 0;
  unsigned bits = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return 0;
    bits = bits * 10 + static_cast<unsigned>(c - '0');
  }
  return bits >= 8 && bits <= 15 ? static_cast<std::uint8_t>(bits) : 0;
}

struct deflate_offer {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::uint8_t server_max_window_bits = 0;  // 0 = absent
  bool client_max_window_bits = false;      // present (with or without value)
  std::uint8_t client_max_window_bits_value = 0;
};

// Parses the parameters of one permessage-deflate offer; nullopt = decline it.
inline std::optional<deflate_offer> parse_deflate_offer(std::string_view params_text) {
  deflate_offer offer;
  bool seen_server_window = false, valid = true;
  split_unquoted(params_text, ';', [&](std::string_view param) {
    const auto equals = param.find('=');
    const auto name = trim_ows(param.substr(0, equals));
    std::optional<std::string> value;
    if (equals != std::string_view::npos) {
      value = unquote(trim_ows(param.substr(equals + 1)));
      if (!value) return valid = false;
    }
    if (iequals(name, "server_no_context_takeover") || iequals(name, "client_no_context_takeover")) {
      bool& flag = iequals(name, "server_no_context_takeover") ? offer.server_no_context_takeover
                                                                : offer.client_no_context_takeover;
      if (flag || value) return valid = false;  // duplicate, or a value on a flag
      flag = true;
    } else if (iequals(name, "server_max_window_bits")) {
      if (seen_server_window || !value) return valid = false;
      seen_server_window = true;
      offer.server_max_window_bits = parse_window_bits(*value);
      if (offer.server_max_window_bits == 0) return valid = false;
    } else if (iequals(name, "client_max_window_bits")) {
      if (offer.client_max_window_bits) return valid = false;
      offer.client_max_window_bits = true;
      if (value) {
        offer.client_max_window_bits_value = parse_window_bits(*value);
        if (offer.client_max_window_bits_value == 0) return valid = false;
      }
    } else {
      return valid = false;  // unknown (or empty) parameter
    }
    return true;
  });
  if (!valid) return std::nullopt;
  return offer;
}

// Our answer to an acceptable offer; nullopt if we must decline it.
inline std::optional<deflate_negotiation> answer_offer(const deflate_offer& offer, const deflate_options& options) {
  deflate_negotiation result;
  auto& params = result.params;
  std::uint8_t server_bits = std::clamp<std::uint8_t>(options.server_max_window_bits, 9, 15);
  if (offer.server_max_window_bits != 0) {
    if (offer.server_max_window_bits < 9) return std::nullopt;  // zlib raw deflate cannot use a 256-byte window
    server_bits = std::min(server_bits, offer.server_max_window_bits);
  }
  params.server_max_window_bits = server_bits;
  params.server_no_context_takeover = offer.server_no_context_takeover || options.server_no_context_takeover;
  params.client_no_context_takeover = offer.client_no_context_takeover || options.client_no_context_takeover;

  std::uint8_t client_bits = 15;
  bool send_client_bits = false;
  if (offer.client_max_window_bits) {
    client_bits = std::clamp<std::uint8_t>(options.client_max_window_bits, 8, 15);
    if (offer.client_max_window_bits_value != 0)
      client_bits = std::min(client_bits, offer.client_max_window_bits_value);
    send_client_bits = client_bits < 15 || offer.client_max_window_bits_value != 0;
  }
  params.client_max_window_bits = client_bits;

  result.response = "permessage-deflate";
  if (params.server_no_context_takeover) result.response += "; server_no_context_takeover";
  if (params.client_no_context_takeover) result.response += "; client_no_context_takeover";
  if (offer.server_max_window_bits != 0)  // must be answered when offered (RFC 7692 §7.1.2.1)
    result.response += "; server_max_window_bits=" + std::to_string(server_bits);
  if (send_client_bits) result.response += "; client_max_window_bits=" + std::to_string(client_bits);
  return result;
}

}  // namespace handshake_detail

// Picks a permessage-deflate offer from a Sec-WebSocket-Extensions value (all
// header lines joined with ", "). Malformed or unacceptable offers are skipped,
// never fatal. With options.server_no_context_takeover, the first acceptable
// offer that already asks for server_no_context_takeover wins (some clients
// reject the unsolicited parameter, RFC 7692 erratum 4982); otherwise the
// first acceptable offer, with the parameter added.
inline std::optional<deflate_negotiation> negotiate_deflate(std::string_view extensions,
                                                            const deflate_options& options) {
  if (!options.enabled) return std::nullopt;
  std::optional<deflate_negotiation> first, preferred;
  handshake_detail::split_unquoted(extensions, ',', [&](std::string_view element) {
    const auto semicolon = element.find(';');
    const auto name = handshake_detail::trim_ows(element.substr(0, semicolon));
    if (!handshake_detail::iequals(name, "permessage-deflate")) return true;
    const auto offer = semicolon == std::string_view::npos
                           ? std::optional{handshake_detail::deflate_offer{}}
                           : handshake_detail::parse_deflate_offer(element.substr(semicolon + 1));
    if (!offer) return true;
    auto answer = handshake_detail::answer_offer(*offer, options);
    if (!answer) return true;
    if (!options.server_no_context_takeover || offer->server_no_context_takeover) {
      preferred = std::move(answer);
      return false;
    }
    if (!first) first = std::move(answer);
    return true;
  });
  return preferred ? preferred : first;
}

// Validates an upgrade request. Check order: method, HTTP version, Upgrade and
// Connection tokens (400), Sec-WebSocket-Version (426), Sec-WebSocket-Key
// (400), Origin (403). A request without Origin passes the allow-list:
// browsers always send it, and other clients could send any value anyway.
inline handshake_result check_handshake(const http::request& request, const handshake_options& options = {}) {
  using handshake_detail::iequals;
  handshake_result result;
  auto reject = [&](int status, std::string_view code, std::string_view message) {
    result.status = status;
    result.code = code;
    result.message = message;
    return result;
  };
  if (request.method != "GET") return reject(400, handshake_codes::bad_request, "WebSocket upgrade requires GET");
  if (request.version_major != 1 || request.version_minor < 1)
    return reject(400, handshake_codes::bad_request, "WebSocket upgrade requires HTTP/1.1");
  if (!request.has_header_token("Upgrade", "websocket"))
    return reject(400, handshake_codes::bad_request, "missing Upgrade: websocket");
  if (!request.has_header_token("Connection", "Upgrade"))
    return reject(400, handshake_codes::bad_request, "missing Connection: Upgrade");
  if (!request.has_header_token("Sec-WebSocket-Version", "13"))
    return reject(426, handshake_codes::upgrade_required, "unsupported Sec-WebSocket-Version");

  std::string_view key;
  std::size_t key_count = 0;
  for (const auto& [name, value] : request.headers) {
    if (!iequals(name, "Sec-WebSocket-Key")) continue;
    ++key_count;
    key = value;
  }
  if (key_count != 1) return reject(400, handshake_codes::bad_request, "need exactly one Sec-WebSocket-Key");
  const auto nonce = lastmile::detail::base64_decode(key);
  if (!nonce || nonce->size() != 16)
    return reject(400, handshake_codes::bad_request, "Sec-WebSocket-Key is not base64 of 16 bytes");

  if (!options.allowed_origins.empty()) {
    if (const auto origin = request.header("Origin")) {
      bool allowed = false;
      for (const auto& candidate : options.allowed_origins) allowed = allowed || iequals(candidate, *origin);
      if (!allowed) return reject(403, handshake_codes::forbidden, "Origin not allowed");
    }
  }

  // Subprotocol: our first preference that the client offered (exact match).
  for (const auto& supported : options.subprotocols) {
    bool offered = false;
    for (const auto& [name, value] : request.headers) {
      if (!iequals(name, "Sec-WebSocket-Protocol")) continue;
      http::detail::for_each_list_element(value, [&](std::string_view element) {
        offered = element == supported;
        return !offered;
      });
      if (offered) break;
    }
    if (offered) {
      result.subprotocol = supported;
      break;
    }
  }

  std::string extensions;
  for (const auto& [name, value] : request.headers) {
    if (!iequals(name, "Sec-WebSocket-Extensions")) continue;
    if (!extensions.empty()) extensions += ", ";
    extensions += value;
  }
  result.deflate = negotiate_deflate(extensions, options.deflate);

  result.status = 101;
  result.accept = compute_accept_key(key);
  return result;
}

// The complete "101 Switching Protocols" head for an accepted handshake.
// `extra` headers are validated like any response header (throws std::invalid_argument).
inline std::string switching_protocols_response(const handshake_result& result,
                                                const http::header_list& extra = {}) {
  http::response_head head;
  head.status = 101;
  head.framing = http::body_framing::none;
  head.headers.reserve(5 + extra.size());
  head.add("Upgrade", "websocket");
  head.add("Connection", "Upgrade");
  head.add("Sec-WebSocket-Accept", result.accept);
  if (!result.subprotocol.empty()) head.add("Sec-WebSocket-Protocol", result.subprotocol);
  if (result.deflate) head.add("Sec-WebSocket-Extensions", result.deflate->response);
  for (const auto& header : extra) head.headers.push_back(header);
  return http::serialize_head(head);
}

// JSON error response for a rejected handshake (426 carries Sec-WebSocket-Version: 13).
inline std::string rejection_response(const handshake_result& result) {
  http::header_list extra;
  if (result.status == 426) extra.emplace_back("Sec-WebSocket-Version", "13");
  return http::json_error_response(result.status, result.code, result.message, true, std::move(extra));
}

}  // namespace lastmile::ws
