// The outbox table of the catalog: reports and files taken from the [[outbox]] directories
// (docs/outbox.md). Unlike segments, entries are written by the agent's main thread (it
// takes them) and by the uploader (it marks them sent), each on a read-write connection of
// its own: these rows are never in the same transaction as readings, and SQLite's WAL lets
// the writer thread go on meanwhile (a busy connection waits up to 5 s).
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

// What identifies a producer's file between two looks at it (and across restarts).
struct FileIdentity {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  bool operator==(const FileIdentity&) const = default;
};

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

// Per outbox and kind, for status.
struct OutboxCount {
  std::string outbox, kind;
  uint64_t pending = 0, pending_bytes = 0, uploaded = 0;
  int64_t oldest_pending_ms = 0;  // when the oldest waiting entry was taken; 0: none
};

class OutboxCatalog {
 public:
  static Result<std::unique_ptr<OutboxCatalog>> Open(Env& env, const std::string& state_dir);

  // The entry taken from exactly this file (path, size, mtime, inode), if any.
  Result<std::optional<OutboxEntry>> FindTaken(const FileIdentity& original);
  // The entry with this role, uuid and name, if any.
  Result<std::optional<OutboxEntry>> Find(const std::string& role, const std::string& uuid,
                                          const std::string& name);
  Status Insert(const OutboxEntry& e);
  // The next entry due at `now_ms`: reports before files, oldest first.
  Result<std::optional<OutboxEntry>> NextDue(int64_t now_ms);
  // When the earliest waiting entry becomes due; 0 when none waits.
  Result<int64_t> EarliestAttempt();
  Status MarkUploaded(int64_t id, int64_t now_ms);
  Status MarkFailed(int64_t id, const std::string& error, int64_t next_attempt_ms);
  Status RetryAllNow();
  // Uploaded entries whose local copy is still there, uploaded before `cutoff_ms`.
  Result<std::vector<OutboxEntry>> UploadedBefore(int64_t cutoff_ms, int limit);
  Status MarkLocalRemoved(int64_t id);
  // Local copies that should be on disk (pending, or uploaded and kept).
  Result<std::vector<std::string>> LiveLocals();
  Result<uint64_t> LocalBytes();
  Result<std::vector<OutboxCount>> Counts();

 private:
  explicit OutboxCatalog(SqliteDb db) : db_(std::move(db)) {}
  Result<std::vector<OutboxEntry>> Entries(const std::string& where,
                                           const std::function<void(sqlite3_stmt*)>& bind);

  SqliteDb db_;
};

}  // namespace granary
