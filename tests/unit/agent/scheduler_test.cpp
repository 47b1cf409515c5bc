#include "agent/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "storage/buffer.h"
#include "tests/support/fault_env.h"
#include "tests/support/test_util.h"

namespace granary {
namespace {

using std::chrono::milliseconds;
using testing::FaultEnv;

// A source that records the monotonic time of each poll and can be made to hang.
class ProbeSource : public Source {
 public:
  explicit ProbeSource(Env& env) : env_(env) {}
  Result<std::vector<SourceReading>> Poll(milliseconds) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      poll_mono_ns_.push_back(env_.MonoNowNs());
    }
    int hang = hang_ms_.load();
    if (hang > 0) std::this_thread::sleep_for(milliseconds(hang));
    if (fail_) return Error("probe failure");
    return std::vector<SourceReading>{{0, "{\"x\":1}"}};
  }
  std::vector<int64_t> polls() {
    std::lock_guard<std::mutex> lock(mu_);
    return poll_mono_ns_;
  }
  std::atomic<int> hang_ms_{0};
  std::atomic<bool> fail_{false};

 private:
  Env& env_;
  std::mutex mu_;
  std::vector<int64_t> poll_mono_ns_;
};

struct Collected {
  std::mutex mu;
  std::vector<Reading> readings;
};

Scheduler::Sink CollectInto(Collected& c) {
  return [&c](std::vector<Reading> r, milliseconds) {
    std::lock_guard<std::mutex> lock(c.mu);
    size_t n = r.size();
    for (auto& x : r) c.readings.push_back(std::move(x));
    return n;
  };
}

SourceStats StatsOf(const Scheduler& s, const std::string& name) {
  for (const auto& st : s.Stats()) {
    if (st.name == name) return st;
  }
  ADD_FAILURE() << "no source " << name;
  return {};
}

TEST(SchedulerTest, FirstTickIsAlignedToTheWallClockInterval) {
  FaultEnv env;
  Collected c;
  Scheduler s(env, CollectInto(c), nullptr);
  auto* probe = new ProbeSource(env);
  s.Add("p", "probe", std::unique_ptr<Source>(probe), milliseconds{200}, milliseconds{100});
  s.Start();
  std::this_thread::sleep_for(milliseconds{700});
  s.Stop(milliseconds{1000});
  std::lock_guard<std::mutex> lock(c.mu);
  ASSERT_GE(c.readings.size(), 2u);
  for (const Reading& r : c.readings) {
    EXPECT_LT(r.ts_ms % 200, 50) << "poll at " << r.ts_ms << " is not on a 200 ms boundary";
  }
}

// A reading the receiver could never accept is refused at capture, the poll counted as an
// error quoting its size; the other readings of the poll are captured.
class SizedSource : public Source {
 public:
  Result<std::vector<SourceReading>> Poll(milliseconds) override {
    std::string fits = "{\"v\":\"" + std::string(1016, 'x') + "\"}";  // 1,024 bytes exactly
    std::string big = "{\"v\":\"" + std::string(1017, 'x') + "\"}";   // one byte more
    return std::vector<SourceReading>{{0, "{\"x\":1}"}, {0, fits}, {0, big}};
  }
};

TEST(SchedulerTest, AReadingOverMaxReadingBytesIsAnErrorNotCaptured) {
  FaultEnv env;
  Collected c;
  Scheduler s(env, CollectInto(c), nullptr);
  s.SetMaxReadingBytes(1024);
  s.Add("sized", "probe", std::make_unique<SizedSource>(), milliseconds{100}, milliseconds{100});
  s.Start();
  std::this_thread::sleep_for(milliseconds{350});
  s.Stop(milliseconds{1000});
  SourceStats st = StatsOf(s, "sized");
  ASSERT_GE(st.polls, 1u);
  EXPECT_EQ(st.errors, st.polls);
  EXPECT_NE(st.last_error.find("a reading of 1025 bytes is larger than max_reading_bytes (1024)"),
            std::string::npos)
      << st.last_error;
  std::lock_guard<std::mutex> lock(c.mu);
  EXPECT_EQ(c.readings.size(), 2 * st.polls) << "the readings that fit are captured";
  for (const Reading& r : c.readings) EXPECT_LE(r.data_json.size(), 1024u);
  EXPECT_EQ(st.readings, c.readings.size());
}

struct ProbeRun {
  SourceStats stats;
  std::vector<int64_t> polls;  // monotonic start of each
};

// A probe ticking every 100 ms with a 100 ms timeout, each poll taking `hang_ms` and then
// failing or not, run for 1.5 s.
ProbeRun RunSlowProbe(int hang_ms, bool fail) {
  FaultEnv env;
  Collected c;
  Scheduler s(env, CollectInto(c), nullptr);
  auto* probe = new ProbeSource(env);
  probe->hang_ms_ = hang_ms;
  probe->fail_ = fail;
  s.Add("probe", "probe", std::unique_ptr<Source>(probe), milliseconds{100}, milliseconds{100});
  s.Start();
  std::this_thread::sleep_for(milliseconds{1500});
  s.Stop(milliseconds{1000});
  return {StatsOf(s, "probe"), probe->polls()};
}

TEST(SchedulerTest, OverrunsAreCountedNotQueued) {
  // A poll that succeeds after 350 ms spans 3+ ticks, each an overrun.
  ProbeRun run = RunSlowProbe(350, /*fail=*/false);
  EXPECT_GE(run.stats.overruns, 6u);
  // No burst after a long poll: consecutive polls stay at least one interval apart.
  ASSERT_GE(run.polls.size(), 3u);
  for (size_t i = 1; i < run.polls.size(); ++i)
    EXPECT_GE(run.polls[i] - run.polls[i - 1], 90'000'000);
}

TEST(SchedulerTest, APollThatTimesOutIsOneErrorNotAlsoAnOverrun) {
  // Its whole timeout and past the next tick, then a failure.
  ProbeRun run = RunSlowProbe(130, /*fail=*/true);
  EXPECT_GE(run.stats.errors, 4u);
  EXPECT_EQ(run.stats.overruns, 0u) << "a timed-out poll was counted twice";
}

TEST(SchedulerTest, AHungSourceNeverDelaysAnother) {
  FaultEnv env;
  Collected c;
  Scheduler s(env, CollectInto(c), nullptr);
  auto* hung = new ProbeSource(env);
  hung->hang_ms_ = 3000;
  auto* fast = new ProbeSource(env);
  s.Add("hung", "probe", std::unique_ptr<Source>(hung), milliseconds{100}, milliseconds{50});
  s.Add("fast", "probe", std::unique_ptr<Source>(fast), milliseconds{100}, milliseconds{50});
  s.Start();
  std::this_thread::sleep_for(milliseconds{1050});
  auto polls = fast->polls();
  EXPECT_GE(polls.size(), 9u);
  EXPECT_LE(polls.size(), 12u);
  for (size_t i = 1; i < polls.size(); ++i) {
    int64_t gap = polls[i] - polls[i - 1];
    EXPECT_GT(gap, 70'000'000);
    EXPECT_LT(gap, 130'000'000);
  }
  s.Stop(milliseconds{100});  // abandons the hung poll rather than waiting 3 s
}

TEST(SchedulerTest, TicksSwallowedBySuspendAreSkippedAndCounted) {
  FaultEnv env;
  Collected c;
  Scheduler s(env, CollectInto(c), nullptr);
  auto* probe = new ProbeSource(env);
  s.Add("p", "probe", std::unique_ptr<Source>(probe), milliseconds{100}, milliseconds{50});
  s.Start();
  std::this_thread::sleep_for(milliseconds{350});
  size_t before = probe->polls().size();
  env.StepMonoClock(2'000'000'000);  // a 2 s suspend: 20 ticks
  std::this_thread::sleep_for(milliseconds{400});
  s.Stop(milliseconds{1000});
  SourceStats st = StatsOf(s, "p");
  EXPECT_GE(st.missed, 19u);
  EXPECT_LE(st.missed, 21u);
  // Not replayed: only the ticks of the 400 ms after the resume were polled.
  EXPECT_LE(probe->polls().size() - before, 6u);
}

TEST(SchedulerTest, WallClockStepsNeitherBunchNorSkipPolls) {
  FaultEnv env;
  Collected c;
  Scheduler s(env, CollectInto(c), nullptr);
  auto* probe = new ProbeSource(env);
  s.Add("p", "probe", std::unique_ptr<Source>(probe), milliseconds{100}, milliseconds{50});
  s.Start();
  std::this_thread::sleep_for(milliseconds{350});
  env.StepWallClock(-3'600'000);  // back one hour
  std::this_thread::sleep_for(milliseconds{500});
  env.StepWallClock(86'400'000 + 3'600'000);  // forward one day
  std::this_thread::sleep_for(milliseconds{500});
  s.Stop(milliseconds{1000});
  auto polls = probe->polls();
  ASSERT_GE(polls.size(), 11u);
  for (size_t i = 1; i < polls.size(); ++i) {
    int64_t gap = polls[i] - polls[i - 1];
    EXPECT_GT(gap, 70'000'000) << "bunched polls at " << i;
    EXPECT_LT(gap, 130'000'000) << "skipped polls at " << i;
  }
  EXPECT_EQ(StatsOf(s, "p").missed, 0u);
}

TEST(SchedulerTest, ClockStepsMakeUniqueKeysAndUnsyncedReadingsAreMarked) {
  FaultEnv env;
  ::granary::testing::TempDir dir;
  BufferOptions o;
  o.state_dir = dir.path();
  o.device = "d";
  o.batch_wait = milliseconds{1};
  auto buffer = Buffer::Open(env, o);
  ASSERT_TRUE(buffer.ok());
  Buffer& b = **buffer;
  Scheduler s(
      env, [&b](std::vector<Reading> r, milliseconds wait) { return b.Submit(std::move(r), wait); },
      [&b] { return b.Paused(); });
  s.Add("p", "probe", std::make_unique<ProbeSource>(env), milliseconds{50}, milliseconds{20});
  env.SetClockSynchronized(false);
  s.Start();
  std::this_thread::sleep_for(milliseconds{300});
  env.SetClockSynchronized(true);
  std::this_thread::sleep_for(milliseconds{200});
  env.StepWallClock(-3'600'000);
  std::this_thread::sleep_for(milliseconds{300});
  env.StepWallClock(86'400'000);
  std::this_thread::sleep_for(milliseconds{300});
  s.Stop(milliseconds{1000});
  ASSERT_TRUE(b.Flush().ok());
  b.Stop(false);

  std::set<std::string> names;
  uint64_t lines = 0, unsynced = 0, expect_seq = 1;
  std::vector<std::string> files;
  for (auto& e : std::filesystem::directory_iterator(SegmentsDir(dir.path()))) {
    files.push_back(e.path().string());
    EXPECT_TRUE(names.insert(e.path().filename().string()).second);
  }
  // At least: before the steps, after the step back, after the step forward.
  EXPECT_GE(files.size(), 3u);
  std::vector<std::pair<uint64_t, std::string>> all;
  for (const auto& f : files) {
    for (const auto& l : ::granary::testing::ReadGzipLines(f)) {
      size_t p = l.find("\"seq\":");
      all.emplace_back(std::stoull(l.substr(p + 6)), l);
    }
  }
  std::sort(all.begin(), all.end());
  for (const auto& [seq, l] : all) {
    EXPECT_EQ(seq, expect_seq++);
    ++lines;
    if (l.find("\"clock\":\"unsynced\"") != std::string::npos) {
      ++unsynced;
      EXPECT_LE(seq, 8u) << "only the first ~300 ms were unsynchronized";
    }
  }
  EXPECT_GE(unsynced, 4u);
  EXPECT_GE(lines, 20u);
}

}  // namespace
}  // namespace granary
