// Benchmark peer: a websocketpp broadcast server (asio transport, no TLS), written
// as websocketpp's own examples are: a set of connection_hdl, and on every message
// `send(hdl, payload, opcode)` to each other connection. The publisher is an
// ordinary WebSocket client whose messages are broadcast (websocketpp closes plain
// HTTP requests after one answer, so there is no keep-alive POST route). One thread.
//   websocketpp_broadcast PORT
#define ASIO_STANDALONE
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>

typedef websocketpp::server<websocketpp::config::asio> server;
using websocketpp::connection_hdl;

class broadcast_server {
 public:
  broadcast_server() {
    server_.clear_access_channels(websocketpp::log::alevel::all);
    server_.clear_error_channels(websocketpp::log::elevel::all);
    server_.init_asio();
    server_.set_reuse_addr(true);
    server_.set_listen_backlog(4096);
    server_.set_open_handler([this](connection_hdl h) { connections_.insert(h); });
    server_.set_close_handler([this](connection_hdl h) { connections_.erase(h); });
    server_.set_message_handler([this](connection_hdl from, server::message_ptr msg) {
      for (auto const& h : connections_) {
        if (!h.owner_before(from) && !from.owner_before(h)) continue;  // not back to the sender
        websocketpp::lib::error_code ec;
        server_.send(h, msg->get_payload(), msg->get_opcode(), ec);
      }
    });
  }
  void run(unsigned short port) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    server_.listen(ep);
    server_.start_accept();
    std::printf("listening on http://127.0.0.1:%u\n", port);
    std::fflush(stdout);
    server_.run();
  }

 private:
  server server_;
  std::set<connection_hdl, std::owner_less<connection_hdl>> connections_;
};

int main(int argc, char** argv) {
  broadcast_server s;
  s.run(static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 18520));
}
