// Crash safety of webhook delivery through the real binaries: lastmile-server on a
// durable log and store is killed with SIGKILL again and again while it delivers a
// few thousand events to examples/webhook_receiver, which fails 30% of requests.
// After the last restart every event has been received, first receipts are in log
// order, and the only duplicates are events that were in flight at a kill.
#include "test_client.hpp"

#include <doctest/doctest.h>

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#if defined(LASTMILE_SERVER_BINARY) && defined(LASTMILE_WEBHOOK_RECEIVER_BINARY)

using namespace std::chrono_literals;

namespace {

struct log_line {
  std::string id;
  bool duplicate = false;
};

std::vector<log_line> read_receiver_log(const std::string& path) {
  std::vector<log_line> out;
  std::ifstream in(path);
  std::string line;
  simdjson::dom::parser parser;
  while (std::getline(in, line)) {
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc)) continue;  // a torn last line cannot happen (flushed per line), but be safe
    log_line l;
    std::string_view id;
    if (doc["id"].get_string().get(id)) continue;
    l.id = std::string(id);
    bool dup = false;
    if (doc["duplicate"].get_bool().get(dup)) continue;
    l.duplicate = dup;
    out.push_back(std::move(l));
  }
  return out;
}

std::string keep_alive_publish(testing::client& c, int i) {
  std::string body = "{\"n\":" + std::to_string(i) + "}";
  std::string req = "POST /topics/crash/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  c.send(req);
  auto r = c.read_response();
  REQUIRE(r);
  REQUIRE(r->status == 201);
  auto start = r->body.find("\"id\":\"") + 6;
  return r->body.substr(start, r->body.find('"', start) - start);
}

}  // namespace

TEST_CASE("webhooks: SIGKILL during delivery, restart on the same store: at least once, in order") {
  auto dir = std::filesystem::temp_directory_path() / ("lastmile-crash-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const std::string received = (dir / "received.jsonl").string();
  testing::server_process receiver(LASTMILE_WEBHOOK_RECEIVER_BINARY,
                                   {"--secret", secret, "--fail-rate", "0.3", "--log", received, "--seed", "7"});
  const std::vector<std::string> server_args{
      "--log", "sqlite:" + (dir / "events.db").string(), "--webhook-store", (dir / "hooks.db").string(),
      "--webhook-allow", "127.0.0.0/8", "--webhook-timeout", "2",
      // 30 quick retries: 0.3^31 makes giving an event up practically impossible.
      "--webhook-retry-schedule",
      "0.005,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,"
      "0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01"};

  auto server = std::make_unique<testing::server_process>(LASTMILE_SERVER_BINARY, server_args);
  const std::string hook = "{\"url\":\"http://127.0.0.1:" + std::to_string(receiver.port) +
                           "/hook\",\"topics\":[\"crash\"],\"secret\":\"" + secret + "\",\"from\":\"earliest\"}";
  auto created = testing::request(server->port, "POST", "/webhooks", hook);
  REQUIRE(created);
  REQUIRE(created->status == 201);

  constexpr int events = 2000;
  std::vector<std::string> published;
  {
    testing::client c(server->port);
    for (int i = 0; i < events; ++i) published.push_back(keep_alive_publish(c, i));
  }

  std::mt19937 rng(12345);
  int kills = 0;
  std::vector<std::size_t> received_at_kill;
  for (int round = 0; round < 6; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 350));
    server->stop(SIGKILL);
    ++kills;
    received_at_kill.push_back(read_receiver_log(received).size());
    server = std::make_unique<testing::server_process>(LASTMILE_SERVER_BINARY, server_args);
  }

  // After the last restart, everything arrives.
  std::set<std::string> unique;
  std::vector<log_line> lines;
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    lines = read_receiver_log(received);
    unique.clear();
    for (auto& l : lines) unique.insert(l.id);
    if (unique.size() >= published.size()) break;
    std::this_thread::sleep_for(100ms);
  }
  CHECK(server->stop(SIGTERM) == 0);
  REQUIRE(unique.size() == published.size());
  CHECK(unique == std::set<std::string>(published.begin(), published.end()));

  // First receipts in log order; a duplicate is always the event received just before
  // (the one in flight when the process died), at most one per kill.
  std::vector<std::string> first;
  int duplicates = 0;
  for (auto& l : lines) {
    if (!l.duplicate) {
      first.push_back(l.id);
    } else {
      ++duplicates;
      REQUIRE_FALSE(first.empty());
      CHECK(l.id == first.back());
    }
  }
  CHECK(first == published);
  // The kills landed while delivery was under way, not before it began or after it ended.
  CHECK(received_at_kill.front() > 0);
  CHECK(received_at_kill.back() < published.size());
  CHECK(duplicates <= kills);
  std::string at_kills;
  for (auto n : received_at_kill) at_kills += std::to_string(n) + " ";
  MESSAGE("kills: " << kills << ", duplicates: " << duplicates << ", receipts: " << lines.size()
                    << ", received at the kills: " << at_kills);
  receiver.stop(SIGTERM);
  std::filesystem::remove_all(dir);
}

#endif
