// The reading buffer: SQLite (WAL) owned by one writer thread, which batches readings
// into transactions, assigns each (source) seq at commit, seals segments and enforces
// the disk quota. A reading is captured once its transaction commits.
//
// Thread safety: Submit, Flush, Stats and Paused may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "platform/env.h"
#include "platform/result.h"
#include "storage/reading.h"

namespace granary {

struct BufferOptions {
  std::string state_dir;  // holds buffer.db and segments/
  std::string device;
  bool sync_full = true;
  uint32_t batch_max = 1000;
  uint32_t queue_capacity = 100'000;
  std::chrono::milliseconds batch_wait{50};
  uint64_t segment_max_bytes = 64ULL << 20;
  uint64_t segment_max_readings = 100'000;
  uint64_t quota_max_bytes = 1ULL << 30;
  bool quota_pause = false;  // false: drop_oldest
  // How long the local file of an uploaded segment is kept; negative: until the quota
  // needs the space.
  std::chrono::milliseconds keep_uploaded{3'600'000};
  int gzip_level = 6;
  // Sources whose segments are not JSON Lines: source name -> format (kBsonFormat).
  std::map<std::string, std::string> segment_formats;
  // How long Stop() keeps retrying a failing commit and waiting for seals under way.
  // Tests that fail the disk for good on purpose shorten it.
  std::chrono::milliseconds stop_grace{3000};
  // How long a sealer thread waits for work before it ends (the next seal starts it).
  std::chrono::milliseconds sealer_idle_end{10'000};

  bool operator==(const BufferOptions&) const = default;
};

struct BufferStats {
  uint64_t captured = 0;         // readings committed since Open
  uint64_t buffered = 0;         // readings in the buffer, not yet sealed
  uint64_t rejected = 0;         // readings refused at Submit (queue full): never captured
  uint64_t segments_sealed = 0;  // sealed, waiting for upload
  uint64_t segments_uploaded = 0;
  uint64_t segments_dropped = 0;
  uint64_t pending_bytes = 0;            // compressed bytes of sealed segments waiting
  int64_t oldest_pending_ts_ms = 0;      // first reading of the oldest waiting segment; 0: none
  int64_t oldest_pending_sealed_ms = 0;  // when that segment was sealed; 0: none
  uint64_t dropped_readings = 0;         // captured readings evicted by the quota (see drops)
  uint64_t usage_bytes = 0;              // state dir usage counted against the quota
  bool paused = false;                   // quota policy "pause" is holding polls
  uint64_t commit_errors = 0;
  uint64_t seal_errors = 0;
  std::string last_error;            // empty when the last commit and seal worked
  uint64_t buffers_moved_aside = 0;  // damaged databases moved aside (state_dir/corrupt-*), ever
  uint64_t possibly_lost = 0;        // seqs a state loss could not account for (see drops)
  uint64_t state_losses = 0;         // starts that found the state damaged, ever
  int64_t last_state_loss_ms = 0;    // when the last one was found; 0: never
  std::string last_state_loss;       // what was found
  std::map<std::string, uint64_t> last_seq;  // per source, highest seq captured
};

class Buffer {
 public:
  // Opens (creating if needed) the buffer under options.state_dir, migrates the schema,
  // repairs half-done seals, seals segments already complete, and starts the writer.
  static Result<std::unique_ptr<Buffer>> Open(Env& env, const BufferOptions& options);
  virtual ~Buffer() = default;

  // Queues readings for the writer, waiting up to `wait` for room. Returns how many were
  // accepted; the rest are counted in `rejected` (never captured, so no seq is lost).
  virtual size_t Submit(std::vector<Reading> readings, std::chrono::milliseconds wait) = 0;

  // Waits until everything queued before the call is committed (captured), at most
  // `timeout`, without waiting for a batch to fill: a subscriber acknowledges a message
  // to its broker only after this. False on timeout or stop.
  virtual bool WaitCaptured(std::chrono::milliseconds timeout) = 0;

  // Commits everything queued before the call, then seals every open segment.
  virtual Status Flush() = 0;

  // Commits what is queued, seals when `seal`, and stops the writer. Idempotent.
  virtual void Stop(bool seal) = 0;

  virtual BufferStats Stats() const = 0;
  virtual bool Paused() const = 0;

  // Catalog changes from the uploader, applied in order by the writer thread; each
  // returns once committed.
  virtual Status MarkUploaded(int64_t segment_id) = 0;
  virtual Status MarkUploadFailed(int64_t segment_id, const std::string& error,
                                  int64_t next_attempt_ms) = 0;
  virtual Status MarkTombstoneUploaded(int64_t drop_id) = 0;
  // Makes every waiting segment due now (after new credentials, say).
  virtual Status RetryUploadsNow() = 0;

  // `notify` is called (from the writer thread, so it must not block or call the Buffer)
  // whenever there may be new upload work: a segment sealed, a range dropped (a tombstone
  // to send), segments made due again. An empty function removes it. The uploader sleeps
  // on it instead of polling the catalog.
  virtual void SetUploadListener(std::function<void()> notify) = 0;
};

// Path of the database inside a state dir.
std::string BufferDbPath(const std::string& state_dir);
std::string SegmentsDir(const std::string& state_dir);
// The segment format of `source` under `options` (jsonl.gz unless listed).
std::string SegmentFormatOf(const BufferOptions& options, const std::string& source);

}  // namespace granary

namespace granary {

// Reads the buffer's counters straight from the database, read-only, without a writer:
// what `granary status` shows when the daemon is stopped. `captured`, `rejected` and
// the error fields are runtime-only and stay zero.
Result<BufferStats> InspectBuffer(Env& env, const std::string& state_dir);

// Calls `fn` with the stored bytes of each buffered run of binary records of `source`
// (its records concatenated, seq order), read-only beside a running writer (WAL). Runs of
// JSON readings, stored compact, are not records and are left out. Ok when there is no
// buffer yet.
Status ForEachBufferedRun(Env& env, const std::string& state_dir, const std::string& source,
                          const std::function<void(std::string_view)>& fn);

// Calls `fn` with the buffered JSON readings of the database at `db_path` (a state dir's,
// or one moved aside to corrupt-<ms>/), each run rendered as the JSON Lines its segment
// would hold: every source, or only `source` when it is not empty. Read-only. Binary
// records are counted into *records, not rendered (`granary archive` reads them). A
// damaged run renders what precedes the damage; the first damage is the error returned
// after the rest was read.
Status ForEachBufferedLine(Env& env, const std::string& db_path, std::string_view device,
                           const std::string& source,
                           const std::function<void(std::string_view)>& fn, uint64_t* records);

}  // namespace granary
