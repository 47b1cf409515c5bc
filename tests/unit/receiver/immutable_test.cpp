// Accepted bytes are immutable whatever the index says, and the index never claims a key
// the store cannot hold as a file.
#include <gtest/gtest.h>

#include <filesystem>

#include "pipeline_fixture.h"

namespace granary::receiver {
namespace {

using namespace testing;

class ImmutableTest : public PipelineFixture {
 protected:
  PipelineOutcome Put(const std::string& key, uint64_t first, uint64_t last, int64_t ts0) {
    return PutAt(key, SegmentLines("h017", "meter", first, last, ts0), first, last);
  }
};

TEST_F(ImmutableTest, AcceptNeverReplacesAFileWithOtherBytes) {
  std::string key = SegmentKey("h017", "meter", 1);
  std::string path = store_->AcceptedPath("granary", key);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  WriteFile(path, "accepted bytes");
  std::string body = Gzip(SegmentLines("h017", "meter", 1, 10));
  ObjectMeta meta = SegmentMeta(key, "h017", "meter", 1, 10, body);
  EXPECT_FALSE(store_->Accept(Quarantine(body, meta), meta).ok());
  EXPECT_EQ(DigestFile(path)->sha256_hex, Sha256Hex("accepted bytes"));
}

TEST_F(ImmutableTest, AFileTheIndexDoesNotListIsAConflict) {
  std::string key = SegmentKey("h017", "meter", 1);
  ASSERT_EQ(Put(key, 1, 10, 1732284000000), PipelineOutcome::kAccepted);
  std::string path = store_->AcceptedPath("granary", key);
  std::string sha = DigestFile(path)->sha256_hex;
  // The index is lost; the store is not.
  pipeline_.reset();
  index_.reset();
  std::filesystem::remove(config_.IndexPath());
  OpenIndexAndPipeline();
  EXPECT_EQ(Put(key, 1, 10, 5), PipelineOutcome::kConflict);
  EXPECT_EQ(DigestFile(path)->sha256_hex, sha);
  EXPECT_EQ(index_->Counts()->segments, 0u);
}

TEST_F(ImmutableTest, AKeyUnderAnotherOrAboveItIsRefusedAndNotIndexed) {
  ASSERT_EQ(Put("granary/h017/meter/a", 1, 3, 0), PipelineOutcome::kAccepted);
  EXPECT_EQ(Put("granary/h017/meter/a/b", 4, 6, 0), PipelineOutcome::kInvalidName);
  ASSERT_EQ(Put("granary/h017/meter/c/d", 11, 13, 0), PipelineOutcome::kAccepted);
  EXPECT_EQ(Put("granary/h017/meter/c", 14, 16, 0), PipelineOutcome::kInvalidName);
  EXPECT_EQ(*index_->KeyClash("granary", "granary/h017/meter/a/b/c"), "granary/h017/meter/a");
  EXPECT_EQ(*index_->KeyClash("granary", "granary/h017/meter"), "granary/h017/meter/a");
  EXPECT_EQ(*index_->KeyClash("granary", "granary/h017/meter/ab"), "");
  EXPECT_EQ(index_->Counts()->segments, 2u);
  EXPECT_TRUE(store_->SealedQuarantine(0).empty());
}

}  // namespace
}  // namespace granary::receiver
