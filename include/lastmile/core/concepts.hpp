#pragma once
// The two concepts applications model to plug in their own pieces:
//  - event_log: ordered storage (memory_log, later sqlite_log / redis_log, or yours);
//  - event_source: what transports read from (hub<Log>, or a fake in tests).
#include <lastmile/core/cursor.hpp>
#include <lastmile/core/event.hpp>
#include <lastmile/core/topic.hpp>

#include <asio/any_io_executor.hpp>

#include <concepts>
#include <cstdint>
#include <optional>
#include <system_error>
#include <vector>

namespace lastmile {

enum class reset_reason : std::uint8_t {
  expired,        // older than the retention window
  foreign_epoch,  // from another history of the log (e.g. before a restart)
  ahead,          // past the head of this log: cannot be one of its cursors
};

// On the wire every reason is reported as "cursor_expired" (PROTOCOL.md); the enum
// keeps the detail for metrics and logs.
inline const char* reset_reason_name(reset_reason r) noexcept {
  switch (r) {
    case reset_reason::expired: return "expired";
    case reset_reason::foreign_epoch: return "foreign_epoch";
    case reset_reason::ahead: return "ahead";
  }
  return "unknown";
}

struct reset_info {
  reset_reason reason;
  // The id of the first event delivered after the reset; if the batch is empty, the
  // earliest retained event of the log (or the log's start when it is empty).
  cursor earliest;
};

// Outcome of read_after. `next` is where the reader continues: after the last event
// returned when the batch is full, else the head the read saw (which may lie past
// events of other topics, so a reader of a quiet topic never falls behind).
struct read_status {
  cursor next;
  std::optional<reset_info> reset;
};

using event_batch = std::vector<event_ptr>;

template <class L>
concept event_log = requires(L& log, const L& clog, cursor c, const topic_filter& f,
                             std::size_t max, event_batch& out, std::string_view s) {
  // Appends one event; thread-safe. Topic and type are validated by the caller (hub).
  { log.append(s, s, s) } -> std::same_as<result<cursor>>;
  // Appends to `out` up to `max` events after `c` whose topic matches `f`.
  { clog.read_after(c, f, max, out) } -> std::same_as<read_status>;
  { clog.head() } -> std::same_as<cursor>;      // the last event's id (or the start)
  { clog.earliest() } -> std::same_as<cursor>;  // position before the first retained event
  { clog.epoch() } -> std::convertible_to<std::uint64_t>;
};

// Resolves where a reader starts: `earliest`, `latest` or a concrete cursor.
template <class L>
cursor resolve(const L& log, position p) {
  switch (p.k) {
    case position::kind::earliest: return log.earliest();
    case position::kind::latest: return log.head();
    case position::kind::at: break;
  }
  return p.at;
}

namespace detail {
struct wait_probe_handler {
  using executor_type = asio::any_io_executor;
  executor_type get_executor() const noexcept;
  void operator()(std::error_code) const;
};
}  // namespace detail

// What transports read from: catch-up reads plus an asynchronous wait that completes
// (with an empty error_code) when something matching `f` exists after `c`, or with an
// error when cancelled or shut down.
template <class S>
concept event_source = requires(S& src, const S& csrc, cursor c, const topic_filter& f,
                                std::size_t max, event_batch& out, asio::any_io_executor ex) {
  { csrc.read_after(c, f, max, out) } -> std::same_as<read_status>;
  { csrc.head() } -> std::same_as<cursor>;
  { csrc.earliest() } -> std::same_as<cursor>;
  src.async_wait(ex, c, f, detail::wait_probe_handler{});
};

}  // namespace lastmile
