// The outbox watcher: takes reports and files from every [[outbox]] (docs/outbox.md) on
// the daemon's main thread. inotify (IN_MOVED_TO taken at once; a file only closed is
// taken once its mtime held for `settle`), plus a full listing at start and every
// `rescan`. Between events it needs no wakeup but its next deadline (NextDueNs).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/outbox/outbox_config.h"
#include "agent/outbox/outbox_status.h"
#include "agent/outbox/take.h"
#include "platform/dir_watch.h"
#include "platform/env.h"
#include "storage/catalog.h"

namespace granary {

struct OutboxWatcherOptions {
  std::string state_dir;
  std::vector<OutboxConfig> outboxes;
  std::chrono::milliseconds keep_uploaded{3'600'000};  // negative: kept
  std::function<bool(uint64_t)> room;                  // quota: room for so many bytes more
  std::function<void()> taken;                         // something new to upload
};

class OutboxWatcher {
 public:
  static Result<std::unique_ptr<OutboxWatcher>> Start(Env& env, OutboxWatcherOptions options);

  // Takes what changed or came due. Returns whether anything was taken or rejected.
  bool Poll();
  // The monotonic time (ns) Poll has something to do at without an event; 0: none.
  int64_t NextDueNs() const;
  std::vector<OutboxStatus> Stats();

 private:
  OutboxWatcher(Env& env, OutboxWatcherOptions options, std::unique_ptr<SegmentCatalog> catalog,
                DirWatch watch);
  void Rescan();
  // `ready`: the directory was renamed in whole, so its files are complete.
  void ScanDir(size_t outbox, const std::string& dir, const std::string& uuid, bool ready);
  // Removes a report's attachment directory that stayed empty (after = "delete").
  void RemoveIfSpent(size_t outbox, const std::string& dir);
  // `ready`: renamed in, so complete now.
  void Consider(size_t outbox, const std::string& path, const std::string& uuid, bool ready);
  void TakeDue();
  void RemoveUploadedCopies();
  void SweepOrphans();
  // The outbox and report uuid `path` belongs to, when it is one to take.
  std::optional<std::pair<size_t, std::string>> Locate(const std::string& path) const;

  struct Candidate {
    size_t outbox = 0;
    std::string uuid;
    int64_t due_ns = 0;
    bool waiting_quota = false;
    uint64_t bytes = 0;  // when waiting for the quota
  };

  Env& env_;
  OutboxWatcherOptions options_;
  std::unique_ptr<SegmentCatalog> catalog_;
  DirWatch watch_;
  OutboxTaker taker_;
  std::map<std::string, Candidate> candidates_;  // path ->
  std::vector<OutboxStatus> stats_;              // per outbox, in config order
  std::set<std::string> foreign_dirs_;           // sub-directories not named by a UUID, logged
  int64_t next_rescan_ns_ = 0;
  bool did_ = false;
};

}  // namespace granary
