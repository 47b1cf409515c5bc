// The outbox table of the catalog: reports and files taken from the [[outbox]] directories
// (docs/outbox.md).
#include "platform/sqlite.h"
#include "storage/buffer.h"
#include "storage/catalog.h"

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

Result<std::vector<OutboxEntry>> SegmentCatalog::OutboxEntries(
    const std::string& where, const std::function<void(sqlite3_stmt*)>& bind) {
  auto stmt = sql::Prepare(db_, std::string("SELECT ") + kColumns + " FROM outbox " + where);
  if (!stmt) return stmt.error();
  bind(stmt->get());
  std::vector<OutboxEntry> rows;
  for (;;) {
    int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_DONE) return rows;
    if (rc != SQLITE_ROW) return sql::Fail(db_, "read outbox entries");
    rows.push_back(Row(stmt->get()));
  }
}

Result<std::optional<OutboxEntry>> SegmentCatalog::FindTaken(const FileIdentity& o) {
  return First(OutboxEntries(
      "WHERE original = ?1 AND orig_inode = ?2 AND orig_size = ?3 AND orig_mtime_ns = ?4 "
      "LIMIT 1",
      [&](sqlite3_stmt* s) {
        sql::Bind(s, 1, o.path);
        sql::Bind(s, 2, static_cast<int64_t>(o.inode));
        sql::Bind(s, 3, static_cast<int64_t>(o.size));
        sql::Bind(s, 4, o.mtime_ns);
      }));
}

Result<std::optional<OutboxEntry>> SegmentCatalog::FindOutboxEntry(const std::string& role,
                                                                   const std::string& uuid,
                                                                   const std::string& name) {
  return First(OutboxEntries("WHERE role = ?1 AND uuid = ?2 AND name = ?3", [&](sqlite3_stmt* s) {
    sql::Bind(s, 1, role);
    sql::Bind(s, 2, uuid);
    sql::Bind(s, 3, name);
  }));
}

Status SegmentCatalog::InsertOutboxEntry(const OutboxEntry& e) {
  auto stmt = sql::Prepare(
      db_,
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
  return sql::StepDone(db_, s, "record outbox entry " + e.uuid + "/" + e.name);
}

Result<std::optional<OutboxEntry>> SegmentCatalog::NextOutboxDue(int64_t now_ms) {
  return First(
      OutboxEntries("WHERE state = 'pending' AND next_attempt_at <= ?1 "
                    "ORDER BY role = 'file', next_attempt_at, id LIMIT 1",
                    [&](sqlite3_stmt* s) { sql::Bind(s, 1, now_ms); }));
}

Result<int64_t> SegmentCatalog::EarliestOutboxAttempt() {
  return sql::QueryInt(db_, "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'");
}

Status SegmentCatalog::MarkOutboxUploaded(int64_t id, int64_t now_ms) {
  auto stmt = sql::Prepare(db_,
                           "UPDATE outbox SET state = 'uploaded', uploaded_at = ?2, "
                           "attempts = attempts + 1, last_error = NULL WHERE id = ?1");
  if (!stmt) return stmt.error();
  sql::Bind(stmt->get(), 1, id);
  sql::Bind(stmt->get(), 2, now_ms);
  return sql::StepDone(db_, stmt->get(), "mark outbox entry uploaded");
}

Status SegmentCatalog::MarkOutboxFailed(int64_t id, const std::string& error,
                                        int64_t next_attempt_ms) {
  auto stmt = sql::Prepare(db_,
                           "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, "
                           "next_attempt_at = ?3 WHERE id = ?1");
  if (!stmt) return stmt.error();
  sql::Bind(stmt->get(), 1, id);
  sql::Bind(stmt->get(), 2, error);
  sql::Bind(stmt->get(), 3, next_attempt_ms);
  return sql::StepDone(db_, stmt->get(), "mark outbox entry failed");
}

Status SegmentCatalog::RetryOutboxNow() {
  return sql::Exec(db_, "UPDATE outbox SET next_attempt_at = 0 WHERE state = 'pending'");
}

Result<std::vector<OutboxEntry>> SegmentCatalog::OutboxUploadedBefore(int64_t cutoff_ms,
                                                                      int limit) {
  return OutboxEntries(
      "WHERE state = 'uploaded' AND local_removed = 0 AND uploaded_at < ?1 ORDER BY id LIMIT ?2",
      [&](sqlite3_stmt* s) {
        sql::Bind(s, 1, cutoff_ms);
        sql::Bind(s, 2, static_cast<int64_t>(limit));
      });
}

Status SegmentCatalog::MarkOutboxLocalRemoved(int64_t id) {
  auto stmt = sql::Prepare(db_, "UPDATE outbox SET local_removed = 1 WHERE id = ?1");
  if (!stmt) return stmt.error();
  sql::Bind(stmt->get(), 1, id);
  return sql::StepDone(db_, stmt->get(), "mark outbox copy removed");
}

Result<std::vector<std::string>> SegmentCatalog::OutboxLiveLocals() {
  auto rows = OutboxEntries("WHERE local_removed = 0", [](sqlite3_stmt*) {});
  if (!rows) return rows.error();
  std::vector<std::string> names;
  for (const OutboxEntry& e : *rows) names.push_back(e.local);
  return names;
}

Result<uint64_t> SegmentCatalog::OutboxLocalBytes() {
  auto bytes =
      sql::QueryInt(db_, "SELECT COALESCE(SUM(size), 0) FROM outbox WHERE local_removed = 0");
  if (!bytes) return bytes.error();
  return static_cast<uint64_t>(*bytes);
}

Result<std::vector<OutboxCount>> SegmentCatalog::OutboxCounts() {
  auto stmt = sql::Prepare(
      db_,
      "SELECT outbox, kind, SUM(state = 'pending'), SUM(CASE WHEN state = 'pending' THEN size "
      "ELSE 0 END), SUM(state = 'uploaded'), MIN(CASE WHEN state = 'pending' THEN taken_at END) "
      "FROM outbox GROUP BY outbox, kind ORDER BY outbox, kind");
  if (!stmt) return stmt.error();
  std::vector<OutboxCount> counts;
  for (;;) {
    int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_DONE) return counts;
    if (rc != SQLITE_ROW) return sql::Fail(db_, "count outbox entries");
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
