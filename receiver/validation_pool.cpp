#include "receiver/validation_pool.h"

#include <algorithm>

namespace granary::receiver {

ValidationPool::ValidationPool(const ValidationPoolOptions& options) : options_(options) {
  options_.threads = std::max(1, options_.threads);
  options_.per_device = std::max(1, options_.per_device);
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Work(); });
}

ValidationPool::~ValidationPool() { Stop(); }

bool ValidationPool::Submit(const std::string& device, std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queued_ >= options_.max_queued) return false;
    waiting_[device].push_back(std::move(job));
    ++queued_;
  }
  ready_.notify_one();
  return true;
}

void ValidationPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t ValidationPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_;
}

size_t ValidationPool::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_total_;
}

std::string ValidationPool::NextDevice() const {
  auto eligible = [&](const auto& entry) {
    auto r = running_.find(entry.first);
    return r == running_.end() || r->second < options_.per_device;
  };
  // Round robin: the first eligible device after the last served, wrapping around.
  auto start = waiting_.upper_bound(last_served_);
  for (auto it = start; it != waiting_.end(); ++it) {
    if (eligible(*it)) return it->first;
  }
  for (auto it = waiting_.begin(); it != start; ++it) {
    if (eligible(*it)) return it->first;
  }
  return "";
}

void ValidationPool::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    std::string device;
    ready_.wait(lock, [&] {
      device = NextDevice();
      return !device.empty() || (stopping_ && queued_ == 0);
    });
    if (device.empty()) return;  // stopping, and nothing left
    auto w = waiting_.find(device);
    std::function<void()> job = std::move(w->second.front());
    w->second.pop_front();
    if (w->second.empty()) waiting_.erase(w);
    --queued_;
    ++running_[device];
    ++running_total_;
    last_served_ = device;
    lock.unlock();
    job();
    lock.lock();
    if (--running_[device] == 0) running_.erase(device);
    --running_total_;
    ready_.notify_all();  // the device may have more, and Stop() may be waiting
  }
}

}  // namespace granary::receiver
