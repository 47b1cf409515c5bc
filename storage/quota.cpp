// The state dir quota. Usage = pages in use by the database + the WAL + segment files
// still on disk (SegmentCatalog::UsageBytes). Policy drop_oldest evicts what is safest to
// lose first (local copies of uploaded segments), then the oldest sealed segments,
// recording each evicted seq range in `drops` so the loss is reported and later uploaded
// as a tombstone. Policy pause stops polling until usage falls below 90% of the quota.
#include <fmt/format.h>

#include "platform/log.h"
#include "platform/sqlite.h"
#include "storage/buffer_store.h"

namespace granary {

uint64_t BufferStore::UsageBytes() {
  auto usage = catalog_->UsageBytes(db_path_, summary_);
  if (!usage) {
    log::Warning("quota: {}", usage.error().message());
    return summary_.local_file_bytes;
  }
  return *usage;
}

Status BufferStore::EvictOne(bool* evicted) {
  *evicted = false;
  auto next = catalog_->NextEvictable(/*uploaded_only=*/options_.quota_pause);
  if (!next) return next.error();
  if (!*next) return Status::Ok();
  const FileToRemove& f = **next;
  // The file is what a salvage would count on: it stays until the marks are durable.
  if (Status s = WriteSeqMark(); !s) return s;
  if (Status s = RemoveSegmentFile(f, "quota"); !s) return s;
  if (f.pending) {
    log::Warning("quota: dropped segment {} ({} readings, {} seq {}-{})", f.file, f.count, f.source,
                 f.first_seq, f.last_seq);
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
      if (!paused_)
        log::Warning("quota: {} bytes used of {}; pausing polls", usage, options_.quota_max_bytes);
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
