// Private to storage/: the sealing thread. It turns a finished segment's runs into a
// durable jsonl.gz file (its own read-only connection, so compression overlaps the
// writer's inserts), then hands the result back; only the writer records it in the
// catalog. A crash between the two leaves a file that Repair() removes, and readings
// that seal again under the same name.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
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
  std::string clock;  // ok | unsynced | mixed
};

class Sealer {
 public:
  // `wake` is called (from the sealer thread) whenever a result is ready.
  Sealer(Env& env, const BufferOptions& options, std::function<void()> wake);
  ~Sealer();

  Status Start();
  void Submit(std::vector<SealJob> jobs);
  std::vector<SealedFile> TakeResults();
  // Jobs submitted and not yet returned by TakeResults.
  size_t Outstanding() const;
  // Errors so far, and the last one ("" after a success).
  uint64_t errors() const;
  std::string last_error() const;
  // Finishes the job in progress, drops the rest (their readings stay buffered).
  void Stop();

 private:
  void Run();
  Result<SealedFile> SealOne(const SealJob& job);

  Env& env_;
  const BufferOptions options_;
  const std::string segments_dir_;
  std::function<void()> wake_;
  SqliteDb db_;  // read-only, sealer thread only
  SqliteStmt select_runs_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SealJob> jobs_;
  std::vector<SealedFile> results_;
  size_t outstanding_ = 0;
  uint64_t errors_ = 0;
  std::string last_error_;
  bool stop_ = false;
};

}  // namespace granary
