#include "storage/schema.h"

#include <string>

#include "platform/sqlite.h"

namespace granary::schema {
namespace {

// Index i upgrades version i to i+1. Append only; never edit a shipped step.
constexpr const char* kSteps[] = {
    // 0 -> 1
    R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- next_seq only grows; it is what makes seq never reused after readings are sealed away.
CREATE TABLE sources(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  next_seq INTEGER NOT NULL);
-- Readings are stored as runs: consecutive readings of one source, already rendered as
-- JSON Lines, never straddling a segment boundary. One row per run keeps the per-reading
-- cost of the buffer near a memcpy; sealing concatenates runs and compresses.
CREATE TABLE readings(
  id INTEGER PRIMARY KEY,
  source_id INTEGER NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  segment_seq INTEGER NOT NULL,   -- first seq of the segment this run belongs to
  count INTEGER NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  unsynced INTEGER NOT NULL,      -- readings of the run taken with an unsynchronized clock
  lines BLOB NOT NULL,            -- count JSON lines, newline-terminated
  UNIQUE(source_id, first_seq));
CREATE TABLE segments(
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  count INTEGER NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  clock TEXT NOT NULL,            -- ok | unsynced | mixed
  format TEXT NOT NULL,           -- jsonl.gz
  file TEXT NOT NULL,             -- name under segments/
  bytes INTEGER NOT NULL,         -- compressed file size
  raw_bytes INTEGER NOT NULL,     -- uncompressed JSON bytes
  md5 TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  state TEXT NOT NULL,            -- sealed | uploaded | dropped
  sealed_at INTEGER NOT NULL,
  uploaded_at INTEGER,
  file_removed INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  UNIQUE(source, first_seq));
CREATE INDEX segments_state ON segments(state, id);
-- Every seq range lost on purpose (quota eviction, unreadable file), so loss is never silent.
CREATE TABLE drops(
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  count INTEGER NOT NULL,
  reason TEXT NOT NULL,
  at INTEGER NOT NULL,
  tombstone TEXT NOT NULL DEFAULT 'pending');  -- pending | uploaded
CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
)sql",
    // 1 -> 2
    R"sql(
-- Multipart uploads in progress (agent/upload/multipart.h), one per object key: enough to
-- resume after a restart and to tell whether the local file is still the one the parts
-- were read from. A row goes when its upload completes or is aborted.
CREATE TABLE multipart_uploads(
  key TEXT PRIMARY KEY,
  upload_id TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  sha256 TEXT NOT NULL,           -- the whole file's
  part_size INTEGER NOT NULL,
  created_at INTEGER NOT NULL) WITHOUT ROWID;
-- Parts the server acknowledged (its ETag equal to the part's MD5).
CREATE TABLE multipart_parts(
  key TEXT NOT NULL,
  number INTEGER NOT NULL,
  etag TEXT NOT NULL,
  md5 TEXT NOT NULL,
  PRIMARY KEY(key, number)) WITHOUT ROWID;
-- Reports and files taken from the outboxes (docs/outbox.md). A row is committed after the
-- local copy is durable and before the original goes: the original's identity is what
-- keeps a restart from taking it twice.
CREATE TABLE outbox(
  id INTEGER PRIMARY KEY,
  outbox TEXT NOT NULL,           -- the [[outbox]] name
  uuid TEXT NOT NULL,             -- the report's, or a standalone file's own
  kind TEXT NOT NULL,
  name TEXT NOT NULL,             -- a file's name; "{uuid}.json" for a report
  role TEXT NOT NULL,             -- report | file
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  md5 TEXT NOT NULL,
  local TEXT NOT NULL UNIQUE,     -- the copy under {state_dir}/outbox/
  original TEXT NOT NULL,         -- the producer's path
  orig_size INTEGER NOT NULL,
  orig_mtime_ns INTEGER NOT NULL,
  orig_inode INTEGER NOT NULL,
  taken_at INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',  -- pending | uploaded
  uploaded_at INTEGER,
  local_removed INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  UNIQUE(role, uuid, name));
CREATE INDEX outbox_state ON outbox(state, next_attempt_at);
CREATE INDEX outbox_original ON outbox(original, orig_inode);
)sql",
    // 2 -> 3
    R"sql(
-- JSON readings are stored compact (storage/run_codec.h): the rendered lines repeated the
-- device, source and seq in every reading, a third of what each fsync'd commit wrote. Runs
-- written before keep their rendered lines (encoding 0) and seal as they are.
ALTER TABLE readings ADD COLUMN encoding INTEGER NOT NULL DEFAULT 0;  -- 0 rendered, 1 compact
-- The bytes the run seals to (a segment's size limit counts these); NULL in runs written
-- before, whose lines are their own rendering.
ALTER TABLE readings ADD COLUMN rendered_bytes INTEGER;
)sql",
};

constexpr int kStepCount = static_cast<int>(sizeof(kSteps) / sizeof(kSteps[0]));
static_assert(kStepCount == kVersion);

}  // namespace

Status Migrate(sqlite3* db) {
  auto version = sql::QueryInt(db, "PRAGMA user_version");
  if (!version) return version.error();
  if (*version > kVersion) {
    return Error("buffer schema version " + std::to_string(*version) +
                 " is newer than this granary understands (" + std::to_string(kVersion) +
                 "); refusing to touch it");
  }
  for (int v = static_cast<int>(*version); v < kVersion; ++v) {
    if (Status s = sql::Exec(db, "BEGIN IMMEDIATE"); !s) return s;
    Status s = sql::Exec(db, kSteps[v]);
    if (s) s = sql::Exec(db, "PRAGMA user_version = " + std::to_string(v + 1));
    if (s) s = sql::Exec(db, "COMMIT");
    if (!s) {
      (void)sql::Exec(db, "ROLLBACK");
      return s.error().Wrap("migrate buffer schema to version " + std::to_string(v + 1));
    }
  }
  return Status::Ok();
}

}  // namespace granary::schema
