#include "lastmile/detail/timer_wheel.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <vector>

using lastmile::detail::timer_wheel;
using lastmile::detail::wheel_entry;
using namespace std::chrono_literals;

namespace {

struct probe : wheel_entry {
  int id = 0;
  std::vector<int>* fired = nullptr;
  probe(int i, std::vector<int>& f) : id(i), fired(&f) {
    on_expire = [](wheel_entry& e) {
      auto& p = static_cast<probe&>(e);
      p.fired->push_back(p.id);
    };
  }
};

const timer_wheel::clock::time_point t0{std::chrono::seconds(1000)};

}  // namespace

TEST_CASE("timer wheel: an entry fires at its deadline, not before") {
  timer_wheel w(t0);
  std::vector<int> fired;
  probe a(1, fired);
  w.schedule(a, t0 + 25ms);
  CHECK(w.size() == 1);
  CHECK(a.scheduled());
  w.expire(t0 + 20ms);
  CHECK(fired.empty());
  w.expire(t0 + 29ms);  // 25 ms has passed, but its tick (30 ms) has not begun
  CHECK(fired.empty());
  w.expire(t0 + 30ms);
  CHECK(fired == std::vector<int>{1});
  CHECK_FALSE(a.scheduled());
  CHECK(w.size() == 0);
  CHECK_FALSE(w.next_wake().has_value());
}

TEST_CASE("timer wheel: cancel and reschedule") {
  timer_wheel w(t0);
  std::vector<int> fired;
  probe a(1, fired), b(2, fired);
  w.schedule(a, t0 + 50ms);
  w.schedule(b, t0 + 50ms);
  w.cancel(a);
  w.schedule(b, t0 + 200ms);  // moved later
  w.expire(t0 + 100ms);
  CHECK(fired.empty());
  w.schedule(a, t0 + 120ms);
  w.expire(t0 + 1s);
  CHECK(fired == std::vector<int>{1, 2});
  w.schedule(a, timer_wheel::clock::time_point::max());  // max: not scheduled
  CHECK_FALSE(a.scheduled());
  CHECK(w.size() == 0);
}

TEST_CASE("timer wheel: deadlines beyond one turn wait for their turn") {
  timer_wheel w(t0);
  std::vector<int> fired;
  probe far(1, fired), near(2, fired);
  // Same slot (12 s = 1200 ticks = 2 turns + 176), different turns.
  w.schedule(far, t0 + 12s);
  w.schedule(near, t0 + 12s - 2 * timer_wheel::tick * timer_wheel::slots);
  auto wake = w.next_wake();
  REQUIRE(wake.has_value());
  CHECK(*wake == t0 + 12s - 2 * timer_wheel::tick * timer_wheel::slots);
  for (auto t = t0; t < t0 + 11s; t += 1s) w.expire(t);
  CHECK(fired == std::vector<int>{2});
  w.expire(t0 + 11990ms);
  CHECK(fired.size() == 1);
  w.expire(t0 + 12s);
  CHECK(fired == std::vector<int>{2, 1});
}

TEST_CASE("timer wheel: a long pause expires everything that is due, once") {
  timer_wheel w(t0);
  std::vector<int> fired;
  std::vector<std::unique_ptr<probe>> ps;
  for (int i = 0; i < 100; ++i) ps.push_back(std::make_unique<probe>(i, fired));
  for (int i = 0; i < 100; ++i) w.schedule(*ps[i], t0 + std::chrono::milliseconds(i * 97));  // up to 9.6 s
  w.expire(t0 + 60s);  // far more than one turn later
  CHECK(fired.size() == 100);
  CHECK(w.size() == 0);
}

TEST_CASE("timer wheel: an entry already due fires on the next expire; callbacks may reschedule") {
  timer_wheel w(t0);
  std::vector<int> fired;
  w.expire(t0 + 1s);
  probe a(1, fired);
  w.schedule(a, t0 + 500ms);  // in the past
  w.expire(t0 + 1s);          // same tick: nothing new has begun
  CHECK(fired.empty());
  w.expire(t0 + 1010ms);
  CHECK(fired == std::vector<int>{1});

  // A callback that re-arms itself 20 ms later: it runs once per expire, not in a loop.
  struct again : wheel_entry {
    timer_wheel* w;
    int runs = 0;
    explicit again(timer_wheel& wh) : w(&wh) {
      on_expire = [](wheel_entry& e) {
        auto& s = static_cast<again&>(e);
        ++s.runs;
        s.w->schedule(s, t0);  // already due
      };
    }
  } r(w);
  w.schedule(r, t0 + 1020ms);
  w.expire(t0 + 1020ms);
  CHECK(r.runs == 1);
  CHECK(r.scheduled());
  w.expire(t0 + 1030ms);
  CHECK(r.runs == 2);
  w.cancel(r);
}

TEST_CASE("timer wheel: an entry cancelled by an earlier callback of the same expire does not run") {
  timer_wheel w(t0);
  std::vector<int> fired;
  struct canceller : wheel_entry {
    timer_wheel* w;
    wheel_entry* victim = nullptr;
    bool ran = false;
    explicit canceller(timer_wheel& wh) : w(&wh) {
      on_expire = [](wheel_entry& e) {
        auto& c = static_cast<canceller&>(e);
        c.ran = true;
        c.w->cancel(*c.victim);
      };
    }
  } c(w);
  probe victim(7, fired);
  c.victim = &victim;
  w.schedule(c, t0 + 10ms);
  w.schedule(victim, t0 + 10ms);  // same tick, linked after c
  w.expire(t0 + 10ms);
  CHECK(c.ran);
  CHECK(fired.empty());
  CHECK(w.size() == 0);
}
