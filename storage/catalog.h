// The segment catalog as the uploader sees it: a read-only view for finding work (its
// own connection, so the uploader never waits for the writer), while every change goes
// through Buffer (the writer thread owns all writes).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  std::string path;    // the local file
  uint64_t bytes = 0;
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

class CatalogReader {
 public:
  static Result<std::unique_ptr<CatalogReader>> Open(const std::string& state_dir);

  // The oldest sealed segment whose next attempt is due at `now_ms`.
  Result<std::optional<SegmentRecord>> NextDue(int64_t now_ms);
  // When the earliest not-yet-due sealed segment becomes due; 0 when none waits.
  Result<int64_t> EarliestAttempt();
  // Dropped ranges whose tombstone is not uploaded yet, oldest first.
  Result<std::vector<DropRecord>> PendingTombstones(int limit);

 private:
  CatalogReader() = default;
  std::string segments_dir_;
  SqliteDb db_;
  SqliteStmt next_due_, earliest_, tombstones_;
};

}  // namespace granary
