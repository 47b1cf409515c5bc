// Offline and online checks an operator runs: `verify` and `backup`.
#pragma once

#include <string>
#include <vector>

#include "platform/env.h"
#include "platform/result.h"
#include "receiver/config.h"
#include "receiver/index.h"
#include "receiver/object_store.h"

namespace granary::receiver {

struct VerifyReport {
  size_t objects_checked = 0, files_checked = 0;
  std::vector<std::string> missing;        // indexed, no file
  std::vector<std::string> hash_mismatch;  // indexed, file with other bytes
  std::vector<std::string> unindexed;      // file in accepted/, not in the index
  size_t messages_checked = 0;
  std::vector<std::string> message_mismatch;  // indexed message not at its offset with its _id
  size_t uploads_checked = 0;                 // reports and files
  std::vector<std::string> upload_mismatch;   // object without its report or file row
  bool clean() const {
    return missing.empty() && hash_mismatch.empty() && unindexed.empty() &&
           message_mismatch.empty() && upload_mismatch.empty();
  }
};

// Every indexed object's file exists with the recorded SHA-256; every accepted file is
// indexed; every indexed archived message is the document at its recorded offset and length,
// with its _id; every report and file object has its report or file row with its bytes.
Result<VerifyReport> VerifyStore(Index& index, const ObjectStore& store,
                                 uint32_t max_document_bytes, const std::string& prefix);

struct BackupReport {
  std::vector<std::pair<std::string, int64_t>> table_rows;  // as counted in the copy
};

// An online, consistent copy of the SQLite index at `dest` (the backup API, inside one read
// transaction), then proven: the copy passes integrity_check and has the same row count in
// every table as the snapshot it was taken from.
Result<BackupReport> BackupIndex(Env& env, const ReceiverConfig& config, const std::string& dest);

}  // namespace granary::receiver
