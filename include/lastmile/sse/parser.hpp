#pragma once
// A client-side event-stream parser following the WHATWG "Server-sent events"
// interpretation rules, sans-I/O: feed it bytes split anywhere, get dispatched
// events. lastmile uses it in tests and for C++ consumers of SSE streams.
//
// Rules: one leading BOM is skipped; lines end at CRLF, LF or CR (a CR at the end of
// one chunk and an LF at the start of the next are one line end); a blank line
// dispatches; `:` starts a comment; `name:value` loses one leading space; `data`
// appends value + LF; `event` sets the type; `id` sets the last event id unless the
// value contains NUL; `retry` is used only when it is all ASCII digits; anything
// else is ignored. Dispatch with empty data only updates the last event id. Bytes
// are kept as they are (no UTF-8 decoding or U+FFFD replacement).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lastmile::sse {

struct message {
  std::string type;          // "message" unless an event: field said otherwise
  std::string data;          // data lines joined with LF
  std::string last_event_id; // the stream's last event id when this event was dispatched
};

class parser {
 public:
  // Calls on_message(const message&) for each dispatched event; optionally
  // on_comment(std::string_view) for comment lines.
  template <class OnMessage, class OnComment>
  void feed(std::string_view bytes, OnMessage&& on_message, OnComment&& on_comment) {
    for (char ch : bytes) {
      if (bom_state_ < 3) {  // skip one UTF-8 BOM at the very start of the stream
        static constexpr unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
        if (static_cast<unsigned char>(ch) == bom[bom_state_]) {
          ++bom_state_;
          if (bom_state_ == 3) line_.clear();
          else line_.push_back(ch);
          continue;
        }
        bom_state_ = 3;  // not a BOM: whatever matched so far is ordinary text
      }
      if (after_cr_ && ch == '\n') {
        after_cr_ = false;
        continue;
      }
      after_cr_ = false;
      if (ch == '\r' || ch == '\n') {
        after_cr_ = ch == '\r';
        process_line(on_message, on_comment);
        line_.clear();
        continue;
      }
      if (line_.size() < max_line_) line_.push_back(ch);
      else overflow_ = true;
    }
  }
  template <class OnMessage>
  void feed(std::string_view bytes, OnMessage&& on_message) {
    feed(bytes, on_message, [](std::string_view) {});
  }

  const std::string& last_event_id() const noexcept { return last_event_id_; }
  std::optional<std::chrono::milliseconds> retry() const noexcept { return retry_; }
  // Lines longer than this are truncated (a guard for untrusted streams).
  void set_max_line(std::size_t n) noexcept { max_line_ = n; }
  bool overflowed() const noexcept { return overflow_; }

 private:
  template <class OnMessage, class OnComment>
  void process_line(OnMessage& on_message, OnComment& on_comment) {
    std::string_view line = line_;
    if (line.empty()) {
      dispatch(on_message);
      return;
    }
    if (line.front() == ':') {
      on_comment(line.substr(1));
      return;
    }
    std::string_view field = line, value;
    if (auto colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "event") {
      type_.assign(value);
    } else if (field == "data") {
      data_.append(value);
      data_.push_back('\n');
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) id_buffer_.assign(value);
    } else if (field == "retry") {
      bool digits = !value.empty();
      std::uint64_t ms = 0;
      for (char c : value) {
        if (c < '0' || c > '9') { digits = false; break; }
        ms = ms * 10 + static_cast<unsigned>(c - '0');
        if (ms > 86'400'000) ms = 86'400'000;  // clamp absurd values (a day)
      }
      if (digits) retry_ = std::chrono::milliseconds(ms);
    }
  }

  template <class OnMessage>
  void dispatch(OnMessage& on_message) {
    last_event_id_ = id_buffer_;
    if (data_.empty()) {
      type_.clear();
      return;
    }
    data_.pop_back();  // the LF after the last data line
    message m{type_.empty() ? std::string("message") : std::move(type_), std::move(data_), last_event_id_};
    type_.clear();
    data_.clear();
    on_message(m);
  }

  std::string line_, type_, data_, id_buffer_, last_event_id_;
  std::optional<std::chrono::milliseconds> retry_;
  std::size_t max_line_ = 1 << 20;
  std::uint8_t bom_state_ = 0;
  bool after_cr_ = false;
  bool overflow_ = false;
};

}  // namespace lastmile::sse
