// Private to storage/: the SQLite side of the buffer. Owned and called by the writer
// thread only (REQUIRES: external synchronization), so it needs no locks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "platform/env.h"
#include "platform/handles.h"
#include "platform/result.h"
#include "storage/buffer.h"
#include "storage/sealer.h"

namespace granary {

class BufferStore {
 public:
  BufferStore(Env& env, BufferOptions options);

  // Opens the database, migrates, repairs half-done seals and rebuilds the open segments.
  Status Open();
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
  Status Configure();
  // salvage.cpp: a corrupt database is moved aside and a fresh one adopts the sealed files.
  Result<std::string> MoveAside(const std::string& why);
  Status AdoptSegments(const std::string& aside_dir);
  // Records every source's next seq durably; called before segment files are removed,
  // since the files left on disk are what AdoptSegments counts on.
  void WriteSeqMark();
  Status LoadSources();
  Status Repair();
  Status RebuildOpenSegment(SourceState& src);
  Result<SourceState*> SourceFor(const std::string& name);
  // Applies the segment-boundary rules for one more reading: true when the reading must
  // start a new segment (hour change, clock stepped back). Call EndIfFull after adding it.
  bool StartsNewSegment(const SourceState& src, int64_t ts_ms) const;
  void AddToOpenSegment(SourceState& src, uint64_t seq, int64_t ts_ms, uint64_t bytes);
  // Ends the open segment at its last reading when it reached a size limit.
  bool EndIfFull(SourceState& src);
  void EndOpenSegment(SourceState& src);
  struct Run;
  Status InsertRun(const Run& run);
  Status RefreshCatalogCounts();
  uint64_t UsageBytes();
  Status EvictOne(bool* evicted);
  Status AddCounter(const char* name, int64_t delta);

  Env& env_;
  BufferOptions options_;
  std::string db_path_;
  std::string segments_dir_;
  SqliteDb db_;
  SqliteStmt insert_reading_;
  SqliteStmt update_next_seq_;
  SqliteStmt insert_source_;
  SqliteStmt insert_segment_;
  SqliteStmt delete_range_;
  std::map<std::string, SourceState> sources_;

  // Catalog summary, refreshed after every change to the segments table.
  uint64_t buffered_ = 0;
  uint64_t captured_ = 0;
  uint64_t sealed_count_ = 0, uploaded_count_ = 0, dropped_count_ = 0;
  uint64_t pending_bytes_ = 0, local_file_bytes_ = 0;
  int64_t oldest_pending_ts_ = 0;
  uint64_t dropped_readings_ = 0;
  uint64_t moved_aside_ = 0;
  bool paused_ = false;
};

}  // namespace granary
