// A run watcher: polls a run counter and submits one report per new run into its outbox,
// with the run's files attached once complete (docs/runs.md). The last submitted run per
// instrument is durable in {state_dir}/runs/{name}.json; see RunMarks for the order of
// writes that makes a crash at any point neither lose nor repeat a run.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/outbox/runs.h"
#include "agent/outbox/runs_config.h"
#include "platform/env.h"

namespace granary {

struct RunInstrumentStats {
  std::string instrument;
  uint64_t last_seen = 0;
  uint64_t last_submitted = 0;
  uint64_t pending = 0;  // runs detected, waiting for their files
  uint64_t decreases = 0;
  uint64_t last_decrease_from = 0, last_decrease_to = 0;
};
struct RunWatcherStats {
  std::string name;
  uint64_t submitted = 0;  // reports since start
  uint64_t missing = 0;    // of them, submitted with missing_files
  std::string error;       // the last problem reading the counter or writing; empty when fine
  std::vector<RunInstrumentStats> instruments;
};

class RunWatcher {
 public:
  RunWatcher(Env& env, RunsWatcherConfig config, std::string state_dir, std::string device);

  // Loads the marks and finishes a submission a crash interrupted.
  Status Start();
  // One pass: read the counter, queue new runs, submit those whose files are ready.
  void Poll();
  RunWatcherStats Stats() const { return stats_; }
  std::chrono::milliseconds interval() const { return config_.interval; }

 private:
  struct PendingRun {
    uint64_t run = 0;
    int64_t detected_ms = 0;
    std::map<std::string, int64_t> sizes;  // path -> size at the last poll (-1: absent)
  };
  struct Instrument {
    bool marked = false;  // has a mark: not a first start
    uint64_t last_submitted = 0;
    std::optional<uint64_t> pending_commit;  // staged and marked, not yet renamed in
    std::optional<uint64_t> last_seen;
    uint64_t queued_to = 0;
    std::deque<PendingRun> queue;
  };

  Result<std::map<std::string, uint64_t>> ReadCounter();
  void Observe(const std::string& instrument, uint64_t current);
  // False while the run's files are still coming.
  bool TrySubmit(const std::string& instrument, Instrument& state, PendingRun& run);
  Status Submit(const std::string& instrument, Instrument& state, const PendingRun& run,
                const std::vector<std::string>& complete, std::vector<std::string> missing);
  Status FinishCommit(const std::string& instrument, Instrument& state);
  std::string RunUuid(const std::string& instrument, uint64_t run) const;
  // run_marks.cpp: {"salt": HEX, "instruments": {NAME: {"last": N, "pending": R}}},
  // replaced atomically (temporary file, fsync, rename, fsync of the directory).
  Status SaveMarks();
  Status LoadMarks();
  RunInstrumentStats& StatsFor(const std::string& instrument);

  Env& env_;
  RunsWatcherConfig config_;
  std::string marks_path_;
  std::string device_;
  std::string salt_;  // per mark file: run UUIDs are stable across restarts, new after a reset
  std::map<std::string, Instrument> instruments_;
  std::optional<CounterPattern> pattern_;
  RunWatcherStats stats_;
};

}  // namespace granary
