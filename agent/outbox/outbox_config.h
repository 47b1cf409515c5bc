// One [[outbox]]: a directory producers drop reports and files into (docs/outbox.md). Read by
// the config loader (agent/config_outbox.cpp); the outbox watcher takes from it and
// `granary submit` and the run watchers write into it.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace granary {

struct OutboxConfig {
  std::string name;          // [A-Za-z0-9_.-]{1,64}, unique
  std::string path;          // the directory; created (0750) when missing
  std::string kind;          // of reports without one and of standalone files
  bool delete_after = true;  // after = "delete": the original goes once captured; "keep"
  // A file closed but not renamed in is taken once its size and mtime held this long.
  std::chrono::milliseconds settle{5'000};
  std::chrono::milliseconds rescan{300'000};  // full listing besides inotify
  std::vector<std::string> ignore;            // fnmatch(3) globs, besides .*, *.tmp, *.part
  bool assign_uuid = false;  // a report without "uuid" gets a new one (else it is an error)
};

// `[a-z0-9][a-z0-9_-]{0,63}`: a report kind, part of object keys.
bool ValidKind(std::string_view kind);

// Names an outbox never takes: dot-files, *.tmp, *.part, and the outbox's ignore globs.
bool OutboxIgnores(const OutboxConfig& outbox, std::string_view name);

}  // namespace granary
