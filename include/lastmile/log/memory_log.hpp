#pragma once
// memory_log: the default event_log. A bounded, thread-safe, in-memory ordered log.
//  - Bounded by event count, bytes (topic+type+payload) and age; the oldest events go
//    first. Age is enforced on append and by trim().
//  - A per-topic index, so reading a quiet topic from an old cursor does not scan
//    every event; prefix filters use an ordered topic map.
//  - A fresh random epoch per instance (a restart is a new history), unless one is
//    given: a mirror of a remote log keeps the remote's epoch and cursors (insert()).
#include <lastmile/core/concepts.hpp>
#include <lastmile/core/cursor.hpp>
#include <lastmile/core/error.hpp>
#include <lastmile/core/event.hpp>
#include <lastmile/core/topic.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace lastmile {

struct memory_log_options {
  std::size_t max_events = 100'000;
  std::size_t max_bytes = 256u * 1024 * 1024;
  std::chrono::milliseconds max_age{0};  // 0: no age limit
  std::optional<std::uint64_t> epoch;    // default: random, non-zero
  std::uint64_t start_offset = 0;        // offsets handed out start after this one
  std::function<clock_type::time_point()> clock;  // default: system_clock::now
};

class memory_log {
 public:
  explicit memory_log(memory_log_options opts = {})
      : opts_(std::move(opts)),
        epoch_(opts_.epoch ? *opts_.epoch : random_epoch()),
        floor_(opts_.start_offset),
        head_(opts_.start_offset) {
    if (!opts_.clock) opts_.clock = [] { return clock_type::now(); };
    if (opts_.max_events == 0) opts_.max_events = 1;
  }
  memory_log(const memory_log&) = delete;
  memory_log& operator=(const memory_log&) = delete;

  std::uint64_t epoch() const noexcept { return epoch_; }

  cursor head() const {
    std::shared_lock lock(mutex_);
    return {epoch_, head_};
  }
  cursor earliest() const {
    std::shared_lock lock(mutex_);
    return {epoch_, floor_};
  }
  std::size_t size() const {
    std::shared_lock lock(mutex_);
    return events_.size();
  }
  std::size_t bytes() const {
    std::shared_lock lock(mutex_);
    return bytes_;
  }
  std::size_t topic_count() const {
    std::shared_lock lock(mutex_);
    return topics_.size();
  }
  const memory_log_options& options() const noexcept { return opts_; }

  // Appends an event with the next offset. Topic and type must be valid (the hub checks).
  result<cursor> append(std::string_view topic, std::string_view type, std::string_view payload) {
    if (topic.size() + type.size() + payload.size() > opts_.max_bytes ||
        payload.size() > UINT32_MAX)
      return errc::payload_too_large;
    auto now = opts_.clock();
    event_ptr rec = event_record::make({}, topic, type, payload, now);
    std::unique_lock lock(mutex_);
    cursor id{epoch_, head_ + 1};
    const_cast<event_record&>(*rec).id_ = id;
    push(std::move(rec));
    evict(now);
    return id;
  }

  // Inserts an event whose cursor was assigned elsewhere (a mirror of a remote log).
  // The cursor must belong to this log's epoch and lie after the head.
  result<cursor> insert(cursor id, std::string_view topic, std::string_view type,
                        std::string_view payload, clock_type::time_point time) {
    if (topic.size() + type.size() + payload.size() > opts_.max_bytes ||
        payload.size() > UINT32_MAX)
      return errc::payload_too_large;
    event_ptr rec = event_record::make(id, topic, type, payload, time);
    std::unique_lock lock(mutex_);
    if (id.epoch != epoch_ || id.offset <= head_) return errc::out_of_order;
    if (id.offset != head_ + 1) dense_ = false;
    push(std::move(rec));
    evict(opts_.clock());
    return id;
  }

  // Drops events older than max_age now (append does it too; call this from a timer
  // when appends may stop for long).
  void trim() {
    std::unique_lock lock(mutex_);
    evict(opts_.clock());
  }

  read_status read_after(cursor after, const topic_filter& filter, std::size_t max,
                         event_batch& out) const {
    std::shared_lock lock(mutex_);
    read_status st{after, std::nullopt};
    std::uint64_t from = after.offset;
    if (after.epoch != epoch_ || after.offset < floor_ || after.offset > head_) {
      reset_reason why = after.epoch != epoch_     ? reset_reason::foreign_epoch
                         : after.offset < floor_   ? reset_reason::expired
                                                   : reset_reason::ahead;
      st.reset = reset_info{why, {epoch_, floor_}};
      from = floor_;
      st.next = {epoch_, floor_};
    }
    const std::size_t first_out = out.size();
    if (max == 0) return st;

    if (filter.matches_all()) {
      for (auto i = index_after(from); i < events_.size() && out.size() - first_out < max; ++i)
        out.push_back(events_[i]);
    } else {
      read_indexed(from, filter, max, out);
    }

    const std::size_t n = out.size() - first_out;
    st.next = n == max ? out.back()->id() : cursor{epoch_, head_};
    if (st.reset) {
      if (n > 0)
        st.reset->earliest = out[first_out]->id();
      else if (!events_.empty())
        st.reset->earliest = events_.front()->id();
    }
    return st;
  }

 private:
  struct topic_entry {
    std::deque<const event_record*> events;  // owned by events_, same order
  };

  static std::uint64_t random_epoch() {
    std::random_device rd;
    std::uint64_t e = 0;
    while (e == 0) e = (std::uint64_t(rd()) << 32) ^ rd();
    return e;
  }

  static bool offset_less(const event_record* r, std::uint64_t off) { return r->id().offset < off; }

  // Index in events_ of the first event whose offset is greater than `off`.
  std::size_t index_after(std::uint64_t off) const {
    if (events_.empty()) return 0;
    std::uint64_t front = events_.front()->id().offset;
    if (off < front) return 0;
    if (dense_) return std::min<std::uint64_t>(off - front + 1, events_.size());
    auto it = std::upper_bound(events_.begin(), events_.end(), off,
                               [](std::uint64_t o, const event_ptr& e) { return o < e->id().offset; });
    return static_cast<std::size_t>(it - events_.begin());
  }

  void push(event_ptr rec) {
    auto it = topics_.find(rec->topic());
    if (it == topics_.end()) it = topics_.emplace(std::string(rec->topic()), topic_entry{}).first;
    it->second.events.push_back(rec.get());
    bytes_ += rec->size_bytes();
    head_ = rec->id().offset;
    events_.push_back(std::move(rec));
  }

  void evict(clock_type::time_point now) {
    const bool by_age = opts_.max_age.count() > 0;
    while (!events_.empty()) {
      const event_record& front = *events_.front();
      bool over = events_.size() > opts_.max_events || bytes_ > opts_.max_bytes ||
                  (by_age && front.time() <= now - opts_.max_age);
      if (!over) break;
      auto it = topics_.find(front.topic());
      it->second.events.pop_front();
      if (it->second.events.empty()) topics_.erase(it);
      bytes_ -= front.size_bytes();
      floor_ = front.id().offset;
      events_.pop_front();
    }
    if (events_.empty()) dense_ = true;  // offsets restart contiguous from the next one
  }

  // Filtered read through the per-topic index: merges the lists of matching topics
  // in offset order. Falls back to a scan when very many topics match.
  void read_indexed(std::uint64_t from, const topic_filter& filter, std::size_t max,
                    event_batch& out) const {
    struct run {
      const std::deque<const event_record*>* list;
      std::size_t pos;
    };
    std::vector<run> runs;
    std::size_t candidates = 0;
    auto add = [&](const topic_entry& e) {
      auto it = std::lower_bound(e.events.begin(), e.events.end(), from + 1, offset_less);
      auto pos = static_cast<std::size_t>(it - e.events.begin());
      if (pos < e.events.size()) {
        runs.push_back({&e.events, pos});
        candidates += e.events.size() - pos;
      }
    };
    constexpr std::size_t max_runs = 16;
    bool too_many = false;
    for (const auto& p : filter.patterns()) {
      if (!p.prefix) {
        auto it = topics_.find(std::string_view(p.text));
        if (it != topics_.end()) add(it->second);
        continue;
      }
      for (auto it = topics_.lower_bound(std::string_view(p.text));
           it != topics_.end() && it->first.starts_with(p.text); ++it) {
        if (it->first.size() > p.text.size()) add(it->second);
        if (runs.size() > max_runs) { too_many = true; break; }
      }
      if (too_many) break;
    }
    // Overlapping patterns (`a.*` and `a.b`) may add a topic twice: merge would
    // duplicate, so dedupe runs by list identity.
    std::sort(runs.begin(), runs.end(), [](const run& a, const run& b) { return a.list < b.list; });
    runs.erase(std::unique(runs.begin(), runs.end(),
                           [](const run& a, const run& b) { return a.list == b.list; }),
               runs.end());

    if (too_many || candidates * 4 > events_.size() * 3) {
      std::size_t taken = 0;
      for (auto i = index_after(from); i < events_.size() && taken < max; ++i)
        if (filter.matches(events_[i]->topic())) {
          out.push_back(events_[i]);
          ++taken;
        }
      return;
    }
    std::size_t taken = 0;
    while (taken < max) {
      run* best = nullptr;
      for (auto& r : runs)
        if (r.pos < r.list->size() &&
            (!best || (*r.list)[r.pos]->id().offset < (*best->list)[best->pos]->id().offset))
          best = &r;
      if (!best) break;
      const event_record* rec = (*best->list)[best->pos++];
      out.push_back(event_at(rec->id().offset));
      ++taken;
    }
  }

  // The owning pointer of a record known to be in the log.
  event_ptr event_at(std::uint64_t offset) const {
    std::size_t i = index_after(offset - 1);
    return events_[i];
  }

  memory_log_options opts_;
  const std::uint64_t epoch_;
  mutable std::shared_mutex mutex_;
  std::deque<event_ptr> events_;
  std::map<std::string, topic_entry, std::less<>> topics_;
  std::size_t bytes_ = 0;
  std::uint64_t floor_;  // every event with offset <= floor_ is gone (or never was)
  std::uint64_t head_;   // offset of the last event appended
  bool dense_ = true;    // offsets in events_ are contiguous
};

static_assert(event_log<memory_log>);

}  // namespace lastmile
