// The upload worker: one thread that owns the network. It sleeps until the Buffer reports
// work (Buffer::SetUploadListener) or a retry is due, sends sealed segments oldest
// first and tombstones for dropped ranges, records each outcome through the Buffer (the
// writer thread owns the catalog), and backs off politely: full jitter from 1 s to 5 min,
// Retry-After honoured, and the next attempt time persisted so a crash loop cannot hammer
// S3. A segment a permanent error parked (403, NoSuchBucket) is retried after
// permanent_retry, or as soon as any other upload of this device succeeds.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "agent/upload/retry.h"
#include "platform/env.h"
#include "s3/s3_client.h"
#include "storage/buffer.h"
#include "storage/catalog.h"

namespace granary {

struct UploadOptions {
  S3Options s3;
  Credentials credentials;
  std::string device;
  std::string prefix;
  std::string key_template;
  std::string report_key_template, file_key_template;  // outbox entries
  std::chrono::milliseconds retry_min{1000};
  std::chrono::milliseconds retry_max{300'000};
  std::chrono::milliseconds permanent_retry{300'000};
  // For files (agent/upload/multipart.h): part size and the age after which an unfinished
  // multipart upload is aborted and started over.
  uint64_t part_size = 8ULL << 20;
  std::chrono::milliseconds multipart_max_age{7LL * 24 * 3'600'000};
};

struct UploadStats {
  uint64_t uploaded = 0;  // segments stored and verified this run
  uint64_t uploaded_bytes = 0;
  uint64_t failed = 0;  // attempts that failed this run
  uint64_t tombstones = 0;
  uint64_t outbox_uploaded = 0;  // reports and files stored and verified this run
  uint64_t outbox_uploaded_bytes = 0;
  int64_t last_ok_ms = 0;
  int64_t last_error_ms = 0;
  std::string last_error;
  bool last_error_permanent = false;  // not retryable by waiting: credentials, bucket, policy
  int64_t clock_offset_ms = 0;        // learned from RequestTimeTooSkewed
  // The catalog could not be read (to find work or tombstones): nothing is uploaded while
  // this lasts, so it must reach status. Cleared by the next successful read.
  std::string catalog_error;
  int64_t catalog_error_ms = 0;
};

class UploadWorker {
 public:
  UploadWorker(Env& env, Buffer& buffer, std::string state_dir, UploadOptions options);
  ~UploadWorker();

  void Start();
  // Interrupts a backoff wait and abandons a transfer in flight (it is retried, same key
  // and bytes, by the next worker).
  void Stop();
  UploadStats Stats() const;
  // The object key of a segment, for tests and tools.
  std::string KeyFor(const SegmentRecord& segment) const;
  std::string KeyFor(const OutboxEntry& entry) const;
  // New outbox entries to upload (the outbox watcher took some).
  void Kick();

 private:
  void Run();
  // Return false when the worker should stop. WaitForWork also ends when the Buffer
  // reports new work (a seal, a drop, segments made due).
  bool WaitFor(std::chrono::milliseconds d);
  bool WaitForWork(std::chrono::milliseconds d);
  // Uploads pending tombstones; an error only when the catalog could not be read.
  Status UploadTombstones(SegmentCatalog& catalog);
  // One attempt at `seg`; returns how long to wait before the next attempt of anything.
  std::chrono::milliseconds UploadOne(const SegmentRecord& seg);
  // One attempt at a report or file from an outbox, streamed from its local copy: by a
  // single PUT, or, larger than [upload] part_size, by a resumable multipart upload
  // (agent/upload/multipart.h) that stops between parts when a segment or report is due.
  // Every outbox entry goes through here.
  std::chrono::milliseconds UploadOneFile(const OutboxEntry& entry);
  std::chrono::milliseconds UploadLargeFile(const OutboxEntry& entry, const std::string& key,
                                            const std::string& path,
                                            const sigv4::Headers& metadata);
  // The outcome of an attempt at `entry`: recorded, and how long to wait before the next.
  std::chrono::milliseconds FileOutcome(const OutboxEntry& entry, const std::string& key,
                                        const Verdict& v, const std::string& error);
  // After RequestTimeTooSkewed: sign with the server's clock from now on; false when the
  // answer carried no time.
  bool LearnClock(const Verdict& v);
  // The outbox entry due now, after every segment and tombstone; none on a catalog error.
  // Opens outbox_ unless it is open (it is let go before a long sleep); false on failure.
  bool OpenOutboxCatalog();
  std::optional<OutboxEntry> NextOutboxDue(int64_t now_ms, int64_t* earliest_ms);
  void NoteFailure(const std::string& error, bool permanent);
  static std::string ErrorText(const std::string& key, const Result<S3Response>& result,
                               const Verdict& v);
  // After a success: parked segments and tombstones become due at once.
  void UnparkAfterSuccess();
  void NoteCatalog(const Status& read);

  Env& env_;
  Buffer& buffer_;
  const std::string state_dir_;
  const UploadOptions options_;
  // Read-write, on a connection of its own: outbox entries and multipart state. Opened
  // when the outbox is first read, so before any file is uploaded.
  std::unique_ptr<SegmentCatalog> outbox_;
  std::atomic<bool> cancel_{false};  // aborts a transfer in flight at Stop()
  S3Client client_;                  // worker thread only
  std::thread thread_;
  std::mt19937_64 rng_;
  int attempt_ = 0;                // consecutive retryable failures
  int64_t tombstones_due_ms_ = 0;  // a failed tombstone waits like a failed segment
  // Something may wait on a permanent error; at start, a previous run may have parked it.
  bool parked_ = true;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool kicked_ = false;  // new work reported since the catalog was last read
  UploadStats stats_;
};

}  // namespace granary
