// Catalog changes on behalf of the uploader. Writer thread only, like all writes.
#include <fmt/format.h>

#include "platform/log.h"
#include "storage/buffer_store.h"
#include "platform/sqlite.h"

namespace granary {

Status BufferStore::MarkUploaded(int64_t segment_id) {
  Status s = sql::Exec(db_.get(), fmt::format("UPDATE segments SET state='uploaded', uploaded_at={},"
                                              " last_error=NULL WHERE id={} AND state='sealed'",
                                              env_.WallNowMs(), segment_id));
  if (!s) return s;
  if (options_.keep_uploaded.count() == 0) {
    if (Status r = RemoveExpiredUploads(); !r) return r;
  }
  return RefreshCatalogCounts();
}

Status BufferStore::MarkUploadFailed(int64_t segment_id, const std::string& error,
                                     int64_t next_attempt_ms) {
  auto stmt = sql::Prepare(db_.get(),
                           "UPDATE segments SET attempts=attempts+1, last_error=?,"
                           " next_attempt_at=? WHERE id=?");
  if (!stmt) return stmt.error();
  sql::Bind(stmt->get(), 1, std::string_view(error).substr(0, 1000));
  sql::Bind(stmt->get(), 2, next_attempt_ms);
  sql::Bind(stmt->get(), 3, segment_id);
  return sql::StepDone(db_.get(), stmt->get(), "record upload failure");
}

Status BufferStore::MarkTombstoneUploaded(int64_t drop_id) {
  return sql::Exec(db_.get(),
                   fmt::format("UPDATE drops SET tombstone='uploaded' WHERE id={}", drop_id));
}

Status BufferStore::RetryUploadsNow() {
  return sql::Exec(db_.get(), "UPDATE segments SET next_attempt_at=0 WHERE state='sealed'");
}

Status BufferStore::RemoveExpiredUploads() {
  if (options_.keep_uploaded.count() < 0) return Status::Ok();
  int64_t cutoff = env_.WallNowMs() - options_.keep_uploaded.count();
  auto stmt = sql::Prepare(db_.get(),
                           fmt::format("SELECT id, file FROM segments WHERE state='uploaded'"
                                       " AND file_removed=0 AND uploaded_at<={} ORDER BY id LIMIT 1000",
                                       cutoff));
  if (!stmt) return stmt.error();
  std::vector<std::pair<int64_t, std::string>> expired;
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
    expired.emplace_back(sqlite3_column_int64(stmt->get(), 0), sql::ColumnText(stmt->get(), 1));
  }
  stmt->reset();
  if (!expired.empty()) WriteSeqMark();  // the files are what a salvage would count on
  for (const auto& [id, file] : expired) {
    // Catalog first: a crash before the unlink leaves a file Repair() removes.
    if (Status s = sql::Exec(db_.get(),
                             fmt::format("UPDATE segments SET file_removed=1 WHERE id={}", id));
        !s) {
      return s;
    }
    if (Status s = env_.RemoveFile(segments_dir_ + "/" + file); !s) {
      log::Warning("remove uploaded segment {}: {}", file, s.error().message());
    }
  }
  if (!expired.empty()) return RefreshCatalogCounts();
  return Status::Ok();
}

}  // namespace granary
