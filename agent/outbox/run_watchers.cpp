#include "agent/outbox/run_watchers.h"

#include <algorithm>

#include "platform/log.h"
#include "platform/process.h"

namespace granary {

RunWatchers::RunWatchers(Env& env, const AgentConfig& config) {
  for (const RunsWatcherConfig& w : config.run_watchers) {
    watchers_.push_back(std::make_unique<RunWatcher>(env, w, config.state_dir, config.device));
    stats_.push_back(watchers_.back()->Stats());
  }
}

void RunWatchers::Start() {
  if (watchers_.empty()) return;
  thread_ = std::thread([this] { Loop(); });
}

void RunWatchers::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<RunWatcherStats> RunWatchers::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void RunWatchers::Loop() {
  NameThisThread("runs");
  using Clock = std::chrono::steady_clock;
  std::vector<Clock::time_point> due(watchers_.size(), Clock::now());
  for (auto& w : watchers_) {
    if (Status s = w->Start(); !s) log::Error("{}", s.error().message());
  }
  std::unique_lock lock(mu_);
  while (!stop_) {
    const auto next = *std::min_element(due.begin(), due.end());
    if (wake_.wait_until(lock, next, [this] { return stop_; })) break;
    lock.unlock();
    for (size_t i = 0; i < watchers_.size(); ++i) {
      if (Clock::now() < due[i]) continue;
      watchers_[i]->Poll();
      due[i] = Clock::now() + watchers_[i]->interval();
    }
    lock.lock();
    for (size_t i = 0; i < watchers_.size(); ++i) stats_[i] = watchers_[i]->Stats();
  }
}

}  // namespace granary
