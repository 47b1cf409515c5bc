// The validation pool takes devices in turn and never runs more than per_device jobs of one
// device at once, so a device with a deep queue cannot hold every thread.
#include "receiver/validation_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace granary::receiver {
namespace {

// Jobs that wait until released, recording what ran and how many of a device ran at once.
class Gate {
 public:
  std::function<void()> Job(const std::string& device) {
    return [this, device] {
      std::unique_lock<std::mutex> lock(mu_);
      order_.push_back(device);
      int now = ++running_[device];
      peak_[device] = std::max(peak_[device], now);
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      --running_[device];
    };
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until `n` jobs have started; false after 5 s.
  bool WaitStarted(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return order_.size() >= n; });
  }
  std::vector<std::string> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }
  int peak(const std::string& device) {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_[device];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  std::vector<std::string> order_;
  std::map<std::string, int> running_, peak_;
};

TEST(ValidationPoolTest, OneDeviceCannotTakeEveryThread) {
  Gate gate;
  ValidationPool pool({/*threads=*/3, /*per_device=*/2, /*max_queued=*/100});
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(pool.Submit("heavy", gate.Job("heavy")));
  ASSERT_TRUE(gate.WaitStarted(2));
  ASSERT_TRUE(pool.Submit("light", gate.Job("light")));
  // The third thread was free for heavy but per_device kept it for others.
  ASSERT_TRUE(gate.WaitStarted(3));
  EXPECT_EQ(gate.order()[2], "light");
  EXPECT_EQ(pool.running(), 3u);
  EXPECT_EQ(pool.queued(), 6u);
  gate.Open();
  pool.Stop();
  EXPECT_EQ(gate.order().size(), 9u);  // Stop ran everything queued
  EXPECT_EQ(gate.peak("heavy"), 2);
}

TEST(ValidationPoolTest, DevicesAreServedInTurn) {
  Gate gate;
  ValidationPool pool({/*threads=*/1, /*per_device=*/1, /*max_queued=*/100});
  ASSERT_TRUE(pool.Submit("blocker", gate.Job("blocker")));
  ASSERT_TRUE(gate.WaitStarted(1));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.Submit("a", gate.Job("a")));
  ASSERT_TRUE(pool.Submit("b", gate.Job("b")));
  ASSERT_TRUE(pool.Submit("c", gate.Job("c")));
  gate.Open();
  pool.Stop();
  std::vector<std::string> want = {"blocker", "c", "a", "b", "a", "a"};
  EXPECT_EQ(gate.order(), want);  // after "blocker", wrapping round: c, a, b, then a's rest
}

TEST(ValidationPoolTest, AFullQueueAndAStoppedPoolRefuse) {
  Gate gate;
  ValidationPool pool({/*threads=*/1, /*per_device=*/1, /*max_queued=*/2});
  ASSERT_TRUE(pool.Submit("a", gate.Job("a")));
  ASSERT_TRUE(gate.WaitStarted(1));
  EXPECT_TRUE(pool.Submit("a", gate.Job("a")));
  EXPECT_TRUE(pool.Submit("b", gate.Job("b")));
  EXPECT_FALSE(pool.Submit("c", gate.Job("c")));
  gate.Open();
  pool.Stop();
  EXPECT_FALSE(pool.Submit("c", gate.Job("c")));
  EXPECT_EQ(gate.order().size(), 3u);
}

}  // namespace
}  // namespace granary::receiver
