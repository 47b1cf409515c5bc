// Where uploads are validated and indexed: a fixed set of threads apart from the HTTP
// server's, taking devices in turn and running at most a few jobs of one device at once,
// so a device sending many heavy objects queues behind itself, not in front of others.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace granary::receiver {

struct ValidationPoolOptions {
  int threads = 4;
  int per_device = 2;        // jobs of one device running at once
  size_t max_queued = 1024;  // waiting jobs, all devices; beyond it Submit refuses
};

class ValidationPool {
 public:
  explicit ValidationPool(const ValidationPoolOptions& options);
  ~ValidationPool();  // Stop()
  ValidationPool(const ValidationPool&) = delete;
  ValidationPool& operator=(const ValidationPool&) = delete;

  // Queues `job` for `device`; false when the queue is full or the pool has stopped (the
  // caller answers "slow down" itself).
  bool Submit(const std::string& device, std::function<void()> job);
  // Runs every queued job, then joins the threads. Later Submits are refused.
  void Stop();

  size_t queued() const;
  size_t running() const;

 private:
  void Work();
  // The next device with a waiting job and room under per_device, after the last one
  // served; "" when none.
  std::string NextDevice() const;

  ValidationPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::map<std::string, std::deque<std::function<void()>>> waiting_;
  std::map<std::string, int> running_;
  std::string last_served_;
  size_t queued_ = 0;
  size_t running_total_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace granary::receiver
