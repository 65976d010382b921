// Long-poll benchmark client: memory per held poll and wake latency.
//   lastmile_poll_bench PORT PID HELD [ROUNDS] [PATH]
// PORT/PID: a running server (lastmile-server or a peer) on 127.0.0.1; HELD: polls to
// hold; PATH: the poll endpoint (default /api/events, the seed article's path).
// Opens HELD keep-alive connections from 127.0.x.y (100 per address), measures the
// server's RSS empty, with HELD idle connections, and with HELD held polls; then for
// each round publishes one event and measures, for every held poll, the time from the
// publish until its answer arrived. Prints one line of results.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using steady = std::chrono::steady_clock;

static long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

static int connect_from(int port, int i) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  std::string from = "127.0." + std::to_string(20 + i / 100 / 250) + "." + std::to_string(1 + (i / 100) % 250);
  inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    perror("connect");
    std::exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void send_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) { perror("send"); std::exit(1); }
    off += std::size_t(n);
  }
}

// Reads one whole response (Content-Length framed) from a blocking socket.
static std::string read_response(int fd) {
  std::string buf;
  char b[4096];
  for (;;) {
    auto he = buf.find("\r\n\r\n");
    if (he != std::string::npos) {
      auto cl = buf.find("ontent-Length: ");
      std::size_t len = cl == std::string::npos ? 0 : std::strtoul(buf.c_str() + cl + 15, nullptr, 10);
      if (buf.size() >= he + 4 + len) return buf;
    }
    ssize_t n = ::recv(fd, b, sizeof b, 0);
    if (n <= 0) return buf;
    buf.append(b, std::size_t(n));
  }
}

static void publish(int port) {
  int fd = connect_from(port, 0);
  std::string body = "{\"wake\":true}";
  send_all(fd, "POST /topics/wake/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
  read_response(fd);
  ::close(fd);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PORT PID HELD [ROUNDS] [PATH]\n", argv[0]);
    return 2;
  }
  int port = std::atoi(argv[1]), pid = std::atoi(argv[2]), held = std::atoi(argv[3]);
  int rounds = argc > 4 ? std::atoi(argv[4]) : 5;
  std::string path = argc > 5 ? argv[5] : "/api/events";
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);

  long rss_empty = rss_kib(pid);
  std::vector<int> fds;
  for (int i = 0; i < held; ++i) {
    fds.push_back(connect_from(port, i));
    send_all(fds.back(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (int fd : fds) read_response(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long rss_idle = rss_kib(pid);

  const std::string poll = "GET " + path + "?topic=wake&cursor=latest&timeout=60 HTTP/1.1\r\nHost: x\r\n\r\n";
  int ep = epoll_create1(0);
  for (int fd : fds) {
    epoll_event ev{EPOLLIN, {.fd = fd}};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  std::vector<double> all_ms, last_ms;
  long rss_held = 0;
  for (int r = 0; r < rounds; ++r) {
    for (int fd : fds) send_all(fd, poll);
    std::this_thread::sleep_for(std::chrono::milliseconds(held >= 5000 ? 1500 : 500));  // let every poll be held
    if (r == 0) rss_held = rss_kib(pid);
    auto t0 = steady::now();
    publish(port);
    int done = 0;
    std::vector<std::string> partial(fds.size());
    std::vector<double> times;
    epoll_event evs[512];
    while (done < held) {
      int n = epoll_wait(ep, evs, 512, 10000);
      if (n <= 0) { std::fprintf(stderr, "timeout: %d of %d answered\n", done, held); return 1; }
      auto now = steady::now();
      for (int k = 0; k < n; ++k) {
        int fd = evs[k].data.fd;
        char b[8192];
        ssize_t m = ::recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (m == 0) { std::fprintf(stderr, "the server closed a held poll's connection\n"); return 1; }
        if (m < 0) continue;
        auto idx = std::find(fds.begin(), fds.end(), fd) - fds.begin();
        partial[idx].append(b, std::size_t(m));
        auto he = partial[idx].find("\r\n\r\n");
        if (he == std::string::npos) continue;
        auto cl = partial[idx].find("ontent-Length: ");
        std::size_t len = cl == std::string::npos ? 0 : std::strtoul(partial[idx].c_str() + cl + 15, nullptr, 10);
        if (partial[idx].size() < he + 4 + len) continue;
        if (partial[idx].find("wake") == std::string::npos) { std::fprintf(stderr, "answer without the event\n"); return 1; }
        partial[idx].clear();
        times.push_back(std::chrono::duration<double, std::milli>(now - t0).count());
        ++done;
      }
    }
    std::sort(times.begin(), times.end());
    all_ms.insert(all_ms.end(), times.begin(), times.end());
    last_ms.push_back(times.back());
  }
  std::sort(all_ms.begin(), all_ms.end());
  std::sort(last_ms.begin(), last_ms.end());
  auto pct = [](const std::vector<double>& v, double p) { return v[std::min(v.size() - 1, std::size_t(p * v.size()))]; };
  std::printf("held=%d rounds=%d  wake p50=%.2f ms p99=%.2f ms  last answer (median of rounds)=%.2f ms  "
              "rss: empty %ld KiB, +%.0f B per idle connection, +%.0f B per held poll\n",
              held, rounds, pct(all_ms, 0.5), pct(all_ms, 0.99), pct(last_ms, 0.5), rss_empty,
              (rss_idle - rss_empty) * 1024.0 / held, (rss_held - rss_idle) * 1024.0 / held);
  for (int fd : fds) ::close(fd);
  return 0;
}
