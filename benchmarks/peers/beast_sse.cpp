// Benchmark peer: a Server-Sent Events broadcast server written straightforwardly
// with Boost.Beast: `GET /sse` (any GET path but /healthz) writes the response
// header, joins the set of streams and then writes each event as
// `id: N\ndata: <body>\n\n`; every event is one shared string, each stream has a
// queue and one async_write in flight (as in Beast's chat examples). The body ends
// when the connection closes. `POST /publish` broadcasts its body. One thread.
//   beast_sse PORT
#include <utility>  // before Boost 1.74 Asio, whose awaitable.hpp uses std::exchange without it
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
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
namespace net = boost::asio;
using tcp = net::ip::tcp;
using beast::error_code;

class sse_stream;

struct broadcaster {
  std::unordered_set<sse_stream*> streams;
  std::uint64_t next_id = 1;
  void publish(std::string const& body);
};

class sse_stream : public boost::enable_shared_from_this<sse_stream> {
  beast::tcp_stream stream_;
  broadcaster& hub_;
  std::vector<boost::shared_ptr<std::string const>> queue_;
  http::response<http::empty_body> res_;
  http::response_serializer<http::empty_body> sr_{res_};
  char discard_[512];

 public:
  sse_stream(beast::tcp_stream&& s, broadcaster& hub) : stream_(std::move(s)), hub_(hub) {}
  ~sse_stream() { hub_.streams.erase(this); }

  void run() {
    res_.result(http::status::ok);
    res_.set(http::field::content_type, "text/event-stream");
    res_.set(http::field::cache_control, "no-cache");
    res_.keep_alive(false);
    stream_.expires_never();
    hub_.streams.insert(this);
    http::async_write_header(stream_, sr_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->stop();
      self->watch();
    });
  }

  // Notices the client going away.
  void watch() {
    stream_.async_read_some(net::buffer(discard_), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->stop();
      self->watch();
    });
  }

  void stop() {
    hub_.streams.erase(this);
    error_code ignored;
    stream_.socket().close(ignored);
  }

  void send(boost::shared_ptr<std::string const> const& ss) {
    queue_.push_back(ss);
    if (queue_.size() > 1) return;
    do_write();
  }

  void do_write() {
    net::async_write(stream_, net::buffer(*queue_.front()), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->stop();
      self->queue_.erase(self->queue_.begin());
      if (!self->queue_.empty()) self->do_write();
    });
  }
};

void broadcaster::publish(std::string const& body) {
  auto ss = boost::make_shared<std::string const>("id: " + std::to_string(next_id++) + "\ndata: " + body + "\n\n");
  std::vector<boost::weak_ptr<sse_stream>> v;
  v.reserve(streams.size());
  for (auto* s : streams) v.emplace_back(s->weak_from_this());
  for (auto const& w : v)
    if (auto s = w.lock()) s->send(ss);
}

class http_session : public boost::enable_shared_from_this<http_session> {
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  broadcaster& hub_;
  http::request<http::string_body> req_;

 public:
  http_session(tcp::socket&& socket, broadcaster& hub) : stream_(std::move(socket)), hub_(hub) {}
  void run() { do_read(); }
  void do_read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, req_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }
  void on_read(error_code ec, std::size_t) {
    if (ec) return;
    if (req_.method() == http::verb::get && req_.target() != "/healthz") {
      boost::make_shared<sse_stream>(std::move(stream_), hub_)->run();
      return;
    }
    auto res = boost::make_shared<http::response<http::string_body>>(http::status::not_found, req_.version());
    if (req_.method() == http::verb::post && req_.target() == "/publish") {
      hub_.publish(req_.body());
      res->result(http::status::no_content);
    } else if (req_.method() == http::verb::get) {
      res->result(http::status::ok);
      res->body() = R"({"status":"ok"})";
    }
    res->keep_alive(req_.keep_alive());
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) return;
      self->do_read();
    });
  }
};

void do_accept(tcp::acceptor& acceptor, broadcaster& hub) {
  acceptor.async_accept([&acceptor, &hub](error_code ec, tcp::socket socket) {
    if (!ec) boost::make_shared<http_session>(std::move(socket), hub)->run();
    do_accept(acceptor, hub);
  });
}

int main(int argc, char** argv) {
  unsigned short port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 18510);
  net::io_context ioc{1};
  broadcaster hub;
  tcp::acceptor acceptor(ioc);
  tcp::endpoint ep{net::ip::make_address("127.0.0.1"), port};
  acceptor.open(ep.protocol());
  acceptor.set_option(net::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(net::socket_base::max_listen_connections);
  do_accept(acceptor, hub);
  std::printf("listening on http://127.0.0.1:%u\n", port);
  std::fflush(stdout);
  ioc.run();
}
