// The size cap of rejected/ and conflicts/. Their files are evidence (what a client sent
// that was refused, kept so an operator can see why), not data: over the cap, the oldest
// go first, each named in the log and counted. Accepted objects are never touched.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "platform/result.h"

namespace granary::receiver {

struct Evicted {
  uint64_t files = 0;  // bodies removed (each with its sidecar)
  uint64_t bytes = 0;
};

class EvidenceCap {
 public:
  // `max_bytes` 0: no cap.
  EvidenceCap(std::string data_dir, uint64_t max_bytes)
      : dir_(std::move(data_dir)), max_bytes_(max_bytes) {}

  // `bytes` more evidence was stored. When the total passes the cap, removes the oldest
  // bodies (ids begin with their time) until it is at 90% of it. Any thread.
  Result<Evicted> Added(uint64_t bytes);

 private:
  Result<Evicted> Trim();
  std::string dir_;
  uint64_t max_bytes_;
  std::mutex mu_;
  std::optional<uint64_t> total_;  // unknown until the first scan; other processes may add
};

}  // namespace granary::receiver
