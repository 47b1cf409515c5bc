// Private to storage/: the sealing threads. Each turns a finished segment's runs into a
// durable jsonl.gz file (its own read-only connection, so compression overlaps the
// writer's inserts), then hands the result back; only the writer records it in the
// catalog, in the order the segments were submitted. A crash between the two leaves a
// file that Repair() removes, and readings that seal again under the same name.
//
// Two threads where the machine has two cores: compression costs more per reading than
// the insert, so one sealer fell behind a busy writer and segments queued.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "platform/env.h"
#include "platform/handles.h"
#include "platform/result.h"
#include "storage/buffer.h"
#include "storage/segment_file.h"

namespace granary {

// A segment whose end is known: the runs of `source_id` with first_seq in
// [first_seq, last_seq].
struct SealJob {
  int64_t source_id = 0;
  std::string source;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
};

struct SealedFile {
  SealJob job;
  std::string name;  // file name under segments/
  SegmentDigest digest;
  uint64_t count = 0;
  int64_t first_ts = 0;
  int64_t last_ts = 0;
  std::string clock;   // ok | unsynced | mixed
  std::string format;  // jsonl.gz | bson.gz
};

class Sealer {
 public:
  // `wake` is called (from a sealer thread) whenever a result is ready.
  Sealer(Env& env, const BufferOptions& options, std::function<void()> wake);
  ~Sealer();

  Status Start();
  void Submit(std::vector<SealJob> jobs);
  // Sealed files in submission order: a segment finished before an earlier one waits.
  std::vector<SealedFile> TakeResults();
  // Jobs submitted and not yet returned by TakeResults.
  size_t Outstanding() const;
  // Errors so far, and the last one ("" after a success).
  uint64_t errors() const;
  std::string last_error() const;
  // Finishes the jobs in progress, drops the rest (their readings stay buffered).
  void Stop();

 private:
  struct Worker {
    SqliteDb db;  // read-only, this worker's thread only
    SqliteStmt select_runs;
    std::thread thread;
    bool running = false;  // guarded by mu_; false once its thread has decided to end
  };
  struct Slot {
    SealJob job;
    bool claimed = false;
    std::optional<SealedFile> sealed;
  };

  Status Connect(Worker& w);  // opens w's connection unless it is open
  void Run(Worker& w);
  Result<SealedFile> SealOne(Worker& w, const SealJob& job);
  // REQUIRES: mu_ held.
  Slot* NextUnclaimed();
  // Starts workers_[i]'s thread unless it runs (joining the one that ended). REQUIRES: mu_.
  void StartWorker(size_t i);
  void ReleaseInOrder();

  Env& env_;
  const BufferOptions options_;
  const std::string segments_dir_;
  std::function<void()> wake_;
  // Fixed at Start. A thread starts when there is work for it and ends after
  // options_.sealer_idle_end without any, so a device sealing once a minute has no sealer thread
  // most of the time.
  std::vector<std::unique_ptr<Worker>> workers_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Slot> jobs_;  // submission order; pointers stay valid (push back, pop front)
  std::vector<SealedFile> results_;
  size_t outstanding_ = 0;
  uint64_t errors_ = 0;
  std::string last_error_;
  bool stop_ = false;
};

}  // namespace granary
