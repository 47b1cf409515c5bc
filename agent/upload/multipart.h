// Uploads one local file to one object key, resumably: a file larger than one part goes by
// S3 multipart upload, whose upload id and acknowledged parts are persisted in the catalog
// after every part, so a restart (or a reboot) continues from the first part the server
// does not hold instead of from the start. A file of at most one part is one PUT.
//
// On resume, ListParts reconciles the persisted parts with the server's; an upload older
// than `max_age`, or whose file changed (path, size, mtime, inode, SHA-256 or part size),
// is aborted and started over, and so is one the server no longer knows (NoSuchUpload).
// Uploads of the key that the catalog does not know (a crash between Create and recording
// it) are aborted before a new one is created, so none is left behind.
//
// The file is streamed, never loaded: each part is read twice (its MD5 and SHA-256 first,
// for Content-MD5 and the SigV4 payload hash, then sent), through fixed-size buffers; the
// next part is hashed on a short-lived thread while the current one is sent.
// The completed object carries x-amz-meta-granary-sha256, the whole file's SHA-256, and is
// verified by HEAD (size, that metadata, and the multipart ETag of our parts' MD5s).
//
// Thread safety: the caller's thread; the client and catalog belong to it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "agent/upload/retry.h"
#include "platform/env.h"
#include "s3/s3_client.h"
#include "s3/sigv4.h"
#include "storage/catalog.h"

namespace granary {

struct LocalObject {
  std::string key;
  std::string path;
  uint64_t size = 0;        // as captured: a file of another size is refused (permanent)
  std::string sha256_hex;   // the whole file's, as captured; empty: computed by streaming
  sigv4::Headers metadata;  // x-amz-meta-* (lowercase names); granary-sha256 is added
};

struct PartEvent {
  enum Kind { kSending, kStored, kAdopted };
  Kind kind = kSending;
  uint32_t number = 0;
  uint32_t count = 0;  // parts in the file
  uint64_t bytes = 0;
};

struct MultipartOptions {
  uint64_t part_size = 8ULL << 20;  // at least kMinPartSize (multipart_plan.h)
  std::chrono::milliseconds max_age{7LL * 24 * 3600 * 1000};
  // Between parts: true stops the upload with kPaused (its state persisted), so the caller
  // can send something more urgent first; a part in flight is never interrupted by it.
  std::function<bool()> should_yield;
  // Set: stops between parts (kPaused); the client's own S3Options::cancel aborts a part
  // in flight.
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const PartEvent&)> on_part;  // progress, for tools and tests
};

enum class FileUploadStatus {
  kDone,       // stored and verified
  kPaused,     // should_yield or cancel; call again to continue
  kRetry,      // verdict.outcome kRetry or kSkewed: wait (Retry-After) and call again
  kPermanent,  // verdict says why; the file or the account needs attention
};

struct FileUploadResult {
  FileUploadStatus status = FileUploadStatus::kRetry;
  Verdict verdict;  // kRetry and kPermanent
  bool multipart = false;
  uint32_t parts_sent = 0;  // this call
};

FileUploadResult UploadFile(Env& env, S3Client& client, SegmentCatalog& catalog,
                            const LocalObject& object, const MultipartOptions& options);

}  // namespace granary
