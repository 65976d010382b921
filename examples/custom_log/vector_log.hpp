#pragma once
// A minimal custom event_log: what an application writes to put lastmile in front of
// its own storage. Everything lives in one std::vector under a mutex; no retention,
// so no cursor of this log ever expires (only other epochs reset).
#include <lastmile/lastmile.hpp>

#include <mutex>
#include <vector>

namespace example {

class vector_log {
 public:
  explicit vector_log(std::uint64_t epoch = 1) : epoch_(epoch) {}

  lastmile::result<lastmile::cursor> append(std::string_view topic, std::string_view type,
                                            std::string_view payload) {
    std::lock_guard lock(mutex_);
    lastmile::cursor id{epoch_, events_.size() + 1};  // offsets 1, 2, 3, ...
    events_.push_back(lastmile::event_record::make(id, topic, type, payload,
                                                   lastmile::clock_type::now()));
    return id;
  }

  lastmile::read_status read_after(lastmile::cursor after, const lastmile::topic_filter& filter,
                                   std::size_t max, lastmile::event_batch& out) const {
    std::lock_guard lock(mutex_);
    lastmile::read_status st{after, std::nullopt};
    std::uint64_t from = after.offset;
    if (after.epoch != epoch_ || after.offset > events_.size()) {  // not one of ours
      st.reset = lastmile::reset_info{lastmile::reset_reason::foreign_epoch, {epoch_, 0}};
      from = 0;
    }
    std::size_t taken = 0;
    for (auto i = from; i < events_.size() && taken < max; ++i)
      if (filter.matches(events_[i]->topic())) {
        out.push_back(events_[i]);
        ++taken;
      }
    st.next = (taken == max && max > 0) ? out.back()->id() : lastmile::cursor{epoch_, events_.size()};
    if (st.reset && taken > 0) st.reset->earliest = out[out.size() - taken]->id();
    return st;
  }

  lastmile::cursor head() const {
    std::lock_guard lock(mutex_);
    return {epoch_, events_.size()};
  }
  lastmile::cursor earliest() const { return {epoch_, 0}; }
  std::uint64_t epoch() const { return epoch_; }

 private:
  const std::uint64_t epoch_;
  mutable std::mutex mutex_;
  std::vector<lastmile::event_ptr> events_;
};

static_assert(lastmile::event_log<vector_log>);

}  // namespace example
