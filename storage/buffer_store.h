// Private to storage/: the SQLite side of the buffer. Owned and called by the writer
// thread only (REQUIRES: external synchronization), so it needs no locks.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "platform/env.h"
#include "platform/handles.h"
#include "platform/result.h"
#include "storage/buffer.h"
#include "storage/catalog.h"
#include "storage/sealer.h"
#include "storage/seqmark.h"

namespace granary {

// The catalog's part of the stats, the same for the daemon and `granary status` offline.
void FillCatalogStats(const CatalogSummary& sum, BufferStats& stats);

class BufferStore {
 public:
  BufferStore(Env& env, BufferOptions options);

  ~BufferStore();
  // Opens the database, migrates, checks it against the files beside it (salvaging when
  // it cannot vouch for them), repairs half-done seals and rebuilds the open segments.
  Status Open();
  // A clean stop: checkpoints, records the clean stop and closes the database.
  void Close();
  // One transaction: assigns seqs and inserts `batch`. On failure nothing changed.
  Status Commit(const std::vector<Reading>& batch);
  // Ends every open segment at its last reading (flush).
  void CutAll();
  // Ends segments open for longer than an hour by the monotonic clock: a source that
  // stopped producing (removed from the config, or failing) must not hold its last
  // readings back until its next one. Reading timestamps play no part, so a source
  // stamping with a wrong clock (its own, or an unsynchronized one) cannot make this cut
  // every segment short.
  void CutAged();
  // The segments whose end is known (hour change, size limits, flush) and that no one
  // has taken yet, oldest first per source. REQUIRES: the commits creating them are done.
  std::vector<SealJob> TakeCuts();
  // Records a sealed file and deletes its readings, in one transaction.
  Status RecordSeal(const SealedFile& file);
  // Drops the connection's cached pages (none is dirty between transactions).
  void ReleaseCache();
  // Frees space when usage is over the quota; sets paused() under policy "pause".
  Status EnforceQuota();

  Status MarkUploaded(int64_t segment_id);
  Status MarkUploadFailed(int64_t segment_id, const std::string& error, int64_t next_attempt_ms);
  Status MarkTombstoneUploaded(int64_t drop_id);
  Status RetryUploadsNow();
  // Removes local files of segments uploaded more than keep_uploaded ago.
  Status RemoveExpiredUploads();

  bool paused() const { return paused_; }
  void FillStats(BufferStats& stats);

 private:
  struct SourceState {
    int64_t id = 0;
    std::string name;
    uint64_t next_seq = 1;
    uint64_t first_unsealed = 1;  // every seq below is in a segment (recorded or gone)
    // The open segment: readings committed since the last cut.
    uint64_t open_first_seq = 0;
    uint64_t open_count = 0;
    uint64_t open_bytes = 0;
    int64_t open_hour = 0;
    int64_t open_last_ts = 0;
    uint64_t open_last_seq = 0;
    int64_t open_since_mono_ns = 0;  // when the open segment got its first reading (or was rebuilt)
    // Ended segments not yet handed to the sealer, oldest first.
    std::vector<SealJob> cuts;
  };

  // Open, configure, integrity check and migrate; EBADMSG when the database is corrupt.
  Status OpenDatabase();
  void CloseDatabase();  // statements first, then the connection
  Status Configure();
  Status PrepareStatements();
  Status LoadSources();
  Status RebuildOpenSegment(SourceState& src);

  // repair.cpp: why the database cannot vouch for the files beside it ("" when it can),
  // and the repair of half-done seals once it can.
  // What the start compares: the catalog's files, the names the buffered segments will
  // seal under, and what is on disk. Read once, for both the check and the repair.
  struct DiskView {
    std::set<std::string> live, removed;  // catalog entries whose file is, or was, removed
    std::set<std::string> buffered;
    std::vector<std::string> files;  // in segments/
  };
  Result<DiskView> ScanSegments();
  Result<std::string> StateLostReason(bool wal_present, const DiskView& view);
  Status Repair(const DiskView& view);
  // salvage.cpp: the damaged database moves aside and a fresh one adopts every segment
  // file; what cannot be recovered is recorded as a dropped range.
  Status Salvage(const std::string& why);
  Result<std::string> MoveAside(const std::string& why);
  Status AdoptAndRecord(const std::string& aside_dir, const std::string& why);
  Status StartSeqMarks();
  // Drops recorded in a moved-aside database whose tombstones were never uploaded; none
  // when it cannot be read.
  std::vector<DropRecord> PendingTombstonesIn(const std::string& aside_dir);
  // Rewrites the seq marks from the sources; called before segment files are removed,
  // since the files left on disk are what a salvage counts on.
  Status WriteSeqMark();

  Result<SourceState*> SourceFor(const std::string& name);
  // Applies the segment-boundary rules for one more reading: true when the reading must
  // start a new segment (hour change, clock stepped back). Call EndIfFull after adding it.
  bool StartsNewSegment(const SourceState& src, int64_t ts_ms) const;
  void AddToOpenSegment(SourceState& src, uint64_t seq, int64_t ts_ms, uint64_t bytes);
  // Ends the open segment at its last reading when it reached a size limit.
  bool EndIfFull(SourceState& src);
  void EndOpenSegment(SourceState& src);
  // Reserves the seqs `batch` will take, durably, before they are issued.
  Status ReserveSeqs(const std::vector<Reading>& batch);
  struct Run;
  Status InsertRun(const Run& run);
  Status RefreshCatalogCounts();
  uint64_t UsageBytes();
  Status EvictOne(bool* evicted);
  // Removes a segment's file after the catalog says so (a crash in between leaves a file
  // Repair removes, never a catalog entry without its file).
  Status RemoveSegmentFile(const FileToRemove& f, std::string_view reason);

  Env& env_;
  BufferOptions options_;
  std::string db_path_;
  std::string segments_dir_;
  SqliteDb db_;
  std::unique_ptr<SegmentCatalog> catalog_;
  SeqMarkFile seqmark_;
  SqliteStmt insert_reading_;
  SqliteStmt update_next_seq_;
  SqliteStmt insert_source_;
  SqliteStmt delete_range_;
  std::map<std::string, SourceState> sources_;

  // Catalog summary, refreshed after every change to the segments table.
  uint64_t buffered_ = 0;
  uint64_t captured_ = 0;
  CatalogSummary summary_;
  bool paused_ = false;
};

}  // namespace granary
