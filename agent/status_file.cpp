#include "agent/status_file.h"

#include <functional>

#include "platform/log.h"

namespace granary {
namespace {

// Free disk space moves with every write on the filesystem (other programs' too); a move
// smaller than this waits for the interval rather than rewriting the file each check.
constexpr int kFreeSpaceShift = 26;  // 64 MiB

// The document with what only time changes taken out.
std::string Timeless(AgentStatus s) {
  s.updated_ms = s.started_ms;
  s.disk_free_bytes = (s.disk_free_bytes >> kFreeSpaceShift) << kFreeSpaceShift;
  return StatusJson(s);
}

}  // namespace

bool StatusFile::Write(const std::string& path, const AgentStatus& s, const std::string& json,
                       std::chrono::milliseconds every, bool force) {
  const int64_t now_ns = env_.MonoNowNs();
  const size_t timeless = std::hash<std::string>{}(Timeless(s));
  const bool stale = now_ns - last_write_ns_ >= std::chrono::nanoseconds(every).count();
  if (!force && !stale && last_write_ns_ != 0 && timeless == last_hash_) return false;
  Status w = WriteFileAtomically(env_, path, json, /*durable=*/false);
  if (!w) {
    log::Warning("status: {}", w.error().message());
    return false;  // tried again at the next check
  }
  last_hash_ = timeless;
  last_write_ns_ = now_ns;
  return true;
}

}  // namespace granary
