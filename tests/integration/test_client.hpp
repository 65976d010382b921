#pragma once
// A deliberately simple blocking HTTP/1.1 client over POSIX sockets for the
// integration tests: send raw bytes, read responses (Content-Length, chunked or
// close-delimited), observe closes. Every read has a timeout, so a broken server
// fails a test instead of hanging it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace testing {

struct response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<std::string> header(std::string_view name) const {
    for (auto& [k, v] : headers) {
      if (k.size() != name.size()) continue;
      bool eq = true;
      for (std::size_t i = 0; i < k.size(); ++i)
        if (std::tolower((unsigned char)k[i]) != std::tolower((unsigned char)name[i])) eq = false;
      if (eq) return v;
    }
    return std::nullopt;
  }
};

class client {
 public:
  // `source`: a local loopback address to connect from (127.0.0.0/8 are all ours).
  // `rcvbuf`: a receive buffer size set before connecting (a slow reader's window).
  explicit client(std::uint16_t port, const char* source = nullptr, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (source) {
      sockaddr_in s{};
      s.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &s.sin_addr);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&s), sizeof s);
    }
    const char* host = "127.0.0.1";
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, host, &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect failed");
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  client(const client&) = delete;
  ~client() { if (fd_ >= 0) ::close(fd_); }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  bool try_send(std::string_view bytes) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    return n == static_cast<ssize_t>(bytes.size());
  }

  // Reads more bytes into the buffer; false on EOF/error/timeout.
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) { timed_out_ = true; return false; }
    char b[16384];
    ssize_t n = ::recv(fd_, b, sizeof b, 0);
    if (n <= 0) { closed_ = true; return false; }
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }

  // Reads one response; std::nullopt if the connection closed or timed out first.
  std::optional<response> read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
      return std::max<std::chrono::milliseconds>(std::chrono::milliseconds(0),
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    };
    std::size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(left())) return std::nullopt;
    response r;
    std::string head = buf_.substr(0, head_end);
    buf_.erase(0, head_end + 4);
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      auto colon = line.find(':');
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      r.headers.emplace_back(line.substr(0, colon), v);
      pos = e + 2;
    }
    if (r.status == 101 || r.status == 204 || r.status == 304 || r.status < 200) return r;
    if (auto cl = r.header("Content-Length")) {
      std::size_t n = std::stoul(*cl);
      while (buf_.size() < n)
        if (!fill(left())) return std::nullopt;
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
    } else if (auto te = r.header("Transfer-Encoding"); te && *te == "chunked") {
      for (;;) {
        std::size_t le;
        while ((le = buf_.find("\r\n")) == std::string::npos)
          if (!fill(left())) return std::nullopt;
        std::size_t n = std::stoul(buf_.substr(0, le), nullptr, 16);
        while (buf_.size() < le + 2 + n + 2)
          if (!fill(left())) return std::nullopt;
        r.body += buf_.substr(le + 2, n);
        buf_.erase(0, le + 2 + n + 2);
        if (n == 0) break;
      }
    } else {
      while (fill(left())) {}
      r.body = std::move(buf_);
      buf_.clear();
    }
    return r;
  }

  // Reads the head of a streaming response and returns it; the body stays buffered.
  std::optional<response> read_head(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !fill(left)) return std::nullopt;
    }
    response r;
    r.status = std::stoi(buf_.substr(9, 3));
    std::string head = buf_.substr(0, head_end);
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      auto e = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, (e == std::string::npos ? head.size() : e) - pos - 2);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        r.headers.emplace_back(line.substr(0, colon), v);
      }
      pos = e;
    }
    buf_.erase(0, head_end + 4);
    return r;
  }

  // Reads until `needle` appears in the buffered stream (or timeout); returns all bytes so far.
  bool read_until(std::string_view needle, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buf_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !fill(left)) return false;
    }
    return true;
  }

  // True if the server closes the connection within the timeout (data before EOF is kept).
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!closed_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      timed_out_ = false;
      if (!fill(left) && timed_out_) return false;
    }
    return true;
  }

  std::string& buffered() { return buf_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buf_;
  bool closed_ = false;
  bool timed_out_ = false;
};

// One request, one response, on a fresh connection.
inline std::optional<response> request(std::uint16_t port, std::string_view method, std::string_view target,
                                       std::string_view body = {}, std::string_view extra_headers = {}) {
  client c(port);
  std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n";
  req += extra_headers;
  if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "Connection: close\r\n\r\n";
  req += body;
  c.send(req);
  return c.read_response();
}

// A child process (the lastmile-server binary in tests): stdout/stderr piped.
struct child_process {
  pid_t pid = -1;
  int out = -1, err = -1;

  static child_process spawn(const std::string& binary, std::vector<std::string> args) {
    int o[2], e[2];
    if (::pipe(o) != 0 || ::pipe(e) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(o[1], 1);
      ::dup2(e[1], 2);
      ::close(o[0]);
      ::close(e[0]);
      std::vector<char*> argv{const_cast<char*>(binary.c_str())};
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(o[1]);
    ::close(e[1]);
    return {pid, o[0], e[0]};
  }
  static std::string read_line(int fd, std::chrono::milliseconds timeout) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (line.empty() || line.back() != '\n') {
      pollfd p{fd, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) <= 0) break;
      char c;
      if (::read(fd, &c, 1) != 1) break;
      line.push_back(c);
    }
    return line;
  }
  // Exit code, 128+signal, or -1 (killed after the timeout).
  int wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    pid = -1;
    return -1;
  }
  void close_pipes() {
    if (out >= 0) ::close(out);
    if (err >= 0) ::close(err);
    out = err = -1;
  }
};

// Starts the server binary on an ephemeral port and reads its startup line.
struct server_process {
  child_process child;
  std::uint16_t port = 0;
  server_process(const std::string& binary, std::vector<std::string> args) {
    args.insert(args.begin(), {"--listen", "127.0.0.1:0"});
    child = child_process::spawn(binary, std::move(args));
    std::string line = child_process::read_line(child.out, std::chrono::seconds(10));
    auto colon = line.rfind(':');
    if (!line.starts_with("listening on ") || colon == std::string::npos) throw std::runtime_error("no startup line");
    port = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
  }
  int stop(int sig = SIGTERM) {
    ::kill(child.pid, sig);
    int rc = child.wait_exit(std::chrono::seconds(10));
    child.close_pipes();
    return rc;
  }
  ~server_process() {
    if (child.pid > 0) stop(SIGKILL);
  }
};

}  // namespace testing
