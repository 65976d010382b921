// Memory per idle connection: the server's RSS growth per open, idle connection.
//   lastmile_conn_mem PORT PID KIND N [WARMUP] [HOLD]
// PORT/PID: a running server on 127.0.0.1 (lastmile-server --threads 1, or a peer);
// KIND: what each connection does before it goes idle
//   keepalive   one GET /healthz answered, then the keep-alive connection waits
//   sse         GET /sse?topic=idle, the stream's head and hello read
//   ws          GET /ws upgrade, then {"type":"subscribe","topic":"idle"} answered
//   ws-deflate  the same with permessage-deflate negotiated
//   ws-deflate-msg / ws-deflate-msg-reset
//               deflate, then one compressed {"type":"ping"} answered (the client keeps
//               its compression context / offers client_no_context_takeover)
//   poll        GET /poll?topic=idle&timeout=120 held (no answer expected)
// N: connections measured; WARMUP (default 200): connections of the same kind opened
// first and kept, so one-off growth (allocator arenas, hash tables) is not counted.
// HOLD: seconds to keep the connections open after measuring (for a heap profiler).
// Connections come from 127.1.x.y source addresses, 100 per address (the server caps
// connections per address; LASTMILE_CONN_MEM_PER_ADDRESS=1 gives every connection its
// own, which adds the server's per-address count to the figure). Prints one line: kind, n, RSS before/after, bytes per
// connection. The client's descriptor limit is raised to its hard limit; the server
// needs N + WARMUP descriptors and --max-connections above that.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

int connect_from(int port, int i) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    std::perror("socket");
    std::exit(1);
  }
  sockaddr_in src{};
  src.sin_family = AF_INET;
  static const int per_address = [] {
    const char* v = std::getenv("LASTMILE_CONN_MEM_PER_ADDRESS");
    return v && std::atoi(v) > 0 ? std::atoi(v) : 100;
  }();
  const int block = i / per_address;
  std::string from = "127.1." + std::to_string(block / 250) + "." + std::to_string(1 + block % 250);
  inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    std::perror("bind");
    std::exit(1);
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

void send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      std::perror("send");
      std::exit(1);
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads until `marker` has arrived; exits on EOF or timeout.
void read_until(int fd, std::string_view marker, const char* what) {
  std::string buf;
  char b[4096];
  while (buf.find(marker) == std::string::npos) {
    ssize_t n = ::recv(fd, b, sizeof b, 0);
    if (n <= 0) {
      std::fprintf(stderr, "%s: no '%.*s' from the server (got %zu bytes: %.200s)\n", what,
                   static_cast<int>(marker.size()), marker.data(), buf.size(), buf.c_str());
      std::exit(1);
    }
    buf.append(b, static_cast<std::size_t>(n));
  }
}

// A masked client text frame (mask key 0: the payload goes out as is).
std::string client_text_frame(std::string_view payload, bool compressed = false) {
  std::string f;
  f += static_cast<char>(compressed ? 0xC1 : 0x81);  // FIN, RSV1 when compressed, text
  f += static_cast<char>(0x80 | payload.size());  // payloads here are < 126 bytes
  f.append(4, '\0');
  f += payload;
  return f;
}

void open_one(int fd, std::string_view kind) {
  if (kind == "keepalive") {
    send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, "\r\n\r\n", "keepalive");
  } else if (kind == "sse") {
    send_all(fd, "GET /sse?topic=idle HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
    read_until(fd, ": connected", "sse");
  } else if (kind.starts_with("ws")) {
    std::string req =
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (kind == "ws-deflate" || kind == "ws-deflate-msg")
      req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    else if (kind == "ws-deflate-msg-reset")
      req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; client_no_context_takeover\r\n";
    else if (kind != "ws")
      return open_one(fd, "unknown");
    req += "\r\n";
    send_all(fd, req);
    read_until(fd, "\r\n\r\n", "ws handshake");
    send_all(fd, client_text_frame(R"({"type":"subscribe","topic":"idle"})"));
    read_until(fd, "subscribed", "ws subscribe");
    if (kind.starts_with("ws-deflate-msg")) {
      // {"type":"ping"}, raw deflate with a sync flush, the 00 00 ff ff tail removed.
      static constexpr char ping[] = "\xaa\x56\x2a\xa9\x2c\x48\x55\xb2\x52\x2a\xc8\xcc\x4b\x57\xaa\x05\x00";
      send_all(fd, client_text_frame(std::string_view(ping, sizeof ping - 1), true));
      read_until(fd, "pong", "ws compressed ping");
    }
  } else if (kind == "poll") {
    send_all(fd, "GET /poll?topic=idle&cursor=latest&timeout=120 HTTP/1.1\r\nHost: x\r\n\r\n");
  } else {
    std::fprintf(stderr, "unknown kind '%.*s'\n", static_cast<int>(kind.size()), kind.data());
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s PORT PID keepalive|sse|ws|ws-deflate|ws-deflate-msg|ws-deflate-msg-reset|poll N [WARMUP] [HOLD]\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]), pid = std::atoi(argv[2]);
  const std::string_view kind = argv[3];
  const int n = std::atoi(argv[4]);
  const int warmup = argc > 5 ? std::atoi(argv[5]) : 200;
  const int hold = argc > 6 ? std::atoi(argv[6]) : 0;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);

  const long rss_empty = rss_kib(pid);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(n + warmup));
  for (int i = 0; i < warmup; ++i) {
    fds.push_back(connect_from(port, i));
    open_one(fds.back(), kind);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss_before = rss_kib(pid);
  for (int i = warmup; i < warmup + n; ++i) {
    fds.push_back(connect_from(port, i));
    open_one(fds.back(), kind);
    // A poll is sent without waiting for an answer: pace them so the server holds
    // them one by one (steady state), not thousands of requests in flight at once.
    if (kind == "poll" && i % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(n >= 5000 ? 2000 : 1000));
  const long rss_after = rss_kib(pid);
  std::printf("kind=%.*s n=%d warmup=%d rss_empty_kib=%ld rss_before_kib=%ld rss_after_kib=%ld bytes_per_conn=%.0f\n",
              static_cast<int>(kind.size()), kind.data(), n, warmup, rss_empty, rss_before, rss_after,
              (rss_after - rss_before) * 1024.0 / n);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(hold));
  for (int fd : fds) ::close(fd);
  return 0;
}
