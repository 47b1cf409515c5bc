#include "storage/catalog.h"

#include <fmt/format.h>

#include "platform/sqlite.h"
#include "storage/buffer.h"

namespace granary {

namespace {

enum Stmt : int {
  kNextDue,
  kEarliest,
  kTombstones,
  kLiveFiles,
  kRemovedFiles,
  kStateCounts,
  kCounters,
  kMeta,
  kInsertSealed,
  kInsertDrop,
  kAddCounter,
  kSetCounter,
  kSetMeta,
  kMarkUploaded,
  kMarkFailed,
  kMarkTombstone,
  kRetryAll,
  kUploadedBefore,
  kEvictable,
  kEvictableUploaded,
  kFileRemoved,
  kDropSegment,
  kByFile,
  kStmtCount
};

constexpr const char* kSegmentColumns =
    "id, source, first_seq, last_seq, count, first_ts, last_ts, clock, format, file, bytes,"
    " raw_bytes, md5, sha256, attempts, next_attempt_at";

std::string Sql(int which) {
  switch (which) {
    case kNextDue:
      return fmt::format(
          "SELECT {} FROM segments WHERE state='sealed' AND file_removed=0 AND next_attempt_at<=?"
          " ORDER BY id LIMIT 1",
          kSegmentColumns);
    case kEarliest:
      return "SELECT min(next_attempt_at) FROM segments WHERE state='sealed' AND file_removed=0";
    case kTombstones:
      return "SELECT id, source, first_seq, last_seq, count, reason, at FROM drops"
             " WHERE tombstone='pending' ORDER BY id LIMIT ?";
    case kLiveFiles:
      return "SELECT file FROM segments WHERE file_removed=0";
    case kRemovedFiles:
      return "SELECT file FROM segments WHERE file_removed=1";
    case kStateCounts:
      return "SELECT state, count(*), total(bytes), min(first_ts),"
             " total(CASE WHEN file_removed=0 THEN bytes ELSE 0 END), min(sealed_at)"
             " FROM segments GROUP BY state";
    case kCounters:
      return "SELECT name, value FROM counters";
    case kMeta:
      return "SELECT value FROM meta WHERE key=?";
    case kInsertSealed:
      return "INSERT INTO segments(source, first_seq, last_seq, count, first_ts, last_ts, clock,"
             " format, file, bytes, raw_bytes, md5, sha256, state, sealed_at)"
             " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,'sealed',?)";
    case kInsertDrop:
      return "INSERT INTO drops(source, first_seq, last_seq, count, reason, at)"
             " VALUES(?,?,?,?,?,?)";
    case kAddCounter:
      return "INSERT INTO counters(name, value) VALUES(?1, ?2)"
             " ON CONFLICT(name) DO UPDATE SET value = value + ?2";
    case kSetCounter:
      return "INSERT INTO counters(name, value) VALUES(?1, ?2)"
             " ON CONFLICT(name) DO UPDATE SET value = ?2";
    case kSetMeta:
      return "INSERT INTO meta(key, value) VALUES(?1, ?2)"
             " ON CONFLICT(key) DO UPDATE SET value = ?2";
    case kMarkUploaded:
      return "UPDATE segments SET state='uploaded', uploaded_at=?, last_error=NULL"
             " WHERE id=? AND state='sealed'";
    case kMarkFailed:
      return "UPDATE segments SET attempts=attempts+1, last_error=?, next_attempt_at=?"
             " WHERE id=?";
    case kMarkTombstone:
      return "UPDATE drops SET tombstone='uploaded' WHERE id=?";
    case kRetryAll:
      return "UPDATE segments SET next_attempt_at=0 WHERE state='sealed'";
    case kUploadedBefore:
      return "SELECT id, file, source, first_seq, last_seq, count FROM segments"
             " WHERE state='uploaded' AND file_removed=0 AND uploaded_at<=? ORDER BY id LIMIT ?";
    case kEvictable:
      return "SELECT id, file, source, first_seq, last_seq, count, state='sealed' FROM segments"
             " WHERE file_removed=0 AND state IN ('uploaded','sealed')"
             " ORDER BY state='sealed', id LIMIT 1";
    case kEvictableUploaded:
      return "SELECT id, file, source, first_seq, last_seq, count, 0 FROM segments"
             " WHERE file_removed=0 AND state='uploaded' ORDER BY id LIMIT 1";
    case kFileRemoved:
      return "UPDATE segments SET file_removed=1 WHERE id=?";
    case kDropSegment:
      return "UPDATE segments SET state='dropped', file_removed=1 WHERE id=?";
    case kByFile:
      return "SELECT id, file, source, first_seq, last_seq, count, state='sealed' FROM segments"
             " WHERE file=?";
    default:
      return "";
  }
}

int64_t I(uint64_t v) { return static_cast<int64_t>(v); }
uint64_t U(sqlite3_stmt* st, int col) {
  return static_cast<uint64_t>(sqlite3_column_int64(st, col));
}

FileToRemove ReadFileToRemove(sqlite3_stmt* st) {
  FileToRemove f;
  f.id = sqlite3_column_int64(st, 0);
  f.file = sql::ColumnText(st, 1);
  f.source = sql::ColumnText(st, 2);
  f.first_seq = U(st, 3);
  f.last_seq = U(st, 4);
  f.count = U(st, 5);
  f.pending = sqlite3_column_int64(st, 6) != 0;
  return f;
}

}  // namespace

SegmentCatalog::SegmentCatalog(Env& env, sqlite3* db, std::string segments_dir)
    : env_(env), db_(db), segments_dir_(std::move(segments_dir)), stmts_(kStmtCount) {}

SegmentCatalog::~SegmentCatalog() {
  stmts_.clear();
  multipart_stmts_.clear();
}

Result<std::unique_ptr<SegmentCatalog>> SegmentCatalog::OpenReadOnly(Env& env,
                                                                     const std::string& state_dir) {
  auto db = sql::Open(env, BufferDbPath(state_dir), /*read_only=*/true);
  if (!db) return db.error();
  // A reader looks up a few rows of the small catalog tables (the uploader: once per
  // upload); 16 pages hold their index paths.
  (void)sql::Exec(db->get(), "PRAGMA cache_size=16");
  auto c = std::make_unique<SegmentCatalog>(env, db->get(), SegmentsDir(state_dir));
  c->owned_ = std::move(*db);
  return c;
}

Result<std::unique_ptr<SegmentCatalog>> SegmentCatalog::OpenForUploads(
    Env& env, const std::string& state_dir) {
  auto db = sql::Open(env, BufferDbPath(state_dir), /*read_only=*/false);
  if (!db) return db.error();
  // Only the buffer's writer may checkpoint and remove the WAL (see sql::Open).
  sqlite3_db_config(db->get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  (void)sql::Exec(db->get(), "PRAGMA cache_size=16");
  auto c = std::make_unique<SegmentCatalog>(env, db->get(), SegmentsDir(state_dir));
  c->owned_ = std::move(*db);
  return c;
}

Result<sqlite3_stmt*> SegmentCatalog::Get(int which) {
  SqliteStmt& slot = stmts_[which];
  if (!slot) {
    auto s = sql::Prepare(db_, Sql(which));
    if (!s) return s.error();
    slot = std::move(*s);
  }
  return slot.get();
}

Status SegmentCatalog::InTransaction(const std::function<Status()>& body) {
  if (Status s = sql::Exec(db_, "BEGIN IMMEDIATE"); !s) return s;
  Status s = body();
  if (s) s = sql::Exec(db_, "COMMIT");
  if (!s) (void)sql::Exec(db_, "ROLLBACK");
  return s;
}

Result<std::optional<SegmentRecord>> SegmentCatalog::NextDue(int64_t now_ms) {
  auto st = Get(kNextDue);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, now_ms);
  int rc = sqlite3_step(*st);
  if (rc == SQLITE_DONE) return std::optional<SegmentRecord>();
  if (rc != SQLITE_ROW) return sql::Fail(db_, "find the next segment to upload");
  sqlite3_stmt* r = *st;
  SegmentRecord s;
  s.id = sqlite3_column_int64(r, 0);
  s.source = sql::ColumnText(r, 1);
  s.first_seq = U(r, 2);
  s.last_seq = U(r, 3);
  s.count = U(r, 4);
  s.first_ts = sqlite3_column_int64(r, 5);
  s.last_ts = sqlite3_column_int64(r, 6);
  s.clock = sql::ColumnText(r, 7);
  s.format = sql::ColumnText(r, 8);
  s.file = sql::ColumnText(r, 9);
  s.path = segments_dir_ + "/" + s.file;
  s.bytes = U(r, 10);
  s.raw_bytes = U(r, 11);
  s.md5_hex = sql::ColumnText(r, 12);
  s.sha256_hex = sql::ColumnText(r, 13);
  s.attempts = sqlite3_column_int64(r, 14);
  s.next_attempt_at = sqlite3_column_int64(r, 15);
  return std::optional<SegmentRecord>(std::move(s));
}

Result<int64_t> SegmentCatalog::EarliestAttempt() {
  auto st = Get(kEarliest);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  if (sqlite3_step(*st) != SQLITE_ROW) return sql::Fail(db_, "find the next upload attempt");
  return static_cast<int64_t>(sqlite3_column_int64(*st, 0));
}

Result<std::vector<DropRecord>> SegmentCatalog::PendingTombstones(int limit) {
  auto st = Get(kTombstones);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, static_cast<int64_t>(limit));
  std::vector<DropRecord> out;
  int rc;
  while ((rc = sqlite3_step(*st)) == SQLITE_ROW) {
    DropRecord d;
    d.id = sqlite3_column_int64(*st, 0);
    d.source = sql::ColumnText(*st, 1);
    d.first_seq = U(*st, 2);
    d.last_seq = U(*st, 3);
    d.count = U(*st, 4);
    d.reason = sql::ColumnText(*st, 5);
    d.at = sqlite3_column_int64(*st, 6);
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return sql::Fail(db_, "list pending tombstones");
  return out;
}

Result<std::vector<std::string>> SegmentCatalog::LiveFiles() { return Files(kLiveFiles); }

Result<std::vector<std::string>> SegmentCatalog::RemovedFiles() { return Files(kRemovedFiles); }

Result<std::vector<std::string>> SegmentCatalog::Files(int which) {
  auto st = Get(which);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(*st)) == SQLITE_ROW) out.push_back(sql::ColumnText(*st, 0));
  if (rc != SQLITE_DONE) return sql::Fail(db_, "list segment files");
  return out;
}

Result<CatalogSummary> SegmentCatalog::Summary() {
  CatalogSummary sum;
  {
    auto st = Get(kStateCounts);
    if (!st) return st.error();
    sql::StmtScope scope(*st);
    int rc;
    while ((rc = sqlite3_step(*st)) == SQLITE_ROW) {
      std::string state = sql::ColumnText(*st, 0);
      uint64_t count = U(*st, 1);
      sum.local_file_bytes += static_cast<uint64_t>(sqlite3_column_double(*st, 4));
      if (state == "sealed") {
        sum.sealed = count;
        sum.pending_bytes = static_cast<uint64_t>(sqlite3_column_double(*st, 2));
        sum.oldest_pending_ts = sqlite3_column_int64(*st, 3);
        sum.oldest_pending_sealed = sqlite3_column_int64(*st, 5);
      } else if (state == "uploaded") {
        sum.uploaded = count;
      } else if (state == "dropped") {
        sum.dropped = count;
      }
    }
    if (rc != SQLITE_DONE) return sql::Fail(db_, "count segments");
  }
  {
    auto st = Get(kCounters);
    if (!st) return st.error();
    sql::StmtScope scope(*st);
    int rc;
    while ((rc = sqlite3_step(*st)) == SQLITE_ROW) {
      std::string name = sql::ColumnText(*st, 0);
      uint64_t v = U(*st, 1);
      if (name == "dropped_readings") sum.dropped_readings = v;
      if (name == "buffers_moved_aside") sum.buffers_moved_aside = v;
      if (name == "possibly_lost") sum.possibly_lost = v;
      if (name == "state_losses") sum.state_losses = v;
      if (name == "last_state_loss_at") sum.last_state_loss_at = static_cast<int64_t>(v);
    }
    if (rc != SQLITE_DONE) return sql::Fail(db_, "read counters");
  }
  auto loss = Meta("last_state_loss");
  if (!loss) return loss.error();
  sum.last_state_loss = std::move(*loss);
  return sum;
}

Result<std::string> SegmentCatalog::Meta(std::string_view key) {
  auto st = Get(kMeta);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, key);
  int rc = sqlite3_step(*st);
  if (rc == SQLITE_ROW) return sql::ColumnText(*st, 0);
  if (rc != SQLITE_DONE) return sql::Fail(db_, "read " + std::string(key));
  return std::string();
}

Result<uint64_t> SegmentCatalog::UsageBytes(const std::string& db_path, const CatalogSummary& sum) {
  auto pages = sql::QueryInt(db_, "PRAGMA page_count");
  if (!pages) return pages.error();
  auto free_pages = sql::QueryInt(db_, "PRAGMA freelist_count");
  if (!free_pages) return free_pages.error();
  auto page_size = sql::QueryInt(db_, "PRAGMA page_size");
  if (!page_size) return page_size.error();
  auto wal = env_.FileSize(db_path + "-wal");
  uint64_t wal_bytes = wal ? *wal : 0;  // no WAL: nothing to count
  return static_cast<uint64_t>((*pages - *free_pages) * *page_size) + wal_bytes +
         sum.local_file_bytes;
}

Status SegmentCatalog::InsertSealed(const SegmentRecord& s) {
  auto st = Get(kInsertSealed);
  if (!st) return st.error();
  sqlite3_stmt* ins = *st;
  sql::StmtScope scope(ins);
  sql::Bind(ins, 1, s.source);
  sql::Bind(ins, 2, I(s.first_seq));
  sql::Bind(ins, 3, I(s.last_seq));
  sql::Bind(ins, 4, I(s.count));
  sql::Bind(ins, 5, s.first_ts);
  sql::Bind(ins, 6, s.last_ts);
  sql::Bind(ins, 7, s.clock);
  sql::Bind(ins, 8, s.format.empty() ? std::string_view("jsonl.gz") : s.format);
  sql::Bind(ins, 9, s.file);
  sql::Bind(ins, 10, I(s.bytes));
  sql::Bind(ins, 11, I(s.raw_bytes));
  sql::Bind(ins, 12, s.md5_hex);
  sql::Bind(ins, 13, s.sha256_hex);
  sql::Bind(ins, 14, env_.WallNowMs());
  return sql::StepDone(db_, ins, "insert segment " + s.file);
}

Status SegmentCatalog::InsertDrop(const DropRecord& d, bool certain) {
  auto st = Get(kInsertDrop);
  if (!st) return st.error();
  {
    sql::StmtScope scope(*st);
    sql::Bind(*st, 1, d.source);
    sql::Bind(*st, 2, I(d.first_seq));
    sql::Bind(*st, 3, I(d.last_seq));
    sql::Bind(*st, 4, I(d.count));
    sql::Bind(*st, 5, d.reason);
    sql::Bind(*st, 6, d.at != 0 ? d.at : env_.WallNowMs());
    if (Status s = sql::StepDone(db_, *st, "record dropped range"); !s) return s;
  }
  return AddCounter(certain ? "dropped_readings" : "possibly_lost", I(d.count));
}

Status SegmentCatalog::AddCounter(std::string_view name, int64_t delta) {
  auto st = Get(kAddCounter);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, name);
  sql::Bind(*st, 2, delta);
  return sql::StepDone(db_, *st, "count " + std::string(name));
}

Status SegmentCatalog::SetCounter(std::string_view name, int64_t value) {
  auto st = Get(kSetCounter);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, name);
  sql::Bind(*st, 2, value);
  return sql::StepDone(db_, *st, "set " + std::string(name));
}

Status SegmentCatalog::SetMeta(std::string_view key, std::string_view value) {
  auto st = Get(kSetMeta);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, key);
  sql::Bind(*st, 2, value);
  return sql::StepDone(db_, *st, "set " + std::string(key));
}

Status SegmentCatalog::MarkUploaded(int64_t id) {
  auto st = Get(kMarkUploaded);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, env_.WallNowMs());
  sql::Bind(*st, 2, id);
  return sql::StepDone(db_, *st, "mark segment uploaded");
}

Status SegmentCatalog::MarkUploadFailed(int64_t id, std::string_view error,
                                        int64_t next_attempt_ms) {
  auto st = Get(kMarkFailed);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, error.substr(0, 1000));
  sql::Bind(*st, 2, next_attempt_ms);
  sql::Bind(*st, 3, id);
  return sql::StepDone(db_, *st, "record upload failure");
}

Status SegmentCatalog::MarkTombstoneUploaded(int64_t drop_id) {
  auto st = Get(kMarkTombstone);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, drop_id);
  return sql::StepDone(db_, *st, "mark tombstone uploaded");
}

Status SegmentCatalog::RetryAllNow() {
  auto st = Get(kRetryAll);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  return sql::StepDone(db_, *st, "make uploads due");
}

Result<std::vector<FileToRemove>> SegmentCatalog::UploadedBefore(int64_t cutoff_ms, int limit) {
  auto st = Get(kUploadedBefore);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  sql::Bind(*st, 1, cutoff_ms);
  sql::Bind(*st, 2, static_cast<int64_t>(limit));
  std::vector<FileToRemove> out;
  int rc;
  while ((rc = sqlite3_step(*st)) == SQLITE_ROW) {
    FileToRemove f;
    f.id = sqlite3_column_int64(*st, 0);
    f.file = sql::ColumnText(*st, 1);
    f.source = sql::ColumnText(*st, 2);
    f.first_seq = U(*st, 3);
    f.last_seq = U(*st, 4);
    f.count = U(*st, 5);
    out.push_back(std::move(f));
  }
  if (rc != SQLITE_DONE) return sql::Fail(db_, "list expired uploads");
  return out;
}

Result<std::optional<FileToRemove>> SegmentCatalog::NextEvictable(bool uploaded_only) {
  auto st = Get(uploaded_only ? kEvictableUploaded : kEvictable);
  if (!st) return st.error();
  sql::StmtScope scope(*st);
  int rc = sqlite3_step(*st);
  if (rc == SQLITE_DONE) return std::optional<FileToRemove>();
  if (rc != SQLITE_ROW) return sql::Fail(db_, "find a segment to evict");
  return std::optional<FileToRemove>(ReadFileToRemove(*st));
}

Status SegmentCatalog::RemoveFile(const FileToRemove& f, std::string_view reason) {
  if (!f.pending) {
    auto st = Get(kFileRemoved);
    if (!st) return st.error();
    sql::StmtScope scope(*st);
    sql::Bind(*st, 1, f.id);
    return sql::StepDone(db_, *st, "mark file removed");
  }
  return InTransaction([&]() -> Status {
    auto st = Get(kDropSegment);
    if (!st) return st.error();
    {
      sql::StmtScope scope(*st);
      sql::Bind(*st, 1, f.id);
      if (Status s = sql::StepDone(db_, *st, "drop segment " + f.file); !s) return s;
    }
    return InsertDrop({0, f.source, f.first_seq, f.last_seq, f.count, std::string(reason), 0});
  });
}

Status SegmentCatalog::FileMissing(const std::string& file) {
  auto st = Get(kByFile);
  if (!st) return st.error();
  std::optional<FileToRemove> f;
  {
    sql::StmtScope scope(*st);
    sql::Bind(*st, 1, file);
    int rc = sqlite3_step(*st);
    if (rc == SQLITE_ROW)
      f = ReadFileToRemove(*st);
    else if (rc != SQLITE_DONE)
      return sql::Fail(db_, "find segment " + file);
  }
  if (!f) return Status::Ok();
  return RemoveFile(*f, "segment file missing");
}

}  // namespace granary
