// Benchmark peer: a WebSocket broadcast server written the way Boost.Beast's
// "chat-multi" example is: a shared_state with the set of sessions, each message
// broadcast as one boost::shared_ptr<std::string const>, and per session a
// std::vector queue with one async_write in flight. The HTTP session answers the
// upgrade on any path and, in place of the example's file serving, takes
// `POST /publish` (the body is broadcast) so a load client can publish over HTTP.
// One thread (the example's thread count is a flag; the benchmark pins one core).
//   beast_ws_chat PORT
#include <utility>  // before Boost 1.74 Asio, whose awaitable.hpp uses std::exchange without it
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/enable_shared_from_this.hpp>
#include <boost/make_shared.hpp>
#include <boost/shared_ptr.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using beast::error_code;

class websocket_session;

class shared_state {
  std::unordered_set<websocket_session*> sessions_;

 public:
  void join(websocket_session* s) { sessions_.insert(s); }
  void leave(websocket_session* s) { sessions_.erase(s); }
  void send(std::string message);
};

class websocket_session : public boost::enable_shared_from_this<websocket_session> {
  beast::flat_buffer buffer_;
  websocket::stream<beast::tcp_stream> ws_;
  boost::shared_ptr<shared_state> state_;
  std::vector<boost::shared_ptr<std::string const>> queue_;

 public:
  websocket_session(tcp::socket&& socket, boost::shared_ptr<shared_state> const& state)
      : ws_(std::move(socket)), state_(state) {}
  ~websocket_session() { state_->leave(this); }

  template <class Body, class Allocator>
  void run(http::request<Body, http::basic_fields<Allocator>> req) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "beast-chat-multi"); }));
    ws_.async_accept(req, beast::bind_front_handler(&websocket_session::on_accept, shared_from_this()));
  }

  void on_accept(error_code ec) {
    if (ec) return;
    state_->join(this);
    ws_.async_read(buffer_, beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    if (ec) return;
    state_->send(beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    ws_.async_read(buffer_, beast::bind_front_handler(&websocket_session::on_read, shared_from_this()));
  }

  void send(boost::shared_ptr<std::string const> const& ss) {
    net::post(ws_.get_executor(), beast::bind_front_handler(&websocket_session::on_send, shared_from_this(), ss));
  }

  void on_send(boost::shared_ptr<std::string const> const& ss) {
    queue_.push_back(ss);
    if (queue_.size() > 1) return;  // a write is in flight
    ws_.async_write(net::buffer(*queue_.front()),
                    beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
  }

  void on_write(error_code ec, std::size_t) {
    if (ec) return;
    queue_.erase(queue_.begin());
    if (!queue_.empty())
      ws_.async_write(net::buffer(*queue_.front()),
                      beast::bind_front_handler(&websocket_session::on_write, shared_from_this()));
  }
};

void shared_state::send(std::string message) {
  auto const ss = boost::make_shared<std::string const>(std::move(message));
  // As in the example: collect weak pointers first, sessions may leave meanwhile.
  std::vector<boost::weak_ptr<websocket_session>> v;
  v.reserve(sessions_.size());
  for (auto* p : sessions_) v.emplace_back(p->weak_from_this());
  for (auto const& wp : v)
    if (auto sp = wp.lock()) sp->send(ss);
}

class http_session : public boost::enable_shared_from_this<http_session> {
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  boost::shared_ptr<shared_state> state_;
  boost::optional<http::request_parser<http::string_body>> parser_;

 public:
  http_session(tcp::socket&& socket, boost::shared_ptr<shared_state> const& state)
      : stream_(std::move(socket)), state_(state) {}

  void run() { do_read(); }

  void do_read() {
    parser_.emplace();
    parser_->body_limit(1 << 20);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, parser_->get(),
                     beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(error_code ec, std::size_t) {
    if (ec) return;
    if (websocket::is_upgrade(parser_->get())) {
      stream_.expires_never();
      boost::make_shared<websocket_session>(stream_.release_socket(), state_)->run(parser_->release());
      return;
    }
    auto req = parser_->release();
    auto res = boost::make_shared<http::response<http::string_body>>(http::status::not_found, req.version());
    if (req.method() == http::verb::post && req.target() == "/publish") {
      state_->send(std::move(req.body()));
      res->result(http::status::no_content);
    } else if (req.method() == http::verb::get && req.target() == "/healthz") {
      res->result(http::status::ok);
      res->body() = R"({"status":"ok"})";
    }
    res->keep_alive(req.keep_alive());
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) return;
      self->do_read();
    });
  }
};

class listener : public boost::enable_shared_from_this<listener> {
  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  boost::shared_ptr<shared_state> state_;

 public:
  listener(net::io_context& ioc, tcp::endpoint endpoint, boost::shared_ptr<shared_state> const& state)
      : ioc_(ioc), acceptor_(ioc), state_(state) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }
  void run() { do_accept(); }
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&listener::on_accept, shared_from_this()));
  }
  void on_accept(error_code ec, tcp::socket socket) {
    if (!ec) boost::make_shared<http_session>(std::move(socket), state_)->run();
    do_accept();
  }
};

int main(int argc, char** argv) {
  unsigned short port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 18500);
  net::io_context ioc{1};
  auto state = boost::make_shared<shared_state>();
  boost::make_shared<listener>(ioc, tcp::endpoint{net::ip::make_address("127.0.0.1"), port}, state)->run();
  std::printf("listening on http://127.0.0.1:%u\n", port);
  std::fflush(stdout);
  ioc.run();
}
