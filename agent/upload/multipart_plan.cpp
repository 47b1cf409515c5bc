#include "agent/upload/multipart_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "platform/crypto.h"

namespace granary {

uint32_t PartCount(uint64_t size, uint64_t part_size) {
  if (size == 0 || part_size == 0) return size == 0 ? 1 : 0;
  return static_cast<uint32_t>((size + part_size - 1) / part_size);
}

uint64_t PartOffset(uint32_t number, uint64_t part_size) {
  return static_cast<uint64_t>(number - 1) * part_size;
}

uint64_t PartLength(uint32_t number, uint64_t size, uint64_t part_size) {
  uint64_t offset = PartOffset(number, part_size);
  return offset >= size ? 0 : std::min(part_size, size - offset);
}

std::string WhyStartOver(const MultipartRecord& r, const std::string& path, const FileStamp& now,
                         const std::string& sha256_hex, uint64_t part_size, int64_t now_ms,
                         std::chrono::milliseconds max_age) {
  if (r.path != path) return fmt::format("it was for {}, not {}", r.path, path);
  if (r.size != now.size)
    return fmt::format("the file's size changed ({} -> {})", r.size, now.size);
  if (r.mtime_ns != now.mtime_ns) return "the file's modification time changed";
  if (r.inode != now.inode) return "the file was replaced (another inode)";
  if (!sha256_hex.empty() && r.sha256_hex != sha256_hex) return "the file's SHA-256 changed";
  if (r.part_size != part_size) {
    return fmt::format("the part size changed ({} -> {} bytes)", r.part_size, part_size);
  }
  int64_t age_ms = now_ms - r.created_at;
  if (age_ms > max_age.count()) {
    return fmt::format("it is older than multipart_max_age ({} s)", age_ms / 1000);
  }
  return "";
}

ReconciledParts ReconcileParts(const std::vector<MultipartPartRecord>& persisted,
                               const std::vector<S3Part>& server, uint64_t size,
                               uint64_t part_size) {
  ReconciledParts out;
  std::map<uint32_t, const S3Part*> by_number;
  uint32_t count = PartCount(size, part_size);
  for (const S3Part& p : server) {
    if (p.number >= 1 && p.number <= count && p.size == PartLength(p.number, size, part_size)) {
      by_number[p.number] = &p;
    }
  }
  for (const MultipartPartRecord& mine : persisted) {
    auto it = by_number.find(mine.number);
    if (it != by_number.end() && it->second->etag == mine.etag) {
      out.kept.push_back(mine);
      by_number.erase(it);
    } else {
      out.dropped.push_back(mine.number);
    }
  }
  for (const auto& [number, p] : by_number) out.unclaimed[number] = *p;
  std::sort(out.kept.begin(), out.kept.end(),
            [](const auto& a, const auto& b) { return a.number < b.number; });
  return out;
}

std::string MultipartEtag(const std::vector<MultipartPartRecord>& parts) {
  std::string raw;
  for (const MultipartPartRecord& p : parts) {
    Result<std::string> md5 = HexDecode(p.md5_hex);
    if (md5) raw += *md5;
  }
  return fmt::format("{}-{}", Md5Hex(raw), parts.size());
}

}  // namespace granary
