// The state of multipart uploads in the index's database (tables multipart_uploads and
// multipart_parts, created with the index's schema): a restarted receiver continues an
// upload, and receivers sharing one PostgreSQL see the same uploads.
//
// On its own connection, so a long upload never waits behind the index's transactions more
// than SQLite's busy timeout. Thread-safe: calls are serialised.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "platform/env.h"
#include "platform/result.h"
#include "receiver/config.h"

namespace granary::receiver {

class SqlConnection;

// "open" until completed or aborted; then "complete" (result: the ETag), or "rejected" or
// "conflict" (result: the reason), kept for retried Completes until expire_after.
struct UploadRow {
  std::string upload_id, bucket, key, device, content_type;
  std::string metadata_json = "{}";  // x-amz-meta-* given at Create, names without the prefix
  int64_t created_ms = 0;
  std::string state = "open";
  std::string result;
  int64_t finished_ms = 0;
  bool open() const { return state == "open"; }
};

struct PartRow {
  int number = 0;
  uint64_t size = 0;
  std::string md5_hex, sha256_hex;
  std::string path;  // relative to the data dir
  int64_t uploaded_ms = 0;
};

class UploadTable {
 public:
  // The index's database as config.index names it; the tables must exist (OpenIndex).
  static Result<std::unique_ptr<UploadTable>> Open(Env& env, const ReceiverConfig& config);
  ~UploadTable();

  Status Create(const UploadRow& upload);
  Result<std::optional<UploadRow>> Find(const std::string& upload_id);
  // Records `part`, replacing one with its number. Nullopt when the upload is not open (any
  // more): the caller removes the part's file. Else the path of the file replaced ("" none).
  Result<std::optional<std::string>> PutPart(const std::string& upload_id, const PartRow& part);
  // In part number order.
  Result<std::vector<PartRow>> Parts(const std::string& upload_id);
  // Ends an open upload as `state` with `result` and forgets its parts (the caller removes
  // their files). False when it was not open.
  Result<bool> Finish(const std::string& upload_id, const std::string& state,
                      const std::string& result, int64_t now_ms);
  // Forgets an upload and its parts (abort, expiry).
  Status Remove(const std::string& upload_id);
  // The open uploads of `device` in `bucket` (ListMultipartUploads), in no order.
  Result<std::vector<UploadRow>> OpenUploads(const std::string& bucket, const std::string& device);
  // Open uploads begun before `created_before`, and finished ones finished before
  // `finished_before`.
  Result<std::vector<UploadRow>> Stale(int64_t created_before, int64_t finished_before);

 private:
  explicit UploadTable(std::unique_ptr<SqlConnection> db);
  // Runs `body` in a write transaction holding the upload's lock (PostgreSQL: an advisory
  // lock, so receivers sharing the database take turns on one upload).
  template <typename Body>
  auto Locked(const std::string& upload_id, Body&& body) -> decltype(body());

  std::mutex mu_;
  std::unique_ptr<SqlConnection> db_;
};

}  // namespace granary::receiver
