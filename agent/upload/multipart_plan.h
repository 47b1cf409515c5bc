// The decisions of a resumable multipart upload that need no network: how a file splits
// into parts, whether a persisted upload may be resumed, which persisted parts the server
// still holds, and the ETag S3 gives the completed object.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "s3/s3_xml.h"
#include "storage/catalog.h"

namespace granary {

// S3's limits: every part but the last at least 5 MiB, at most 10000 parts.
inline constexpr uint64_t kMinPartSize = 5ULL << 20;
inline constexpr uint32_t kMaxParts = 10000;

// What identifies the bytes of a local file without reading it (its path aside).
struct FileStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};

uint32_t PartCount(uint64_t size, uint64_t part_size);
// Offset and length of part `number` (1-based).
uint64_t PartOffset(uint32_t number, uint64_t part_size);
uint64_t PartLength(uint32_t number, uint64_t size, uint64_t part_size);

// Why the persisted upload `r` must be aborted and started over for the file `now` and
// whole-file hash `sha256_hex` (empty: unknown, not compared), or "" when it may resume.
std::string WhyStartOver(const MultipartRecord& r, const std::string& path, const FileStamp& now,
                         const std::string& sha256_hex, uint64_t part_size, int64_t now_ms,
                         std::chrono::milliseconds max_age);

struct ReconciledParts {
  // Persisted parts the server lists with the same ETag and the expected size.
  std::vector<MultipartPartRecord> kept;
  // Parts the server holds that were not persisted (the answer was lost in a crash), by
  // number: adopted without sending once the local range's MD5 equals the ETag.
  std::map<uint32_t, S3Part> unclaimed;
  // Persisted parts the server does not confirm; they are sent again.
  std::vector<uint32_t> dropped;
};

ReconciledParts ReconcileParts(const std::vector<MultipartPartRecord>& persisted,
                               const std::vector<S3Part>& server, uint64_t size,
                               uint64_t part_size);

// S3's ETag of a completed multipart object: the MD5 of the parts' raw MD5s, "-", the count.
std::string MultipartEtag(const std::vector<MultipartPartRecord>& parts);

}  // namespace granary
