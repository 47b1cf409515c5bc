// The daemon's run watchers on one thread of their own: a run's copy may take a while and
// must not hold up signals or the status. It sleeps until the next watcher is due, so each
// polls at its interval and never more often.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/config.h"
#include "agent/outbox/run_watcher.h"

namespace granary {

class RunWatchers {
 public:
  RunWatchers(Env& env, const AgentConfig& config);
  ~RunWatchers() { Stop(); }
  void Start();
  void Stop();
  std::vector<RunWatcherStats> Stats() const;

 private:
  void Loop();

  std::vector<std::unique_ptr<RunWatcher>> watchers_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::vector<RunWatcherStats> stats_;
};

}  // namespace granary
