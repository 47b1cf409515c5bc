// status.json is rewritten when something in it changed and at least every interval, never
// only because the clock moved.
#include "agent/status_file.h"

#include <gtest/gtest.h>

#include "tests/support/test_util.h"

namespace granary {
namespace {

using std::chrono::milliseconds;

class SteppedClock : public EnvWrapper {
 public:
  SteppedClock() : EnvWrapper(Env::Default()) {}
  int64_t MonoNowNs() override { return mono_ns; }
  int64_t mono_ns = 1'000'000'000;
};

class StatusFileTest : public ::testing::Test {
 protected:
  StatusFileTest() {
    s.device = "d";
    s.state = "running";
    s.started_ms = 1'700'000'000'000;
    s.updated_ms = s.started_ms;
  }
  // Advances both clocks by `ms`, as a real status check would see them.
  void Pass(int64_t ms) {
    env.mono_ns += ms * 1'000'000;
    s.updated_ms += ms;
  }
  bool Write(bool force = false) { return file.Write(path, s, StatusJson(s), kEvery, force); }
  std::string Written() {
    auto text = Env::Default().ReadFile(path, 1 << 20);
    return text ? *text : "";
  }

  static constexpr milliseconds kEvery{30'000};
  testing::TempDir dir;
  std::string path = dir.path() + "/status.json";
  SteppedClock env;
  StatusFile file{env};
  AgentStatus s;
};

TEST_F(StatusFileTest, TheFirstStatusIsWritten) {
  EXPECT_TRUE(Write());
  EXPECT_EQ(Written(), StatusJson(s));
}

TEST_F(StatusFileTest, OnlyTheClockMovingWaitsForTheInterval) {
  ASSERT_TRUE(Write());
  for (int i = 0; i < 14; ++i) {  // 28 s of checks every 2 s
    Pass(2000);
    EXPECT_FALSE(Write()) << "rewritten after " << (i + 1) * 2 << " s with nothing changed";
  }
  s.disk_free_bytes = 1 << 20;  // free space moving by less than 64 MiB is the clock too
  Pass(1000);
  EXPECT_FALSE(Write());
  Pass(1000);  // 30 s: the interval
  EXPECT_TRUE(Write());
  EXPECT_EQ(Written(), StatusJson(s));
}

TEST_F(StatusFileTest, AChangeIsWrittenAtTheNextCheck) {
  ASSERT_TRUE(Write());
  Pass(2000);
  s.buffer.captured = 1;
  EXPECT_TRUE(Write());
  EXPECT_NE(Written().find("\"captured\":1"), std::string::npos) << Written();
  Pass(2000);
  EXPECT_FALSE(Write());
  s.disk_free_bytes = 1ULL << 30;
  Pass(2000);
  EXPECT_TRUE(Write()) << "a large move of free space waited";
}

TEST_F(StatusFileTest, ForceWritesAnUnchangedStatus) {
  ASSERT_TRUE(Write());
  Pass(2000);
  EXPECT_TRUE(Write(/*force=*/true));
}

TEST_F(StatusFileTest, AFailedWriteIsTriedAgainAtTheNextCheck) {
  ASSERT_TRUE(Write());
  std::string good = path;
  path = dir.path() + "/missing/status.json";
  s.buffer.captured = 1;
  Pass(2000);
  EXPECT_FALSE(Write());
  path = good;
  Pass(2000);
  EXPECT_TRUE(Write()) << "the change was forgotten after a failed write";
}

}  // namespace
}  // namespace granary
