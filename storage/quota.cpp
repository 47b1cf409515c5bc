// The state dir quota. Usage = pages in use by the database + the WAL + segment files
// still on disk. Policy drop_oldest evicts what is safest to lose first (local copies of
// uploaded segments), then the oldest sealed segments, recording each evicted seq range
// in `drops` so the loss is reported and later uploaded as a tombstone. Policy pause
// stops polling until usage falls below 90% of the quota.
#include <sys/stat.h>

#include <fmt/format.h>

#include "platform/log.h"
#include "storage/buffer_store.h"
#include "platform/sqlite.h"

namespace granary {

uint64_t BufferStore::UsageBytes() {
  auto pages = sql::QueryInt(db_.get(), "PRAGMA page_count");
  auto free_pages = sql::QueryInt(db_.get(), "PRAGMA freelist_count");
  auto page_size = sql::QueryInt(db_.get(), "PRAGMA page_size");
  uint64_t db_bytes = 0;
  if (pages && free_pages && page_size) {
    db_bytes = static_cast<uint64_t>((*pages - *free_pages) * *page_size);
  }
  struct stat st {};
  uint64_t wal = ::stat((db_path_ + "-wal").c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size)
                                                               : 0;
  return db_bytes + wal + local_file_bytes_;
}

Status BufferStore::EvictOne(bool* evicted) {
  *evicted = false;
  auto stmt = sql::Prepare(
      db_.get(),
      fmt::format("SELECT id, source, first_seq, last_seq, count, file, state FROM segments"
                  " WHERE file_removed=0 AND state IN ('uploaded'{})"
                  " ORDER BY state='sealed', id LIMIT 1",
                  options_.quota_pause ? "" : ",'sealed'"));
  if (!stmt) return stmt.error();
  if (sqlite3_step(stmt->get()) != SQLITE_ROW) return Status::Ok();
  int64_t id = sqlite3_column_int64(stmt->get(), 0);
  std::string source = sql::ColumnText(stmt->get(), 1);
  int64_t first = sqlite3_column_int64(stmt->get(), 2);
  int64_t last = sqlite3_column_int64(stmt->get(), 3);
  int64_t count = sqlite3_column_int64(stmt->get(), 4);
  std::string file = sql::ColumnText(stmt->get(), 5);
  bool was_pending = sql::ColumnText(stmt->get(), 6) == "sealed";
  stmt->reset();

  // Catalog first, file second: a crash in between leaves a file Repair() removes.
  std::string q =
      was_pending
          ? fmt::format(
                "BEGIN IMMEDIATE;"
                "UPDATE segments SET state='dropped', file_removed=1 WHERE id={0};"
                "INSERT INTO drops(source, first_seq, last_seq, count, reason, at)"
                " VALUES('{1}', {2}, {3}, {4}, 'quota', {5});"
                "INSERT INTO counters(name, value) VALUES('dropped_readings', {4})"
                " ON CONFLICT(name) DO UPDATE SET value = value + {4};"
                "COMMIT;",
                id, source, first, last, count, env_.WallNowMs())
          : fmt::format("UPDATE segments SET file_removed=1 WHERE id={}", id);
  if (Status s = sql::Exec(db_.get(), q); !s) {
    (void)sql::Exec(db_.get(), "ROLLBACK");
    return s.error().Wrap("evict segment " + file);
  }
  WriteSeqMark();  // the file is what a salvage would count on
  if (Status s = env_.RemoveFile(segments_dir_ + "/" + file); !s) {
    log::Warning("evict segment {}: {}", file, s.error().message());
  }
  if (was_pending) {
    log::Warning("quota: dropped segment {} ({} readings, {} seq {}-{})", file, count, source,
                 first, last);
  }
  *evicted = true;
  return RefreshCatalogCounts();
}

Status BufferStore::EnforceQuota() {
  uint64_t usage = UsageBytes();
  if (usage > options_.quota_max_bytes) {
    // The WAL only shrinks at a truncating checkpoint; take that before evicting data.
    (void)sql::Exec(db_.get(), "PRAGMA wal_checkpoint(TRUNCATE)");
    usage = UsageBytes();
  }
  if (options_.quota_pause) {
    if (usage > options_.quota_max_bytes) {
      if (!paused_) log::Warning("quota: {} bytes used of {}; pausing polls", usage, options_.quota_max_bytes);
      paused_ = true;
    } else if (paused_ && usage < options_.quota_max_bytes / 10 * 9) {
      log::Notice("quota: {} bytes used; resuming polls", usage);
      paused_ = false;
    }
    // Even under "pause", local copies of uploaded segments are fair game.
  }
  for (int guard = 0; guard < 10'000 && usage > options_.quota_max_bytes; ++guard) {
    bool evicted = false;
    if (Status s = EvictOne(&evicted); !s) return s;
    if (!evicted) {
      if (options_.quota_pause) break;
      // Only buffered readings are left: end the open segments so they can be evicted.
      // The sealer takes the cuts; a later pass evicts what it sealed.
      CutAll();
      break;
    }
    usage = UsageBytes();
    if (options_.quota_pause && usage <= options_.quota_max_bytes) break;
  }
  return Status::Ok();
}

}  // namespace granary
