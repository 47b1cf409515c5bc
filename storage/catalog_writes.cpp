// The writer's changes to the catalog: seals recorded, outcomes of uploads, files removed.
// Writer thread only, like all writes.
#include <fmt/format.h>

#include "platform/log.h"
#include "platform/sqlite.h"
#include "storage/buffer_store.h"

namespace granary {

// One transaction: the segment appears and its readings vanish together.
Status BufferStore::RecordSeal(const SealedFile& f) {
  sqlite3* db = db_.get();
  auto rollback = [&](Error e) -> Status {
    (void)sql::Exec(db, "ROLLBACK");
    return e.Wrap("record segment " + f.name);
  };
  if (Status s = sql::Exec(db, "BEGIN IMMEDIATE"); !s) return rollback(s.error());
  SegmentRecord rec;
  rec.source = f.job.source;
  rec.first_seq = f.job.first_seq;
  rec.last_seq = f.job.last_seq;
  rec.count = f.count;
  rec.first_ts = f.first_ts;
  rec.last_ts = f.last_ts;
  rec.clock = f.clock;
  rec.format = f.format;
  rec.file = f.name;
  rec.bytes = f.digest.bytes;
  rec.raw_bytes = f.digest.raw_bytes;
  rec.md5_hex = f.digest.md5_hex;
  rec.sha256_hex = f.digest.sha256_hex;
  if (Status s = catalog_->InsertSealed(rec); !s) return rollback(s.error());
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
  // Seals are recorded in seq order per source: everything below is sealed now.
  SeqMark& mark = seqmark_.marks[f.job.source];
  mark.sealed = std::max(mark.sealed, f.job.last_seq + 1);
  log::Debug("sealed {} ({} readings, {} bytes)", f.name, f.count, f.digest.bytes);
  return RefreshCatalogCounts();
}

void BufferStore::ReleaseCache() { sqlite3_db_release_memory(db_.get()); }

Status BufferStore::MarkUploaded(int64_t segment_id) {
  if (Status s = catalog_->MarkUploaded(segment_id); !s) return s;
  if (options_.keep_uploaded.count() == 0) {
    if (Status r = RemoveExpiredUploads(); !r) return r;
  }
  return RefreshCatalogCounts();
}

Status BufferStore::MarkUploadFailed(int64_t segment_id, const std::string& error,
                                     int64_t next_attempt_ms) {
  return catalog_->MarkUploadFailed(segment_id, error, next_attempt_ms);
}

Status BufferStore::MarkTombstoneUploaded(int64_t drop_id) {
  return catalog_->MarkTombstoneUploaded(drop_id);
}

Status BufferStore::RetryUploadsNow() { return catalog_->RetryAllNow(); }

Status BufferStore::RemoveSegmentFile(const FileToRemove& f, std::string_view reason) {
  if (Status s = catalog_->RemoveFile(f, reason); !s) {
    return s.error().Wrap("remove segment " + f.file);
  }
  if (Status s = env_.RemoveFile(segments_dir_ + "/" + f.file); !s) {
    log::Warning("remove segment {}: {}", f.file, s.error().message());
  }
  return Status::Ok();
}

Status BufferStore::RemoveExpiredUploads() {
  if (options_.keep_uploaded.count() < 0) return Status::Ok();
  int64_t cutoff = env_.WallNowMs() - options_.keep_uploaded.count();
  auto expired = catalog_->UploadedBefore(cutoff, 1000);
  if (!expired) return expired.error();
  if (expired->empty()) return Status::Ok();
  // The files are what a salvage would count on: none goes before the marks are durable.
  if (Status s = WriteSeqMark(); !s) return s;
  for (const FileToRemove& f : *expired) {
    if (Status s = RemoveSegmentFile(f, ""); !s) return s;
  }
  return RefreshCatalogCounts();
}

}  // namespace granary
