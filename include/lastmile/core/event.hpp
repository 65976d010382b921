#pragma once
// An event as stored in a log: immutable after creation, reference-counted, shared
// by every reader. One allocation holds the header and the topic/type/payload bytes.
//
// Serialize-once: each record has a few wire-form slots. The first transport that
// needs, say, the SSE frame of an event computes it; every other session reuses the
// same bytes (see event_record::wire).
#include <lastmile/core/cursor.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace lastmile {

using clock_type = std::chrono::system_clock;

// Wire-form slots. Transports own one slot each; applications may use the custom ones.
enum class wire_slot : std::uint8_t {
  json = 0,        // {"id":...,"topic":...,"type":...,"data":...,"time":...}
  sse = 1,         // id:/event:/data: lines and the blank line
  ws_message = 2,  // WebSocket text frame of the server->client event message
  ws_deflate = 3,  // the same, compressed with permessage-deflate (no context takeover)
  sse_json = 4,    // SSE frame whose data is the event's JSON form (format=json streams)
  custom0 = 5,
  custom1 = 6,
  custom2 = 7,
};
inline constexpr std::size_t wire_slot_count = 8;

// A plain view of an event, for code that does not care how it is stored.
struct event {
  cursor id;
  std::string_view topic;
  std::string_view type;
  std::string_view payload;
  clock_type::time_point time;
};

class event_ptr;

class event_record {
 public:
  static event_ptr make(cursor id, std::string_view topic, std::string_view type,
                        std::string_view payload, clock_type::time_point time);

  cursor id() const noexcept { return id_; }
  std::string_view topic() const noexcept { return {data(), topic_len_}; }
  std::string_view type() const noexcept { return {data() + topic_len_, type_len_}; }
  std::string_view payload() const noexcept {
    return {data() + topic_len_ + type_len_, payload_len_};
  }
  clock_type::time_point time() const noexcept { return time_; }
  event view() const noexcept { return {id_, topic(), type(), payload(), time_}; }

  // The bytes a log accounts for this event (topic + type + payload).
  std::size_t size_bytes() const noexcept {
    return std::size_t(topic_len_) + type_len_ + payload_len_;
  }

  // Returns the wire form stored in `slot`, computing it with `make(*this)` (which
  // returns a std::string) the first time. Thread-safe and lock-free: if two threads
  // race, one result wins and the other is discarded. The reference stays valid for
  // as long as the record lives.
  template <class Make>
  const std::string& wire(wire_slot slot, Make&& make) const {
    auto& s = wire_[static_cast<std::size_t>(slot)];
    if (const std::string* p = s.load(std::memory_order_acquire)) return *p;
    auto* fresh = new std::string(std::forward<Make>(make)(*this));
    const std::string* expected = nullptr;
    if (s.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel,
                                  std::memory_order_acquire))
      return *fresh;
    delete fresh;
    return *expected;
  }
  // The wire form if it was computed already, else nullptr.
  const std::string* cached_wire(wire_slot slot) const noexcept {
    return wire_[static_cast<std::size_t>(slot)].load(std::memory_order_acquire);
  }

 private:
  friend class event_ptr;
  friend class memory_log;  // assigns the id under its lock, before anyone else sees the record
  event_record() = default;
  ~event_record() {
    for (auto& s : wire_) delete s.load(std::memory_order_relaxed);
  }
  const char* data() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  static void destroy(const event_record* r) noexcept {
    r->~event_record();
    ::operator delete(const_cast<event_record*>(r));
  }

  mutable std::atomic<std::uint32_t> refs_{1};
  std::uint32_t payload_len_ = 0;
  std::uint8_t topic_len_ = 0;
  std::uint8_t type_len_ = 0;
  cursor id_{};
  clock_type::time_point time_{};
  mutable std::array<std::atomic<const std::string*>, wire_slot_count> wire_{};
};

// Intrusive shared pointer to an immutable event_record (one allocation per event,
// cheaper to copy than std::shared_ptr).
class event_ptr {
 public:
  event_ptr() noexcept = default;
  event_ptr(const event_ptr& o) noexcept : p_(o.p_) { retain(); }
  event_ptr(event_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  event_ptr& operator=(const event_ptr& o) noexcept {
    event_ptr tmp(o);
    std::swap(p_, tmp.p_);
    return *this;
  }
  event_ptr& operator=(event_ptr&& o) noexcept {
    event_ptr tmp(std::move(o));
    std::swap(p_, tmp.p_);
    return *this;
  }
  ~event_ptr() { release(); }

  const event_record* get() const noexcept { return p_; }
  const event_record& operator*() const noexcept { return *p_; }
  const event_record* operator->() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  std::uint32_t use_count() const noexcept {
    return p_ ? p_->refs_.load(std::memory_order_relaxed) : 0;
  }

 private:
  friend class event_record;
  explicit event_ptr(const event_record* adopt) noexcept : p_(adopt) {}
  void retain() noexcept {
    if (p_) p_->refs_.fetch_add(1, std::memory_order_relaxed);
  }
  void release() noexcept {
    if (p_ && p_->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) event_record::destroy(p_);
    p_ = nullptr;
  }
  const event_record* p_ = nullptr;
};

inline event_ptr event_record::make(cursor id, std::string_view topic, std::string_view type,
                                    std::string_view payload, clock_type::time_point time) {
  // Callers validate topic (<= 128) and type (<= 64); payloads are limited to 4 GiB.
  void* mem = ::operator new(sizeof(event_record) + topic.size() + type.size() + payload.size());
  auto* r = new (mem) event_record();
  r->topic_len_ = static_cast<std::uint8_t>(topic.size());
  r->type_len_ = static_cast<std::uint8_t>(type.size());
  r->payload_len_ = static_cast<std::uint32_t>(payload.size());
  r->id_ = id;
  r->time_ = time;
  char* d = r->data();
  if (!topic.empty()) std::memcpy(d, topic.data(), topic.size());
  if (!type.empty()) std::memcpy(d + topic.size(), type.data(), type.size());
  if (!payload.empty()) std::memcpy(d + topic.size() + type.size(), payload.data(), payload.size());
  return event_ptr(r);
}

}  // namespace lastmile
