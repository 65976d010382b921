#pragma once

// Sans-I/O WebSocket protocol layer (RFC 6455, RFC 7692): handshake checks,
// frame parser/encoder, UTF-8 validation, close codes, permessage-deflate.
// See docs/websocket-protocol-notes.md.

#include <lastmile/ws/close.hpp>
#include <lastmile/ws/deflate.hpp>
#include <lastmile/ws/frame.hpp>
#include <lastmile/ws/handshake.hpp>
#include <lastmile/ws/utf8.hpp>
