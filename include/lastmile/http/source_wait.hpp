#pragma once
// http::source_wait<Source>: the source wait of a parked exchange (http::parked),
// written once for every parked object that waits on an event_source.
//
// With a hub (or any source with intrusive waits: arm/disarm of a hub_waiter) the
// wait is a member of the parked object: arming it allocates nothing, and
// withdrawing it (peer closed, deadline, shutdown) is immediate, so parked::
// cancel_wait() can say so. Other sources get async_wait with the park handler
// and its cancellation slot.
#include <lastmile/core/concepts.hpp>
#include <lastmile/hub.hpp>
#include <lastmile/http/server.hpp>

#include <optional>
#include <utility>

namespace lastmile::http {

template <event_source Source>
class source_wait;

// Intrusive: the park handler is kept while the wait is armed (it holds the
// connection, as a pending operation's handler would).
template <event_source Source>
  requires intrusive_source<Source>
class source_wait<Source> {
 public:
  explicit source_wait(exchange&) {}
  // The handler's cancellation slot is not needed: cancel() withdraws the wait.
  void start(Source& source, exchange&, park_handler h, cursor after, const topic_filter& f) {
    w_.wake = std::move(h.get());
    source.arm(w_, after, f);
  }
  bool cancel(Source& source) noexcept {
    if (!source.disarm(w_)) return false;
    w_.wake.conn.reset();
    return true;
  }

 private:
  struct armed final : hub_waiter {
    detail::park_wake wake;  // set while armed (it holds the connection)
    asio::io_context::executor_type notify_executor() const noexcept override { return wake.executor(); }
    void notify(std::error_code ec) override {
      detail::park_wake w = std::move(wake);
      wake.conn.reset();
      w(ec);
    }
  };
  armed w_;
};

template <event_source Source>
class source_wait {
 public:
  explicit source_wait(exchange&) {}
  void start(Source& source, exchange& ex, park_handler h, cursor after, const topic_filter& f) {
    source.async_wait(ex.get_executor(), after, f, std::move(h));
  }
  bool cancel(Source&) noexcept { return false; }
};

}  // namespace lastmile::http
