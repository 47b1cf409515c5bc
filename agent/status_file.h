// When status.json is rewritten: as soon as anything in it but the clock changed (the
// daemon checks every couple of seconds), and at least every [status].interval so its
// `updated` shows the daemon alive. An idle device then writes it once per poll or per
// interval instead of every check.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/status.h"
#include "platform/env.h"

namespace granary {

class StatusFile {
 public:
  explicit StatusFile(Env& env) : env_(env) {}

  // Writes `json` (the document of `s`) to `path` when it is due; `force` writes
  // regardless (the first and the final status, after a signal). Returns whether it wrote.
  bool Write(const std::string& path, const AgentStatus& s, const std::string& json,
             std::chrono::milliseconds every, bool force);

 private:
  Env& env_;
  // A hash of the last document written, without its clock: the document itself is tens
  // of KiB with 100 sources, kept only to be compared. A collision delays a rewrite until
  // `every` has passed, which is what an unchanged document gets anyway.
  size_t last_hash_ = 0;
  int64_t last_write_ns_ = 0;
};

}  // namespace granary
