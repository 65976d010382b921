// lastmile_load: the load client of benchmarks/run. One thread, level-triggered epoll.
//
// Opens N SSE or WebSocket subscribers against one server (source addresses spread
// over 127.0.0.0/8, so the count is not capped by ephemeral ports), publishes
// 128-byte JSON payloads {"seq":N,"ts":MONOTONIC_NS,"pad":"..."} over one pipelined
// HTTP keep-alive connection (POST) or one WebSocket connection, and measures
// delivered events/s, publish-to-receive latency, lost (gap in seq) and duplicated
// events, errors, its own CPU time and the server's CPU time and RSS (/proc).
//
// Lossless and fair: the publisher only runs ahead while every subscriber is within
// --window events of the newest published event (a server that buffers without
// bound gains nothing). Parsing is minimal: SSE lines (after de-chunking) and WS
// frame headers; from each event only "seq", "ts" and (SSE) the id are read.
//
// Prints one line: `result key=value ...`. Flags: see usage below.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

double cpu_seconds_self() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// utime + stime of a process, seconds (0 when unreadable).
double cpu_seconds_of(int pid) {
  if (pid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char buf[2048];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  char* p = std::strrchr(buf, ')');  // comm may contain spaces
  if (!p) return 0;
  unsigned long ut = 0, st = 0;
  // fields after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return 0;
  return double(ut + st) / double(sysconf(_SC_CLK_TCK));
}

long rss_kib_of(int pid) {
  if (pid <= 0) return 0;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE* f = std::fopen(path, "r");
  if (!f) return 0;
  char line[256];
  long kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "VmRSS:", 6) == 0) kb = std::atol(line + 6);
  std::fclose(f);
  return kb;
}

// Log-linear latency histogram in microseconds (about 3% precision).
struct histogram {
  std::vector<std::uint64_t> b = std::vector<std::uint64_t>(64 + 64 * 32, 0);
  std::uint64_t count = 0;
  static std::size_t index(std::uint64_t us) {
    if (us < 64) return us;
    int e = 63 - __builtin_clzll(us);
    return 64 + std::size_t(e - 6) * 32 + ((us >> (e - 5)) & 31);
  }
  static std::uint64_t lower(std::size_t i) {
    if (i < 64) return i;
    std::size_t e = (i - 64) / 32 + 6, m = (i - 64) % 32;
    return (std::uint64_t(1) << e) + (std::uint64_t(m) << (e - 5));
  }
  void add(std::uint64_t us) {
    ++b[std::min(index(us), b.size() - 1)];
    ++count;
  }
  double quantile(double q) const {
    if (!count) return 0;
    std::uint64_t want = std::uint64_t(std::ceil(q * double(count))), seen = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      seen += b[i];
      if (seen >= want) return double(lower(i));
    }
    return double(lower(b.size() - 1));
  }
};

enum class proto : std::uint8_t { sse, ws };
enum class state : std::uint8_t { connecting, headers, stream, closed };

struct conn {
  int fd = -1;
  state st = state::closed;
  bool chunked = false;
  bool ready = false;        // subscribed (SSE: headers; WS: 101, or the ack when --ws-ack)
  std::uint8_t chunk_state = 0;  // 0: size line, 1: size line ext (to LF), 2: data, 3: CRLF after data
  std::uint64_t chunk_left = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t reconnect_at = 0;  // storm: not before
  std::string carry;               // unparsed bytes (de-chunked once the stream started)
  std::uint8_t id_len = 0, pending_id_len = 0;
  char last_id[64];
  char pending_id[64];
};

struct config {
  std::string host = "127.0.0.1";
  int port = 0;
  proto mode = proto::sse;
  std::string path = "/topics/bench/sse";
  std::string ws_subscribe;       // text message sent after the WS handshake
  std::string ws_ack;             // substring of the reply that confirms the subscription
  std::string resume_query;       // WS resume: query parameter name, e.g. resumeFrom
  int subs = 1000;
  std::string pub_kind = "http";  // http | ws | none
  std::string pub_path = "/topics/bench/events";
  std::string pub_prefix, pub_suffix;  // WS publish: text around the payload (a control message)
  double duration = 5;            // seconds of publishing
  double warmup = 0.5;            // seconds excluded from the measurement
  double rate = 0;                // events/s; 0 = as fast as the window allows
  int window = 64;
  int pipeline = 32;
  int payload = 128;
  int server_pid = 0;
  bool idle = false;
  double hold = 2;                // idle: seconds to hold before reading RSS
  double storm_at = -1;           // seconds into publishing: drop and reconnect every subscriber
  int max_pending = 512;          // connection handshakes in flight
  double connect_timeout = 60;
};

config cfg;
std::vector<conn> conns;  // subscribers 0..subs-1, publisher at index subs
int epfd = -1;
std::vector<char> rbuf(64 * 1024 + 64 * 1024);
std::vector<std::uint32_t> ring(1 << 20);  // subscribers whose last seq is s (mod size)
constexpr std::uint64_t ring_mask = (1 << 20) - 1;
std::uint64_t published = 0, min_seq = 0;
std::uint64_t events = 0, events_measured = 0, lost = 0, dups = 0, errors = 0, pub_errors = 0, acks = 0;
std::uint64_t bytes_in = 0;
int pending = 0, ready_count = 0, open_count = 0;
bool measuring = false;
histogram hist;
std::uint64_t now_cached = 0;
std::string pub_out;  // unsent publisher bytes
std::size_t pub_inflight = 0;
bool pub_ready = false;
std::string request_host;

void die(const char* what) {
  std::perror(what);
  std::exit(2);
}

void ep_mod(int fd, std::uint32_t idx, std::uint32_t ev, int op = EPOLL_CTL_MOD) {
  epoll_event e{};
  e.events = ev;
  e.data.u32 = idx;
  if (epoll_ctl(epfd, op, fd, &e) != 0 && op != EPOLL_CTL_DEL) die("epoll_ctl");
}

void ring_move(std::uint64_t from, std::uint64_t to) {
  --ring[from & ring_mask];
  ++ring[to & ring_mask];
}
void advance_min() {
  while (min_seq < published && ring[min_seq & ring_mask] == 0) ++min_seq;
}

void close_conn(std::uint32_t i, bool counted_error) {
  conn& c = conns[i];
  if (c.fd < 0) return;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = -1;
  if (c.st == state::connecting || c.st == state::headers) --pending;
  if (c.ready && i < std::uint32_t(cfg.subs)) --ready_count;
  c.st = state::closed;
  c.ready = false;
  c.carry.clear();
  --open_count;
  if (counted_error) ++errors;
}

void start_connect(std::uint32_t i) {
  conn& c = conns[i];
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.fd < 0) die("socket");
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  // 127.1.x.y: 65,000 source addresses, each with its own ephemeral port range.
  std::uint32_t k = i % 64000;
  src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((k / 250) << 8) | (k % 250 + 1));
  if (::bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) die("bind");
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(std::uint16_t(cfg.port));
  inet_pton(AF_INET, cfg.host.c_str(), &dst.sin_addr);
  int r = ::connect(c.fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
  if (r != 0 && errno != EINPROGRESS) die("connect");
  c.st = state::connecting;
  c.chunked = false;
  c.chunk_state = 0;
  c.chunk_left = 0;
  c.carry.clear();
  ++pending;
  ++open_count;
  ep_mod(c.fd, i, EPOLLOUT, EPOLL_CTL_ADD);
}

void send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {  // tiny requests: never expected; wait briefly
        usleep(100);
        continue;
      }
      return;
    }
    s.remove_prefix(std::size_t(n));
  }
}

// A masked client text (or pong) frame; the mask key is zero, so the payload is unchanged.
void append_ws_frame(std::string& out, std::string_view payload, std::uint8_t opcode = 1) {
  out.push_back(char(0x80 | opcode));
  if (payload.size() < 126) {
    out.push_back(char(0x80 | payload.size()));
  } else {
    out.push_back(char(0x80 | 126));
    out.push_back(char((payload.size() >> 8) & 0xff));
    out.push_back(char(payload.size() & 0xff));
  }
  out.append(4, '\0');
  out.append(payload);
}

std::string build_request(std::uint32_t i) {
  conn& c = conns[i];
  bool is_pub = i == std::uint32_t(cfg.subs);
  std::string path = is_pub ? cfg.pub_path : cfg.path;
  bool ws = is_pub ? cfg.pub_kind == "ws" : cfg.mode == proto::ws;
  if (!is_pub && c.id_len && ws && !cfg.resume_query.empty()) {
    path += path.find('?') == std::string::npos ? '?' : '&';
    path += cfg.resume_query + "=" + std::string(c.last_id, c.id_len);
  }
  std::string r = "GET " + path + " HTTP/1.1\r\nHost: " + request_host + "\r\n";
  if (ws) {
    r += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n";
  } else {
    r += "Accept: text/event-stream\r\nCache-Control: no-cache\r\n";
    if (c.id_len) r += "Last-Event-ID: " + std::string(c.last_id, c.id_len) + "\r\n";
  }
  r += "\r\n";
  return r;
}

std::uint64_t parse_uint(const char*& p, const char* e) {
  std::uint64_t v = 0;
  while (p < e && unsigned(*p - '0') < 10) v = v * 10 + std::uint64_t(*p++ - '0');
  return v;
}

void on_event(std::uint32_t i, std::uint64_t seq, std::uint64_t ts) {
  conn& c = conns[i];
  ++events;
  if (seq <= c.last_seq) {
    ++dups;
    return;
  }
  if (seq > c.last_seq + 1) lost += seq - c.last_seq - 1;
  ring_move(c.last_seq, seq);
  if (c.last_seq == min_seq) advance_min();
  c.last_seq = seq;
  if (c.pending_id_len) {
    std::memcpy(c.last_id, c.pending_id, c.pending_id_len);
    c.id_len = c.pending_id_len;
    c.pending_id_len = 0;
  }
  if (measuring) {
    ++events_measured;
    if (now_cached > ts) hist.add((now_cached - ts) / 1000);
    else hist.add(0);
  }
}

// Finds {"seq":N,"ts":T in [p, e) and reports the event.
inline void scan_payload(std::uint32_t i, const char* p, const char* e) {
  static constexpr char key[] = "\"seq\":";
  const char* k = static_cast<const char*>(memmem(p, std::size_t(e - p), key, 6));
  if (!k) return;
  const char* q = k + 6;
  std::uint64_t seq = parse_uint(q, e);
  if (e - q < 6 || std::memcmp(q, ",\"ts\":", 6) != 0) return;
  q += 6;
  std::uint64_t ts = parse_uint(q, e);
  on_event(i, seq, ts);
}

// SSE lines in [p, e); returns where the unfinished line starts.
const char* parse_sse(std::uint32_t i, const char* p, const char* e) {
  conn& c = conns[i];
  while (p < e) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', std::size_t(e - p)));
    if (!nl) break;
    std::size_t len = std::size_t(nl - p);
    if (len > 5 && p[0] == 'd' && std::memcmp(p, "data:", 5) == 0) {
      scan_payload(i, p + 5, nl);
    } else if (len > 3 && p[0] == 'i' && p[1] == 'd' && p[2] == ':') {
      const char* v = p + 3;
      if (v < nl && *v == ' ') ++v;
      std::size_t n = std::min<std::size_t>(std::size_t(nl - v), sizeof c.pending_id);
      std::memcpy(c.pending_id, v, n);
      c.pending_id_len = std::uint8_t(n);
    }
    p = nl + 1;
  }
  return p;
}

// WS frames in [p, e); returns where the unfinished frame starts.
const char* parse_ws(std::uint32_t i, const char* p, const char* e) {
  conn& c = conns[i];
  while (e - p >= 2) {
    std::uint8_t op = std::uint8_t(p[0]) & 0x0f;
    std::uint64_t len = std::uint8_t(p[1]) & 0x7f;
    std::size_t h = 2;
    if (len == 126) {
      if (e - p < 4) break;
      len = (std::uint64_t(std::uint8_t(p[2])) << 8) | std::uint8_t(p[3]);
      h = 4;
    } else if (len == 127) {
      if (e - p < 10) break;
      len = 0;
      for (int k = 0; k < 8; ++k) len = (len << 8) | std::uint8_t(p[2 + k]);
      h = 10;
    }
    if (std::uint64_t(e - p) < h + len) break;
    const char* body = p + h;
    if (op == 1 || op == 2) {
      if (i < std::uint32_t(cfg.subs)) {
        std::size_t before = events;
        scan_payload(i, body, body + len);
        if (events == before && !c.ready && !cfg.ws_ack.empty() &&
            memmem(body, len, cfg.ws_ack.data(), cfg.ws_ack.size())) {
          c.ready = true;
          ++ready_count;
        }
      }
    } else if (op == 9) {  // ping: answer with a pong carrying the same data
      std::string pong;
      append_ws_frame(pong, std::string_view(body, len), 0xA);
      send_all(c.fd, pong);
    } else if (op == 8) {
      ++errors;
      return nullptr;
    }
    p = body + len;
  }
  return p;
}

// Removes chunked framing in place from [p, e) of subscriber c; returns the new end.
char* dechunk(conn& c, char* p, char* e) {
  char* w = p;
  while (p < e) {
    switch (c.chunk_state) {
      case 0:  // hex size
        if (*p == '\r' || *p == ';') {
          c.chunk_state = 1;
        } else if (*p == '\n') {
          c.chunk_state = c.chunk_left ? 2 : 3;
        } else {
          int d = (*p >= '0' && *p <= '9') ? *p - '0' : ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f') ? (*p | 0x20) - 'a' + 10 : -1;
          if (d < 0) {
            ++errors;
            return w;
          }
          c.chunk_left = c.chunk_left * 16 + std::uint64_t(d);
        }
        ++p;
        break;
      case 1:  // to the end of the size line
        if (*p == '\n') c.chunk_state = c.chunk_left ? 2 : 3;
        ++p;
        break;
      case 2: {
        std::size_t n = std::min<std::uint64_t>(c.chunk_left, std::uint64_t(e - p));
        if (w != p) std::memmove(w, p, n);
        w += n;
        p += n;
        c.chunk_left -= n;
        if (!c.chunk_left) c.chunk_state = 3;
        break;
      }
      case 3:  // CRLF after the data
        if (*p == '\n') c.chunk_state = 0;
        ++p;
        break;
    }
  }
  return w;
}

bool header_has(std::string_view head, std::string_view needle) {  // case-insensitive
  if (needle.size() > head.size()) return false;
  for (std::size_t k = 0; k + needle.size() <= head.size(); ++k) {
    std::size_t j = 0;
    while (j < needle.size() && std::tolower(static_cast<unsigned char>(head[k + j])) == needle[j]) ++j;
    if (j == needle.size()) return true;
  }
  return false;
}

// Parses pipelined publish responses in c.carry; returns false on a broken stream.
void parse_pub_responses(conn& c) {
  if (cfg.pub_kind == "ws") {  // anything the server sends back (echoes, acks): skip it
    const char* b = c.carry.data();
    const char* e = b + c.carry.size();
    const char* p = b;
    while (e - p >= 2) {
      std::uint64_t len = std::uint8_t(p[1]) & 0x7f;
      std::size_t h = 2;
      if (len == 126) {
        if (e - p < 4) break;
        len = (std::uint64_t(std::uint8_t(p[2])) << 8) | std::uint8_t(p[3]);
        h = 4;
      } else if (len == 127) {
        if (e - p < 10) break;
        len = 0;
        for (int k = 0; k < 8; ++k) len = (len << 8) | std::uint8_t(p[2 + k]);
        h = 10;
      }
      if (std::uint64_t(e - p) < h + len) break;
      p += h + len;
    }
    c.carry.erase(0, std::size_t(p - b));
    return;
  }
  for (;;) {
    std::size_t end = c.carry.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string_view head(c.carry.data(), end);
    std::size_t body = 0;
    std::size_t cl = 0;
    for (std::size_t k = 0; k + 15 < head.size(); ++k) {
      if ((head[k] | 0x20) == 'c' && header_has(head.substr(k, 15), "content-length:")) {
        const char* q = head.data() + k + 15;
        while (*q == ' ') ++q;
        const char* qe = head.data() + head.size();
        cl = std::size_t(parse_uint(q, qe));
        body = cl;
        break;
      }
    }
    if (c.carry.size() < end + 4 + body) return;
    bool ok = head.size() > 12 && head[9] == '2';
    if (!ok && pub_errors++ < 3)
      std::fprintf(stderr, "lastmile_load: publish answered: %.*s\n", int(std::min<std::size_t>(head.size(), 120)), head.data());
    ++acks;
    if (pub_inflight) --pub_inflight;
    c.carry.erase(0, end + 4 + body);
  }
}

void on_headers_done(std::uint32_t i, std::size_t head_end) {
  conn& c = conns[i];
  std::string_view head(c.carry.data(), head_end);
  bool is_pub = i == std::uint32_t(cfg.subs);
  bool ws = is_pub ? cfg.pub_kind == "ws" : cfg.mode == proto::ws;
  std::string_view want = ws ? " 101" : " 200";
  if (head.size() < 12 || head.substr(8, 4) != want) {
    if (errors < 5) std::fprintf(stderr, "lastmile_load: unexpected response: %.*s\n", int(std::min<std::size_t>(head.size(), 200)), head.data());
    close_conn(i, true);
    return;
  }
  --pending;
  c.st = state::stream;
  if (is_pub) {
    pub_ready = true;
    c.carry.erase(0, head_end + 4);
    return;
  }
  c.chunked = !ws && header_has(head, "transfer-encoding: chunked");
  if (ws && !cfg.ws_subscribe.empty()) {
    std::string f;
    append_ws_frame(f, cfg.ws_subscribe);
    send_all(c.fd, f);
  }
  if (!ws || cfg.ws_ack.empty()) {
    c.ready = true;
    ++ready_count;
  }
  // The rest is stream data: de-chunk and parse it.
  std::string rest = c.carry.substr(head_end + 4);
  c.carry.clear();
  char* b = rest.data();
  char* e = b + rest.size();
  if (c.chunked) e = dechunk(c, b, e);
  const char* left = ws ? parse_ws(i, b, e) : parse_sse(i, b, e);
  if (!left) {
    close_conn(i, false);
    return;
  }
  c.carry.assign(left, std::size_t(e - left));
}

void on_readable(std::uint32_t i) {
  conn& c = conns[i];
  bool is_pub = i == std::uint32_t(cfg.subs);
  if (c.st == state::headers || is_pub) {
    char tmp[65536];
    ssize_t n = ::recv(c.fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) return;
      close_conn(i, true);
      return;
    }
    c.carry.append(tmp, std::size_t(n));
    if (c.st == state::headers) {
      std::size_t end = c.carry.find("\r\n\r\n");
      if (end != std::string::npos) on_headers_done(i, end);
      return;
    }
    parse_pub_responses(c);
    return;
  }
  // Stream: carried bytes first, then one large read after them.
  std::size_t keep = c.carry.size();
  if (keep > rbuf.size() / 2) rbuf.resize(keep + 64 * 1024);
  if (keep) std::memcpy(rbuf.data(), c.carry.data(), keep);
  ssize_t n = ::recv(c.fd, rbuf.data() + keep, 64 * 1024, 0);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) return;
    close_conn(i, true);
    return;
  }
  bytes_in += std::uint64_t(n);
  now_cached = now_ns();
  char* b = rbuf.data();
  char* e = b + keep + n;
  if (c.chunked) e = dechunk(c, b + keep, e);
  const char* left = cfg.mode == proto::ws ? parse_ws(i, b, e) : parse_sse(i, b, e);
  if (!left) {
    close_conn(i, false);
    return;
  }
  c.carry.assign(left, std::size_t(e - left));
}

void on_writable(std::uint32_t i) {
  conn& c = conns[i];
  if (c.st == state::connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
      if (errors < 5) std::fprintf(stderr, "lastmile_load: connect: %s\n", std::strerror(err));
      close_conn(i, true);
      return;
    }
    c.st = state::headers;
    if (i == std::uint32_t(cfg.subs) && cfg.pub_kind == "http") {  // no handshake: publish at once
      --pending;
      c.st = state::stream;
      pub_ready = true;
      ep_mod(c.fd, i, EPOLLIN);
      return;
    }
    send_all(c.fd, build_request(i));
    ep_mod(c.fd, i, EPOLLIN);
    return;
  }
  // The publisher with unsent bytes.
  ssize_t n = ::send(c.fd, pub_out.data(), pub_out.size(), MSG_NOSIGNAL);
  if (n > 0) pub_out.erase(0, std::size_t(n));
  if (pub_out.empty()) ep_mod(c.fd, i, EPOLLIN);
}

std::string payload_for(std::uint64_t seq) {
  char head[80];
  int n = std::snprintf(head, sizeof head, "{\"seq\":%llu,\"ts\":%llu,\"pad\":\"", (unsigned long long)seq,
                        (unsigned long long)now_ns());
  std::string s(head, std::size_t(n));
  int pad = cfg.payload - n - 2;
  s.append(std::size_t(std::max(pad, 0)), 'x');
  s += "\"}";
  return s;
}

void publish_one() {
  std::uint32_t pi = std::uint32_t(cfg.subs);
  conn& c = conns[pi];
  ++published;
  std::string body = payload_for(published);
  bool was_empty = pub_out.empty();
  if (cfg.pub_kind == "ws") {
    if (cfg.pub_prefix.empty() && cfg.pub_suffix.empty()) {
      append_ws_frame(pub_out, body);
    } else {
      append_ws_frame(pub_out, cfg.pub_prefix + body + cfg.pub_suffix);
    }
  } else {
    pub_out += "POST " + cfg.pub_path + " HTTP/1.1\r\nHost: " + request_host +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    pub_out += body;
    ++pub_inflight;
  }
  if (was_empty) {
    ssize_t n = ::send(c.fd, pub_out.data(), pub_out.size(), MSG_NOSIGNAL);
    if (n > 0) pub_out.erase(0, std::size_t(n));
    if (!pub_out.empty()) ep_mod(c.fd, pi, EPOLLIN | EPOLLOUT);
  }
}

bool window_open(bool ignore_window) {
  if (!ignore_window && published - min_seq >= std::uint64_t(cfg.window)) return false;
  if (cfg.pub_kind == "http" && pub_inflight >= std::size_t(cfg.pipeline)) return false;
  return pub_out.size() < 256 * 1024;
}

void usage() {
  std::fprintf(stderr,
               "usage: lastmile_load --port P [--host 127.0.0.1] [--mode sse|ws] [--path /topics/bench/sse]\n"
               "  [--subs N] [--pub http|ws|none] [--pub-path PATH] [--pub-prefix T] [--pub-suffix T] [--duration S] [--warmup S] [--rate EV/S]\n"
               "  [--window N] [--pipeline N] [--payload BYTES] [--server-pid PID] [--idle] [--hold S]\n"
               "  [--ws-subscribe TEXT] [--ws-ack TEXT] [--resume-query NAME] [--storm-at S] [--max-pending N]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  for (int k = 1; k < argc; ++k) {
    std::string_view a = argv[k];
    auto val = [&]() -> const char* {
      if (k + 1 >= argc) usage();
      return argv[++k];
    };
    if (a == "--host") cfg.host = val();
    else if (a == "--port") cfg.port = std::atoi(val());
    else if (a == "--mode") cfg.mode = std::string_view(val()) == "ws" ? proto::ws : proto::sse;
    else if (a == "--path") cfg.path = val();
    else if (a == "--subs") cfg.subs = std::atoi(val());
    else if (a == "--pub") cfg.pub_kind = val();
    else if (a == "--pub-path") cfg.pub_path = val();
    else if (a == "--pub-prefix") cfg.pub_prefix = val();
    else if (a == "--pub-suffix") cfg.pub_suffix = val();
    else if (a == "--duration") cfg.duration = std::atof(val());
    else if (a == "--warmup") cfg.warmup = std::atof(val());
    else if (a == "--rate") cfg.rate = std::atof(val());
    else if (a == "--window") cfg.window = std::atoi(val());
    else if (a == "--pipeline") cfg.pipeline = std::atoi(val());
    else if (a == "--payload") cfg.payload = std::atoi(val());
    else if (a == "--server-pid") cfg.server_pid = std::atoi(val());
    else if (a == "--idle") cfg.idle = true;
    else if (a == "--hold") cfg.hold = std::atof(val());
    else if (a == "--ws-subscribe") cfg.ws_subscribe = val();
    else if (a == "--ws-ack") cfg.ws_ack = val();
    else if (a == "--resume-query") cfg.resume_query = val();
    else if (a == "--storm-at") cfg.storm_at = std::atof(val());
    else if (a == "--max-pending") cfg.max_pending = std::atoi(val());
    else usage();
  }
  if (!cfg.port || cfg.subs < 0) usage();
  if (cfg.idle) cfg.pub_kind = "none";
  request_host = cfg.host + ":" + std::to_string(cfg.port);

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rlim_t(cfg.subs) + 64 > rl.rlim_cur) {
    std::fprintf(stderr, "lastmile_load: %d subscribers need more than the fd limit %llu\n", cfg.subs,
                 (unsigned long long)rl.rlim_cur);
    return 2;
  }

  long rss_empty = rss_kib_of(cfg.server_pid);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  conns.resize(std::size_t(cfg.subs) + 1);
  ring[0] = std::uint32_t(cfg.subs);  // every subscriber is at seq 0
  const std::uint32_t pub_idx = std::uint32_t(cfg.subs);
  bool has_pub = cfg.pub_kind != "none";

  std::vector<epoll_event> evs(1024);
  std::uint64_t t_start = now_ns();
  int next_connect = 0;
  if (has_pub) start_connect(pub_idx);

  // Phase 1: connect and subscribe everyone.
  while (ready_count < cfg.subs || (has_pub && !pub_ready)) {
    while (next_connect < cfg.subs && pending < cfg.max_pending) start_connect(std::uint32_t(next_connect++));
    int n = epoll_wait(epfd, evs.data(), int(evs.size()), 100);
    for (int k = 0; k < n; ++k) {
      std::uint32_t i = evs[k].data.u32;
      if (conns[i].fd < 0) continue;
      if (evs[k].events & (EPOLLOUT)) on_writable(i);
      else if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(i);
    }
    if (double(now_ns() - t_start) / 1e9 > cfg.connect_timeout) break;
    if (next_connect >= cfg.subs && open_count < cfg.subs + (has_pub ? 1 : 0) && pending == 0) break;  // some failed
  }
  double connect_s = double(now_ns() - t_start) / 1e9;

  if (cfg.idle) {
    std::uint64_t until = now_ns() + std::uint64_t(cfg.hold * 1e9);
    while (now_ns() < until) {
      int n = epoll_wait(epfd, evs.data(), int(evs.size()), 50);
      for (int k = 0; k < n; ++k) {
        std::uint32_t i = evs[k].data.u32;
        if (conns[i].fd >= 0) on_readable(i);
      }
    }
    long rss = rss_kib_of(cfg.server_pid);
    double per = ready_count ? double(rss - rss_empty) * 1024.0 / ready_count : 0;
    std::printf("result idle=1 subs=%d ready=%d errors=%llu connect_s=%.2f server_rss_empty_kib=%ld server_rss_kib=%ld "
                "bytes_per_conn=%.0f\n",
                cfg.subs, ready_count, (unsigned long long)errors, connect_s, rss_empty, rss, per);
    return 0;
  }

  // Phase 2: let servers finish registering, then publish.
  {
    std::uint64_t until = now_ns() + 300'000'000ull;
    while (now_ns() < until) {
      int n = epoll_wait(epfd, evs.data(), int(evs.size()), 20);
      for (int k = 0; k < n; ++k) {
        std::uint32_t i = evs[k].data.u32;
        if (conns[i].fd < 0) continue;
        if (evs[k].events & EPOLLOUT) on_writable(i);
        else on_readable(i);
      }
    }
  }
  // Subscribers that never became ready do not hold the window.
  for (int i = 0; i < cfg.subs; ++i)
    if (!conns[std::size_t(i)].ready) {
      --ring[0];
      conns[std::size_t(i)].last_seq = ~0ull >> 1;
    }
  if (has_pub && !pub_ready) {
    std::fprintf(stderr, "lastmile_load: the publisher did not connect\n");
    return 1;
  }

  std::uint64_t t0 = now_ns();
  std::uint64_t t_measure = t0 + std::uint64_t(cfg.warmup * 1e9);
  std::uint64_t t_end = t_measure + std::uint64_t(cfg.duration * 1e9);
  std::uint64_t t_drain_end = t_end + 3'000'000'000ull;
  double cpu0 = 0, scpu0 = 0;
  std::uint64_t ev0 = 0, pub_measure0 = 0;
  std::uint64_t storm_t = cfg.storm_at >= 0 ? t0 + std::uint64_t(cfg.storm_at * 1e9) : 0;
  bool stormed = false, storm_reconnected = false, caught_up = false;
  std::uint64_t storm_target = 0, storm_drop_ns = 0, storm_reconnect_ns = 0, catchup_ns = 0;
  int storm_next = 0;
  std::uint64_t rate_base = 0;
  bool publishing = true;
  double cpu1 = 0, scpu1 = 0;
  std::uint64_t t_stop = 0, pub_measure1 = 0;

  for (;;) {
    std::uint64_t now = now_ns();
    if (!measuring && t_stop == 0 && now >= t_measure) {
      measuring = true;
      cpu0 = cpu_seconds_self();
      scpu0 = cpu_seconds_of(cfg.server_pid);
      ev0 = events;
      pub_measure0 = published;
    }
    if (publishing && now >= t_end) {
      publishing = false;
      measuring = false;
      t_stop = now;
      cpu1 = cpu_seconds_self();
      scpu1 = cpu_seconds_of(cfg.server_pid);
      pub_measure1 = published;
      events_measured = events - ev0;
    }
    // Storm: drop every subscriber at once, then reconnect with its last id.
    if (storm_t && !stormed && now >= storm_t) {
      stormed = true;
      storm_drop_ns = now;
      for (int i = 0; i < cfg.subs; ++i) close_conn(std::uint32_t(i), false);
      storm_next = 0;
    }
    if (stormed && storm_next < cfg.subs) {
      while (storm_next < cfg.subs && pending < cfg.max_pending) start_connect(std::uint32_t(storm_next++));
    }
    if (stormed && !storm_reconnected && storm_next >= cfg.subs && ready_count >= cfg.subs) {
      storm_reconnected = true;
      storm_reconnect_ns = now;
      storm_target = published;
    }
    if (storm_reconnected && !caught_up) {
      advance_min();
      if (min_seq >= storm_target) {
        caught_up = true;
        catchup_ns = now;
      }
    }
    if (!publishing) {
      advance_min();
      bool storm_pending = storm_t && !caught_up;
      if ((min_seq >= published && !storm_pending) || now >= t_drain_end) break;
    }
    // Publish.
    if (publishing && has_pub) {
      bool ignore_window = storm_t != 0;
      if (cfg.rate > 0) {
        if (!rate_base) rate_base = now;
        std::uint64_t due = std::uint64_t(double(now - rate_base) * cfg.rate / 1e9) + 1;
        while (published < due && window_open(ignore_window)) publish_one();
      } else {
        int burst = 0;
        while (window_open(false) && burst++ < cfg.window) publish_one();
      }
    }
    int timeout_ms = cfg.rate > 0 ? 1 : 10;
    int n = epoll_wait(epfd, evs.data(), int(evs.size()), timeout_ms);
    for (int k = 0; k < n; ++k) {
      std::uint32_t i = evs[k].data.u32;
      if (conns[i].fd < 0) continue;
      if (evs[k].events & EPOLLOUT) on_writable(i);
      if (conns[i].fd >= 0 && (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(i);
    }
  }
  advance_min();
  // Events still missing at the end (not lost: never arrived within the drain time).
  std::uint64_t behind = 0;
  for (int i = 0; i < cfg.subs; ++i) {
    const conn& c = conns[std::size_t(i)];
    if (c.last_seq < published) behind += published - c.last_seq;
  }
  double secs = double(t_stop - t_measure) / 1e9;
  double rate = double(events_measured) / secs;
  long rss = rss_kib_of(cfg.server_pid);
  std::printf("result mode=%s subs=%d ready=%d published=%llu events_per_s=%.0f pub_per_s=%.0f p50_us=%.0f "
              "p99_us=%.0f p999_us=%.0f max_us=%.0f lost=%llu dup=%llu behind=%llu errors=%llu pub_errors=%llu "
              "client_cpu=%.2f server_cpu=%.2f server_rss_kib=%ld connect_s=%.2f mb_in=%.1f",
              cfg.mode == proto::ws ? "ws" : "sse", cfg.subs, ready_count, (unsigned long long)published, rate,
              double(pub_measure1 - pub_measure0) / secs, hist.quantile(0.5), hist.quantile(0.99),
              hist.quantile(0.999), hist.quantile(1.0), (unsigned long long)lost, (unsigned long long)dups,
              (unsigned long long)behind, (unsigned long long)errors, (unsigned long long)pub_errors,
              (cpu1 - cpu0) / secs, (scpu1 - scpu0) / secs, rss, connect_s, double(bytes_in) / 1e6);
  if (storm_t)
    std::printf(" storm_reconnect_s=%.3f storm_catchup_s=%s", storm_reconnected ? double(storm_reconnect_ns - storm_drop_ns) / 1e9 : -1.0,
                caught_up ? std::to_string(double(catchup_ns - storm_drop_ns) / 1e9).c_str() : "never");
  std::printf("\n");
  return 0;
}
