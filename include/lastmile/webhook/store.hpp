#pragma once
// Webhook state: endpoints (with the cursor each has reached), their attempt log and
// failed events. The dispatcher keeps nothing durable itself; it talks to a store
// that models `webhook_store`:
//  - memory_webhook_store: in-process, lost on restart (tests, demos);
//  - sqlite_webhook_store: one SQLite file (WAL), durable when a call returns;
//  - or yours (see docs/webhook-store.md).
// `record` is the heart of at-least-once delivery: the endpoint's new position and
// the attempt that justifies it are written together or not at all.
#include <lastmile/core/cursor.hpp>
#include <lastmile/core/error.hpp>
#include <lastmile/detail/sqlite.hpp>

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace lastmile::webhook {

enum class endpoint_status { active, disabled };

struct endpoint {
  std::string id;                    // opaque, chosen by the caller
  std::string url;
  std::vector<std::string> topics;   // topic filters (exact or "prefix.*")
  std::vector<std::string> types;    // empty = every type
  std::vector<std::string> secrets;  // "whsec_..." strings, newest first
  cursor position;                   // everything up to and including this cursor is done
  endpoint_status status = endpoint_status::active;
  std::string disabled_reason;       // "" when active
  std::uint32_t consecutive_failures = 0;
  std::int64_t failing_since_ms = 0; // unix ms of the first failure in the current streak, 0 = none
  std::int64_t created_ms = 0;
  friend bool operator==(const endpoint&, const endpoint&) = default;
};

struct attempt_record {
  std::string endpoint_id;
  std::string event_id;              // cursor text of the event ("" for endpoint-level records)
  std::uint32_t attempt = 1;         // 1-based attempt number for this event
  std::int64_t at_ms = 0;            // unix ms when the attempt started
  int status = 0;                    // HTTP status, 0 when there was no response
  std::string error;                 // "" on success; else "timeout", "connect", "http_500", ...
  std::uint32_t duration_ms = 0;
  std::string outcome;               // "delivered" | "retry" | "failed" | "disabled" | "cursor_expired"
  friend bool operator==(const attempt_record&, const attempt_record&) = default;
};

// Outcomes listed by failed_events().
inline bool is_failed_outcome(std::string_view outcome) noexcept {
  return outcome == "failed" || outcome == "cursor_expired";
}

// Every member is thread-safe; a durable store has written the change when the call
// returns.
template <class S>
concept webhook_store = requires(S& s, const endpoint& ep, const attempt_record& a, std::string_view id,
                                 std::size_t limit) {
  { s.put_endpoint(ep) } -> std::same_as<result<void>>;               // insert or replace every field
  { s.get_endpoint(id) } -> std::same_as<std::optional<endpoint>>;
  { s.list_endpoints() } -> std::same_as<std::vector<endpoint>>;      // by created_ms, then id
  { s.remove_endpoint(id) } -> std::same_as<result<void>>;            // errc::not_found; drops its attempts
  // One transaction: the endpoint's position, status, disabled_reason,
  // consecutive_failures and failing_since_ms from `progress`, and the attempt `a`
  // (stored under progress.id). errc::not_found when the endpoint does not exist.
  { s.record(ep, a) } -> std::same_as<result<void>>;
  { s.attempts(id, limit) } -> std::same_as<std::vector<attempt_record>>;       // newest first
  { s.failed_events(id, limit) } -> std::same_as<std::vector<attempt_record>>;  // failed|cursor_expired, newest first
};

// One outcome to persist: the endpoint's progress and the attempt (see record()).
struct progress_record {
  endpoint progress;
  attempt_record attempt;
};

// Optional: a store that can persist several outcomes in one transaction (group
// commit) says so with record_many; the dispatcher then batches the outcomes that
// complete together. Same effect as record() on each, in order; all or nothing.
template <class S>
concept batching_webhook_store = webhook_store<S> && requires(S& s, std::span<const progress_record> items) {
  { s.record_many(items) } -> std::same_as<result<void>>;
};

struct memory_webhook_store_options {
  // Attempts kept per endpoint; failed ones are kept in a list of their own of the
  // same size, so a stream of retries does not push failures out.
  std::size_t max_attempts = 1000;
};

class memory_webhook_store {
 public:
  explicit memory_webhook_store(memory_webhook_store_options o = {}) : opts_(o) {
    if (opts_.max_attempts == 0) opts_.max_attempts = 1;
  }

  result<void> put_endpoint(const endpoint& ep) {
    std::lock_guard lock(mutex_);
    entries_[ep.id].ep = ep;
    return {};
  }

  std::optional<endpoint> get_endpoint(std::string_view id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;
    return it->second.ep;
  }

  std::vector<endpoint> list_endpoints() {
    std::vector<endpoint> out;
    {
      std::lock_guard lock(mutex_);
      out.reserve(entries_.size());
      for (auto& [id, e] : entries_) out.push_back(e.ep);
    }
    std::sort(out.begin(), out.end(), [](const endpoint& a, const endpoint& b) {
      return std::tie(a.created_ms, a.id) < std::tie(b.created_ms, b.id);
    });
    return out;
  }

  result<void> remove_endpoint(std::string_view id) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return errc::not_found;
    entries_.erase(it);
    return {};
  }

  result<void> record(const endpoint& progress, const attempt_record& a) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(progress.id);
    if (it == entries_.end()) return errc::not_found;
    auto& e = it->second;
    e.ep.position = progress.position;
    e.ep.status = progress.status;
    e.ep.disabled_reason = progress.disabled_reason;
    e.ep.consecutive_failures = progress.consecutive_failures;
    e.ep.failing_since_ms = progress.failing_since_ms;
    attempt_record rec = a;
    rec.endpoint_id = progress.id;
    if (is_failed_outcome(rec.outcome)) {
      e.failed.push_front(rec);
      if (e.failed.size() > opts_.max_attempts) e.failed.pop_back();
    }
    e.attempts.push_front(std::move(rec));
    if (e.attempts.size() > opts_.max_attempts) e.attempts.pop_back();
    return {};
  }

  std::vector<attempt_record> attempts(std::string_view id, std::size_t limit) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return {};
    auto& list = it->second.attempts;
    return {list.begin(), list.begin() + static_cast<std::ptrdiff_t>(std::min(limit, list.size()))};
  }

  std::vector<attempt_record> failed_events(std::string_view id, std::size_t limit) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return {};
    auto& list = it->second.failed;
    return {list.begin(), list.begin() + static_cast<std::ptrdiff_t>(std::min(limit, list.size()))};
  }

 private:
  struct entry {
    endpoint ep;
    std::deque<attempt_record> attempts;  // newest first
    std::deque<attempt_record> failed;    // newest first
  };
  memory_webhook_store_options opts_;
  std::mutex mutex_;
  std::map<std::string, entry, std::less<>> entries_;
};

static_assert(webhook_store<memory_webhook_store>);

struct sqlite_webhook_store_options {
  std::string path;               // the database file (created when missing)
  std::size_t max_attempts = 1000;  // per endpoint, and as many failed ones (see memory store)
  bool synchronous_full = false;  // fsync every commit (survives power loss, slower)
  // Delivered attempts are the hot path: by default each one writes only the
  // endpoint's cursor and its newest delivered attempt (one row each), and the
  // history of delivered attempts is kept in memory (max_attempts per endpoint). Every
  // other outcome (retry, failed, disabled, cursor_expired) is always written to the
  // attempt log. true: delivered attempts go to the durable attempt log too (about
  // twice the disk writes per delivery).
  bool durable_delivered_attempts = false;
};

namespace detail {

// Lists of strings in one column: "<length>:<bytes>" repeated, so any byte is safe.
inline std::string encode_list(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += std::to_string(s.size());
    out += ':';
    out += s;
  }
  return out;
}

inline std::vector<std::string> decode_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto colon = s.find(':');
    std::size_t n = 0;
    if (colon == std::string_view::npos) break;
    auto r = std::from_chars(s.data(), s.data() + colon, n);
    if (r.ec != std::errc{} || r.ptr != s.data() + colon || n > s.size() - colon - 1) break;  // damaged: stop
    out.emplace_back(s.substr(colon + 1, n));
    s.remove_prefix(colon + 1 + n);
  }
  return out;
}

}  // namespace detail

class sqlite_webhook_store {
 public:
  static constexpr std::int64_t schema_version = 1;

  // Opens (or creates) the store. Errors carry the SQLite category.
  static result<sqlite_webhook_store> open(sqlite_webhook_store_options opts) {
    sqlite_webhook_store s(std::move(opts));
    if (auto ec = s.init()) return ec;
    return s;
  }
  static result<sqlite_webhook_store> open(std::string_view path) {
    return open(sqlite_webhook_store_options{.path = std::string(path)});
  }

  sqlite_webhook_store(sqlite_webhook_store&&) noexcept = default;
  sqlite_webhook_store& operator=(sqlite_webhook_store&&) noexcept = default;

  result<void> put_endpoint(const endpoint& ep) {
    const std::string topics = detail::encode_list(ep.topics), types = detail::encode_list(ep.types),
                      secrets = detail::encode_list(ep.secrets), pos = to_string(ep.position);
    std::lock_guard lock(s_->mutex);
    auto& st = s_->put;
    st.bind_text(1, ep.id).bind_text(2, ep.url).bind_blob(3, topics).bind_blob(4, types).bind_blob(5, secrets);
    st.bind_text(6, pos).bind_text(7, status_text(ep.status)).bind_text(8, ep.disabled_reason);
    st.bind(9, ep.consecutive_failures).bind(10, ep.failing_since_ms).bind(11, ep.created_ms);
    return st.run();
  }

  std::optional<endpoint> get_endpoint(std::string_view id) {
    std::lock_guard lock(s_->mutex);
    auto& st = s_->get;
    lastmile::detail::sqlite::reset_guard g{st};
    st.bind_text(1, id);
    if (st.step() != SQLITE_ROW) return std::nullopt;
    return read_endpoint(st);
  }

  std::vector<endpoint> list_endpoints() {
    std::lock_guard lock(s_->mutex);
    auto& st = s_->list;
    lastmile::detail::sqlite::reset_guard g{st};
    std::vector<endpoint> out;
    while (st.step() == SQLITE_ROW) out.push_back(read_endpoint(st));
    return out;
  }

  result<void> remove_endpoint(std::string_view id) {
    std::lock_guard lock(s_->mutex);
    sqlite3* db = s_->db.get();
    if (auto ec = s_->begin.run()) return ec;
    auto fail = [&](std::error_code ec) {
      s_->rollback.run();
      return ec;
    };
    if (auto ec = s_->remove.bind_text(1, id).run()) return fail(ec);
    if (sqlite3_changes(db) == 0) return fail(make_error_code(errc::not_found));
    if (auto ec = s_->remove_attempts.bind_text(1, id).run()) return fail(ec);
    if (auto ec = s_->remove_last_delivered.bind_text(1, id).run()) return fail(ec);
    if (auto ec = s_->commit.run()) return fail(ec);
    s_->since_prune.erase(std::string(id));
    s_->recent.erase(std::string(id));
    return {};
  }

  result<void> record(const endpoint& progress, const attempt_record& a) {
    return in_transaction([&] { return record_one(progress, a); });
  }

  // Several outcomes in one transaction (group commit): one disk write for all.
  result<void> record_many(std::span<const progress_record> items) {
    if (items.empty()) return {};
    return in_transaction([&]() -> std::error_code {
      for (const auto& it : items)
        if (auto ec = record_one(it.progress, it.attempt)) return ec;
      return {};
    });
  }

  std::vector<attempt_record> attempts(std::string_view id, std::size_t limit) {
    std::lock_guard lock(s_->mutex);
    limit = std::min(limit, s_->opts.max_attempts);
    std::vector<sequenced> logged = read_attempts(s_->attempts, id, limit);
    if (s_->opts.durable_delivered_attempts) return strip(std::move(logged), limit);
    // Merge the attempt log with the delivered attempts kept in memory (or, when
    // there are none since the store was opened, the newest delivered one on disk).
    std::vector<sequenced> delivered;
    if (auto it = s_->recent.find(std::string(id)); it != s_->recent.end() && !it->second.empty()) {
      delivered.assign(it->second.begin(),
                       it->second.begin() + static_cast<std::ptrdiff_t>(std::min(limit, it->second.size())));
    } else {
      delivered = read_attempts(s_->last_delivered_get, id, 1);
    }
    std::vector<sequenced> merged;
    merged.reserve(logged.size() + delivered.size());
    std::merge(logged.begin(), logged.end(), delivered.begin(), delivered.end(), std::back_inserter(merged),
               [](const sequenced& a, const sequenced& b) { return a.seq > b.seq; });
    return strip(std::move(merged), limit);
  }

  std::vector<attempt_record> failed_events(std::string_view id, std::size_t limit) {
    std::lock_guard lock(s_->mutex);
    limit = std::min(limit, s_->opts.max_attempts);
    return strip(read_attempts(s_->failed, id, limit), limit);
  }

 private:
  using statement = lastmile::detail::sqlite::statement;

  // An attempt with its position in the store's one sequence (newest = highest).
  struct sequenced : attempt_record {
    std::uint64_t seq = 0;
  };

  struct state {
    sqlite_webhook_store_options opts;
    std::mutex mutex;
    lastmile::detail::sqlite::db_ptr db;
    statement begin, commit, rollback, put, get, list, remove, remove_attempts, progress, add_attempt;
    statement prune, prune_failed, attempts, failed, last_delivered_put, last_delivered_get, remove_last_delivered;
    std::unordered_map<std::string, std::size_t> since_prune;
    // Delivered attempts since the store was opened, newest first, per endpoint.
    std::unordered_map<std::string, std::deque<sequenced>> recent;
    std::vector<sequenced> staged;  // delivered attempts of the open transaction
    std::uint64_t next_seq = 1;     // above every seq on disk
  };

  static std::vector<attempt_record> strip(std::vector<sequenced> v, std::size_t limit) {
    std::vector<attempt_record> out;
    out.reserve(std::min(limit, v.size()));
    for (auto& a : v) {
      if (out.size() == limit) break;
      out.push_back(std::move(static_cast<attempt_record&>(a)));
    }
    return out;
  }

  // Runs `body` (statements of record_one) in one transaction; on success the staged
  // delivered attempts join the in-memory history, on failure nothing changes.
  template <class Body>
  result<void> in_transaction(Body&& body) {
    std::lock_guard lock(s_->mutex);
    const std::uint64_t seq_before = s_->next_seq;
    s_->staged.clear();
    if (auto ec = s_->begin.run()) return ec;
    std::error_code ec = body();
    if (!ec) ec = s_->commit.run();
    if (ec) {
      s_->rollback.run();
      s_->next_seq = seq_before;
      s_->staged.clear();
      return ec;
    }
    keep_staged();
    return {};
  }

  // After a commit: the transaction's delivered attempts join the in-memory history.
  void keep_staged() {
    for (auto& a : s_->staged) {
      auto& list = s_->recent[a.endpoint_id];
      list.push_front(std::move(a));
      if (list.size() > s_->opts.max_attempts) list.pop_back();
    }
    s_->staged.clear();
  }

  explicit sqlite_webhook_store(sqlite_webhook_store_options o) : s_(std::make_unique<state>()) {
    s_->opts = std::move(o);
    if (s_->opts.max_attempts == 0) s_->opts.max_attempts = 1;
  }

  std::size_t prune_every() const { return std::clamp<std::size_t>(s_->opts.max_attempts / 10, 1, 100); }

  // The statements of record() inside an open transaction (the caller holds the lock).
  std::error_code record_one(const endpoint& progress, const attempt_record& a) {
    sqlite3* db = s_->db.get();
    std::string pos = to_string(progress.position);
    auto& up = s_->progress;
    up.bind_text(1, progress.id).bind_text(2, pos).bind_text(3, status_text(progress.status));
    up.bind_text(4, progress.disabled_reason).bind(5, progress.consecutive_failures);
    up.bind(6, progress.failing_since_ms);
    if (auto ec = up.run()) return ec;
    if (sqlite3_changes(db) == 0) return make_error_code(errc::not_found);
    const auto seq = static_cast<std::int64_t>(s_->next_seq++);
    if (a.outcome == "delivered" && !s_->opts.durable_delivered_attempts) {
      auto& put = s_->last_delivered_put;
      put.bind_text(1, progress.id).bind_text(2, a.event_id).bind(3, a.attempt).bind(4, a.at_ms).bind(5, a.status);
      put.bind_text(6, a.error).bind(7, a.duration_ms).bind_text(8, a.outcome).bind(9, seq);
      if (auto ec = put.run()) return ec;
      sequenced kept;
      static_cast<attempt_record&>(kept) = a;
      kept.endpoint_id = progress.id;
      kept.seq = static_cast<std::uint64_t>(seq);
      s_->staged.push_back(std::move(kept));
      return {};
    }
    auto& ins = s_->add_attempt;
    ins.bind_text(1, progress.id).bind_text(2, a.event_id).bind(3, a.attempt).bind(4, a.at_ms).bind(5, a.status);
    ins.bind_text(6, a.error).bind(7, a.duration_ms).bind_text(8, a.outcome);
    ins.bind(9, is_failed_outcome(a.outcome) ? 1 : 0).bind(10, seq);
    if (auto ec = ins.run()) return ec;
    // Trim the history now and then; reads never return more than max_attempts.
    auto& n = s_->since_prune[progress.id];
    if (++n >= prune_every()) {
      n = 0;
      const auto keep = static_cast<std::int64_t>(s_->opts.max_attempts);
      if (auto ec = s_->prune.bind_text(1, progress.id).bind(2, keep).run()) return ec;
      if (auto ec = s_->prune_failed.bind_text(1, progress.id).bind(2, keep).run()) return ec;
    }
    return {};
  }

  static const char* status_text(endpoint_status s) { return s == endpoint_status::active ? "active" : "disabled"; }

  std::error_code init() {
    namespace sq = lastmile::detail::sqlite;
    if (auto ec = sq::open(s_->opts.path, s_->opts.synchronous_full, s_->db)) return ec;
    sqlite3* db = s_->db.get();
    // One connection in one process owns the file: keep its lock instead of taking
    // and dropping file locks around every transaction (and no shared-memory index).
    if (auto ec = sq::exec(db, "PRAGMA locking_mode=EXCLUSIVE")) return ec;
    if (auto ec = sq::exec(db, "BEGIN IMMEDIATE")) return ec;
    auto fail = [&](std::error_code ec) {
      sq::exec(db, "ROLLBACK");
      return ec;
    };
    if (auto ec = sq::exec(db,
                           "CREATE TABLE IF NOT EXISTS lastmile_webhook_meta("
                           "  key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
                           "CREATE TABLE IF NOT EXISTS lastmile_webhook_endpoints("
                           "  id TEXT PRIMARY KEY, url TEXT NOT NULL, topics BLOB NOT NULL, types BLOB NOT NULL,"
                           "  secrets BLOB NOT NULL, position TEXT NOT NULL, status TEXT NOT NULL,"
                           "  disabled_reason TEXT NOT NULL, consecutive_failures INTEGER NOT NULL,"
                           "  failing_since_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;"
                           "CREATE TABLE IF NOT EXISTS lastmile_webhook_attempts("
                           "  seq INTEGER PRIMARY KEY, endpoint_id TEXT NOT NULL, event_id TEXT NOT NULL,"
                           "  attempt INTEGER NOT NULL, at_ms INTEGER NOT NULL, status INTEGER NOT NULL,"
                           "  error TEXT NOT NULL, duration_ms INTEGER NOT NULL, outcome TEXT NOT NULL,"
                           "  failed INTEGER NOT NULL);"
                           "CREATE INDEX IF NOT EXISTS lastmile_webhook_attempts_by_endpoint"
                           "  ON lastmile_webhook_attempts(endpoint_id, failed, seq);"
                           "CREATE INDEX IF NOT EXISTS lastmile_webhook_attempts_newest"
                           "  ON lastmile_webhook_attempts(endpoint_id, seq);"
                           // The newest delivered attempt per endpoint (see
                           // durable_delivered_attempts); seq orders it among the log.
                           "CREATE TABLE IF NOT EXISTS lastmile_webhook_last_delivered("
                           "  endpoint_id TEXT PRIMARY KEY, event_id TEXT NOT NULL, attempt INTEGER NOT NULL,"
                           "  at_ms INTEGER NOT NULL, status INTEGER NOT NULL, error TEXT NOT NULL,"
                           "  duration_ms INTEGER NOT NULL, outcome TEXT NOT NULL, seq INTEGER NOT NULL)"
                           "  WITHOUT ROWID;"))
      return fail(ec);
    std::int64_t version = 0;
    {
      statement get;
      if (auto ec = get.prepare(db, "SELECT value FROM lastmile_webhook_meta WHERE key = 'schema_version'"))
        return fail(ec);
      int rc = get.step();
      if (rc == SQLITE_ROW) version = get.int64(0);
      else if (rc != SQLITE_DONE) return fail(sq::make_error(rc));
    }
    if (version > schema_version) return fail(sq::make_error(sq::schema_too_new));
    if (version == 0) {
      statement put;
      if (auto ec = put.prepare(db, "INSERT INTO lastmile_webhook_meta(key, value) VALUES('schema_version', ?1)"))
        return fail(ec);
      if (auto ec = put.bind(1, schema_version).run()) return fail(ec);
    }
    if (auto ec = sq::exec(db, "COMMIT")) return fail(ec);

    const std::string cols =
        "SELECT id, url, topics, types, secrets, position, status, disabled_reason, consecutive_failures,"
        " failing_since_ms, created_ms FROM lastmile_webhook_endpoints ";
    const std::string attempt_cols =
        "SELECT endpoint_id, event_id, attempt, at_ms, status, error, duration_ms, outcome, seq "
        "FROM lastmile_webhook_attempts ";
    struct {
      statement& st;
      std::string sql;
    } statements[] = {
        {s_->begin, "BEGIN IMMEDIATE"},
        {s_->commit, "COMMIT"},
        {s_->rollback, "ROLLBACK"},
        {s_->put,
         "INSERT OR REPLACE INTO lastmile_webhook_endpoints(id, url, topics, types, secrets, position, status,"
         " disabled_reason, consecutive_failures, failing_since_ms, created_ms)"
         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
        {s_->get, cols + "WHERE id = ?1"},
        {s_->list, cols + "ORDER BY created_ms, id"},
        {s_->remove, "DELETE FROM lastmile_webhook_endpoints WHERE id = ?1"},
        {s_->remove_attempts, "DELETE FROM lastmile_webhook_attempts WHERE endpoint_id = ?1"},
        {s_->progress,
         "UPDATE lastmile_webhook_endpoints SET position = ?2, status = ?3, disabled_reason = ?4,"
         " consecutive_failures = ?5, failing_since_ms = ?6 WHERE id = ?1"},
        {s_->add_attempt,
         "INSERT INTO lastmile_webhook_attempts(endpoint_id, event_id, attempt, at_ms, status, error,"
         " duration_ms, outcome, failed, seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
        {s_->last_delivered_put,
         "INSERT OR REPLACE INTO lastmile_webhook_last_delivered(endpoint_id, event_id, attempt, at_ms, status,"
         " error, duration_ms, outcome, seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
        {s_->last_delivered_get,
         "SELECT endpoint_id, event_id, attempt, at_ms, status, error, duration_ms, outcome, seq"
         " FROM lastmile_webhook_last_delivered WHERE endpoint_id = ?1 LIMIT ?2"},
        {s_->remove_last_delivered, "DELETE FROM lastmile_webhook_last_delivered WHERE endpoint_id = ?1"},
        // Deletes attempts of endpoint ?1 older than its newest ?2 (failed ones are
        // kept while they are among the newest ?2 failures).
        {s_->prune,
         "DELETE FROM lastmile_webhook_attempts WHERE endpoint_id = ?1 AND failed = 0 AND seq <="
         " (SELECT seq FROM lastmile_webhook_attempts WHERE endpoint_id = ?1"
         "  ORDER BY seq DESC LIMIT 1 OFFSET ?2)"},
        {s_->prune_failed,
         "DELETE FROM lastmile_webhook_attempts WHERE endpoint_id = ?1 AND failed = 1 AND seq <="
         " (SELECT seq FROM lastmile_webhook_attempts WHERE endpoint_id = ?1 AND failed = 1"
         "  ORDER BY seq DESC LIMIT 1 OFFSET ?2)"},
        {s_->attempts, attempt_cols + "WHERE endpoint_id = ?1 ORDER BY seq DESC LIMIT ?2"},
        {s_->failed, attempt_cols + "WHERE endpoint_id = ?1 AND failed = 1 ORDER BY seq DESC LIMIT ?2"},
    };
    for (auto& [st, sql] : statements)
      if (auto ec = st.prepare(db, sql)) return ec;
    // One sequence orders the attempt log and the delivered attempts.
    statement top;
    if (auto ec = top.prepare(db,
                              "SELECT max(COALESCE((SELECT max(seq) FROM lastmile_webhook_attempts), 0),"
                              " COALESCE((SELECT max(seq) FROM lastmile_webhook_last_delivered), 0))"))
      return ec;
    if (top.step() == SQLITE_ROW) s_->next_seq = static_cast<std::uint64_t>(top.int64(0)) + 1;
    return {};
  }

  static endpoint read_endpoint(const statement& st) {
    endpoint ep;
    ep.id = st.text(0);
    ep.url = st.text(1);
    ep.topics = detail::decode_list(st.blob(2));
    ep.types = detail::decode_list(st.blob(3));
    ep.secrets = detail::decode_list(st.blob(4));
    if (auto c = parse_cursor(st.text(5))) ep.position = *c;
    ep.status = st.text(6) == "disabled" ? endpoint_status::disabled : endpoint_status::active;
    ep.disabled_reason = st.text(7);
    ep.consecutive_failures = static_cast<std::uint32_t>(st.int64(8));
    ep.failing_since_ms = st.int64(9);
    ep.created_ms = st.int64(10);
    return ep;
  }

  static std::vector<sequenced> read_attempts(statement& st, std::string_view id, std::size_t limit) {
    lastmile::detail::sqlite::reset_guard g{st};
    st.bind_text(1, id).bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    std::vector<sequenced> out;
    while (st.step() == SQLITE_ROW) {
      sequenced a;
      a.seq = static_cast<std::uint64_t>(st.int64(8));
      a.endpoint_id = st.text(0);
      a.event_id = st.text(1);
      a.attempt = static_cast<std::uint32_t>(st.int64(2));
      a.at_ms = st.int64(3);
      a.status = static_cast<int>(st.int64(4));
      a.error = st.text(5);
      a.duration_ms = static_cast<std::uint32_t>(st.int64(6));
      a.outcome = st.text(7);
      out.push_back(std::move(a));
    }
    return out;
  }

  std::unique_ptr<state> s_;
};

static_assert(webhook_store<sqlite_webhook_store>);
static_assert(batching_webhook_store<sqlite_webhook_store>);

}  // namespace lastmile::webhook
