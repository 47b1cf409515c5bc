// Sealing: buffered readings -> one jsonl.gz file -> one transaction that records the
// segment and deletes its readings. A crash anywhere leaves either the readings or the
// segment, never both and never neither; Repair() finishes or undoes the file side.
#include <dirent.h>

#include <ctime>
#include <set>

#include <fmt/format.h>

#include "platform/log.h"
#include "storage/buffer_store.h"
#include "storage/segment_file.h"
#include "storage/sqlite.h"

namespace granary {
namespace {

// "{device}-{source}-{yyyy}{mm}{dd}T{hh}-{first_seq}.jsonl.gz": the UTC hour of the first
// reading; first_seq makes it unique and stable across retries and restarts.
std::string SegmentFileName(const std::string& device, const std::string& source,
                            int64_t first_ts_ms, uint64_t first_seq) {
  time_t secs = static_cast<time_t>(first_ts_ms >= 0 ? first_ts_ms / 1000 : 0);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{}-{}-{:04}{:02}{:02}T{:02}-{}.jsonl.gz", device, source, tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, first_seq);
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Status BufferStore::SealReady() {
  Status result;
  for (auto& [name, src] : sources_) {
    while (!src.cuts.empty()) {
      Status s = Seal(src, src.cuts.front());
      if (!s) {
        // Keep the cut: the readings stay buffered and the next pass retries.
        if (result) result = s;
        break;
      }
      src.cuts.pop_front();
    }
  }
  return result;
}

Status BufferStore::Seal(SourceState& src, uint64_t last_seq) {
  sqlite3* db = db_.get();
  sqlite3_stmt* sel = select_range_.get();
  sql::StmtScope scope(sel);
  sql::Bind(sel, 1, src.id);
  sql::Bind(sel, 2, static_cast<int64_t>(last_seq));

  SegmentFileWriter writer(env_, options_.gzip_level);
  std::string tmp_path, name;
  uint64_t first_seq = 0, count = 0, unsynced = 0;
  int64_t first_ts = 0, last_ts = 0;
  int rc;
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    if (count == 0) {
      first_seq = static_cast<uint64_t>(sqlite3_column_int64(sel, 0));
      first_ts = sqlite3_column_int64(sel, 2);
      name = SegmentFileName(options_.device, src.name, first_ts, first_seq);
      tmp_path = segments_dir_ + "/" + name + ".tmp";
      if (Status s = writer.Open(tmp_path); !s) return s.error().Wrap("seal " + name);
    }
    count += static_cast<uint64_t>(sqlite3_column_int64(sel, 1));
    last_ts = sqlite3_column_int64(sel, 3);
    unsynced += static_cast<uint64_t>(sqlite3_column_int64(sel, 4));
    std::string_view lines(static_cast<const char*>(sqlite3_column_blob(sel, 5)),
                           static_cast<size_t>(sqlite3_column_bytes(sel, 5)));
    if (Status s = writer.Append(lines); !s) {
      (void)env_.RemoveFile(tmp_path);
      return s.error().Wrap("seal " + name);
    }
  }
  if (rc != SQLITE_DONE) return sql::Fail(db, "read readings of " + src.name);
  if (count == 0) return Status::Ok();  // nothing buffered up to the cut (already sealed)
  bool any_unsynced = unsynced > 0, any_ok = unsynced < count;

  auto cleanup_tmp = [&](Error e) -> Status {
    (void)env_.RemoveFile(tmp_path);
    return e.Wrap(fmt::format("seal {}#{}", src.name, first_seq));
  };
  auto digest = writer.Finish();
  if (!digest) return cleanup_tmp(digest.error());
  env_.CrashPoint("seal.after_write");
  const std::string final_path = segments_dir_ + "/" + name;
  if (Status s = env_.RenameFile(tmp_path, final_path); !s) return cleanup_tmp(s.error());
  env_.CrashPoint("seal.after_rename");
  if (Status s = env_.SyncDir(segments_dir_); !s) return s.error().Wrap("seal " + name);
  env_.CrashPoint("seal.after_dirsync");

  // One transaction: the segment appears and its readings vanish together.
  auto rollback = [&](Error e) -> Status {
    (void)sql::Exec(db, "ROLLBACK");
    return e.Wrap("record segment " + name);
  };
  if (Status s = sql::Exec(db, "BEGIN IMMEDIATE"); !s) return rollback(s.error());
  {
    sqlite3_stmt* ins = insert_segment_.get();
    sql::StmtScope ins_scope(ins);
    sql::Bind(ins, 1, src.name);
    sql::Bind(ins, 2, static_cast<int64_t>(first_seq));
    sql::Bind(ins, 3, static_cast<int64_t>(first_seq + count - 1));
    sql::Bind(ins, 4, static_cast<int64_t>(count));
    sql::Bind(ins, 5, first_ts);
    sql::Bind(ins, 6, last_ts);
    sql::Bind(ins, 7, std::string_view(any_unsynced ? (any_ok ? "mixed" : "unsynced") : "ok"));
    sql::Bind(ins, 8, name);
    sql::Bind(ins, 9, static_cast<int64_t>(digest->bytes));
    sql::Bind(ins, 10, static_cast<int64_t>(digest->raw_bytes));
    sql::Bind(ins, 11, digest->md5_hex);
    sql::Bind(ins, 12, digest->sha256_hex);
    sql::Bind(ins, 13, env_.WallNowMs());
    if (Status s = sql::StepDone(db, ins, "insert segment"); !s) return rollback(s.error());
  }
  {
    sqlite3_stmt* del = delete_range_.get();
    sql::StmtScope del_scope(del);
    sql::Bind(del, 1, src.id);
    sql::Bind(del, 2, static_cast<int64_t>(last_seq));
    if (Status s = sql::StepDone(db, del, "delete sealed readings"); !s) return rollback(s.error());
  }
  env_.CrashPoint("seal.before_commit");
  if (Status s = sql::Exec(db, "COMMIT"); !s) return rollback(s.error());
  env_.CrashPoint("seal.after_commit");

  buffered_ -= std::min(buffered_, count);
  log::Debug("sealed {} ({} readings, {} bytes)", name, count, digest->bytes);
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
