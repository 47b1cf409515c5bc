#include <fmt/format.h>
#include <sqlite3.h>

#include <functional>

#include "platform/sqlite.h"
#include "storage/buffer.h"
#include "storage/buffer_store.h"
#include "storage/catalog.h"
#include "storage/run_codec.h"

namespace granary {
namespace {

// Schema 3 added readings.encoding. A database no writer has opened since an upgrade, or
// one moved aside by an older granary, has only rendered runs and no such column.
Result<bool> HasRunEncoding(sqlite3* db) {
  auto version = sql::QueryInt(db, "PRAGMA user_version");
  if (!version) return version.error();
  return *version >= 3;
}

}  // namespace

void FillCatalogStats(const CatalogSummary& sum, BufferStats& stats) {
  stats.segments_sealed = sum.sealed;
  stats.segments_uploaded = sum.uploaded;
  stats.segments_dropped = sum.dropped;
  stats.pending_bytes = sum.pending_bytes;
  stats.oldest_pending_ts_ms = sum.oldest_pending_ts;
  stats.oldest_pending_sealed_ms = sum.oldest_pending_sealed;
  stats.dropped_readings = sum.dropped_readings;
  stats.buffers_moved_aside = sum.buffers_moved_aside;
  stats.possibly_lost = sum.possibly_lost;
  stats.state_losses = sum.state_losses;
  stats.last_state_loss_ms = sum.last_state_loss_at;
  stats.last_state_loss = sum.last_state_loss;
}

Result<BufferStats> InspectBuffer(Env& env, const std::string& state_dir) {
  const std::string path = BufferDbPath(state_dir);
  if (!env.FileExists(path)) return Error("no buffer at " + path, ENOENT);
  auto catalog = SegmentCatalog::OpenReadOnly(env, state_dir);
  if (!catalog) return catalog.error();
  BufferStats s;
  auto sum = (*catalog)->Summary();
  if (!sum) return sum.error();
  FillCatalogStats(*sum, s);
  auto usage = (*catalog)->UsageBytes(path, *sum);
  if (!usage) return usage.error();
  s.usage_bytes = *usage;

  // The readings table is the buffer's, not the catalog's: read on a connection of its own.
  auto db = sql::Open(env, path, /*read_only=*/true);
  if (!db) return db.error();
  auto buffered = sql::QueryInt(db->get(), "SELECT total(count) FROM readings");
  if (!buffered) return buffered.error();
  s.buffered = static_cast<uint64_t>(*buffered);
  auto seqs = sql::Prepare(db->get(), "SELECT name, next_seq - 1 FROM sources ORDER BY name");
  if (!seqs) return seqs.error();
  while (sqlite3_step(seqs->get()) == SQLITE_ROW) {
    s.last_seq[sql::ColumnText(seqs->get(), 0)] =
        static_cast<uint64_t>(sqlite3_column_int64(seqs->get(), 1));
  }
  return s;
}

Status ForEachBufferedRun(Env& env, const std::string& state_dir, const std::string& source,
                          const std::function<void(std::string_view)>& fn) {
  const std::string path = BufferDbPath(state_dir);
  if (!env.FileExists(path)) return Status::Ok();
  auto db = sql::Open(env, path, /*read_only=*/true);
  if (!db) return db.error();
  auto encoded = HasRunEncoding(db->get());
  if (!encoded) return encoded.error();
  auto runs = sql::Prepare(
      db->get(), std::string("SELECT r.lines FROM readings r JOIN sources s ON s.id = r.source_id"
                             " WHERE s.name = ?") +
                     (*encoded ? " AND r.encoding = 0" : "") + " ORDER BY r.first_seq");
  if (!runs) return runs.error();
  sql::Bind(runs->get(), 1, std::string_view(source));
  int rc;
  while ((rc = sqlite3_step(runs->get())) == SQLITE_ROW) {
    fn(std::string_view(static_cast<const char*>(sqlite3_column_blob(runs->get(), 0)),
                        static_cast<size_t>(sqlite3_column_bytes(runs->get(), 0))));
  }
  if (rc != SQLITE_DONE) return sql::Fail(db->get(), "read buffered runs of " + source);
  return Status::Ok();
}

Status ForEachBufferedLine(Env& env, const std::string& db_path, std::string_view device,
                           const std::string& source,
                           const std::function<void(std::string_view)>& fn, uint64_t* records) {
  *records = 0;
  if (!env.FileExists(db_path)) return Error("no buffer at " + db_path, ENOENT);
  auto db = sql::Open(env, db_path, /*read_only=*/true);
  if (!db) return db.error();
  auto encoded = HasRunEncoding(db->get());
  if (!encoded) return encoded.error();
  const char* encoding = *encoded ? "r.encoding" : "0";
  auto runs = sql::Prepare(
      db->get(), fmt::format("SELECT s.name, r.first_seq, r.first_ts, r.count, r.lines, {}"
                             " FROM readings r JOIN sources s ON s.id = r.source_id"
                             " WHERE ?1 = '' OR s.name = ?1 ORDER BY s.name, r.first_seq",
                             encoding));
  if (!runs) return runs.error();
  sqlite3_stmt* st = runs->get();
  sql::Bind(st, 1, std::string_view(source));
  Status first_damage;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const std::string name = sql::ColumnText(st, 0);
    std::string_view run(static_cast<const char*>(sqlite3_column_blob(st, 4)),
                         static_cast<size_t>(sqlite3_column_bytes(st, 4)));
    const auto count = static_cast<uint64_t>(sqlite3_column_int64(st, 3));
    if (sqlite3_column_int64(st, 5) != static_cast<int64_t>(RunEncoding::kCompact)) {
      // Rendered JSON Lines begin with their device; a BSON record begins with its length,
      // which could never be that large.
      if (run.starts_with(R"({"device":)")) {
        fn(run);
      } else {
        *records += count;
      }
      continue;
    }
    Status s = RenderCompactRun(run, static_cast<uint64_t>(sqlite3_column_int64(st, 1)),
                                sqlite3_column_int64(st, 2), count, device, name,
                                [&](std::string_view text) {
                                  fn(text);
                                  return Status::Ok();
                                });
    if (!s && first_damage) first_damage = s.error().Wrap(name);
  }
  if (rc != SQLITE_DONE) return sql::Fail(db->get(), "read buffered runs");
  return first_damage;
}

}  // namespace granary
