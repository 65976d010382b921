#pragma once
// A hashed timer wheel: many deadlines, one timer. Each event loop keeps one, and
// every connection's deadline (request head and body, idle keep-alive, a held poll's
// timeout, a stream's heartbeat) is an intrusive entry in it, so a waiting
// connection owns no timer object and arming or moving a deadline is an O(1) unlink
// and link. Sans-I/O: the owner drives it with the current time (expire) and sleeps
// until next_wake().
//
// Resolution is one tick (10 ms): an entry fires at the first expire() at or after
// its deadline, once that deadline's tick has begun. Entries further away than one
// turn of the wheel (slots x tick) sit in their slot and are skipped until due.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace lastmile::detail {

struct wheel_entry {
  using clock = std::chrono::steady_clock;
  wheel_entry() = default;
  wheel_entry(const wheel_entry&) = delete;
  wheel_entry& operator=(const wheel_entry&) = delete;

  bool scheduled() const noexcept { return prev != nullptr; }
  clock::time_point due() const noexcept { return due_; }

  // What runs when the entry expires (it is unlinked first, so it may reschedule).
  void (*on_expire)(wheel_entry&) = nullptr;

 private:
  friend class timer_wheel;
  wheel_entry* prev = nullptr;
  wheel_entry* next = nullptr;
  clock::time_point due_ = clock::time_point::max();
};

class timer_wheel {
 public:
  using clock = wheel_entry::clock;
  static constexpr clock::duration tick = std::chrono::milliseconds(10);
  static constexpr std::size_t slots = 512;  // one turn: 5.12 s

  explicit timer_wheel(clock::time_point origin = clock::now()) : origin_(origin) {
    for (auto& s : slots_) s.prev = s.next = &s;
    expired_.prev = expired_.next = &expired_;
  }
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;

  // (Re)schedules `e` at `due`; time_point::max() unschedules it.
  void schedule(wheel_entry& e, clock::time_point due) noexcept {
    cancel(e);
    if (due == clock::time_point::max()) return;
    e.due_ = due;
    std::int64_t t = tick_of(due);
    if (t <= done_) t = done_ + 1;  // already due: the next expire() takes it
    link(slots_[static_cast<std::size_t>(t) % slots], e);
    ++size_;
  }
  void cancel(wheel_entry& e) noexcept {
    if (!e.scheduled()) return;
    e.prev->next = e.next;
    e.next->prev = e.prev;
    e.prev = e.next = nullptr;
    e.due_ = clock::time_point::max();
    --size_;
  }

  // Runs on_expire for every entry due at or before `now`. Entries scheduled while
  // this runs (for `now` or earlier) wait for the next call.
  void expire(clock::time_point now) {
    const std::int64_t to = tick_floor(now);
    if (to <= done_) return;
    const std::int64_t from = to - done_ > static_cast<std::int64_t>(slots) ? to - static_cast<std::int64_t>(slots) + 1 : done_ + 1;
    done_ = to;
    for (std::int64_t t = from; t <= to && size_ > 0; ++t) {
      auto& head = slots_[static_cast<std::size_t>(t) % slots];
      for (wheel_entry* e = head.next; e != &head;) {
        wheel_entry* next = e->next;
        if (e->due_ <= now) {
          e->prev->next = e->next;
          e->next->prev = e->prev;
          link(expired_, *e);  // still counted and cancellable until it runs
        }
        e = next;
      }
    }
    while (expired_.next != &expired_) {
      wheel_entry& e = *expired_.next;
      cancel(e);
      if (e.on_expire) e.on_expire(e);
    }
  }

  // When the owner should call expire() next (the start of the first tick that has
  // an entry), or nothing when the wheel is empty.
  std::optional<clock::time_point> next_wake() const noexcept {
    if (size_ == 0) return std::nullopt;
    for (std::int64_t t = done_ + 1; t <= done_ + static_cast<std::int64_t>(slots); ++t) {
      const auto& head = slots_[static_cast<std::size_t>(t) % slots];
      // (If the slot only holds entries of a later turn, that wake finds nothing
      // due and the owner asks again: at most once per turn for such a slot.)
      if (head.next != &head) return origin_ + tick * t;
    }
    return origin_ + tick * (done_ + 1);
  }

  std::size_t size() const noexcept { return size_; }

 private:
  std::int64_t tick_floor(clock::time_point t) const noexcept {
    if (t <= origin_) return 0;
    return static_cast<std::int64_t>((t - origin_) / tick);
  }
  // The tick whose start is at or after `t`: an entry fires once its time has come.
  std::int64_t tick_of(clock::time_point t) const noexcept {
    if (t <= origin_) return 0;
    auto d = t - origin_;
    std::int64_t n = static_cast<std::int64_t>(d / tick);
    return d % tick == clock::duration::zero() ? n : n + 1;
  }
  static void link(wheel_entry& head, wheel_entry& e) noexcept {
    e.prev = head.prev;
    e.next = &head;
    head.prev->next = &e;
    head.prev = &e;
  }

  clock::time_point origin_;
  std::int64_t done_ = 0;  // ticks up to this one have been expired
  std::size_t size_ = 0;
  std::array<wheel_entry, slots> slots_;  // sentinels of circular lists
  wheel_entry expired_;                   // sentinel: entries about to run
};

}  // namespace lastmile::detail
