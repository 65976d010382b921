#pragma once

// Minimal JSON output helpers: string escaping plus a tiny object/array writer.
//
// Input strings are assumed to be valid UTF-8. Bytes >= 0x80 are copied through
// unchanged, so callers that pass untrusted bytes must validate UTF-8 first
// (simdjson::validate_utf8 is available in this project).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lastmile::detail {

// Appends `text` as a quoted JSON string literal to `out`.
// Escapes `"`, `\` and every control character below 0x20; all other bytes are copied.
inline void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex_digits[] = "0123456789abcdef";
  out.reserve(out.size() + text.size() + 2);
  out.push_back('"');
  std::size_t run_start = 0;  // copy unescaped runs in one go instead of byte by byte
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte != '"' && byte != '\\') continue;
    out.append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (byte) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default: {
        const char escaped[] = {'\\', 'u', '0', '0', hex_digits[byte >> 4], hex_digits[byte & 0xF]};
        out.append(escaped, sizeof escaped);
      }
    }
  }
  out.append(text.data() + run_start, text.size() - run_start);
  out.push_back('"');
}

inline std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

// Streams one JSON value into a caller-owned string. It only tracks whether a
// comma is needed; it does not validate nesting (callers write fixed shapes).
//
//   json_writer w{out};
//   w.begin_object(); w.key("error"); w.value("bad_request"); w.end_object();
class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) {}

  json_writer& begin_object() {
    separate();
    out_.push_back('{');
    needs_comma_ = false;
    return *this;
  }
  json_writer& end_object() {
    out_.push_back('}');
    needs_comma_ = true;
    return *this;
  }
  json_writer& begin_array() {
    separate();
    out_.push_back('[');
    needs_comma_ = false;
    return *this;
  }
  json_writer& end_array() {
    out_.push_back(']');
    needs_comma_ = true;
    return *this;
  }

  json_writer& key(std::string_view name) {
    separate();
    append_json_string(out_, name);
    out_.push_back(':');
    needs_comma_ = false;  // the value that follows must not be preceded by a comma
    return *this;
  }

  json_writer& value(std::string_view text) {
    separate();
    append_json_string(out_, text);
    needs_comma_ = true;
    return *this;
  }
  json_writer& value(const char* text) { return value(std::string_view{text}); }
  json_writer& value(bool flag) {
    separate();
    out_.append(flag ? "true" : "false");
    needs_comma_ = true;
    return *this;
  }
  json_writer& value(std::int64_t number) {
    separate();
    out_.append(std::to_string(number));
    needs_comma_ = true;
    return *this;
  }
  json_writer& value(std::uint64_t number) {
    separate();
    out_.append(std::to_string(number));
    needs_comma_ = true;
    return *this;
  }
  json_writer& value(int number) { return value(static_cast<std::int64_t>(number)); }
  json_writer& null() {
    separate();
    out_.append("null");
    needs_comma_ = true;
    return *this;
  }

  // Appends pre-serialized JSON (e.g. an event payload that is already JSON).
  json_writer& raw(std::string_view json) {
    separate();
    out_.append(json);
    needs_comma_ = true;
    return *this;
  }

  // Shorthand for key + value.
  template <typename T>
  json_writer& member(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

 private:
  void separate() {
    if (needs_comma_) out_.push_back(',');
  }

  std::string& out_;
  bool needs_comma_ = false;
};

}  // namespace lastmile::detail
