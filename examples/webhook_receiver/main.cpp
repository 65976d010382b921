// webhook_receiver: a small webhook endpoint built on lastmile's HTTP server.
//
// It verifies Standard Webhooks signatures and the timestamp window, de-duplicates by
// webhook-id, appends what it accepted to a log file (one JSON line per delivery,
// written before the 2xx goes out), and can be told to misbehave for tests and demos.
//
//   webhook_receiver --secret whsec_... [--listen 127.0.0.1:0] [--log FILE]
//                    [--fail-rate P] [--fail-status 500] [--drop-rate P] [--delay-ms N]
//                    [--retry-after S] [--tolerance S] [--seed N]
//
// GET /stats answers {"received","unique","duplicates","rejected","failedOnPurpose"}.
// POST /control {"failRate":P,"failStatus":N,"dropRate":P,"delayMs":N} changes the
// behaviour at run time (e.g. a receiver that is down and then comes back).
#include <lastmile/detail/json_writer.hpp>
#include <lastmile/http/server.hpp>
#include <lastmile/webhook/signature.hpp>

#include <asio/steady_timer.hpp>
#include <simdjson.h>

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

using namespace lastmile;

namespace {

struct settings {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::vector<webhook::secret> secrets;
  bool verify = true;
  std::string log_path;
  std::int64_t tolerance = 300;
  std::uint64_t seed = 0;
};

struct behaviour {
  double fail_rate = 0;
  int fail_status = 500;
  double drop_rate = 0;
  int delay_ms = 0;
  int retry_after = -1;  // seconds, sent with failures when >= 0
};

class receiver {
 public:
  explicit receiver(settings s, behaviour b) : s_(std::move(s)), b_(b), rng_(s_.seed ? s_.seed : std::random_device{}()) {
    if (!s_.log_path.empty()) log_ = std::fopen(s_.log_path.c_str(), "a");
    http::server_options o;
    o.threads = 1;
    server_.emplace(o);
    server_->route("POST", "/{path}", [this](http::exchange& ex) { return deliver(ex); });
    server_->route("POST", "/", [this](http::exchange& ex) { return deliver(ex); });
    server_->route("GET", "/stats", [this](http::exchange& ex) { return stats(ex); });
    server_->route("POST", "/control", [this](http::exchange& ex) { return control(ex); });
  }
  ~receiver() {
    if (log_) std::fclose(log_);
  }
  bool log_ok() const { return s_.log_path.empty() || log_ != nullptr; }
  std::error_code listen() { return server_->listen(s_.host, s_.port); }
  void start() { server_->start(); }
  void shutdown() { server_->shutdown(); }
  void wait() { server_->wait(); }
  std::uint16_t port() const { return server_->local_endpoint().port(); }

 private:
  asio::awaitable<void> deliver(http::exchange& ex) {
    const auto& req = ex.req();
    std::string id(req.header("webhook-id").value_or(""));
    std::string ts(req.header("webhook-timestamp").value_or(""));
    std::string sig(req.header("webhook-signature").value_or(""));
    if (s_.verify) {
      auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      auto ok = webhook::verify(s_.secrets, id, ts, sig, req.body, now, s_.tolerance);
      if (!ok) {
        rejected_.fetch_add(1);
        std::string msg = ok.error().message();
        co_await ex.respond_error(401, "bad_signature", msg);
        co_return;
      }
    } else if (id.empty()) {
      rejected_.fetch_add(1);
      co_await ex.respond_error(400, "bad_request", "webhook-id missing");
      co_return;
    }
    behaviour b;
    double roll_fail = 0, roll_drop = 0;
    {
      std::lock_guard lock(mutex_);
      b = b_;
      roll_fail = std::uniform_real_distribution<double>(0, 1)(rng_);
      roll_drop = std::uniform_real_distribution<double>(0, 1)(rng_);
    }
    if (b.delay_ms > 0) {
      asio::steady_timer t(ex.get_executor(), std::chrono::milliseconds(b.delay_ms));
      co_await t.async_wait(asio::use_awaitable);
    }
    if (roll_drop < b.drop_rate) {
      failed_on_purpose_.fetch_add(1);
      ex.abort();
      co_return;
    }
    if (roll_fail < b.fail_rate) {
      failed_on_purpose_.fetch_add(1);
      http::header_list h;
      if (b.retry_after >= 0) h.emplace_back("Retry-After", std::to_string(b.retry_after));
      co_await ex.respond_error(b.fail_status, "failing_on_purpose", "told to fail", std::move(h));
      co_return;
    }
    bool duplicate = false;
    {
      std::lock_guard lock(mutex_);
      duplicate = !seen_.insert(id).second;
      received_++;
      if (duplicate) duplicates_++;
      if (log_) {
        std::string line;
        lastmile::detail::json_writer w(line);
        w.begin_object();
        w.key("id").value(std::string_view(id));
        w.key("duplicate").value(duplicate);
        w.key("timestamp").value(std::string_view(ts));
        w.end_object();
        line.push_back('\n');
        std::fwrite(line.data(), 1, line.size(), log_);
        std::fflush(log_);  // on disk (page cache) before the 2xx goes out
      }
    }
    std::string_view ok = R"({"status":"ok"})";
    co_await ex.respond(200, ok);
  }

  asio::awaitable<void> stats(http::exchange& ex) {
    std::string body;
    {
      std::lock_guard lock(mutex_);
      lastmile::detail::json_writer w(body);
      w.begin_object();
      w.key("received").value(static_cast<std::uint64_t>(received_));
      w.key("unique").value(static_cast<std::uint64_t>(seen_.size()));
      w.key("duplicates").value(static_cast<std::uint64_t>(duplicates_));
      w.key("rejected").value(static_cast<std::uint64_t>(rejected_.load()));
      w.key("failedOnPurpose").value(static_cast<std::uint64_t>(failed_on_purpose_.load()));
      w.end_object();
    }
    co_await ex.respond(200, body);
  }

  asio::awaitable<void> control(http::exchange& ex) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    const std::string& body = ex.req().body;
    if (parser.parse(body.data(), body.size()).get(doc) || !doc.is_object()) {
      co_await ex.respond_error(400, "bad_request", "a JSON object is expected");
      co_return;
    }
    {
      std::lock_guard lock(mutex_);
      double d;
      int64_t i;
      if (!doc["failRate"].get_double().get(d)) b_.fail_rate = d;
      if (!doc["dropRate"].get_double().get(d)) b_.drop_rate = d;
      if (!doc["failStatus"].get_int64().get(i)) b_.fail_status = static_cast<int>(i);
      if (!doc["delayMs"].get_int64().get(i)) b_.delay_ms = static_cast<int>(i);
      if (!doc["retryAfter"].get_int64().get(i)) b_.retry_after = static_cast<int>(i);
    }
    std::string_view ok = R"({"status":"ok"})";
    co_await ex.respond(200, ok);
  }

  settings s_;
  std::mutex mutex_;
  behaviour b_;
  std::mt19937_64 rng_;
  std::FILE* log_ = nullptr;
  std::unordered_set<std::string> seen_;
  std::uint64_t received_ = 0, duplicates_ = 0;
  std::atomic<std::uint64_t> rejected_{0}, failed_on_purpose_{0};
  std::optional<http::server> server_;
};

bool parse_double(std::string_view s, double& out) {
  try {
    std::size_t used = 0;
    out = std::stod(std::string(s), &used);
    return used == s.size() && out >= 0;
  } catch (...) {
    return false;
  }
}

template <class T>
bool parse_int(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

std::optional<std::string> parse_args(int argc, char** argv, settings& s, behaviour& b) {
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--no-verify") {
      s.verify = false;
      continue;
    }
    if (i + 1 >= argc) return "missing value for " + std::string(flag);
    std::string_view v = argv[++i];
    if (flag == "--listen") {
      auto colon = v.rfind(':');
      if (colon == std::string_view::npos || !parse_int(v.substr(colon + 1), s.port)) return "--listen wants HOST:PORT";
      s.host = std::string(v.substr(0, colon));
    } else if (flag == "--secret") {
      auto k = webhook::secret::parse(v);
      if (!k) return "--secret: not a whsec_ secret";
      s.secrets.push_back(std::move(*k));
    } else if (flag == "--log") {
      s.log_path = std::string(v);
    } else if (flag == "--fail-rate") {
      if (!parse_double(v, b.fail_rate) || b.fail_rate > 1) return "--fail-rate wants 0..1";
    } else if (flag == "--drop-rate") {
      if (!parse_double(v, b.drop_rate) || b.drop_rate > 1) return "--drop-rate wants 0..1";
    } else if (flag == "--fail-status") {
      if (!parse_int(v, b.fail_status) || b.fail_status < 100 || b.fail_status > 599) return "--fail-status wants 100..599";
    } else if (flag == "--delay-ms") {
      if (!parse_int(v, b.delay_ms) || b.delay_ms < 0) return "--delay-ms wants a number";
    } else if (flag == "--retry-after") {
      if (!parse_int(v, b.retry_after) || b.retry_after < 0) return "--retry-after wants seconds";
    } else if (flag == "--tolerance") {
      if (!parse_int(v, s.tolerance) || s.tolerance < 0) return "--tolerance wants seconds";
    } else if (flag == "--seed") {
      if (!parse_int(v, s.seed)) return "--seed wants a number";
    } else {
      return "unknown flag " + std::string(flag);
    }
  }
  if (s.verify && s.secrets.empty()) return "give at least one --secret (or --no-verify)";
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  behaviour b;
  if (auto err = parse_args(argc, argv, s, b)) {
    std::fprintf(stderr, "webhook_receiver: %s\n", err->c_str());
    return 2;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  receiver r(s, b);
  if (!r.log_ok()) {
    std::fprintf(stderr, "webhook_receiver: cannot open %s\n", s.log_path.c_str());
    return 1;
  }
  if (auto ec = r.listen()) {
    std::fprintf(stderr, "webhook_receiver: cannot listen: %s\n", ec.message().c_str());
    return 1;
  }
  r.start();
  std::printf("listening on http://%s:%u\n", s.host.c_str(), r.port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  r.shutdown();
  r.wait();
  return 0;
}
