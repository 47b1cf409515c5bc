#include "storage/catalog_outbox.h"

#include "platform/sqlite.h"
#include "storage/buffer.h"

namespace granary {
namespace {

constexpr const char* kColumns =
    "id, outbox, uuid, kind, name, role, local, size, sha256, md5, original, orig_size, "
    "orig_mtime_ns, orig_inode, taken_at, attempts";

OutboxEntry Row(sqlite3_stmt* s) {
  OutboxEntry e;
  e.id = sqlite3_column_int64(s, 0);
  e.outbox = sql::ColumnText(s, 1);
  e.uuid = sql::ColumnText(s, 2);
  e.kind = sql::ColumnText(s, 3);
  e.name = sql::ColumnText(s, 4);
  e.role = sql::ColumnText(s, 5);
  e.local = sql::ColumnText(s, 6);
  e.size = static_cast<uint64_t>(sqlite3_column_int64(s, 7));
  e.sha256_hex = sql::ColumnText(s, 8);
  e.md5_hex = sql::ColumnText(s, 9);
  e.original.path = sql::ColumnText(s, 10);
  e.original.size = static_cast<uint64_t>(sqlite3_column_int64(s, 11));
  e.original.mtime_ns = sqlite3_column_int64(s, 12);
  e.original.inode = static_cast<uint64_t>(sqlite3_column_int64(s, 13));
  e.taken_at = sqlite3_column_int64(s, 14);
  e.attempts = sqlite3_column_int64(s, 15);
  return e;
}

Result<std::optional<OutboxEntry>> First(Result<std::vector<OutboxEntry>> rows) {
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<OutboxEntry>();
  return std::optional<OutboxEntry>(std::move(rows->front()));
}

}  // namespace

Result<std::unique_ptr<OutboxCatalog>> OutboxCatalog::Open(Env& env, const std::string& state_dir) {
  auto db = sql::Open(env, BufferDbPath(state_dir), /*read_only=*/false);
  if (!db) return db.error();
  // Only the buffer's writer may checkpoint and remove the WAL (see sql::Open).
  sqlite3_db_config(db->get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  (void)sql::Exec(db->get(), "PRAGMA cache_size=16");
  return std::unique_ptr<OutboxCatalog>(new OutboxCatalog(std::move(*db)));
}

Result<std::vector<OutboxEntry>> OutboxCatalog::Entries(
    const std::string& where, const std::function<void(sqlite3_stmt*)>& bind) {
  auto stmt = sql::Prepare(db_.get(), std::string("SELECT ") + kColumns + " FROM outbox " + where);
  if (!stmt) return stmt.error();
  bind(stmt->get());
  std::vector<OutboxEntry> rows;
  for (;;) {
    int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_DONE) return rows;
    if (rc != SQLITE_ROW) return sql::Fail(db_.get(), "read outbox entries");
    rows.push_back(Row(stmt->get()));
  }
}

Result<std::optional<OutboxEntry>> OutboxCatalog::FindTaken(const FileIdentity& o) {
  return First(
      Entries("WHERE original = ?1 AND orig_inode = ?2 AND orig_size = ?3 AND orig_mtime_ns = ?4 "
              "LIMIT 1",
              [&](sqlite3_stmt* s) {
                sql::Bind(s, 1, o.path);
                sql::Bind(s, 2, static_cast<int64_t>(o.inode));
                sql::Bind(s, 3, static_cast<int64_t>(o.size));
                sql::Bind(s, 4, o.mtime_ns);
              }));
}

Result<std::optional<OutboxEntry>> OutboxCatalog::Find(const std::string& role,
                                                       const std::string& uuid,
                                                       const std::string& name) {
  return First(Entries("WHERE role = ?1 AND uuid = ?2 AND name = ?3", [&](sqlite3_stmt* s) {
    sql::Bind(s, 1, role);
    sql::Bind(s, 2, uuid);
    sql::Bind(s, 3, name);
  }));
}

Status OutboxCatalog::Insert(const OutboxEntry& e) {
  auto stmt = sql::Prepare(
      db_.get(),
      "INSERT INTO outbox(outbox, uuid, kind, name, role, local, size, sha256, md5, original, "
      "orig_size, orig_mtime_ns, orig_inode, taken_at) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
  if (!stmt) return stmt.error();
  sqlite3_stmt* s = stmt->get();
  sql::Bind(s, 1, e.outbox);
  sql::Bind(s, 2, e.uuid);
  sql::Bind(s, 3, e.kind);
  sql::Bind(s, 4, e.name);
  sql::Bind(s, 5, e.role);
  sql::Bind(s, 6, e.local);
  sql::Bind(s, 7, static_cast<int64_t>(e.size));
  sql::Bind(s, 8, e.sha256_hex);
  sql::Bind(s, 9, e.md5_hex);
  sql::Bind(s, 10, e.original.path);
  sql::Bind(s, 11, static_cast<int64_t>(e.original.size));
  sql::Bind(s, 12, e.original.mtime_ns);
  sql::Bind(s, 13, static_cast<int64_t>(e.original.inode));
  sql::Bind(s, 14, e.taken_at);
  return sql::StepDone(db_.get(), s, "record outbox entry " + e.uuid + "/" + e.name);
}

Result<std::optional<OutboxEntry>> OutboxCatalog::NextDue(int64_t now_ms) {
  return First(
      Entries("WHERE state = 'pending' AND next_attempt_at <= ?1 "
              "ORDER BY role = 'file', next_attempt_at, id LIMIT 1",
              [&](sqlite3_stmt* s) { sql::Bind(s, 1, now_ms); }));
}

Result<int64_t> OutboxCatalog::EarliestAttempt() {
  return sql::QueryInt(db_.get(),
                       "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'");
}

Status OutboxCatalog::MarkUploaded(int64_t id, int64_t now_ms) {
  auto stmt = sql::Prepare(db_.get(),
                           "UPDATE outbox SET state = 'uploaded', uploaded_at = ?2, "
                           "attempts = attempts + 1, last_error = NULL WHERE id = ?1");
  if (!stmt) return stmt.error();
  sql::Bind(stmt->get(), 1, id);
  sql::Bind(stmt->get(), 2, now_ms);
  return sql::StepDone(db_.get(), stmt->get(), "mark outbox entry uploaded");
}

Status OutboxCatalog::MarkFailed(int64_t id, const std::string& error, int64_t next_attempt_ms) {
  auto stmt = sql::Prepare(db_.get(),
                           "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, "
                           "next_attempt_at = ?3 WHERE id = ?1");
  if (!stmt) return stmt.error();
  sql::Bind(stmt->get(), 1, id);
  sql::Bind(stmt->get(), 2, error);
  sql::Bind(stmt->get(), 3, next_attempt_ms);
  return sql::StepDone(db_.get(), stmt->get(), "mark outbox entry failed");
}

Status OutboxCatalog::RetryAllNow() {
  return sql::Exec(db_.get(), "UPDATE outbox SET next_attempt_at = 0 WHERE state = 'pending'");
}

Result<std::vector<OutboxEntry>> OutboxCatalog::UploadedBefore(int64_t cutoff_ms, int limit) {
  return Entries(
      "WHERE state = 'uploaded' AND local_removed = 0 AND uploaded_at < ?1 ORDER BY id LIMIT ?2",
      [&](sqlite3_stmt* s) {
        sql::Bind(s, 1, cutoff_ms);
        sql::Bind(s, 2, static_cast<int64_t>(limit));
      });
}

Status OutboxCatalog::MarkLocalRemoved(int64_t id) {
  auto stmt = sql::Prepare(db_.get(), "UPDATE outbox SET local_removed = 1 WHERE id = ?1");
  if (!stmt) return stmt.error();
  sql::Bind(stmt->get(), 1, id);
  return sql::StepDone(db_.get(), stmt->get(), "mark outbox copy removed");
}

Result<std::vector<std::string>> OutboxCatalog::LiveLocals() {
  auto rows = Entries("WHERE local_removed = 0", [](sqlite3_stmt*) {});
  if (!rows) return rows.error();
  std::vector<std::string> names;
  for (const OutboxEntry& e : *rows) names.push_back(e.local);
  return names;
}

Result<uint64_t> OutboxCatalog::LocalBytes() {
  auto bytes =
      sql::QueryInt(db_.get(), "SELECT COALESCE(SUM(size), 0) FROM outbox WHERE local_removed = 0");
  if (!bytes) return bytes.error();
  return static_cast<uint64_t>(*bytes);
}

Result<std::vector<OutboxCount>> OutboxCatalog::Counts() {
  auto stmt = sql::Prepare(
      db_.get(),
      "SELECT outbox, kind, SUM(state = 'pending'), SUM(CASE WHEN state = 'pending' THEN size "
      "ELSE 0 END), SUM(state = 'uploaded'), MIN(CASE WHEN state = 'pending' THEN taken_at END) "
      "FROM outbox GROUP BY outbox, kind ORDER BY outbox, kind");
  if (!stmt) return stmt.error();
  std::vector<OutboxCount> counts;
  for (;;) {
    int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_DONE) return counts;
    if (rc != SQLITE_ROW) return sql::Fail(db_.get(), "count outbox entries");
    sqlite3_stmt* s = stmt->get();
    OutboxCount c;
    c.outbox = sql::ColumnText(s, 0);
    c.kind = sql::ColumnText(s, 1);
    c.pending = static_cast<uint64_t>(sqlite3_column_int64(s, 2));
    c.pending_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 3));
    c.uploaded = static_cast<uint64_t>(sqlite3_column_int64(s, 4));
    c.oldest_pending_ms = sqlite3_column_int64(s, 5);
    counts.push_back(std::move(c));
  }
}

}  // namespace granary
