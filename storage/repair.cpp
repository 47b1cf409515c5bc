// Startup: can the database vouch for the files beside it? And once it can, the repair of
// seals a crash interrupted. A file is removed only when the buffered readings prove it
// is a seal of theirs that never finished (they seal again under the same name);
// anything the catalog cannot explain is evidence and is never deleted.
#include <fmt/format.h>

#include <set>

#include "platform/log.h"
#include "platform/sqlite.h"
#include "storage/buffer_store.h"
#include "storage/segment_file.h"

namespace granary {
namespace {

constexpr std::string_view kTmp = ".tmp";

}  // namespace

Result<BufferStore::DiskView> BufferStore::ScanSegments() {
  DiskView v;
  auto live = catalog_->LiveFiles();
  if (!live) return live.error();
  auto removed = catalog_->RemovedFiles();
  if (!removed) return removed.error();
  v.live.insert(live->begin(), live->end());
  v.removed.insert(removed->begin(), removed->end());
  // The names the segments still buffered will seal under.
  auto stmt =
      sql::Prepare(db_.get(),
                   "SELECT s.name, r.segment_seq, min(r.first_ts) FROM readings r"
                   " JOIN sources s ON s.id = r.source_id GROUP BY r.source_id, r.segment_seq");
  if (!stmt) return stmt.error();
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    std::string source = sql::ColumnText(stmt->get(), 0);
    v.buffered.insert(SegmentFileName(options_.device, source, sqlite3_column_int64(stmt->get(), 2),
                                      static_cast<uint64_t>(sqlite3_column_int64(stmt->get(), 1)),
                                      SegmentFormatOf(options_, source)));
  }
  if (rc != SQLITE_DONE) return sql::Fail(db_.get(), "list buffered segments");
  auto files = env_.ListDir(segments_dir_);
  if (!files) return files.error();
  v.files = std::move(*files);
  return v;
}

Result<std::string> BufferStore::StateLostReason(bool wal_present, const DiskView& view) {
  auto db_id = catalog_->Meta("db_id");
  if (!db_id) return db_id.error();
  if (seqmark_.present() && !seqmark_.stopped_cleanly && !wal_present) {
    return std::string("the write-ahead log is missing after an unclean stop");
  }
  if (seqmark_.present() && !seqmark_.db_id.empty() && *db_id != seqmark_.db_id) {
    return std::string(db_id->empty()
                           ? "the database is new or empty, but its seq marks say one existed"
                           : "the database is not the one its seq marks belong to");
  }
  for (const auto& [name, mark] : seqmark_.marks) {
    auto it = sources_.find(name);
    uint64_t next = it == sources_.end() ? 1 : it->second.next_seq;
    if (next < mark.sealed) {
      return fmt::format("source {} is at seq {} in the database, but seqs up to {} were sealed",
                         name, next, mark.sealed - 1);
    }
  }
  for (const std::string& f : view.files) {
    // A removed file still there is explained too: Repair finishes its removal.
    if (IsSegmentFileName(f) && view.live.count(f) == 0 && view.removed.count(f) == 0 &&
        view.buffered.count(f) == 0) {
      return "segment file " + f + " is not in the catalog";
    }
  }
  return std::string();
}

Status BufferStore::Repair(const DiskView& view) {
  std::set<std::string> present(view.files.begin(), view.files.end());
  bool removed = false;
  std::string evidence_dir;
  for (const std::string& f : view.files) {
    std::string base = f.ends_with(kTmp) ? f.substr(0, f.size() - kTmp.size()) : f;
    if (!IsSegmentFileName(base) || (base == f && view.live.count(f) != 0)) continue;
    const bool unsealed = view.buffered.count(base) != 0;
    if (unsealed || (base == f && view.removed.count(f) != 0)) {
      if (unsealed) {
        log::Notice("repair: removing {}, a seal of buffered readings that never finished", f);
      } else {
        log::Notice("repair: removing {} again: the catalog says it was removed", f);
      }
      if (Status s = env_.RemoveFile(segments_dir_ + "/" + f); !s) return s;
      removed = true;
      continue;
    }
    // A temp file no buffered segment explains: keep it where an operator can look.
    if (evidence_dir.empty()) {
      evidence_dir = fmt::format("{}/orphaned-{}", options_.state_dir, env_.WallNowMs());
      if (Status s = env_.CreateDirs(evidence_dir); !s) return s;
    }
    log::Warning("repair: {} belongs to no seal the buffer knows; moved to {}", f, evidence_dir);
    if (Status s = env_.RenameFile(segments_dir_ + "/" + f, evidence_dir + "/" + f); !s) return s;
    removed = true;
  }
  if (removed) {
    if (Status s = env_.SyncDir(segments_dir_); !s) return s;
  }
  // A live catalog entry without its file cannot be uploaded: record the loss.
  for (const std::string& n : view.live) {
    if (present.count(n) != 0) continue;
    log::Error("repair: segment file {} is missing; recording its readings as dropped", n);
    if (Status s = catalog_->FileMissing(n); !s) return s;
  }
  return Status::Ok();
}

}  // namespace granary
