// lastmile-server over a durable log (--log sqlite:PATH): killed with SIGKILL and
// restarted on the same file, it keeps its events, its epoch and its cursors.
#include "reference_fixture.hpp"

#include "test_client.hpp"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;

namespace {

struct temp_db {
  std::filesystem::path path;
  temp_db() {
    static std::atomic<int> n{0};
    path = std::filesystem::temp_directory_path() /
           ("lastmile-server-log-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db");
    remove();
  }
  ~temp_db() { remove(); }
  void remove() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(path.string() + suffix, ec);
  }
};

std::string publish(std::uint16_t port, std::string_view topic, std::string_view body) {
  auto r = testing::request(port, "POST", "/topics/" + std::string(topic) + "/events", body);
  REQUIRE(r);
  REQUIRE(r->status == 201);
  simdjson::dom::parser p;
  auto doc = p.parse(r->body);
  return std::string(std::string_view(doc["id"]));
}

struct read_result {
  std::vector<std::string> ids, payloads;
  bool reset = false;
  std::string next;
};

read_result read(std::uint16_t port, std::string_view topic, std::string_view after) {
  auto r = testing::request(port, "GET", "/topics/" + std::string(topic) + "/events?after=" + std::string(after) +
                                             "&limit=1000");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  simdjson::dom::parser p;
  auto doc = p.parse(r->body);
  read_result out;
  for (auto e : doc["events"].get_array()) {
    out.ids.emplace_back(std::string_view(e["id"]));
    out.payloads.emplace_back(std::string_view(e["data"]));
  }
  out.reset = doc["reset"].error() == simdjson::SUCCESS;
  out.next = std::string(std::string_view(doc["nextCursor"]));
  return out;
}

}  // namespace

#ifdef LASTMILE_SERVER_BINARY

TEST_CASE("lastmile-server --log sqlite: survives SIGKILL; cursors from before resume exactly") {
  temp_db db;
  const std::string log_flag = "sqlite:" + db.path.string();
  std::vector<std::string> ids;
  {
    testing::server_process srv(LASTMILE_SERVER_BINARY, {"--threads", "2", "--log", log_flag});
    for (int i = 1; i <= 20; ++i) ids.push_back(publish(srv.port, "orders", "e" + std::to_string(i)));
    publish(srv.port, "other", "x");
    CHECK(srv.stop(SIGKILL) == 128 + SIGKILL);
  }
  // A client had read up to event 12 before the crash.
  const std::string seen = ids[11];
  testing::server_process srv(LASTMILE_SERVER_BINARY, {"--threads", "2", "--log", log_flag});
  auto got = read(srv.port, "orders", seen);
  CHECK_FALSE(got.reset);
  std::vector<std::string> want;
  for (int i = 13; i <= 20; ++i) want.push_back("e" + std::to_string(i));
  CHECK(got.payloads == want);
  CHECK(got.ids == std::vector<std::string>(ids.begin() + 12, ids.end()));

  // Offsets continue after the restart, in the same epoch: the old cursor also sees
  // what is published now.
  auto fresh = publish(srv.port, "orders", "e21");
  CHECK(fresh.substr(0, fresh.find('-')) == seen.substr(0, seen.find('-')));
  CHECK(std::stoull(fresh.substr(fresh.find('-') + 1)) == 22);  // 21 events before it, "other" included
  got = read(srv.port, "orders", got.next);
  CHECK_FALSE(got.reset);
  CHECK(got.payloads == std::vector<std::string>{"e21"});

  // A second kill and restart, now with a shorter retention: the old cursor resets.
  CHECK(srv.stop(SIGKILL) == 128 + SIGKILL);
  testing::server_process again(LASTMILE_SERVER_BINARY, {"--log", log_flag, "--retention", "5"});
  got = read(again.port, "orders", seen);
  CHECK(got.reset);
  CHECK(got.payloads.size() == 4);  // e18..e21 (the other topic holds one of the five)
  CHECK(again.stop(SIGTERM) == 0);
}

TEST_CASE("lastmile-server --log sqlite: an unusable file is a one-line reason") {
  auto c = testing::child_process::spawn(LASTMILE_SERVER_BINARY,
                                         {"--listen", "127.0.0.1:0", "--log", "sqlite:/nonexistent-lastmile-dir/x.db"});
  std::string line = testing::child_process::read_line(c.err, 5s);
  CHECK(line.starts_with("lastmile-server: cannot open the sqlite log"));
  CHECK(c.wait_exit(5s) == 1);
  c.close_pipes();
}

#endif

TEST_CASE("reference server class over a sqlite log, in-process") {
  temp_db db;
  lastmile_server::options o;
  o.port = 0;
  o.threads = 2;
  o.log = "sqlite:" + db.path.string();
  std::string first;
  {
    lastmile_server::basic_reference_server<lastmile::sqlite_log> srv(o);
    REQUIRE_FALSE(srv.listen());
    srv.start();
    first = publish(srv.port(), "t", "one");
    publish(srv.port(), "t", "two");
    srv.shutdown();
    srv.wait();
  }
  lastmile_server::basic_reference_server<lastmile::sqlite_log> srv(o);
  REQUIRE_FALSE(srv.listen());
  srv.start();
  auto got = read(srv.port(), "t", first);
  CHECK_FALSE(got.reset);
  CHECK(got.payloads == std::vector<std::string>{"two"});
  srv.shutdown();
  srv.wait();
}
