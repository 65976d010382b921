#pragma once
// Thin RAII helpers over the SQLite C API, shared by sqlite_log and
// sqlite_webhook_store: an error category for SQLite result codes, owning handles
// for connections and prepared statements, and the connection setup both use
// (WAL journal, synchronous level, busy timeout).
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace lastmile::detail::sqlite {

// Codes of our own, above SQLite's range (extended codes stay below 0x10000).
enum : int {
  schema_too_new = 0x10001,   // the file was written by a newer lastmile
  not_wal = 0x10002,          // the journal could not be switched to WAL
  empty_path = 0x10003,       // no path, or ":memory:" (readers need a shared file)
  foreign_schema = 0x10004,   // the file is an SQLite database of something else
};

class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int ev) const override {
    switch (ev) {
      case schema_too_new: return "database schema is newer than this version of lastmile";
      case not_wal: return "cannot switch the database to WAL journal mode";
      case empty_path: return "a database file path is required (\":memory:\" is not supported)";
      case foreign_schema: return "the database holds tables of another application";
    }
    return sqlite3_errstr(ev);
  }
};

inline const std::error_category& error_category() noexcept {
  static const error_category_impl instance;
  return instance;
}

inline std::error_code make_error(int rc) noexcept { return {rc, error_category()}; }

struct db_close {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_close>;

// A prepared statement. Bound text/blob views must stay alive until the statement is
// reset (callers step right after binding).
class statement {
 public:
  statement() = default;
  std::error_code prepare(sqlite3* db, std::string_view sql) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s,
                                nullptr);
    stmt_.reset(s);
    return rc == SQLITE_OK ? std::error_code{} : make_error(rc);
  }
  explicit operator bool() const noexcept { return stmt_ != nullptr; }

  statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_.get(), i, v);
    return *this;
  }
  statement& bind_text(int i, std::string_view v) {
    sqlite3_bind_text(stmt_.get(), i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  statement& bind_blob(int i, std::string_view v) {
    // A null pointer would bind SQL NULL; an empty payload is an empty blob.
    sqlite3_bind_blob64(stmt_.get(), i, v.empty() ? "" : v.data(), v.size(), SQLITE_STATIC);
    return *this;
  }
  int step() { return sqlite3_step(stmt_.get()); }
  // Runs a statement that returns no rows; resets it either way.
  std::error_code run() {
    int rc = step();
    reset();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? std::error_code{} : make_error(rc);
  }
  void reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::string_view text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), col));
    int n = sqlite3_column_bytes(stmt_.get(), col);
    return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view{};
  }
  std::string_view blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_.get(), col));
    int n = sqlite3_column_bytes(stmt_.get(), col);
    return p ? std::string_view(p, static_cast<std::size_t>(n)) : std::string_view{};
  }

 private:
  struct finalize {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, finalize> stmt_;
};

// Resets a statement when leaving a scope (early returns included).
struct reset_guard {
  statement& s;
  ~reset_guard() { s.reset(); }
};

inline std::error_code exec(sqlite3* db, const char* sql) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? std::error_code{} : make_error(rc);
}

// Opens (creating if needed) a database file in WAL mode. `synchronous_full`: every
// commit is fsynced (survives power loss); otherwise synchronous=NORMAL (commits
// survive a process crash; the last ones may be lost on power loss).
inline std::error_code open(const std::string& path, bool synchronous_full, db_ptr& out) {
  if (path.empty() || path == ":memory:" || path.starts_with("file::memory:")) return make_error(empty_path);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_ptr db(raw);
  if (rc != SQLITE_OK) return make_error(rc);
  sqlite3_busy_timeout(db.get(), 5000);
  statement mode;
  if (auto ec = mode.prepare(db.get(), "PRAGMA journal_mode=WAL")) return ec;
  rc = mode.step();
  if (rc != SQLITE_ROW) return make_error(rc);  // e.g. SQLITE_NOTADB for a file that is no database
  if (mode.text(0) != "wal") return make_error(not_wal);
  mode = {};
  const char* sync = synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if (auto ec = exec(db.get(), sync)) return ec;
  out = std::move(db);
  return {};
}

}  // namespace lastmile::detail::sqlite
