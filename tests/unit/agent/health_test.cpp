// One test per health rule, each with the case that must not degrade beside it.
#include "agent/health.h"

#include <gtest/gtest.h>

namespace granary {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;
constexpr int64_t kHour = 3'600'000;

class HealthTest : public ::testing::Test {
 protected:
  HealthTest() {
    s.started_ms = kNow - 10 * kHour;
    s.updated_ms = kNow;
    s.upload_stale_after_ms = kHour;
    s.uploads_enabled = true;
  }
  std::string Judge() {
    JudgeHealth(s);
    std::string all;
    for (const auto& r : s.degraded_reasons) all += r + "\n";
    return all;
  }
  AgentStatus s;
};

TEST_F(HealthTest, NothingWrongIsRunning) {
  EXPECT_EQ(Judge(), "");
  EXPECT_EQ(s.state, "running");
}

TEST_F(HealthTest, ASourceFailingItsLastPollsDegrades) {
  SourceStats src;
  src.name = "meter";
  src.consecutive_failures = kFailingPolls - 1;
  s.sources.push_back(src);
  EXPECT_EQ(Judge(), "");
  s.sources[0].consecutive_failures = kFailingPolls;
  s.sources[0].last_error = "timeout";
  EXPECT_NE(Judge().find("source meter failed its last 3 polls: timeout"), std::string::npos);
  EXPECT_EQ(s.state, "degraded");
}

TEST_F(HealthTest, BufferErrorsAndPausedPollingDegrade) {
  s.buffer.last_error = "disk full";
  EXPECT_NE(Judge().find("buffer: disk full"), std::string::npos);
  s.buffer.last_error.clear();
  s.buffer.paused = true;
  EXPECT_NE(Judge().find("polling paused"), std::string::npos);
}

TEST_F(HealthTest, SegmentsWaitingWithNoSuccessDegradeWhateverTheLastAttempt) {
  s.buffer.segments_sealed = 4;
  s.buffer.oldest_pending_sealed_ms = kNow - 2 * kHour;
  // No attempt failed, none succeeded: an uploader stuck before it ever tries.
  s.uploads.last_ok_ms = kNow - 3 * kHour;
  EXPECT_NE(Judge().find("segments waiting, no upload since 2027-01-15T06:00:00Z"),
            std::string::npos)
      << Judge();
  // A retrying failure is no excuse either.
  s.uploads.last_error_ms = kNow - 1000;
  s.uploads.last_error = "connection refused";
  EXPECT_NE(Judge().find("connection refused"), std::string::npos);
}

TEST_F(HealthTest, ARecentSuccessOrAFreshSegmentIsNotStale) {
  s.buffer.segments_sealed = 4;
  s.buffer.oldest_pending_sealed_ms = kNow - 2 * kHour;
  s.uploads.last_ok_ms = kNow - kHour / 2;
  EXPECT_EQ(Judge(), "");
  // An hourly segment sealed a minute ago after an idle hour is not late yet.
  s.uploads.last_ok_ms = kNow - 2 * kHour;
  s.buffer.oldest_pending_sealed_ms = kNow - 60'000;
  EXPECT_EQ(Judge(), "");
  // Nor is a backlog found at a start a minute ago.
  s.buffer.oldest_pending_sealed_ms = kNow - 5 * kHour;
  s.started_ms = kNow - 60'000;
  EXPECT_EQ(Judge(), "");
}

TEST_F(HealthTest, APermanentUploadErrorDegradesAtOnce) {
  s.buffer.segments_sealed = 1;
  s.buffer.oldest_pending_sealed_ms = kNow - 1000;
  s.uploads.last_ok_ms = kNow - 60'000;
  s.uploads.last_error_ms = kNow - 1000;
  s.uploads.last_error = "InvalidAccessKeyId";
  s.uploads.last_error_permanent = false;
  EXPECT_EQ(Judge(), "");
  s.uploads.last_error_permanent = true;
  EXPECT_NE(Judge().find("uploads failing: InvalidAccessKeyId"), std::string::npos);
}

TEST_F(HealthTest, AnUnreadableCatalogDegradesEvenWithNothingPending) {
  s.uploads.catalog_error = "database is locked";
  EXPECT_NE(Judge().find("uploader cannot read the catalog: database is locked"),
            std::string::npos);
  s.uploads_enabled = false;
  EXPECT_EQ(Judge(), "") << "no uploader, no uploader health";
}

TEST_F(HealthTest, AStateLossDegradesForStaleAfter) {
  s.buffer.state_losses = 1;
  s.buffer.last_state_loss = "the write-ahead log is missing after an unclean stop";
  s.buffer.possibly_lost = 1024;
  s.buffer.last_state_loss_ms = kNow - kHour / 2;
  std::string why = Judge();
  EXPECT_NE(why.find("state lost"), std::string::npos);
  EXPECT_NE(why.find("write-ahead log is missing"), std::string::npos);
  EXPECT_NE(why.find("1024 seqs possibly lost"), std::string::npos);
  s.buffer.last_state_loss_ms = kNow - 2 * kHour;
  EXPECT_EQ(Judge(), "");
}

TEST_F(HealthTest, AReasonDoesNotChangeWhileNothingDoes) {
  s.buffer.segments_sealed = 4;
  s.buffer.oldest_pending_sealed_ms = kNow - 3 * kHour;
  s.uploads.last_ok_ms = kNow - 3 * kHour;
  std::string first = Judge();
  s.updated_ms += 2000;
  EXPECT_EQ(Judge(), first) << "a reason that changes every snapshot republishes every snapshot";
}

TEST_F(HealthTest, AStoppedAgentStaysStopped) {
  s.state = "stopped";
  s.buffer.paused = true;
  Judge();
  EXPECT_EQ(s.state, "stopped");
  EXPECT_FALSE(s.degraded_reasons.empty());
}

}  // namespace
}  // namespace granary
