#include "lastmile/ws/handshake.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace lastmile;
using ws::check_handshake;
using ws::handshake_options;

namespace {

http::request upgrade_request() {
  http::request request;
  request.method = "GET";
  request.target = "/chat";
  request.headers = {
      {"Host", "server.example.com"},
      {"Upgrade", "websocket"},
      {"Connection", "Upgrade"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
      {"Origin", "http://example.com"},
      {"Sec-WebSocket-Version", "13"},
  };
  request.upgrade = true;
  return request;
}

void set_header(http::request& request, std::string_view name, std::string value) {
  for (auto& [field, existing] : request.headers)
    if (http::detail::iequals(field, name)) {
      existing = std::move(value);
      return;
    }
  request.headers.emplace_back(std::string{name}, std::move(value));
}

void remove_header(http::request& request, std::string_view name) {
  std::erase_if(request.headers, [&](const auto& header) { return http::detail::iequals(header.first, name); });
}

std::string negotiated(std::string_view offers, ws::deflate_options options = {}) {
  const auto result = ws::negotiate_deflate(offers, options);
  return result ? result->response : std::string{"<declined>"};
}

}  // namespace

TEST_CASE("ws handshake: RFC 6455 sample key gives the sample accept value") {
  CHECK(ws::compute_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  const auto result = check_handshake(upgrade_request());
  REQUIRE(result.accepted());
  CHECK(result.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(result.subprotocol.empty());
  CHECK_FALSE(result.deflate.has_value());
  CHECK(ws::switching_protocols_response(result) ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "\r\n");
}

TEST_CASE("ws handshake: header tokens are case-insensitive and may sit in lists") {
  auto request = upgrade_request();
  set_header(request, "Upgrade", "WebSocket");
  set_header(request, "Connection", "keep-alive, UPGRADE");
  request.headers.emplace_back("sec-websocket-version", "13");  // repeated but consistent
  CHECK(check_handshake(request).accepted());
}

TEST_CASE("ws handshake: rejections carry the documented status and code") {
  SUBCASE("not GET") {
    auto request = upgrade_request();
    request.method = "POST";
    const auto result = check_handshake(request);
    CHECK(result.status == 400);
    CHECK(result.code == ws::handshake_codes::bad_request);
  }
  SUBCASE("HTTP/1.0") {
    auto request = upgrade_request();
    request.version_minor = 0;
    CHECK(check_handshake(request).status == 400);
  }
  SUBCASE("no Upgrade: websocket") {
    auto request = upgrade_request();
    set_header(request, "Upgrade", "h2c");
    CHECK(check_handshake(request).status == 400);
    remove_header(request, "Upgrade");
    CHECK(check_handshake(request).status == 400);
  }
  SUBCASE("Connection without upgrade") {
    auto request = upgrade_request();
    set_header(request, "Connection", "keep-alive");
    CHECK(check_handshake(request).status == 400);
  }
  SUBCASE("version 8 or missing: 426 with Sec-WebSocket-Version: 13") {
    auto request = upgrade_request();
    set_header(request, "Sec-WebSocket-Version", "8");
    auto result = check_handshake(request);
    CHECK(result.status == 426);
    CHECK(result.code == ws::handshake_codes::upgrade_required);
    const auto response = ws::rejection_response(result);
    CHECK(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
    CHECK(response.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
    remove_header(request, "Sec-WebSocket-Version");
    CHECK(check_handshake(request).status == 426);
  }
  SUBCASE("bad keys") {
    for (const char* key : {"", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=x", "dGhlIHNhbXBsZSBub25j",
                            "dGhlIHNhbXBsZSBub25jZSE=", "dGhlIHNhbXBsZSBub25jZR==", "not base64 at all!!!"}) {
      CAPTURE(key);
      auto request = upgrade_request();
      set_header(request, "Sec-WebSocket-Key", key);
      const auto result = check_handshake(request);
      CHECK(result.status == 400);
      CHECK(result.code == ws::handshake_codes::bad_request);
    }
    auto request = upgrade_request();
    remove_header(request, "Sec-WebSocket-Key");
    CHECK(check_handshake(request).status == 400);
    request = upgrade_request();
    request.headers.emplace_back("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");  // twice, even if equal
    CHECK(check_handshake(request).status == 400);
  }
  SUBCASE("origin allow-list") {
    handshake_options options;
    options.allowed_origins = {"https://app.example"};
    auto request = upgrade_request();
    auto result = check_handshake(request, options);
    CHECK(result.status == 403);
    CHECK(result.code == ws::handshake_codes::forbidden);
    CHECK(ws::rejection_response(result).starts_with("HTTP/1.1 403 Forbidden\r\n"));
    set_header(request, "Origin", "https://APP.example");
    CHECK(check_handshake(request, options).accepted());
    set_header(request, "Origin", "null");
    CHECK(check_handshake(request, options).status == 403);
    remove_header(request, "Origin");  // non-browser client
    CHECK(check_handshake(request, options).accepted());
    options.allowed_origins.clear();
    set_header(request, "Origin", "https://evil.example");
    CHECK(check_handshake(request, options).accepted());
  }
}

TEST_CASE("ws handshake: subprotocol is one offered and supported value, server preference first") {
  handshake_options options;
  options.subprotocols = {"v2.lastmile", "v1.lastmile"};
  auto request = upgrade_request();
  CHECK(check_handshake(request, options).subprotocol.empty());  // none offered
  request.headers.emplace_back("Sec-WebSocket-Protocol", "chat, v1.lastmile");
  request.headers.emplace_back("Sec-WebSocket-Protocol", "v2.lastmile");
  auto result = check_handshake(request, options);
  REQUIRE(result.accepted());
  CHECK(result.subprotocol == "v2.lastmile");
  CHECK(ws::switching_protocols_response(result).find("\r\nSec-WebSocket-Protocol: v2.lastmile\r\n") !=
        std::string::npos);
  options.subprotocols = {"mqtt"};
  CHECK(check_handshake(request, options).subprotocol.empty());
  options.subprotocols = {"V1.LASTMILE"};  // names are case-sensitive
  CHECK(check_handshake(request, options).subprotocol.empty());
}

TEST_CASE("ws handshake: permessage-deflate offers (RFC 7692 section 7.1)") {
  // Defaults: server_no_context_takeover always present (shared broadcast frames).
  CHECK(negotiated("permessage-deflate") == "permessage-deflate; server_no_context_takeover");
  CHECK(negotiated("permessage-deflate; client_max_window_bits") ==
        "permessage-deflate; server_no_context_takeover");
  CHECK(negotiated("permessage-deflate; client_max_window_bits=10") ==
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  CHECK(negotiated("permessage-deflate; server_max_window_bits=10") ==
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10");
  CHECK(negotiated("permessage-deflate; client_no_context_takeover") ==
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  CHECK(negotiated("x-webkit-deflate-frame, foo") == "<declined>");
  CHECK(negotiated("") == "<declined>");

  // Invalid parameters decline that offer only.
  for (const char* bad : {"permessage-deflate; server_max_window_bits=7",
                          "permessage-deflate; server_max_window_bits=16",
                          "permessage-deflate; server_max_window_bits=010",
                          "permessage-deflate; server_max_window_bits",
                          "permessage-deflate; client_max_window_bits=7",
                          "permessage-deflate; client_max_window_bits=16",
                          "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                          "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
                          "permessage-deflate; server_no_context_takeover=1",
                          "permessage-deflate; client_no_context_takeover=\"x\"",
                          "permessage-deflate; mystery",
                          "permessage-deflate;",
                          "permessage-deflate; server_max_window_bits=8"}) {  // zlib cannot do 8
    CAPTURE(bad);
    CHECK(negotiated(bad) == "<declined>");
    CHECK(negotiated(std::string{bad} + ", permessage-deflate; client_max_window_bits=12") ==
          "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
  }
  // Quoted values are unquoted (RFC 6455 section 9.1).
  CHECK(negotiated("permessage-deflate; client_max_window_bits=\"9\"") ==
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=9");

  // Prefer an offer that already asks for server_no_context_takeover.
  const auto chosen = ws::negotiate_deflate(
      "permessage-deflate; client_max_window_bits, permessage-deflate; server_no_context_takeover; "
      "server_max_window_bits=12",
      {});
  REQUIRE(chosen);
  CHECK(chosen->response == "permessage-deflate; server_no_context_takeover; server_max_window_bits=12");
  CHECK(chosen->params.server_max_window_bits == 12);
  CHECK(chosen->params.server_no_context_takeover);

  SUBCASE("policy: context takeover allowed, first offer wins as sent") {
    ws::deflate_options options;
    options.server_no_context_takeover = false;
    CHECK(negotiated("permessage-deflate, permessage-deflate; server_no_context_takeover", options) ==
          "permessage-deflate");
    CHECK(negotiated("permessage-deflate; server_no_context_takeover", options) ==
          "permessage-deflate; server_no_context_takeover");
  }
  SUBCASE("policy: small windows and client_no_context_takeover") {
    ws::deflate_options options;
    options.client_no_context_takeover = true;
    options.client_max_window_bits = 9;
    options.server_max_window_bits = 11;
    const auto result = ws::negotiate_deflate("permessage-deflate; client_max_window_bits", options);
    REQUIRE(result);
    CHECK(result->response ==
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9");
    CHECK(result->params.client_max_window_bits == 9);
    CHECK(result->params.server_max_window_bits == 11);  // used silently: a smaller window is always decodable
    CHECK(result->params.client_no_context_takeover);
    // Without client_max_window_bits in the offer we must not send it; the client window stays 15.
    const auto plain = ws::negotiate_deflate("permessage-deflate", options);
    REQUIRE(plain);
    CHECK(plain->params.client_max_window_bits == 15);
    CHECK(plain->response.find("client_max_window_bits") == std::string::npos);
    // server_max_window_bits offered: answer with the smaller of the two.
    CHECK(negotiated("permessage-deflate; server_max_window_bits=13", options).ends_with("server_max_window_bits=11"));
    CHECK(negotiated("permessage-deflate; server_max_window_bits=9", options).ends_with("server_max_window_bits=9"));
  }
  SUBCASE("policy: disabled") {
    ws::deflate_options options;
    options.enabled = false;
    CHECK(negotiated("permessage-deflate", options) == "<declined>");
  }
}

TEST_CASE("ws handshake: extensions from several header lines, response head includes them") {
  auto request = upgrade_request();
  request.headers.emplace_back("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=7");
  request.headers.emplace_back("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");
  const auto result = check_handshake(request);
  REQUIRE(result.accepted());
  REQUIRE(result.deflate.has_value());
  CHECK(ws::switching_protocols_response(result, {{"X-Server", "lastmile"}}) ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
        "X-Server: lastmile\r\n"
        "\r\n");
  CHECK_THROWS_AS(ws::switching_protocols_response(result, {{"X-Bad", "a\r\nb"}}), std::invalid_argument);
}
