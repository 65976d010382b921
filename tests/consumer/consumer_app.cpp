// A tiny application using lastmile through its CMake package: publish through the
// hub, read the event back, print it.
#include <lastmile/lastmile.hpp>
#include <cstdio>

int main() {
  lastmile::memory_log log;
  lastmile::hub<lastmile::memory_log> hub(log);
  auto id = hub.publish("orders", "created", R"({"order":42})");
  if (!id) return 1;
  std::vector<lastmile::event_ptr> out;
  auto st = hub.read_after(log.earliest(), lastmile::topic_filter::all(), 10, out);
  if (out.size() != 1 || st.reset || out[0]->payload() != R"({"order":42})") return 2;
  std::printf("consumer ok: %s\n", lastmile::to_string(out[0]->id()).c_str());
  return 0;
}
