// Polls every source at its interval. Ticks are on the monotonic (boot-time) clock, aligned
// at start to wall-clock multiples of the interval, so a wall clock step never bunches or
// skips polls. A poll still running when its next tick comes makes that tick an overrun
// (counted, never queued); ticks a suspend swallowed are skipped and counted as missed. A
// hung source only ever delays itself.
//
// Sources whose poll is one HTTP request (HttpSource) all share one thread and one HttpLoop;
// every other source (files, child processes, the EAGLE's request sequences) blocks in
// Poll() on a thread of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/sources/http_loop.h"
#include "agent/sources/source.h"
#include "platform/env.h"
#include "storage/reading.h"

namespace granary {

struct SourceStats {
  std::string name;
  std::string type;
  uint64_t polls = 0;
  uint64_t errors = 0;
  uint64_t overruns = 0;
  uint64_t missed = 0;    // ticks skipped after a suspend or a stalled thread
  uint64_t paused = 0;    // ticks skipped because the quota policy paused polling
  uint64_t readings = 0;  // readings handed to the buffer
  uint64_t rejected = 0;  // readings the buffer queue refused
  uint64_t consecutive_failures = 0;
  int64_t last_ok_ms = 0;  // wall clock
  int64_t last_error_ms = 0;
  std::string last_error;
};

class Scheduler {
 public:
  // Hands one poll's readings to the buffer, waiting up to `wait` for room; returns how
  // many it accepted.
  using Sink = std::function<size_t(std::vector<Reading>, std::chrono::milliseconds wait)>;
  // How long a source's thread waits for room in a full buffer. The shared HTTP thread
  // waits this long once when the buffer fills, not once per source: until the buffer
  // takes readings again it refuses them at once.
  static constexpr std::chrono::milliseconds kSinkWait{500};
  // True while polling must pause (quota policy "pause").
  using PauseCheck = std::function<bool()>;

  Scheduler(Env& env, Sink sink, PauseCheck paused);
  ~Scheduler();

  // REQUIRES: before Start(). An HttpSource goes on the shared HTTP thread.
  void Add(std::string name, std::string type, std::unique_ptr<Source> source,
           std::chrono::milliseconds interval, std::chrono::milliseconds timeout);
  // The largest `data` a reading may have, in bytes (config `[buffer] max_reading_bytes`):
  // the receiver refuses a segment with a longer line, so a larger reading would block
  // every reading sealed with it. REQUIRES: before Start().
  void SetMaxReadingBytes(uint64_t max) { max_reading_bytes_ = max; }
  void Start();
  // Asks every source thread to stop and joins those that finish within `wait`; a source
  // hung in a poll is detached (its thread ends when the poll returns). HTTP polls still
  // running are abandoned at once.
  void Stop(std::chrono::milliseconds wait);

  std::vector<SourceStats> Stats() const;
  // Monotonic ns of the most recent tick handled by any source thread: proof of life
  // for the watchdog.
  int64_t LastProgressNs() const { return last_progress_ns_.load(); }

 private:
  struct Task;
  void Run(Task& task);
  void RunHttp();
  // The HTTP thread's handling of a due tick of `task`.
  void TickHttp(Task& task, int64_t now_ns, bool clock_ok);
  // Counts one finished poll whose readings (or error) are `result`. Returns how many
  // readings the buffer refused, or nullopt when there were none to offer.
  std::optional<size_t> Record(Task& task, int64_t ts_ms, bool clock_ok,
                               Result<std::vector<SourceReading>> result,
                               std::chrono::milliseconds sink_wait);
  // The first tick: the next wall-clock multiple of the interval, on the monotonic clock.
  int64_t FirstTick(int64_t interval_ns) const;

  Env& env_;
  Sink sink_;
  PauseCheck paused_;
  std::vector<std::shared_ptr<Task>> tasks_;  // in the order added
  std::vector<Task*> http_tasks_;             // those of tasks_ run on http_thread_
  std::unique_ptr<HttpLoop> http_loop_;
  std::thread http_thread_;
  std::atomic<bool> http_stop_{false};
  bool http_sink_full_ = false;  // the buffer refused the HTTP thread's last readings
  std::atomic<int64_t> last_progress_ns_{0};
  uint64_t max_reading_bytes_ = 1 << 20;
};

}  // namespace granary
