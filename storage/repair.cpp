// Startup repair of half-done seals, and recording a sealed file in the catalog.
#include <dirent.h>

#include <set>

#include <fmt/format.h>

#include "platform/log.h"
#include "storage/buffer_store.h"
#include "platform/sqlite.h"

namespace granary {
namespace {

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// One transaction: the segment appears and its readings vanish together.
Status BufferStore::RecordSeal(const SealedFile& f) {
  sqlite3* db = db_.get();
  auto rollback = [&](Error e) -> Status {
    (void)sql::Exec(db, "ROLLBACK");
    return e.Wrap("record segment " + f.name);
  };
  if (Status s = sql::Exec(db, "BEGIN IMMEDIATE"); !s) return rollback(s.error());
  {
    sqlite3_stmt* ins = insert_segment_.get();
    sql::StmtScope scope(ins);
    sql::Bind(ins, 1, f.job.source);
    sql::Bind(ins, 2, static_cast<int64_t>(f.job.first_seq));
    sql::Bind(ins, 3, static_cast<int64_t>(f.job.last_seq));
    sql::Bind(ins, 4, static_cast<int64_t>(f.count));
    sql::Bind(ins, 5, f.first_ts);
    sql::Bind(ins, 6, f.last_ts);
    sql::Bind(ins, 7, f.clock);
    sql::Bind(ins, 8, f.name);
    sql::Bind(ins, 9, static_cast<int64_t>(f.digest.bytes));
    sql::Bind(ins, 10, static_cast<int64_t>(f.digest.raw_bytes));
    sql::Bind(ins, 11, f.digest.md5_hex);
    sql::Bind(ins, 12, f.digest.sha256_hex);
    sql::Bind(ins, 13, env_.WallNowMs());
    if (Status s = sql::StepDone(db, ins, "insert segment"); !s) return rollback(s.error());
  }
  {
    sqlite3_stmt* del = delete_range_.get();
    sql::StmtScope scope(del);
    sql::Bind(del, 1, f.job.source_id);
    sql::Bind(del, 2, static_cast<int64_t>(f.job.first_seq));
    sql::Bind(del, 3, static_cast<int64_t>(f.job.last_seq));
    if (Status s = sql::StepDone(db, del, "delete sealed readings"); !s) {
      return rollback(s.error());
    }
  }
  env_.CrashPoint("seal.before_commit");
  if (Status s = sql::Exec(db, "COMMIT"); !s) return rollback(s.error());
  env_.CrashPoint("seal.after_commit");
  buffered_ -= std::min(buffered_, f.count);
  log::Debug("sealed {} ({} readings, {} bytes)", f.name, f.count, f.digest.bytes);
  return RefreshCatalogCounts();
}

// Startup: a .tmp file is a seal that never finished; a segment file the catalog does
// not list live is one whose transaction never committed (its readings are still
// buffered and will be sealed again under the same name) or one already evicted.
Status BufferStore::Repair() {
  std::set<std::string> live;
  {
    auto stmt = sql::Prepare(db_.get(), "SELECT file FROM segments WHERE file_removed=0");
    if (!stmt) return stmt.error();
    while (sqlite3_step(stmt->get()) == SQLITE_ROW) live.insert(sql::ColumnText(stmt->get(), 0));
  }
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(segments_dir_.c_str()), closedir);
  if (!dir) return Error::FromErrno("list " + segments_dir_);
  std::vector<std::string> stale;
  std::set<std::string> present;
  while (dirent* e = readdir(dir.get())) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    present.insert(n);
    if (EndsWith(n, ".tmp") || (EndsWith(n, ".jsonl.gz") && live.count(n) == 0)) {
      stale.push_back(n);
    }
  }
  for (const std::string& n : stale) {
    log::Notice("repair: removing unfinished segment file {}", n);
    if (Status s = env_.RemoveFile(segments_dir_ + "/" + n); !s) return s;
  }
  if (!stale.empty()) {
    if (Status s = env_.SyncDir(segments_dir_); !s) return s;
  }
  // A live catalog entry without its file cannot be uploaded: record the loss.
  for (const std::string& n : live) {
    if (present.count(n) != 0) continue;
    log::Error("repair: segment file {} is missing; recording its readings as dropped", n);
    std::string q = fmt::format(
        "BEGIN IMMEDIATE;"
        "INSERT INTO drops(source, first_seq, last_seq, count, reason, at)"
        " SELECT source, first_seq, last_seq, count, 'segment file missing', {0}"
        " FROM segments WHERE file='{1}' AND state='sealed';"
        "INSERT INTO counters(name, value) SELECT 'dropped_readings', count FROM segments"
        " WHERE file='{1}' AND state='sealed'"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value;"
        "UPDATE segments SET state = CASE state WHEN 'sealed' THEN 'dropped' ELSE state END,"
        " file_removed=1 WHERE file='{1}';"
        "COMMIT;",
        env_.WallNowMs(), n);
    if (Status s = sql::Exec(db_.get(), q); !s) {
      (void)sql::Exec(db_.get(), "ROLLBACK");
      return s;
    }
  }
  return Status::Ok();
}

}  // namespace granary
