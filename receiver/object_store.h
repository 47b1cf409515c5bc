// The object store. Quarantine is always local, under the data dir:
//   quarantine/{id}.body  an incoming body, streamed and hashed as it arrives
//   quarantine/{id}.json  written once the body is complete (and fsynced) and its digests
//                         checked: from then on the object survives a process crash and
//                         is re-run through the pipeline at startup (a power cut may lose
//                         the sidecar: the client, not yet answered, sends again)
//   quarantine/uploads/{upload id}/{part}-{id}.part  parts of a multipart upload in progress
//                         (the index lists them; not accepted data until Complete)
// The backing store (fs_store.h: under the data dir; s3_store.h: in a bucket) holds
//   accepted/{bucket}/{key}          bodies that passed validation (the index says so)
//   rejected/{id}.body, {id}.json    failed validation; the .json holds the reason
//   conflicts/{id}.body, {id}.json   same key as accepted data, different bytes
// Ids are unique across processes, so several receivers may share one backing store.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "platform/crypto.h"
#include "platform/env.h"
#include "platform/gzip_lines.h"
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
  // Real-S3 mode in place: the source's ETag of these bytes, which stay in the source
  // bucket under bucket/key and are never copied ("" for every other object).
  std::string in_place_etag;

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

// An accepted object's bytes as a local file. `pin` keeps a cached copy from being evicted
// while it is opened; an open descriptor stays valid after that.
struct AcceptedFile {
  std::string path;
  std::shared_ptr<void> pin;
};

// An accepted object's bytes, read at any offset without holding them whole: a local file
// (pread) or a remote object (ranged GETs of a bounded window, s3_reader.h). Not
// thread-safe; one reader per request.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  uint64_t size() const { return size_; }
  // Up to `n` bytes from `offset`; fewer only at the end, 0 at or past it. Bytes that
  // changed under the reader (another ETag) are an error, never a mix.
  virtual Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) = 0;
  // The reads to come lie in [first, last]: a remote reader fetches no more than that.
  virtual void WillRead(uint64_t first, uint64_t last) {
    (void)first;
    (void)last;
  }
  // A local file holding exactly these bytes (while the reader lives), so a server can send
  // them without copying and a validator can read them; "" when there is none.
  virtual std::string LocalPath() const { return ""; }
  // Bytes [first, last] in pieces to `sink` (false stops).
  Status ReadRange(uint64_t first, uint64_t last,
                   const std::function<bool(std::string_view)>& sink);
  // Every byte, in pieces to `sink` (nothing for an empty object).
  Status ReadAll(const std::function<bool(std::string_view)>& sink);

 protected:
  explicit ObjectReader(uint64_t size) : size_(size) {}
  uint64_t size_;
};

// The bytes of `reader` from the start, in order, for GzipLineReader::Open and friends.
GzipLineReader::Source SequentialSource(std::shared_ptr<ObjectReader> reader);
// A reader of the local file at `path`; `pin` is held as long as the reader.
Result<std::unique_ptr<ObjectReader>> OpenFileReader(const std::string& path,
                                                     std::shared_ptr<void> pin = nullptr);
// An object's bytes as a local file, for code that reads files (the validator): the
// reader's own file when it has one, else a scratch copy in {data_dir}/quarantine/ (named
// {id}.scratch, neither a body nor a sidecar) removed when this goes.
class LocalCopy {
 public:
  static Result<std::unique_ptr<LocalCopy>> Make(Env& env, const std::string& data_dir,
                                                 std::unique_ptr<ObjectReader> reader);
  ~LocalCopy();
  LocalCopy(const LocalCopy&) = delete;
  LocalCopy& operator=(const LocalCopy&) = delete;
  const std::string& path() const { return path_; }

 private:
  LocalCopy(Env& env, std::unique_ptr<ObjectReader> reader, std::string path, bool scratch)
      : env_(env), reader_(std::move(reader)), path_(std::move(path)), scratch_(scratch) {}
  Env& env_;
  std::unique_ptr<ObjectReader> reader_;
  std::string path_;
  bool scratch_;
};

// Where bodies wait (a local quarantine directory, the same for every store) and where
// accepted, rejected and conflicting bytes end up (the backing store: a directory tree
// or an S3 bucket, see fs_store.h and s3_store.h).
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Refused once the bodies waiting in quarantine/ reach the limit (LimitQuarantine).
  Result<std::unique_ptr<QuarantineWriter>> NewQuarantine();
  void LimitQuarantine(uint64_t max_bytes) { quarantine_max_bytes_ = max_bytes; }
  // Makes a finished body recoverable: writes {id}.json durably.
  Status SealQuarantine(const std::string& id, const ObjectMeta& meta);
  // Sealed quarantine entries (ids), oldest first. Unsealed bodies older than
  // `orphan_age_ms` (a crash mid-upload) and scratch copies as old are removed.
  std::vector<std::string> SealedQuarantine(int64_t orphan_age_ms);
  Result<ObjectMeta> ReadQuarantineMeta(const std::string& id);
  std::string QuarantineBodyPath(const std::string& id) const;
  bool QuarantineBodyExists(const std::string& id) const;
  // Removes a quarantine entry once its bytes are placed and indexed, or already stored.
  Status DropQuarantine(const std::string& id);
  // Place() then DropQuarantine().
  Status Accept(const std::string& id, const ObjectMeta& meta);
  // Removes a quarantine entry, whatever is left of it (a re-PUT, a refused request).
  Status Discard(const std::string& id);

  // A new part file of a multipart upload, under UploadDir(upload_id).
  Result<std::unique_ptr<QuarantineWriter>> NewUploadPart(const std::string& upload_id,
                                                          int part_number);
  // quarantine/uploads/{upload_id} relative to the data dir.
  static std::string UploadDir(const std::string& upload_id);
  // A finished, checked part at `rel` (under UploadDir) is kept where every replica can read
  // it: on a filesystem it stays; in a bucket it is copied there and the local file goes.
  virtual Status KeepUploadPart(const std::string& rel);
  // The bytes of a kept part, to `sink` (which returns false to stop).
  virtual Status ReadUploadPart(const std::string& rel,
                                const std::function<bool(std::string_view)>& sink) const;
  // A part replaced by a later one of the same number; a missing one is fine.
  virtual Status RemoveUploadPart(const std::string& rel);
  // Removes an upload's directory and every part in it; a missing one is fine.
  virtual Status RemoveUploadDir(const std::string& upload_id);
  // The upload ids that have a directory.
  std::vector<std::string> UploadDirs() const;
  // The local directory holding quarantine/.
  const std::string& data_dir() const { return dir_; }

  // Stores the quarantine body `id` as the accepted object, durably, keeping the quarantine
  // entry. Never replaces stored bytes: accepted bytes are immutable whatever the index says
  // (the same SHA-256 is kept; other bytes are an error).
  virtual Status Place(const std::string& id, const ObjectMeta& meta) = 0;
  // Removes a placed object the index then refused (the quarantine entry holds the same
  // bytes, and goes to conflicts/ or away as the refusal says). A missing one is fine.
  virtual Status Unplace(const ObjectMeta& meta) = 0;
  // Moves body and sidecar (with `reason`) to rejected/ or conflicts/.
  virtual Status Reject(const std::string& id, ObjectMeta meta, bool conflict) = 0;
  // Where Reject() keeps the body of quarantine entry `id` (the index records it).
  virtual std::string RejectedPath(const std::string& id, bool conflict) const = 0;
  // Whether evidence recorded at `where` (a RejectedPath) is still kept.
  virtual bool EvidenceExists(const std::string& where) const = 0;

  // The SHA-256 of the bytes stored under the key, "" when there are none.
  virtual Result<std::string> AcceptedSha256(const std::string& bucket,
                                             const std::string& key) const = 0;
  bool AcceptedExists(const std::string& bucket, const std::string& key) const;
  // A reader of the accepted bytes; a missing object is an error here.
  virtual Result<std::unique_ptr<ObjectReader>> OpenReader(const std::string& bucket,
                                                           const std::string& key) const = 0;
  // Whether the backing store is remote (an S3 bucket).
  virtual bool Remote() const = 0;
  // Why the key cannot be stored ("" when it can): on a filesystem, another key lies under
  // it or is its prefix.
  virtual std::string PathClash(const std::string& bucket, const std::string& key) const = 0;
  // Every accepted object as bucket/key, for verify.
  virtual Result<std::vector<std::pair<std::string, std::string>>> ListAccepted() const = 0;
  // Whether a body could be received now: a file can be created in quarantine/ and the
  // filesystem has at least `min_free_bytes` free for unprivileged writers.
  virtual Status CheckWritable(uint64_t min_free_bytes) const;

 protected:
  ObjectStore(Env& env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  // Creates quarantine/ when missing.
  static Status CreateQuarantine(Env& env, const std::string& data_dir);
  std::string QuarantineSidecarPath(const std::string& id) const;

  Env& env_;
  std::string dir_;
  uint64_t quarantine_max_bytes_ = 0;  // 0: none
};

// Unique across processes sharing a store and across restarts: time, pid, counter, random.
std::string NewStoreId(Env& env);

// SHA-256 and MD5 of an accepted object's bytes, read through OpenReader.
Result<StreamDigests> DigestObject(const ObjectStore& store, const std::string& bucket,
                                   const std::string& key);
// SHA-256 and MD5 of a file's bytes.
Result<StreamDigests> DigestFile(const std::string& path);

}  // namespace granary::receiver
