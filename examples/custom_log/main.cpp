// Plugging your own storage into lastmile: model event_log, hand it to a hub.
#include "vector_log.hpp"

#include <cstdio>

int main() {
  example::vector_log log;
  lastmile::hub<example::vector_log> hub(log);
  hub.publish("orders", "created", R"({"order":1})");
  hub.publish("users", "joined", R"({"user":"ada"})");
  hub.publish("orders", "paid", R"({"order":1})");

  lastmile::event_batch out;
  auto orders = *lastmile::topic_filter::parse({"orders"});
  auto st = hub.read_after(hub.earliest(), orders, 100, out);
  for (auto& e : out)
    std::printf("%s %s %.*s\n", lastmile::to_string(e->id()).c_str(), std::string(e->type()).c_str(),
                int(e->payload().size()), e->payload().data());
  std::printf("next: %s\n", lastmile::to_string(st.next).c_str());
  return out.size() == 2 && st.next == hub.head() ? 0 : 1;
}
