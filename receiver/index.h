// The receiver's index: the S3 namespace it serves (objects), the accepted segments,
// coverage per (device, source) as merged seq ranges, tombstones (seq ranges a device
// dropped on purpose), rejections and conflicts, devices and an event log.
//
// An archive segment's messages are indexed by _id in the same transaction; an _id indexed
// from another segment is counted, not indexed twice.
//
// Exactly once: RecordSegment is one transaction that refuses a segment whose key is
// taken by other bytes or whose seq range overlaps an indexed one, so no seq is ever
// indexed twice, whichever receiver process (over one PostgreSQL) gets there first.
//
// Thread-safe: calls are serialised on one connection.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "platform/env.h"
#include "platform/result.h"
#include "receiver/config.h"
#include "receiver/validator.h"

namespace granary::receiver {

struct ObjectRow {
  std::string bucket, key;
  uint64_t size = 0;
  std::string md5_hex, sha256_hex, content_type;
  std::string metadata_json = "{}";  // user metadata, names without x-amz-meta-
  std::string kind;                  // segment or tombstone
  int64_t stored_ms = 0;
};

// Where an object indexed in place (real-S3 mode, [s3] mode = "in_place") lies: `key` in the
// source bucket `bucket`, whose bytes had `etag` (as the source answers it) and `sha256_hex`.
struct InPlaceRow {
  std::string bucket, key, etag, sha256_hex;
  uint64_t size = 0;
};

struct SegmentRow {
  std::string bucket, key, device, source, clock, content_sha256, sha256_hex;
  uint64_t first_seq = 0, last_seq = 0, count = 0, size = 0;
  int64_t first_ts = 0, last_ts = 0, accepted_ms = 0;
};

struct SeqRange {
  uint64_t first = 0, last = 0;
};

struct Gap {
  uint64_t first = 0, last = 0;
  bool explained = false;  // covered by tombstones
  std::string reason;      // the tombstones' reasons
};

struct SourceCoverage {
  std::string source;
  uint64_t segments = 0, readings = 0;
  std::vector<SeqRange> ranges;
  std::vector<Gap> gaps;
  std::vector<SeqRange> tombstones;
};

struct DeviceRow {
  std::string device;
  int64_t first_seen_ms = 0, last_seen_ms = 0;
  uint64_t segments = 0, readings = 0, rejected = 0, conflicts = 0;
  std::string status_json;  // last MQTT status ("" if none)
  int64_t status_ms = 0;
  bool online = false;
};

struct EventRow {
  int64_t id = 0, at_ms = 0;
  std::string kind, device, bucket, key, detail;
};

struct IndexCounts {
  uint64_t devices = 0, objects = 0, segments = 0, readings = 0, coverage_ranges = 0,
           tombstones = 0, rejections = 0, conflicts = 0, events = 0;
};

// kInvalidName: the key cannot be a file because another key is its prefix-with-slash, or
// it is one of another key's (the store maps keys to paths).
enum class RecordOutcome { kIndexed, kDuplicate, kConflict, kInvalidName };

struct RecordResult {
  RecordOutcome outcome = RecordOutcome::kIndexed;
  std::string detail;  // for a conflict: with what
  // An indexed archive segment: its messages indexed, and those whose _id another segment
  // had indexed already (not indexed again).
  uint64_t messages_indexed = 0, messages_duplicate = 0;
};

// One archived MQTT message: where its BSON document is (bytes [offset, offset+length) of
// the decompressed segment bucket/key).
struct MessageRow {
  std::string id;  // _id, 36-character lowercase UUID text
  std::string device, source, topic;
  int64_t ts = 0;
  uint64_t seq = 0;
  std::string bucket, key;
  uint64_t offset = 0, length = 0;
};

struct MessageQuery {
  std::string device, topic;              // "" matches any
  std::optional<int64_t> from_ms, to_ms;  // inclusive
  // Past this (ts, id) in (ts, id) order: the cursor of a page.
  std::optional<std::pair<int64_t, std::string>> after;
  int limit = 1000;
};

// An indexed report (docs/receiver.md "Reports and files"). state: accepted, pending (an
// external validator has not answered) or rejected (it refused; the bytes stay stored).
struct ReportRow {
  std::string uuid, device, kind, bucket, key, sha256_hex, fields_json, state, reason;
  uint64_t size = 0;
  int64_t time_ms = 0;  // when the receiver stored it
};

struct FileRow {
  std::string uuid, name, device, kind, bucket, key, sha256_hex, state, reason;
  uint64_t size = 0;
  int64_t stored_ms = 0;
};

struct ReportQuery {
  std::string device, kind, uuid;                        // "" matches any
  std::optional<int64_t> from_ms, to_ms;                 // inclusive, on time_ms
  std::optional<std::pair<int64_t, std::string>> after;  // (time_ms, uuid) of a page's last
  int limit = 100;
};

// A report or file waiting for its kind's external validator.
struct PendingValidation {
  std::string request_id, what, kind, uuid, name, device, bucket, key, sha256_hex;
  uint64_t size = 0;
  int64_t tries = 0;
};

struct KindCount {
  std::string what, kind, state;  // what: report or file
  uint64_t count = 0;
};

class Index {
 public:
  virtual ~Index() = default;

  // Same key and same bytes (or the same decompressed content): kDuplicate. Same key,
  // other content, or a seq range overlapping an indexed segment: kConflict, nothing
  // changed but the conflict count. A key clashing with another as a path: kInvalidName.
  // Else the object, segment, coverage, device counters and an "accepted" event, all in
  // one transaction.
  virtual Result<RecordResult> RecordSegment(const ObjectRow& object, const SegmentFacts& facts,
                                             int64_t now_ms) = 0;
  // A tombstone from the first seq of a recorded one widens it when its range is wider; a
  // narrower or equal one under another key is a kConflict.
  virtual Result<RecordResult> RecordTombstone(const ObjectRow& object, const TombstoneFacts& facts,
                                               int64_t now_ms) = 0;
  // A rejected or conflicting object (kept at `path`); idempotent per (bucket, key, sha256).
  // Returns where its bytes are kept: `path`, or the first copy's when recorded before.
  virtual Result<std::string> RecordRejection(const std::string& device, const ObjectMeta& meta,
                                              bool conflict, const std::string& reason,
                                              const std::string& path, int64_t now_ms) = 0;
  // The indexed key that `key` clashes with as a path ("" when none): one that is `key`
  // followed by '/', or of which `key` followed by '/' is a prefix.
  virtual Result<std::string> KeyClash(const std::string& bucket, const std::string& key) = 0;

  virtual Result<std::optional<ObjectRow>> FindObject(const std::string& bucket,
                                                      const std::string& key) = 0;
  // Keys of `bucket` starting with `prefix`, after `start_after`, in key order.
  virtual Result<std::vector<ObjectRow>> ListObjects(const std::string& bucket,
                                                     const std::string& prefix,
                                                     const std::string& start_after, int limit) = 0;
  virtual Result<std::vector<ObjectRow>> AllObjects() = 0;

  // In-place locations (in_place_store.h). Record keeps the first bytes recorded under a
  // key (a row with the same SHA-256 takes the new ETag) and returns the row now held.
  virtual Result<InPlaceRow> RecordInPlace(const InPlaceRow& row) = 0;
  virtual Result<std::optional<InPlaceRow>> FindInPlace(const std::string& bucket,
                                                        const std::string& key) = 0;
  // Removes the location of bytes the index then refused (never of indexed ones).
  virtual Status ForgetInPlace(const std::string& bucket, const std::string& key,
                               const std::string& sha256_hex) = 0;
  virtual Result<std::vector<InPlaceRow>> AllInPlace() = 0;

  virtual Result<std::vector<DeviceRow>> Devices() = 0;
  virtual Result<std::optional<DeviceRow>> Device(const std::string& device) = 0;
  virtual Result<std::vector<std::string>> Sources(const std::string& device) = 0;
  // Ranges and gaps of one source; with a time window (ms, inclusive) only segments
  // overlapping it count.
  virtual Result<SourceCoverage> Coverage(const std::string& device, const std::string& source,
                                          std::optional<int64_t> from_ms,
                                          std::optional<int64_t> to_ms) = 0;
  // Segments overlapping the time window, in seq order.
  virtual Result<std::vector<SegmentRow>> Segments(const std::string& device,
                                                   const std::string& source, int64_t from_ms,
                                                   int64_t to_ms) = 0;
  virtual Result<std::vector<EventRow>> Events(const std::string& device, int limit) = 0;
  // Archived messages in (ts, id) order.
  virtual Result<std::vector<MessageRow>> Messages(const MessageQuery& query) = 0;
  virtual Result<std::optional<MessageRow>> Message(const std::string& id) = 0;
  // Every message of one segment, in seq order (verify).
  virtual Result<std::vector<MessageRow>> SegmentMessages(const std::string& bucket,
                                                          const std::string& key) = 0;
  virtual Result<IndexCounts> Counts() = 0;

  // Fleet health from MQTT status messages.
  virtual Status RecordDeviceStatus(const std::string& device, const std::string& status_json,
                                    bool online, int64_t now_ms) = 0;
  virtual Status RecordDeviceEvent(const std::string& device, const std::string& kind,
                                   const std::string& detail, int64_t now_ms) = 0;
  // A report or file and its object row in one transaction. Same key and bytes: kDuplicate;
  // other bytes, or the uuid (and name) indexed under another key: kConflict. `pending`:
  // waits for its kind's external validator (PendingValidations).
  virtual Result<RecordResult> RecordReport(const ObjectRow& object, const ReportFacts& facts,
                                            bool pending, int64_t now_ms) = 0;
  virtual Result<RecordResult> RecordFile(const ObjectRow& object, const FileFacts& facts,
                                          bool pending, int64_t now_ms) = 0;
  // Reports in (time_ms, uuid) order.
  virtual Result<std::vector<ReportRow>> Reports(const ReportQuery& query) = 0;
  virtual Result<std::optional<ReportRow>> Report(const std::string& uuid) = 0;
  // What a report lists in "files", in its order.
  virtual Result<std::vector<ReportAttachment>> ListedFiles(const std::string& uuid) = 0;
  // The files stored under a uuid, by name.
  virtual Result<std::vector<FileRow>> Files(const std::string& uuid) = 0;
  // Pending validations whose time to be (re)sent has come, oldest first.
  virtual Result<std::vector<PendingValidation>> DueValidations(int64_t now_ms, int limit) = 0;
  // A request was sent; the next try is at `next_ms`.
  virtual Status ValidationSent(const std::string& request_id, int64_t next_ms) = 0;
  // The validator's answer: the object's state becomes accepted or rejected (with `reason`)
  // and an event says so. The validation decided, or none when the id is unknown or decided.
  virtual Result<std::optional<PendingValidation>> DecideValidation(const std::string& request_id,
                                                                    bool accept,
                                                                    const std::string& reason,
                                                                    int64_t now_ms) = 0;
  // Reports stored at or before `due_ms` and not yet checked: an event for each whose listed
  // files are not all present with their listed size and SHA-256; files stored by then with
  // no report of their uuid: an event each. Each is checked once. Returns the events raised.
  virtual Result<size_t> CheckAttachments(int64_t due_ms, int64_t now_ms) = 0;
  virtual Result<std::vector<KindCount>> KindCounts() = 0;

  // Whether the index takes writes (a scratch row, rolled back).
  virtual Status Ping() = 0;
};

// "sqlite" opens {data_dir}/index.db; a postgresql:// URL connects with libpq. Both
// create the schema when missing.
Result<std::unique_ptr<Index>> OpenIndex(Env& env, const ReceiverConfig& config);

// Merges and gap-finds ranges: exposed for tests.
std::vector<Gap> FindGaps(const std::vector<SeqRange>& ranges,
                          const std::vector<std::pair<SeqRange, std::string>>& tombstones);

}  // namespace granary::receiver
