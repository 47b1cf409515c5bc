#include <sqlite3.h>
#include <unistd.h>

#include "storage/buffer.h"
#include "platform/sqlite.h"

namespace granary {

Result<BufferStats> InspectBuffer(const std::string& state_dir) {
  const std::string path = BufferDbPath(state_dir);
  if (::access(path.c_str(), F_OK) != 0) {
    return Error::FromErrno("no buffer at " + path);
  }
  auto db = sql::Open(Env::Default(), path, /*read_only=*/true);
  if (!db) return db.error();
  sqlite3* d = db->get();
  BufferStats s;
  auto buffered = sql::QueryInt(d, "SELECT total(count) FROM readings");
  if (!buffered) return buffered.error();
  s.buffered = static_cast<uint64_t>(*buffered);

  auto stmt = sql::Prepare(d,
                           "SELECT state, count(*), total(bytes), min(first_ts) FROM segments"
                           " GROUP BY state");
  if (!stmt) return stmt.error();
  while (sqlite3_step(stmt->get()) == SQLITE_ROW) {
    std::string state = sql::ColumnText(stmt->get(), 0);
    auto count = static_cast<uint64_t>(sqlite3_column_int64(stmt->get(), 1));
    if (state == "sealed") {
      s.segments_sealed = count;
      s.pending_bytes = static_cast<uint64_t>(sqlite3_column_double(stmt->get(), 2));
      s.oldest_pending_ts_ms = sqlite3_column_int64(stmt->get(), 3);
    } else if (state == "uploaded") {
      s.segments_uploaded = count;
    } else if (state == "dropped") {
      s.segments_dropped = count;
    }
  }
  auto dropped = sql::QueryInt(d, "SELECT value FROM counters WHERE name='dropped_readings'");
  if (!dropped) return dropped.error();
  s.dropped_readings = static_cast<uint64_t>(*dropped);

  auto seqs = sql::Prepare(d, "SELECT name, next_seq - 1 FROM sources ORDER BY name");
  if (!seqs) return seqs.error();
  while (sqlite3_step(seqs->get()) == SQLITE_ROW) {
    s.last_seq[sql::ColumnText(seqs->get(), 0)] =
        static_cast<uint64_t>(sqlite3_column_int64(seqs->get(), 1));
  }
  auto usage = sql::QueryInt(
      d, "SELECT (SELECT page_count FROM pragma_page_count) * (SELECT page_size FROM pragma_page_size)"
         " + (SELECT total(bytes) FROM segments WHERE file_removed=0)");
  if (usage) s.usage_bytes = static_cast<uint64_t>(*usage);
  return s;
}

}  // namespace granary
