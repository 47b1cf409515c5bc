// The segment catalog: every sealed segment, every dropped range and the buffer's
// counters. The only code that speaks SQL to the `segments`, `drops` and `counters`
// tables. The writer thread holds the read-write catalog (on the buffer's own
// connection, so a seal is recorded in the same transaction that deletes its readings);
// the uploader and `granary status` open read-only ones on connections of their own.
//
// Thread safety: none; one owner per instance.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "platform/env.h"
#include "platform/handles.h"
#include "platform/result.h"

namespace granary {

struct SegmentRecord {
  int64_t id = 0;
  std::string source;
  uint64_t first_seq = 0, last_seq = 0, count = 0;
  int64_t first_ts = 0, last_ts = 0;
  std::string clock;   // ok | unsynced | mixed
  std::string format;  // jsonl.gz
  std::string file;    // name under segments/
  std::string path;    // the local file
  uint64_t bytes = 0, raw_bytes = 0;
  std::string md5_hex, sha256_hex;
  int64_t attempts = 0;
  int64_t next_attempt_at = 0;  // ms since the epoch; 0: now
};

struct DropRecord {
  int64_t id = 0;
  std::string source;
  uint64_t first_seq = 0, last_seq = 0, count = 0;
  std::string reason;
  int64_t at = 0;
};

// What status shows; the same numbers online and offline.
struct CatalogSummary {
  uint64_t sealed = 0, uploaded = 0, dropped = 0;
  uint64_t pending_bytes = 0;         // compressed bytes of sealed segments waiting
  int64_t oldest_pending_ts = 0;      // first reading of the oldest waiting segment; 0: none
  int64_t oldest_pending_sealed = 0;  // when the oldest waiting segment was sealed; 0: none
  uint64_t local_file_bytes = 0;      // segment files still on disk
  uint64_t dropped_readings = 0;
  uint64_t possibly_lost = 0;  // seqs in ranges a state loss could not account for
  uint64_t buffers_moved_aside = 0;
  uint64_t state_losses = 0;       // starts that found the state damaged (see salvage)
  int64_t last_state_loss_at = 0;  // ms since the epoch; 0: never
  std::string last_state_loss;     // its reason
};

// A segment whose local file may go: uploaded long enough ago, or chosen by the quota.
struct FileToRemove {
  int64_t id = 0;
  std::string file;
  std::string source;
  uint64_t first_seq = 0, last_seq = 0, count = 0;
  bool pending = false;  // sealed, not uploaded: removing it is a loss
};

// A multipart upload in progress (agent/upload/multipart.h) and the parts the server
// acknowledged, ascending by number.
struct MultipartPartRecord {
  uint32_t number = 0;
  std::string etag;  // without quotes; equal to md5_hex when the server stored our bytes
  std::string md5_hex;
  bool operator==(const MultipartPartRecord&) const = default;
};

struct MultipartRecord {
  std::string key;
  std::string upload_id;
  std::string path;  // the local file
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  std::string sha256_hex;  // the whole file's
  uint64_t part_size = 0;
  int64_t created_at = 0;  // ms since the epoch
  std::vector<MultipartPartRecord> parts;
};

// What identifies a producer's file between two looks at it (and across restarts).
struct FileIdentity {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  bool operator==(const FileIdentity&) const = default;
};

// A report or file taken from an [[outbox]] (docs/outbox.md).
struct OutboxEntry {
  int64_t id = 0;
  std::string outbox, uuid, kind, name;
  std::string role;   // report | file
  std::string local;  // file name under {state_dir}/outbox/
  uint64_t size = 0;
  std::string sha256_hex, md5_hex;
  FileIdentity original;
  int64_t taken_at = 0;
  int64_t attempts = 0;
};

// Outbox entries per outbox and kind, for status.
struct OutboxCount {
  std::string outbox, kind;
  uint64_t pending = 0, pending_bytes = 0, uploaded = 0;
  int64_t oldest_pending_ms = 0;  // when the oldest waiting entry was taken; 0: none
};

class SegmentCatalog {
 public:
  // The writer's catalog over its read-write connection `db` (not owned).
  explicit SegmentCatalog(Env& env, sqlite3* db, std::string segments_dir);
  // A read-only catalog on a connection of its own.
  static Result<std::unique_ptr<SegmentCatalog>> OpenReadOnly(Env& env,
                                                              const std::string& state_dir);
  ~SegmentCatalog();

  // A read-write catalog on a connection of its own, for the upload thread and the outbox
  // watcher: they write only the multipart and outbox tables, never in a transaction with
  // readings (SQLite's busy timeout orders their short transactions with the writer's).
  static Result<std::unique_ptr<SegmentCatalog>> OpenForUploads(Env& env,
                                                                const std::string& state_dir);

  // Reads (any catalog).
  Result<std::optional<SegmentRecord>> NextDue(int64_t now_ms);
  // When the earliest not-yet-due sealed segment becomes due; 0 when none waits.
  Result<int64_t> EarliestAttempt();
  Result<std::vector<DropRecord>> PendingTombstones(int limit);
  Result<std::vector<std::string>> LiveFiles();  // segments whose file should be on disk
  // Segments whose file was removed: one still on disk is a removal a crash or power cut
  // undid (the catalog commits first, then the file goes).
  Result<std::vector<std::string>> RemovedFiles();
  Result<CatalogSummary> Summary();
  Result<std::string> Meta(std::string_view key);  // "" when unset
  // The one usage formula: database pages in use, the WAL, and the segment files still on
  // disk (from `sum`, which the writer keeps current without a query).
  Result<uint64_t> UsageBytes(const std::string& db_path, const CatalogSummary& sum);

  // Writes (writer catalog only). Those marked (txn) run inside the caller's
  // transaction; the others are one statement or their own transaction.
  Status InsertSealed(const SegmentRecord& s);  // (txn)
  // (txn) Counts the readings as dropped when `certain`; a range that may hold seqs never
  // issued (see salvage) is counted apart, as possibly lost.
  Status InsertDrop(const DropRecord& d, bool certain = true);
  Status AddCounter(std::string_view name, int64_t delta);       // (txn)
  Status SetCounter(std::string_view name, int64_t value);       // (txn)
  Status SetMeta(std::string_view key, std::string_view value);  // (txn)
  Status MarkUploaded(int64_t id);
  Status MarkUploadFailed(int64_t id, std::string_view error, int64_t next_attempt_ms);
  Status MarkTombstoneUploaded(int64_t drop_id);
  Status RetryAllNow();
  Result<std::vector<FileToRemove>> UploadedBefore(int64_t cutoff_ms, int limit);
  // The next segment the quota may remove: uploaded ones first, then (unless
  // `uploaded_only`) the oldest sealed one.
  Result<std::optional<FileToRemove>> NextEvictable(bool uploaded_only);
  // Marks the file gone; a pending segment becomes a dropped range with `reason`.
  Status RemoveFile(const FileToRemove& f, std::string_view reason);
  // A live entry whose file is missing: the same, keyed by name.
  Status FileMissing(const std::string& file);

  // Multipart uploads (catalog_multipart.cpp; an uploads or writer catalog).
  Result<std::optional<MultipartRecord>> FindMultipart(const std::string& key);
  // Records a new upload for `r.key` (its parts empty), replacing any earlier one.
  Status BeginMultipart(const MultipartRecord& r);
  Status RecordPart(const std::string& key, const MultipartPartRecord& part);
  // After reconciling with the server: the parts of `key` are exactly `parts`.
  Status ReplaceParts(const std::string& key, const std::vector<MultipartPartRecord>& parts);
  // The upload completed or was aborted: it and its parts go.
  Status EndMultipart(const std::string& key);

  // The outbox table (catalog_outbox.cpp), on a catalog of OpenForUploads: the outbox
  // watcher (main thread) takes entries, the upload worker marks them sent.
  // The entry taken from exactly this file (path, size, mtime, inode), if any.
  Result<std::optional<OutboxEntry>> FindTaken(const FileIdentity& original);
  // The entry with this role, uuid and name, if any.
  Result<std::optional<OutboxEntry>> FindOutboxEntry(const std::string& role,
                                                     const std::string& uuid,
                                                     const std::string& name);
  Status InsertOutboxEntry(const OutboxEntry& e);
  // The next entry due at `now_ms`: reports before files, oldest first.
  Result<std::optional<OutboxEntry>> NextOutboxDue(int64_t now_ms);
  // When the earliest waiting entry becomes due; 0 when none waits.
  Result<int64_t> EarliestOutboxAttempt();
  Status MarkOutboxUploaded(int64_t id, int64_t now_ms);
  Status MarkOutboxFailed(int64_t id, const std::string& error, int64_t next_attempt_ms);
  Status RetryOutboxNow();
  // Uploaded entries whose local copy is still there, uploaded before `cutoff_ms`.
  Result<std::vector<OutboxEntry>> OutboxUploadedBefore(int64_t cutoff_ms, int limit);
  Status MarkOutboxLocalRemoved(int64_t id);
  // Local copies that should be on disk (pending, or uploaded and kept).
  Result<std::vector<std::string>> OutboxLiveLocals();
  Result<uint64_t> OutboxLocalBytes();
  Result<std::vector<OutboxCount>> OutboxCounts();

 private:
  // The statement numbered `which` (catalog.cpp's list), prepared on first use: a
  // read-only catalog never prepares a write.
  Result<sqlite3_stmt*> Get(int which);
  Status InTransaction(const std::function<Status()>& body);
  Result<std::vector<std::string>> Files(int which);
  Result<std::vector<OutboxEntry>> OutboxEntries(const std::string& where,
                                                 const std::function<void(sqlite3_stmt*)>& bind);
  Result<sqlite3_stmt*> GetMultipart(int which);  // catalog_multipart.cpp's list
  Status EndMultipartIn(const std::string& key);  // (txn)

  Env& env_;
  SqliteDb owned_;  // read-only catalogs only
  sqlite3* db_;
  std::string segments_dir_;
  std::vector<SqliteStmt> stmts_;  // prepared on first use
  std::vector<SqliteStmt> multipart_stmts_;
};

}  // namespace granary
