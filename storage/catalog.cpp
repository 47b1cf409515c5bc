#include "storage/catalog.h"

#include "platform/env.h"
#include "storage/buffer.h"
#include "platform/sqlite.h"

namespace granary {

Result<std::unique_ptr<CatalogReader>> CatalogReader::Open(const std::string& state_dir) {
  std::unique_ptr<CatalogReader> r(new CatalogReader());
  r->segments_dir_ = SegmentsDir(state_dir);
  auto db = sql::Open(Env::Default(), BufferDbPath(state_dir), /*read_only=*/true);
  if (!db) return db.error();
  r->db_ = std::move(*db);
  struct Prep {
    SqliteStmt* slot;
    const char* sql;
  };
  const Prep preps[] = {
      {&r->next_due_,
       "SELECT id, source, first_seq, last_seq, count, first_ts, last_ts, clock, format, file,"
       " bytes, md5, sha256, attempts, next_attempt_at FROM segments"
       " WHERE state='sealed' AND file_removed=0 AND next_attempt_at<=? ORDER BY id LIMIT 1"},
      {&r->earliest_,
       "SELECT min(next_attempt_at) FROM segments WHERE state='sealed' AND file_removed=0"},
      {&r->tombstones_,
       "SELECT id, source, first_seq, last_seq, count, reason, at FROM drops"
       " WHERE tombstone='pending' ORDER BY id LIMIT ?"},
  };
  for (const Prep& p : preps) {
    auto s = sql::Prepare(r->db_.get(), p.sql);
    if (!s) return s.error();
    *p.slot = std::move(*s);
  }
  return r;
}

Result<std::optional<SegmentRecord>> CatalogReader::NextDue(int64_t now_ms) {
  sqlite3_stmt* st = next_due_.get();
  sql::StmtScope scope(st);
  sql::Bind(st, 1, now_ms);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) return std::optional<SegmentRecord>();
  if (rc != SQLITE_ROW) return sql::Fail(db_.get(), "find the next segment to upload");
  SegmentRecord s;
  s.id = sqlite3_column_int64(st, 0);
  s.source = sql::ColumnText(st, 1);
  s.first_seq = static_cast<uint64_t>(sqlite3_column_int64(st, 2));
  s.last_seq = static_cast<uint64_t>(sqlite3_column_int64(st, 3));
  s.count = static_cast<uint64_t>(sqlite3_column_int64(st, 4));
  s.first_ts = sqlite3_column_int64(st, 5);
  s.last_ts = sqlite3_column_int64(st, 6);
  s.clock = sql::ColumnText(st, 7);
  s.format = sql::ColumnText(st, 8);
  s.path = segments_dir_ + "/" + sql::ColumnText(st, 9);
  s.bytes = static_cast<uint64_t>(sqlite3_column_int64(st, 10));
  s.md5_hex = sql::ColumnText(st, 11);
  s.sha256_hex = sql::ColumnText(st, 12);
  s.attempts = sqlite3_column_int64(st, 13);
  s.next_attempt_at = sqlite3_column_int64(st, 14);
  return std::optional<SegmentRecord>(std::move(s));
}

Result<int64_t> CatalogReader::EarliestAttempt() {
  sqlite3_stmt* st = earliest_.get();
  sql::StmtScope scope(st);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) return sql::Fail(db_.get(), "find the next upload attempt");
  return static_cast<int64_t>(sqlite3_column_int64(st, 0));
}

Result<std::vector<DropRecord>> CatalogReader::PendingTombstones(int limit) {
  sqlite3_stmt* st = tombstones_.get();
  sql::StmtScope scope(st);
  sql::Bind(st, 1, static_cast<int64_t>(limit));
  std::vector<DropRecord> out;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    DropRecord d;
    d.id = sqlite3_column_int64(st, 0);
    d.source = sql::ColumnText(st, 1);
    d.first_seq = static_cast<uint64_t>(sqlite3_column_int64(st, 2));
    d.last_seq = static_cast<uint64_t>(sqlite3_column_int64(st, 3));
    d.count = static_cast<uint64_t>(sqlite3_column_int64(st, 4));
    d.reason = sql::ColumnText(st, 5);
    d.at = sqlite3_column_int64(st, 6);
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return sql::Fail(db_.get(), "list pending tombstones");
  return out;
}

}  // namespace granary
