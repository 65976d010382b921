#pragma once
// hub<Log>: the meeting point of producers and transports. Producers publish from
// any thread; the hub appends to the log and wakes the readers whose filter matches.
// Readers never receive events from the hub: they wait, then pull everything after
// their cursor from the log (cursor-pull), so a slow reader costs no memory.
//
// Wake-ups are indexed by topic (exact names, prefix wildcards, match-all), so a
// publish touches only the waiters it concerns, and they are posted to each
// executor once per publish, however many waiters that executor has.
#include <lastmile/core/concepts.hpp>
#include <lastmile/core/error.hpp>
#include <lastmile/core/topic.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/error.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/execution/outstanding_work.hpp>

#include <atomic>
#include <concepts>
#include <memory>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lastmile {

namespace detail {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct waiter_base;

// Intrusive list node: one per (waiter, index bucket) pair.
struct wait_link {
  wait_link* prev = this;
  wait_link* next = this;
  waiter_base* owner = nullptr;
  struct wait_bucket* bucket = nullptr;
};

struct wait_bucket {
  wait_link head;            // sentinel of a circular list
  std::size_t count = 0;
  std::string_view key;      // the owning map's key (node-based map: stable)
  bool prefix = false;
  bool all = false;
};

struct waiter_base {
  waiter_base() = default;
  waiter_base(const waiter_base&) = delete;
  waiter_base& operator=(const waiter_base&) = delete;
  virtual ~waiter_base() = default;
  // Runs on executor(): the waiter's completion (an allocated waiter frees itself).
  virtual void complete(std::error_code ec) = 0;
  virtual asio::any_io_executor executor() const = 0;  // where the completion is posted

  // One link per pattern of the filter: the first inline (one topic, the usual
  // case, needs no allocation), the others in `more`.
  wait_link& link_at(std::size_t i) noexcept { return i == 0 ? first : more[i - 1]; }
  wait_link first;
  std::unique_ptr<wait_link[]> more;
  std::uint32_t link_count = 0;
  bool registered = false;  // guarded by the hub's mutex
};

}  // namespace detail

// A wait that lives inside its owner: hub::arm registers it without allocating,
// the hub posts notify(ec) to notify_executor() once (an event matching the filter
// exists after the cursor; errc::shut_down), hub::disarm withdraws it at once. A
// stream that waits after every write pays no allocation, no cancellation slot and
// no handler copy per wait. The owner keeps it alive and in place while it is
// armed (the filter only during arm()). A subclass says where and what to run, so
// the waiter itself stores nothing but its links (an owner usually knows its
// executor already).
class hub_waiter : public detail::waiter_base {
 public:
  // Where notify() runs; called by publishing threads while the waiter is armed
  // or its notify is on its way, so it must not change meanwhile.
  virtual asio::io_context::executor_type notify_executor() const noexcept = 0;
  // Runs once per arm() that was not withdrawn, on notify_executor().
  virtual void notify(std::error_code ec) = 0;

 protected:
  hub_waiter() = default;

 private:
  asio::any_io_executor executor() const final { return notify_executor(); }
  void complete(std::error_code ec) final { notify(ec); }
};

// A source with intrusive waits (hub<Log>): transports wait with a hub_waiter member
// instead of an allocated async_wait when their source is one.
template <class Source>
concept intrusive_source = requires(Source& s, hub_waiter& w, cursor c, const topic_filter& f) {
  s.arm(w, c, f);
  { s.disarm(w) } -> std::same_as<bool>;
};

struct hub_stats {
  std::uint64_t published = 0;
  std::uint64_t wakeups = 0;       // waiters completed by a publish
  std::size_t waiters = 0;         // currently waiting
};

template <event_log Log>
class hub {
 public:
  explicit hub(Log& log) : log_(log) { all_.all = true; }
  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;
  ~hub() { shutdown(); }

  Log& log() noexcept { return log_; }
  const Log& log() const noexcept { return log_; }

  // Validates and appends an event, then wakes matching waiters. Thread-safe.
  // An empty type means "message".
  result<cursor> publish(std::string_view topic, std::string_view type, std::string_view payload) {
    if (!valid_topic(topic)) return errc::bad_topic;
    if (type.empty()) type = "message";
    if (!valid_type(type)) return errc::bad_type;
    auto id = log_.append(topic, type, payload);
    if (!id) return id;
    published_.fetch_add(1, std::memory_order_relaxed);
    wake(topic);
    return id;
  }

  // Asynchronous form (remote logs acknowledge later): completes with
  // void(std::error_code, cursor) on `ex` (or the handler's associated executor).
  template <class Token>
  auto async_publish(const asio::any_io_executor& ex, std::string_view topic, std::string_view type,
                     std::string_view payload, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, cursor)>(
        [this, ex](auto handler, std::string_view t, std::string_view ty, std::string_view p) {
          auto r = publish(t, ty, p);
          auto hex = asio::get_associated_executor(handler, ex);
          asio::post(hex, [h = std::move(handler), r]() mutable {
            std::move(h)(r.error(), r ? *r : cursor{});
          });
        },
        token, topic, type, payload);
  }

  read_status read_after(cursor after, const topic_filter& f, std::size_t max, event_batch& out) const {
    return log_.read_after(after, f, max, out);
  }
  cursor head() const { return log_.head(); }
  cursor earliest() const { return log_.earliest(); }
  cursor resolve(position p) const { return lastmile::resolve(log_, p); }

  // Completes with void(std::error_code) when an event matching `filter` exists after
  // `after` (at once if one does already, or if `after` is not retained: the read
  // will report the reset). Errors: errc::shut_down after shutdown(),
  // asio::error::operation_aborted when cancelled through the handler's cancellation
  // slot. `filter` must stay alive until the handler runs. Completions are posted to
  // `ex`, then the handler runs on its associated executor (by default `ex`).
  template <class Token>
  auto async_wait(const asio::any_io_executor& ex, cursor after, const topic_filter& filter,
                  Token&& token) {
    return asio::async_initiate<Token, void(std::error_code)>(
        [this](auto handler, asio::any_io_executor ex, cursor after, const topic_filter* filter) {
          start_wait(ex, after, *filter, std::move(handler));
        },
        token, ex, after, &filter);
  }

  // The intrusive form of async_wait: `w`'s notify runs once on its executor under
  // the same conditions (errors: errc::shut_down). `w` must stay alive until it has
  // run or disarm(w) returned true; arm again only after either. `filter` is read
  // during the call only.
  void arm(hub_waiter& w, cursor after, const topic_filter& filter) { register_or_complete(&w, after, filter); }

  // Withdraws an armed `w`: true if it was waiting (its notify will not run); false
  // if its notify is already on its way (or it was not armed).
  bool disarm(hub_waiter& w) {
    std::lock_guard lock(mutex_);
    if (!w.registered) return false;
    unlink(&w);
    return true;
  }

  // Ends every wait with errc::shut_down; later waits fail at once. Publishing still works.
  void shutdown() {
    std::vector<detail::waiter_base*> woken;
    {
      std::lock_guard lock(mutex_);
      shut_down_ = true;
      // collect() erases emptied buckets, so always restart from a live one.
      while (waiter_count_ > 0) {
        if (all_.count) collect(all_, woken);
        else if (!exact_.empty()) collect(exact_.begin()->second, woken);
        else collect(prefix_.begin()->second, woken);
      }
    }
    post_completions(woken, make_error_code(errc::shut_down));
  }

  hub_stats stats() const {
    std::lock_guard lock(mutex_);
    return {published_.load(std::memory_order_relaxed), wakeups_, waiter_count_};
  }

 private:
  template <class Handler>
  struct waiter final : detail::waiter_base {
    waiter(asio::any_io_executor ex, Handler&& h) : io(std::move(ex)), handler(std::move(h)) {}
    asio::any_io_executor executor() const override { return io; }
    void complete(std::error_code ec) override {
      auto slot = asio::get_associated_cancellation_slot(handler);
      if (slot.is_connected()) slot.clear();
      Handler h(std::move(handler));
      asio::any_io_executor ex = std::move(io);
      delete this;
      // Usually the handler's executor is `io` and this runs inline; a strand or a
      // future's executor gets the handler dispatched to it.
      auto assoc = asio::get_associated_executor(h, ex);
      asio::dispatch(assoc, [h = std::move(h), ec]() mutable { std::move(h)(ec); });
    }
    asio::any_io_executor io;  // work-tracked
    Handler handler;
  };

  struct cancel_handler {
    hub* self;
    detail::waiter_base* w;
    void operator()(asio::cancellation_type type) {
      if (type == asio::cancellation_type::none) return;
      {
        std::lock_guard lock(self->mutex_);
        if (!w->registered) return;  // already woken: its completion is on its way
        self->unlink(w);
      }
      std::vector<detail::waiter_base*> one{w};
      post_completions(one, asio::error::operation_aborted);
    }
  };

  template <class Handler>
  void start_wait(const asio::any_io_executor& ex, cursor after, const topic_filter& filter,
                  Handler handler) {
    asio::any_io_executor tracked = asio::prefer(ex, asio::execution::outstanding_work.tracked);
    auto slot = asio::get_associated_cancellation_slot(handler);
    auto* w = new waiter<Handler>(std::move(tracked), std::move(handler));
    // Installed before the waiter becomes visible to publishers, whose completion
    // clears the slot; cancellation is emitted from the handler's own context.
    if (slot.is_connected()) slot.template emplace<cancel_handler>(cancel_handler{this, w});

    register_or_complete(w, after, filter);
  }

  // Links `w` for `filter`, or posts its completion at once (an event is already
  // there, the cursor is not retained, or the hub is shut down).
  void register_or_complete(detail::waiter_base* w, cursor after, const topic_filter& filter) {
    std::error_code immediate;
    bool done_now = false;
    {
      std::lock_guard lock(mutex_);
      if (shut_down_) {
        immediate = make_error_code(errc::shut_down);
        done_now = true;
      } else {
        // Checked under the waiter lock: a publish appends before it takes this lock,
        // so either we see its event here or it sees our registration.
        event_batch probe;
        auto st = log_.read_after(after, filter, 1, probe);
        done_now = st.reset.has_value() || !probe.empty();
      }
      if (!done_now) link(w, filter);
    }
    if (done_now) {
      std::vector<detail::waiter_base*> one{w};
      post_completions(one, immediate);
    }
  }

  detail::wait_bucket& bucket_for(std::unordered_map<std::string, detail::wait_bucket,
                                                     detail::string_hash, std::equal_to<>>& map,
                                  std::string_view key, bool prefix) {
    auto it = map.find(key);
    if (it == map.end()) {
      it = map.emplace(std::string(key), detail::wait_bucket{}).first;
      it->second.head.prev = it->second.head.next = &it->second.head;  // sentinel moved: re-aim
      it->second.key = it->first;
      it->second.prefix = prefix;
    }
    return it->second;
  }

  void link(detail::waiter_base* w, const topic_filter& filter) {
    const auto& pats = filter.patterns();
    const std::size_t n = pats.empty() ? 1 : pats.size();
    if (n > 1 && (!w->more || w->link_count < n)) w->more = std::make_unique<detail::wait_link[]>(n - 1);
    w->link_count = static_cast<std::uint32_t>(n);
    for (std::size_t i = 0; i < n; ++i) {
      detail::wait_bucket* b;
      if (pats.empty()) {
        b = &all_;
      } else if (pats[i].prefix) {
        b = &bucket_for(prefix_, pats[i].text, true);
      } else {
        b = &bucket_for(exact_, pats[i].text, false);
      }
      auto& l = w->link_at(i);
      l.owner = w;
      l.bucket = b;
      l.prev = b->head.prev;
      l.next = &b->head;
      b->head.prev->next = &l;
      b->head.prev = &l;
      ++b->count;
    }
    w->registered = true;
    ++waiter_count_;
  }

  void unlink(detail::waiter_base* w) {
    for (std::size_t i = 0; i < w->link_count; ++i) {
      auto& l = w->link_at(i);
      l.prev->next = l.next;
      l.next->prev = l.prev;
      auto* b = l.bucket;
      if (--b->count == 0 && !b->all) {
        auto& map = b->prefix ? prefix_ : exact_;
        map.erase(map.find(b->key));
      }
    }
    w->registered = false;
    --waiter_count_;
  }

  // Moves every waiter of bucket `b` to `out` (unlinking each from all its buckets).
  void collect(detail::wait_bucket& b, std::vector<detail::waiter_base*>& out) {
    while (b.count > 0) {
      auto* w = b.head.next->owner;
      bool last = b.count == 1 && !b.all;  // unlink may erase b itself
      unlink(w);
      out.push_back(w);
      if (last) break;
    }
  }

  void wake(std::string_view topic) {
    std::vector<detail::waiter_base*> woken;
    {
      std::lock_guard lock(mutex_);
      if (waiter_count_ == 0) return;
      if (all_.count) collect(all_, woken);
      if (!exact_.empty()) {
        auto it = exact_.find(topic);
        if (it != exact_.end()) collect(it->second, woken);
      }
      if (!prefix_.empty()) {
        // "orders.*" is stored as "orders."; try every prefix of the topic ending in a dot.
        for (std::size_t dot = topic.find('.'); dot != std::string_view::npos && dot + 1 < topic.size();
             dot = topic.find('.', dot + 1)) {
          auto it = prefix_.find(topic.substr(0, dot + 1));
          if (it != prefix_.end()) collect(it->second, woken);
        }
      }
      wakeups_ += woken.size();
    }
    post_completions(woken, {});
  }

  // Posts completions grouped by executor: one post per distinct executor.
  static void post_completions(std::vector<detail::waiter_base*>& ws, std::error_code ec) {
    while (!ws.empty()) {
      asio::any_io_executor ex = ws.front()->executor();
      std::vector<detail::waiter_base*> group;
      std::size_t keep = 0;
      for (auto* w : ws) {
        if (w->executor() == ex) group.push_back(w);
        else ws[keep++] = w;
      }
      ws.resize(keep);
      asio::post(ex, [group = std::move(group), ec] {
        for (auto* w : group) w->complete(ec);
      });
    }
  }

  Log& log_;
  mutable std::mutex mutex_;
  detail::wait_bucket all_;
  std::unordered_map<std::string, detail::wait_bucket, detail::string_hash, std::equal_to<>> exact_;
  std::unordered_map<std::string, detail::wait_bucket, detail::string_hash, std::equal_to<>> prefix_;
  std::size_t waiter_count_ = 0;
  std::uint64_t wakeups_ = 0;
  std::atomic<std::uint64_t> published_{0};
  bool shut_down_ = false;
};

}  // namespace lastmile
