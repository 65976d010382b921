#pragma once
// sqlite_log: a durable event_log in one SQLite file (WAL journal).
//  - The epoch is created once, with the file, and kept in it: cursors handed out
//    before a restart stay valid after it, and offsets continue where they stopped
//    (an offset is never handed out twice).
//  - append() is durable when it returns (see `synchronous_full` for power loss).
//    Concurrent appends are group-committed: whoever finds no commit running writes
//    every queued event in one transaction, the others wait for it. append_batch()
//    writes many events in one transaction.
//  - Readers only ever see committed events. The newest events are also kept in a
//    memory tail (a memory_log with the same epoch and cursors), so live readers
//    never touch the disk; older cursors are read from SQLite, indexed by offset and
//    by (topic, offset).
//  - Retention by count and age. The retained range moves at once (cursors before it
//    get a reset, exactly like memory_log); rows are deleted later, in batches.
#include <lastmile/core/concepts.hpp>
#include <lastmile/core/cursor.hpp>
#include <lastmile/core/error.hpp>
#include <lastmile/core/event.hpp>
#include <lastmile/core/topic.hpp>
#include <lastmile/detail/sqlite.hpp>
#include <lastmile/log/memory_log.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lastmile {

struct sqlite_log_options {
  std::string path;                       // the database file (created when missing)
  std::size_t max_events = 1'000'000;     // retention by count
  std::chrono::milliseconds max_age{0};   // retention by age; 0: no age limit
  std::size_t tail_events = 10'000;       // newest events also kept in memory
  std::size_t tail_bytes = 64u * 1024 * 1024;
  std::size_t max_event_bytes = 16u * 1024 * 1024;  // topic+type+payload; capped at tail_bytes
  bool synchronous_full = false;          // fsync every commit (survives power loss)
  std::size_t delete_batch = 1000;        // expired rows are deleted once this many are due
  std::chrono::milliseconds age_check_interval{1000};  // how often appends look for aged events
  std::size_t max_batch = 4096;           // events per group-commit transaction
  std::function<clock_type::time_point()> clock;  // default: system_clock::now
};

// One event of append_batch().
struct log_entry {
  std::string_view topic;
  std::string_view type;
  std::string_view payload;
};

struct sqlite_log_stats {
  std::uint64_t commits = 0;         // write transactions
  std::uint64_t appended = 0;        // events committed
  std::uint64_t disk_reads = 0;      // read_after calls answered from SQLite
  std::uint64_t tail_reads = 0;      // read_after calls answered from the memory tail
  std::uint64_t read_errors = 0;     // disk reads that failed (the reader got nothing)
  std::uint64_t deleted = 0;         // rows deleted by retention
};

namespace detail {

class sqlite_log_impl {
 public:
  static constexpr std::int64_t schema_version = 1;

  explicit sqlite_log_impl(sqlite_log_options o) : opts_(std::move(o)) {
    if (!opts_.clock) opts_.clock = [] { return clock_type::now(); };
    if (opts_.max_events == 0) opts_.max_events = 1;
    if (opts_.tail_events == 0) opts_.tail_events = 1;
    if (opts_.tail_bytes == 0) opts_.tail_bytes = 1;
    if (opts_.max_batch == 0) opts_.max_batch = 1;
    if (opts_.delete_batch == 0) opts_.delete_batch = 1;
    // An event the tail cannot hold would leave a gap in it: refuse such events.
    opts_.max_event_bytes = std::min(opts_.max_event_bytes, opts_.tail_bytes);
  }

  ~sqlite_log_impl() {
    std::lock_guard lock(pool_mutex_);
    idle_.clear();
  }

  std::error_code open() {
    namespace sq = detail::sqlite;
    if (auto ec = sq::open(opts_.path, opts_.synchronous_full, db_)) return ec;
    sqlite3* db = db_.get();
    if (auto ec = sq::exec(db, "BEGIN IMMEDIATE")) return ec;
    auto fail = [&](std::error_code ec) {
      sq::exec(db, "ROLLBACK");
      return ec;
    };
    if (auto ec = sq::exec(db,
                           "CREATE TABLE IF NOT EXISTS lastmile_log_meta("
                           "  key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
                           "CREATE TABLE IF NOT EXISTS lastmile_events("
                           "  id INTEGER PRIMARY KEY, topic TEXT NOT NULL, type TEXT NOT NULL,"
                           "  payload BLOB NOT NULL, time_ms INTEGER NOT NULL);"
                           "CREATE INDEX IF NOT EXISTS lastmile_events_topic ON lastmile_events(topic, id);"))
      return fail(ec);
    std::int64_t version = 0, epoch = 0, floor = 0;
    {
      sq::statement get;
      if (auto ec = get.prepare(db, "SELECT key, value FROM lastmile_log_meta")) return fail(ec);
      int rc;
      while ((rc = get.step()) == SQLITE_ROW) {
        auto key = get.text(0);
        if (key == "schema_version") version = get.int64(1);
        else if (key == "epoch") epoch = get.int64(1);
        else if (key == "floor") floor = get.int64(1);
      }
      if (rc != SQLITE_DONE) return fail(sq::make_error(rc));
    }
    if (version > schema_version) return fail(sq::make_error(sq::schema_too_new));
    if (version == 0) {
      if (epoch != 0) return fail(sq::make_error(sq::foreign_schema));
      epoch = std::bit_cast<std::int64_t>(random_epoch());
      sq::statement put;
      if (auto ec = put.prepare(db, "INSERT INTO lastmile_log_meta(key, value) VALUES(?1, ?2)")) return fail(ec);
      for (auto [k, v] : {std::pair<std::string_view, std::int64_t>{"schema_version", schema_version},
                          {"epoch", epoch},
                          {"floor", 0}})
        if (auto ec = put.bind_text(1, k).bind(2, v).run()) return fail(ec);
    } else if (epoch == 0) {
      return fail(sq::make_error(sq::foreign_schema));
    }
    std::int64_t max_id = 0;
    {
      sq::statement top;
      if (auto ec = top.prepare(db, "SELECT max(id) FROM lastmile_events")) return fail(ec);
      if (int rc = top.step(); rc != SQLITE_ROW) return fail(sq::make_error(rc));
      max_id = top.is_null(0) ? 0 : top.int64(0);
    }
    if (auto ec = sq::exec(db, "COMMIT")) return fail(ec);

    epoch_ = std::bit_cast<std::uint64_t>(epoch);
    const auto deleted = static_cast<std::uint64_t>(floor);
    deleted_floor_ = deleted;
    head_ = std::max<std::uint64_t>(static_cast<std::uint64_t>(max_id), deleted);
    floor_ = std::max(deleted, count_floor(head_));

    if (auto ec = insert_.prepare(db, "INSERT INTO lastmile_events(id, topic, type, payload, time_ms) "
                                      "VALUES(?1, ?2, ?3, ?4, ?5)"))
      return ec;
    if (auto ec = begin_.prepare(db, "BEGIN IMMEDIATE")) return ec;
    if (auto ec = commit_.prepare(db, "COMMIT")) return ec;
    if (auto ec = rollback_.prepare(db, "ROLLBACK")) return ec;
    if (auto ec = delete_.prepare(db, "DELETE FROM lastmile_events WHERE id <= ?1")) return ec;
    if (auto ec = set_floor_.prepare(db, "UPDATE lastmile_log_meta SET value = ?1 WHERE key = 'floor'")) return ec;
    if (auto ec = first_young_.prepare(db, "SELECT id FROM lastmile_events WHERE id > ?1 AND id <= ?2 "
                                           "AND time_ms > ?3 ORDER BY id LIMIT 1"))
      return ec;

    {
      std::lock_guard w(writer_mutex_);
      if (auto ec = retain(opts_.clock(), true)) return ec;
    }
    return load_tail();
  }

  std::uint64_t epoch() const noexcept { return epoch_; }

  cursor head() const {
    std::lock_guard lock(pos_mutex_);
    return {epoch_, head_};
  }
  cursor earliest() const {
    std::lock_guard lock(pos_mutex_);
    return {epoch_, floor_};
  }
  std::size_t size() const {
    std::lock_guard lock(pos_mutex_);
    return static_cast<std::size_t>(head_ - floor_);
  }
  const sqlite_log_options& options() const noexcept { return opts_; }
  const memory_log& tail() const noexcept { return *tail_; }
  sqlite_log_stats stats() const {
    return {commits_.load(), appended_.load(), disk_reads_.load(), tail_reads_.load(), read_errors_.load(),
            deleted_.load()};
  }

  result<cursor> append(std::span<const log_entry> entries) {
    if (entries.empty()) return head();
    for (const auto& e : entries)
      if (e.topic.size() + e.type.size() + e.payload.size() > opts_.max_event_bytes ||
          e.payload.size() > UINT32_MAX)
        return errc::payload_too_large;
    request req{entries};
    std::unique_lock lock(queue_mutex_);
    queue_.push_back(&req);
    while (!req.done) {
      if (committing_) {
        queue_cv_.wait(lock);
        continue;
      }
      // Leader: commit what is queued (up to max_batch events, at least one request).
      committing_ = true;
      std::vector<request*> batch;
      std::size_t events = 0, taken = 0;
      while (taken < queue_.size() && (taken == 0 || events + queue_[taken]->entries.size() <= opts_.max_batch)) {
        events += queue_[taken]->entries.size();
        batch.push_back(queue_[taken++]);
      }
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(taken));
      lock.unlock();
      {
        std::lock_guard w(writer_mutex_);
        commit(batch);
      }
      lock.lock();
      for (auto* r : batch) r->done = true;
      committing_ = false;
      queue_cv_.notify_all();
    }
    if (req.error) return req.error;
    return req.last;
  }

  void trim() {
    std::lock_guard w(writer_mutex_);
    retain(opts_.clock(), true);
    tail_->trim();
  }

  read_status read_after(cursor after, const topic_filter& filter, std::size_t max, event_batch& out) const {
    const std::size_t first = out.size();
    for (;;) {
      std::uint64_t floor, head;
      {
        std::lock_guard lock(pos_mutex_);
        floor = floor_;
        head = head_;
      }
      read_status st{after, std::nullopt};
      std::uint64_t from = after.offset;
      if (after.epoch != epoch_ || after.offset < floor || after.offset > head) {
        reset_reason why = after.epoch != epoch_ ? reset_reason::foreign_epoch
                           : after.offset < floor ? reset_reason::expired
                                                  : reset_reason::ahead;
        st.reset = reset_info{why, {epoch_, floor}};
        from = floor;
        st.next = {epoch_, floor};
      }
      if (max == 0) return st;

      bool done = false;
      if (from >= tail_->earliest().offset) {
        auto ts = tail_->read_after({epoch_, from}, filter, max, out);
        if (!ts.reset) {
          st.next = ts.next;
          done = true;
          tail_reads_.fetch_add(1, std::memory_order_relaxed);
        } else {
          out.resize(first);  // the tail moved past `from` meanwhile: read the disk
        }
      }
      if (!done) {
        disk_reads_.fetch_add(1, std::memory_order_relaxed);
        if (!disk_read(from, head, filter, max, out)) {
          read_errors_.fetch_add(1, std::memory_order_relaxed);
          out.resize(first);
          return st;  // nothing read; `next` does not move past anything unread
        }
        // Rows deleted after we decided `from` was retained: decide again.
        if (deleted_floor_.load(std::memory_order_acquire) > from) {
          out.resize(first);
          continue;
        }
        const std::size_t n = out.size() - first;
        st.next = n == max ? out.back()->id() : cursor{epoch_, head};
      }
      if (st.reset) {
        if (out.size() > first) st.reset->earliest = out[first]->id();
        else if (head > floor) st.reset->earliest = {epoch_, floor + 1};
      }
      return st;
    }
  }

 private:
  struct request {
    std::span<const log_entry> entries;
    cursor last{};
    std::error_code error;
    bool done = false;
  };

  // A read connection with its prepared statements; pooled, one user at a time.
  struct reader {
    detail::sqlite::db_ptr db;
    detail::sqlite::statement all, exact, prefix;
  };
  struct reader_lease {
    reader_lease(const sqlite_log_impl* l, std::unique_ptr<reader> rd) : log(l), r(std::move(rd)) {}
    reader_lease(reader_lease&&) noexcept = default;
    reader_lease& operator=(reader_lease&&) = delete;
    const sqlite_log_impl* log;
    std::unique_ptr<reader> r;
    ~reader_lease() {
      if (!r) return;
      std::lock_guard lock(log->pool_mutex_);
      log->idle_.push_back(std::move(r));
    }
  };

  static std::uint64_t random_epoch() {
    std::random_device rd;
    std::uint64_t e = 0;
    while (e == 0) e = (std::uint64_t(rd()) << 32) ^ rd();
    return e;
  }

  std::uint64_t count_floor(std::uint64_t head) const {
    return head > opts_.max_events ? head - opts_.max_events : 0;
  }

  static std::int64_t to_ms(clock_type::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  }
  static clock_type::time_point from_ms(std::int64_t ms) {
    return clock_type::time_point(std::chrono::duration_cast<clock_type::duration>(std::chrono::milliseconds(ms)));
  }

  // Writes a group of requests in one transaction, then shows them to readers.
  // Holds writer_mutex_.
  void commit(std::vector<request*>& batch) {
    namespace sq = detail::sqlite;
    const auto now = from_ms(to_ms(opts_.clock()));  // stored with millisecond precision
    const std::int64_t now_ms = to_ms(now);
    std::uint64_t next = head_;  // only the writer changes head_
    auto fail = [&](std::error_code ec) {
      rollback_.run();
      for (auto* r : batch) r->error = ec;
    };
    if (auto ec = begin_.run()) return fail(ec);
    for (auto* r : batch)
      for (const auto& e : r->entries) {
        ++next;
        insert_.bind(1, static_cast<std::int64_t>(next)).bind_text(2, e.topic).bind_text(3, e.type);
        insert_.bind_blob(4, e.payload).bind(5, now_ms);
        if (auto ec = insert_.run()) return fail(ec);
      }
    if (auto ec = commit_.run()) return fail(ec);
    commits_.fetch_add(1, std::memory_order_relaxed);
    appended_.fetch_add(next - head_, std::memory_order_relaxed);

    // Committed: into the tail first, then move the head (a reader that sees the new
    // head finds the events in the tail).
    std::uint64_t id = head_;
    for (auto* r : batch) {
      for (const auto& e : r->entries) tail_->insert({epoch_, ++id}, e.topic, e.type, e.payload, now);
      r->last = {epoch_, id};
    }
    {
      std::lock_guard lock(pos_mutex_);
      head_ = next;
      floor_ = std::max(floor_, count_floor(head_));
    }
    retain(now, false);
  }

  // Moves the retained range by age (at most every age_check_interval unless forced)
  // and deletes rows before it once delete_batch of them are due (any when forced).
  // Holds writer_mutex_.
  std::error_code retain(clock_type::time_point now, bool force) {
    namespace sq = detail::sqlite;
    if (opts_.max_age.count() > 0 && (force || now - last_age_check_ >= opts_.age_check_interval)) {
      last_age_check_ = now;
      const std::int64_t cutoff = to_ms(now - opts_.max_age);
      std::uint64_t floor, head;
      {
        std::lock_guard lock(pos_mutex_);
        floor = floor_;
        head = head_;
      }
      sq::reset_guard g{first_young_};
      first_young_.bind(1, static_cast<std::int64_t>(floor)).bind(2, static_cast<std::int64_t>(head)).bind(3, cutoff);
      int rc = first_young_.step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sq::make_error(rc);
      std::uint64_t age_floor = rc == SQLITE_ROW ? static_cast<std::uint64_t>(first_young_.int64(0)) - 1 : head;
      std::lock_guard lock(pos_mutex_);
      floor_ = std::max(floor_, age_floor);
    }
    std::uint64_t target;
    {
      std::lock_guard lock(pos_mutex_);
      target = floor_;
    }
    const std::uint64_t due = target - deleted_floor_.load(std::memory_order_relaxed);
    if (due == 0 || (!force && due < opts_.delete_batch)) return {};
    // Announce before deleting: a disk reader that started before checks this after
    // its query and reads again.
    deleted_floor_.store(target, std::memory_order_release);
    auto fail = [&](std::error_code ec) {
      rollback_.run();
      return ec;
    };
    if (auto ec = begin_.run()) return fail(ec);
    if (auto ec = delete_.bind(1, static_cast<std::int64_t>(target)).run()) return fail(ec);
    if (auto ec = set_floor_.bind(1, static_cast<std::int64_t>(target)).run()) return fail(ec);
    if (auto ec = commit_.run()) return fail(ec);
    deleted_.fetch_add(due, std::memory_order_relaxed);
    return {};
  }

  std::error_code load_tail() {
    namespace sq = detail::sqlite;
    const std::size_t tail_max = std::min(opts_.tail_events, opts_.max_events);
    const std::uint64_t start = std::max<std::uint64_t>(floor_, head_ > tail_max ? head_ - tail_max : 0);
    tail_ = std::make_unique<memory_log>(memory_log_options{.max_events = tail_max,
                                                            .max_bytes = opts_.tail_bytes,
                                                            .max_age = opts_.max_age,
                                                            .epoch = epoch_,
                                                            .start_offset = start,
                                                            .clock = opts_.clock});
    sq::statement rows;
    if (auto ec = rows.prepare(db_.get(), "SELECT id, topic, type, payload, time_ms FROM lastmile_events "
                                          "WHERE id > ?1 ORDER BY id"))
      return ec;
    rows.bind(1, static_cast<std::int64_t>(start));
    int rc;
    while ((rc = rows.step()) == SQLITE_ROW)
      tail_->insert({epoch_, static_cast<std::uint64_t>(rows.int64(0))}, rows.text(1), rows.text(2), rows.blob(3),
                    from_ms(rows.int64(4)));
    return rc == SQLITE_DONE ? std::error_code{} : sq::make_error(rc);
  }

  result<reader_lease> lease() const {
    namespace sq = detail::sqlite;
    {
      std::lock_guard lock(pool_mutex_);
      if (!idle_.empty()) {
        reader_lease l{this, std::move(idle_.back())};
        idle_.pop_back();
        return l;
      }
    }
    auto r = std::make_unique<reader>();
    if (auto ec = sq::open(opts_.path, opts_.synchronous_full, r->db)) return ec;
    const char* cols = "SELECT id, topic, type, payload, time_ms FROM lastmile_events WHERE ";
    if (auto ec = r->all.prepare(r->db.get(), std::string(cols) + "id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3"))
      return ec;
    if (auto ec = r->exact.prepare(
            r->db.get(), std::string(cols) + "topic = ?4 AND id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3"))
      return ec;
    if (auto ec = r->prefix.prepare(r->db.get(), std::string(cols) +
                                                     "topic > ?4 AND topic < ?5 AND id > ?1 AND id <= ?2 "
                                                     "ORDER BY id LIMIT ?3"))
      return ec;
    return reader_lease{this, std::move(r)};
  }

  // Appends to `out` (in offset order) up to `max` events in (from, head] matching
  // `filter`, read from SQLite. False on a database error.
  bool disk_read(std::uint64_t from, std::uint64_t head, const topic_filter& filter, std::size_t max,
                 event_batch& out) const {
    namespace sq = detail::sqlite;
    if (from >= head) return true;
    auto l = lease();
    if (!l) return false;
    reader& r = *l->r;
    const auto limit = static_cast<std::int64_t>(std::min<std::size_t>(max, INT64_MAX));
    auto run = [&](sq::statement& s, event_batch& into) {
      sq::reset_guard g{s};
      s.bind(1, static_cast<std::int64_t>(from)).bind(2, static_cast<std::int64_t>(head)).bind(3, limit);
      int rc;
      while ((rc = s.step()) == SQLITE_ROW)
        into.push_back(event_record::make({epoch_, static_cast<std::uint64_t>(s.int64(0))}, s.text(1), s.text(2),
                                          s.blob(3), from_ms(s.int64(4))));
      return rc == SQLITE_DONE;
    };
    if (filter.matches_all()) return run(r.all, out);
    // One indexed query per pattern, each limited to `max`; the first `max` of their
    // merge are the answer.
    event_batch found;
    std::string upper;
    for (const auto& p : filter.patterns()) {
      sq::statement& s = p.prefix ? r.prefix : r.exact;
      s.bind_text(4, p.text);
      if (p.prefix) {
        upper = p.text;
        upper.back() = static_cast<char>(upper.back() + 1);  // "orders." -> "orders/"
        s.bind_text(5, upper);
      }
      if (!run(s, found)) return false;
    }
    std::sort(found.begin(), found.end(),
              [](const event_ptr& a, const event_ptr& b) { return a->id().offset < b->id().offset; });
    std::size_t taken = 0;
    std::uint64_t last = from;
    for (auto& e : found) {
      if (taken == max) break;
      if (e->id().offset == last) continue;  // overlapping patterns found it twice
      last = e->id().offset;
      out.push_back(std::move(e));
      ++taken;
    }
    return true;
  }

  sqlite_log_options opts_;
  std::uint64_t epoch_ = 0;
  std::unique_ptr<memory_log> tail_;

  // Writer side: the connection and its statements, used under writer_mutex_.
  std::mutex writer_mutex_;
  detail::sqlite::db_ptr db_;
  detail::sqlite::statement insert_, begin_, commit_, rollback_, delete_, set_floor_, first_young_;
  clock_type::time_point last_age_check_{};

  // Group commit.
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::vector<request*> queue_;
  bool committing_ = false;

  // The committed, retained range (floor_, head_].
  mutable std::mutex pos_mutex_;
  std::uint64_t head_ = 0;
  std::uint64_t floor_ = 0;
  std::atomic<std::uint64_t> deleted_floor_{0};  // rows <= this may be gone from the file

  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<reader>> idle_;

  mutable std::atomic<std::uint64_t> commits_{0}, appended_{0}, disk_reads_{0}, tail_reads_{0}, read_errors_{0},
      deleted_{0};
};

}  // namespace detail

class sqlite_log {
 public:
  // Opens (or creates) the log in opts.path. Errors carry the SQLite category
  // (e.g. "unable to open database file", "file is not a database").
  static result<sqlite_log> open(sqlite_log_options opts) {
    auto impl = std::make_unique<detail::sqlite_log_impl>(std::move(opts));
    if (auto ec = impl->open()) return ec;
    return sqlite_log(std::move(impl));
  }

  sqlite_log(sqlite_log&&) noexcept = default;
  sqlite_log& operator=(sqlite_log&&) noexcept = default;

  std::uint64_t epoch() const noexcept { return impl_->epoch(); }
  cursor head() const { return impl_->head(); }
  cursor earliest() const { return impl_->earliest(); }
  std::size_t size() const { return impl_->size(); }  // events retained
  const sqlite_log_options& options() const noexcept { return impl_->options(); }
  sqlite_log_stats stats() const { return impl_->stats(); }
  const memory_log& tail() const noexcept { return impl_->tail(); }

  // Appends one event; durable when it returns (see sqlite_log_options::synchronous_full).
  // Concurrent calls share transactions. Errors: payload_too_large, or an SQLite error.
  result<cursor> append(std::string_view topic, std::string_view type, std::string_view payload) {
    const log_entry e{topic, type, payload};
    return impl_->append(std::span<const log_entry>(&e, 1));
  }
  // Appends events with consecutive offsets in one transaction: all or none. Returns
  // the last one's cursor (the first is last.offset - size + 1); head() when empty.
  // Topics and types must be valid (hub::publish checks them for append).
  result<cursor> append_batch(std::span<const log_entry> entries) { return impl_->append(entries); }

  read_status read_after(cursor after, const topic_filter& f, std::size_t max, event_batch& out) const {
    return impl_->read_after(after, f, max, out);
  }

  // Applies age retention now and deletes every expired row (appends do this in
  // batches; call it from a timer when appends may stop for long).
  void trim() { impl_->trim(); }

 private:
  explicit sqlite_log(std::unique_ptr<detail::sqlite_log_impl> impl) : impl_(std::move(impl)) {}
  std::unique_ptr<detail::sqlite_log_impl> impl_;
};

static_assert(event_log<sqlite_log>);

}  // namespace lastmile
