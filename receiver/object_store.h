// The filesystem object store under the data dir:
//   quarantine/{id}.body  an incoming body, streamed and hashed as it arrives
//   quarantine/{id}.json  written once the body is complete (and fsynced) and its digests
//                         checked: from then on the object survives a process crash and
//                         is re-run through the pipeline at startup (a power cut may lose
//                         the sidecar: the client, not yet answered, sends again)
//   accepted/{bucket}/{key}          bodies that passed validation (the index says so)
//   rejected/{id}.body, {id}.json    failed validation; the .json holds the reason
//   conflicts/{id}.body, {id}.json   same key as accepted data, different bytes
//   quarantine/uploads/{upload id}/{part}-{id}.part  parts of a multipart upload in progress
//                         (the index lists them; not accepted data until Complete)
// Several receiver processes may share one store: ids are unique per process and moves
// are renames within one filesystem.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "platform/crypto.h"
#include "platform/env.h"
#include "platform/result.h"
#include "s3/sigv4.h"

namespace granary::receiver {

// What we know of a stored body besides its bytes.
struct ObjectMeta {
  std::string bucket;
  std::string key;
  std::string device;  // whose credentials stored it ("" for real-S3 mode)
  uint64_t size = 0;
  std::string md5_hex;
  std::string sha256_hex;
  std::string content_type;
  sigv4::Headers user_metadata;  // x-amz-meta-* with the prefix removed, names lowercased
  int64_t received_ms = 0;
  std::string reason;  // rejected/conflict only

  std::string UserMetadata(const std::string& lower_name) const;
  std::string ToJson() const;
  static Result<ObjectMeta> FromJson(std::string_view json);
  // {"name": "value", ...} of user_metadata, for the index.
  std::string UserMetadataJson() const;
  static sigv4::Headers UserMetadataFromJson(std::string_view json);
};

// A body being received. Not thread-safe; one owner. Abandoned (removed) when destroyed
// before Finish() succeeded.
class QuarantineWriter {
 public:
  QuarantineWriter(Env& env, std::string id, std::string path, std::unique_ptr<WritableFile> file);
  ~QuarantineWriter();
  QuarantineWriter(const QuarantineWriter&) = delete;
  QuarantineWriter& operator=(const QuarantineWriter&) = delete;

  Status Append(std::string_view data);
  // fsync and close; the body is durable once this returns ok.
  Result<StreamDigests> Finish();
  uint64_t size() const { return size_; }
  const std::string& id() const { return id_; }
  const std::string& path() const { return path_; }

 private:
  Env& env_;
  std::string id_, path_;
  std::unique_ptr<WritableFile> file_;
  StreamHasher digest_;
  uint64_t size_ = 0;
  bool finished_ = false;
};

class ObjectStore {
 public:
  // Creates the directories when missing.
  static Result<std::unique_ptr<ObjectStore>> Open(Env& env, const std::string& data_dir);

  Result<std::unique_ptr<QuarantineWriter>> NewQuarantine();
  // Makes a finished body recoverable: writes {id}.json durably.
  Status SealQuarantine(const std::string& id, const ObjectMeta& meta);
  // Sealed quarantine entries (ids), oldest first. Unsealed bodies older than
  // `orphan_age_ms` (a crash mid-upload) are removed.
  std::vector<std::string> SealedQuarantine(int64_t orphan_age_ms);
  Result<ObjectMeta> ReadQuarantineMeta(const std::string& id);
  std::string QuarantineBodyPath(const std::string& id) const;
  bool QuarantineBodyExists(const std::string& id) const;

  // Links the body at accepted/{bucket}/{key}, durably, keeping the quarantine entry. Never
  // replaces a file there: accepted bytes are immutable whatever the index says (a file
  // with the same SHA-256 is kept; one with other bytes is an error).
  Status Place(const std::string& id, const ObjectMeta& meta);
  // Removes a placed file the index then refused (the quarantine entry holds the same
  // bytes, and goes to conflicts/ or away as the refusal says). A missing file is fine.
  Status Unplace(const ObjectMeta& meta);
  // Removes a quarantine entry once its bytes are placed and indexed, or already stored.
  Status DropQuarantine(const std::string& id);
  // Place() then DropQuarantine().
  Status Accept(const std::string& id, const ObjectMeta& meta);
  // Moves body and sidecar (with `reason`) to rejected/ or conflicts/.
  Status Reject(const std::string& id, ObjectMeta meta, bool conflict);
  // Removes a quarantine entry, whatever is left of it (a re-PUT, a refused request).
  Status Discard(const std::string& id);

  // A new part file of a multipart upload, under UploadDir(upload_id).
  Result<std::unique_ptr<QuarantineWriter>> NewUploadPart(const std::string& upload_id,
                                                          int part_number);
  // quarantine/uploads/{upload_id} relative to the data dir.
  static std::string UploadDir(const std::string& upload_id);
  // Removes an upload's directory and every part in it; a missing one is fine.
  Status RemoveUploadDir(const std::string& upload_id);
  // The upload ids that have a directory.
  std::vector<std::string> UploadDirs() const;

  std::string AcceptedPath(const std::string& bucket, const std::string& key) const;
  std::string RejectedPath(const std::string& id, bool conflict) const;
  bool AcceptedExists(const std::string& bucket, const std::string& key) const;
  // Why accepted/{bucket}/{key} cannot be a file ("" when it can): it is a directory (another
  // key lies under it) or one of its parents is a file (another key is its prefix).
  std::string PathClash(const std::string& bucket, const std::string& key) const;
  // Every accepted object as bucket/key, for verify.
  std::vector<std::pair<std::string, std::string>> ListAccepted() const;
  const std::string& data_dir() const { return dir_; }
  // Whether a body could be received now: a file can be created in quarantine/ and the
  // filesystem has at least `min_free_bytes` free for unprivileged writers.
  Status CheckWritable(uint64_t min_free_bytes) const;

 private:
  ObjectStore(Env& env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Env& env_;
  std::string dir_;
};

// SHA-256 and MD5 of a file's bytes.
Result<StreamDigests> DigestFile(const std::string& path);

}  // namespace granary::receiver
