// Ceiling for the fan-out benchmark: the least a server can do to broadcast. One
// thread, epoll. `POST /publish` bodies (pipelined, Content-Length) become events
// whose SSE frame (`id: N\ndata: BODY\n\n`) and WebSocket frame (one text frame) are
// built once into a ring; each subscriber keeps only its position, and after every
// round of reads each subscriber that is behind gets ONE writev of everything it
// has not been sent yet (up to BATCH frames). `GET` with `Upgrade: websocket` is a
// WebSocket subscriber, any other GET an SSE subscriber (body ends at close).
// Not a server: a measuring stick. Build: cc -O2 raw_epoll_fanout.c -lcrypto
//   raw_epoll_fanout PORT [BATCH, default 64]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RING 8192
#define MAXFD 200000

typedef struct { char* sse; int sse_len; char* ws; int ws_len; } frame;
enum { NEW, PUB, SSE, WS };
typedef struct {
  int kind, want_out;
  uint64_t pos;   // next event to send
  size_t off;     // bytes of event `pos` already sent
  char* in; size_t in_len, in_cap;
} conn;

static frame ring[RING];
static uint64_t head = 0;  // events published
static conn* conns[MAXFD];
static int subs[MAXFD], nsubs = 0;
static int ep, batch = 64;

static void drop(int fd) {
  conn* c = conns[fd];
  if (!c) return;
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  free(c->in);
  free(c);
  conns[fd] = NULL;
  for (int i = 0; i < nsubs; ++i)
    if (subs[i] == fd) { subs[i] = subs[--nsubs]; break; }
}

static void publish(const char* body, size_t n) {
  frame* f = &ring[head % RING];
  free(f->sse); free(f->ws);
  char idbuf[32];
  int il = snprintf(idbuf, sizeof idbuf, "id: %llu\ndata: ", (unsigned long long)(head + 1));
  f->sse_len = il + (int)n + 2;
  f->sse = malloc(f->sse_len);
  memcpy(f->sse, idbuf, il); memcpy(f->sse + il, body, n); memcpy(f->sse + il + n, "\n\n", 2);
  int h = n < 126 ? 2 : 4;
  f->ws_len = h + (int)n;
  f->ws = malloc(f->ws_len);
  f->ws[0] = (char)0x81;
  if (n < 126) f->ws[1] = (char)n;
  else { f->ws[1] = 126; f->ws[2] = (char)(n >> 8); f->ws[3] = (char)(n & 0xff); }
  memcpy(f->ws + h, body, n);
  ++head;
}

static void send_str(int fd, const char* s, size_t n) { (void)!send(fd, s, n, MSG_NOSIGNAL); }

// Handles complete requests in c->in; returns how many bytes were used.
static size_t on_requests(int fd, conn* c) {
  size_t used = 0;
  for (;;) {
    char* b = c->in + used;
    size_t avail = c->in_len - used;
    char* end = memmem(b, avail, "\r\n\r\n", 4);
    if (!end) return used;
    size_t hl = (size_t)(end - b) + 4;
    if (c->kind == NEW && strncmp(b, "GET ", 4) == 0) {
      char* key = strcasestr(b, "sec-websocket-key:");
      if (key && key < end) {
        key += 18;
        while (*key == ' ') ++key;
        char* ke = key;
        while (*ke != '\r') ++ke;
        char cat[128];
        int kl = (int)(ke - key);
        memcpy(cat, key, kl);
        memcpy(cat + kl, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
        unsigned char dig[20];
        SHA1((unsigned char*)cat, kl + 36, dig);
        char acc[64];
        EVP_EncodeBlock((unsigned char*)acc, dig, 20);
        char resp[256];
        int rl = snprintf(resp, sizeof resp,
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
        send_str(fd, resp, rl);
        c->kind = WS;
      } else {
        static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";
        send_str(fd, h, sizeof h - 1);
        c->kind = SSE;
      }
      c->pos = head;
      subs[nsubs++] = fd;
      return c->in_len;  // a subscriber's later bytes (pings, pongs) are ignored
    }
    if (strncmp(b, "POST ", 5) != 0) return c->in_len;
    c->kind = PUB;
    char* cl = strcasestr(b, "content-length:");
    size_t blen = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
    if (avail < hl + blen) return used;
    publish(b + hl, blen);
    static const char ok[] = "HTTP/1.1 204 No Content\r\n\r\n";
    send_str(fd, ok, sizeof ok - 1);
    used += hl + blen;
  }
}

static void flush_sub(int fd) {
  conn* c = conns[fd];
  if (c->want_out || c->pos >= head) return;
  if (head - c->pos > RING) { drop(fd); return; }
  struct iovec iov[1024];
  int n = 0;
  for (uint64_t p = c->pos; p < head && n < batch && n < 1024; ++p, ++n) {
    frame* f = &ring[p % RING];
    char* base = c->kind == WS ? f->ws : f->sse;
    size_t len = c->kind == WS ? f->ws_len : f->sse_len;
    size_t skip = p == c->pos ? c->off : 0;
    iov[n].iov_base = base + skip;
    iov[n].iov_len = len - skip;
  }
  ssize_t w = writev(fd, iov, n);
  if (w < 0) {
    if (errno != EAGAIN) drop(fd);
    else goto wait;
    return;
  }
  for (int i = 0; i < n && w > 0; ++i) {
    if ((size_t)w >= iov[i].iov_len) { w -= iov[i].iov_len; ++c->pos; c->off = 0; }
    else { c->off += (size_t)w; w = 0; goto wait; }
  }
  return;
wait:
  c->want_out = 1;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

int main(int argc, char** argv) {
  int port = argc > 1 ? atoi(argv[1]) : 18550;
  if (argc > 2) batch = atoi(argv[2]);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(ls, (struct sockaddr*)&a, sizeof a) || listen(ls, 4096)) { perror("listen"); return 1; }
  ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  printf("listening on http://127.0.0.1:%d\n", port);
  fflush(stdout);
  static struct epoll_event evs[1024];
  char buf[65536];
  for (;;) {
    int n = epoll_wait(ep, evs, 1024, -1);
    uint64_t before = head;
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (c >= MAXFD) { close(c); continue; }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conns[c] = calloc(1, sizeof(conn));
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      conn* c = conns[fd];
      if (!c) continue;
      if (evs[i].events & EPOLLOUT) {
        c->want_out = 0;
        struct epoll_event ce = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
        flush_sub(fd);
        if (!conns[fd]) continue;
      }
      if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r <= 0) { if (r == 0 || errno != EAGAIN) drop(fd); continue; }
      if (c->kind == SSE || c->kind == WS) continue;
      if (c->in_len + (size_t)r > c->in_cap) {
        c->in_cap = (c->in_len + (size_t)r) * 2;
        c->in = realloc(c->in, c->in_cap + 1);
      }
      memcpy(c->in + c->in_len, buf, (size_t)r);
      c->in_len += (size_t)r;
      c->in[c->in_len] = 0;  // header searches stop here
      size_t used = on_requests(fd, c);
      memmove(c->in, c->in + used, c->in_len - used);
      c->in_len -= used;
    }
    if (head != before || n == 0)
      for (int i = 0; i < nsubs; ++i) flush_sub(subs[i]);
  }
}
